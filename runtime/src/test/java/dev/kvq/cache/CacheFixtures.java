package dev.kvq.cache;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.quant.Activations;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.LayerCalibration;
import dev.kvq.quant.Provenance;
import dev.kvq.quant.QuantSpec;
import dev.kvq.quant.SyntheticActivations;
import dev.kvq.quant.WeightedKMeans;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/** Calibrations and reference attention for cache tests. */
final class CacheFixtures {
    private CacheFixtures() {}

    /** A calibration fitted on synthetic LLaMA-like activations of the shape. */
    static Calibration calibration(AttentionShape shape, QuantSpec spec, long seed) {
        int d = shape.kvChannels();
        int tokens = Math.max(256, 65536 / d);
        List<LayerCalibration> layers = new ArrayList<>();
        for (int l = 0; l < shape.layers(); l++) {
            Activations k = new Activations(SyntheticActivations.keys(seed + l, tokens, d),
                    SyntheticActivations.fisher(seed + 100 + l, tokens * d), tokens, d, 128);
            Activations v = new Activations(SyntheticActivations.values(seed + 200 + l, tokens, d),
                    SyntheticActivations.fisher(seed + 300 + l, tokens * d), tokens, d, 128);
            layers.add(LayerCalibration.calibrate(k, v, spec, WeightedKMeans.Options.defaults()));
        }
        return new Calibration(shape, spec, Provenance.unknown(), layers);
    }

    /** fp32 attention in double precision over post-RoPE keys and values {@code [n][D]}. */
    static float[] reference(AttentionShape shape, float[] query, float[] keys, float[] values, int n) {
        int d = shape.headDim();
        int channels = shape.kvChannels();
        int group = shape.groupSize();
        float[] out = new float[shape.queryHeads() * d];
        double scale = 1.0 / Math.sqrt(d);
        for (int q = 0; q < shape.queryHeads(); q++) {
            int h = q / group;
            double[] s = new double[n];
            double max = Double.NEGATIVE_INFINITY;
            for (int t = 0; t < n; t++) {
                double acc = 0;
                for (int j = 0; j < d; j++) {
                    acc += (double) query[q * d + j] * keys[t * channels + h * d + j];
                }
                s[t] = acc * scale;
                max = Math.max(max, s[t]);
            }
            double sum = 0;
            for (int t = 0; t < n; t++) {
                s[t] = Math.exp(s[t] - max);
                sum += s[t];
            }
            for (int j = 0; j < d; j++) {
                double acc = 0;
                for (int t = 0; t < n; t++) {
                    acc += s[t] / sum * values[t * channels + h * d + j];
                }
                out[q * d + j] = (float) acc;
            }
        }
        return out;
    }

    /** Rotates pre-RoPE keys {@code [n][D]} to positions first, first+1, … (exact angles). */
    static float[] rotate(AttentionShape shape, float[] keys, int n, long first) {
        float[] r = keys.clone();
        for (int t = 0; t < n; t++) {
            for (int h = 0; h < shape.kvHeads(); h++) {
                shape.rope().apply(r, t * shape.kvChannels() + h * shape.headDim(), first + t);
            }
        }
        return r;
    }

    /** max |a − b| / max |b|. */
    static double relativeError(float[] actual, float[] expected) {
        double err = 0;
        double norm = 0;
        for (int i = 0; i < expected.length; i++) {
            err = Math.max(err, Math.abs(actual[i] - expected[i]));
            norm = Math.max(norm, Math.abs(expected[i]));
        }
        return err / Math.max(norm, 1e-30);
    }

    static float[] randomQuery(AttentionShape shape, long seed) {
        java.util.SplittableRandom random = new java.util.SplittableRandom(seed);
        float[] q = new float[shape.queryHeads() * shape.headDim()];
        for (int i = 0; i < q.length; i++) {
            q[i] = (float) (random.nextGaussian() * 1.5);
        }
        return q;
    }

    /** Runs {@code body} with {@code kvq.simd} set to {@code lanes} (null = unset). */
    static <T> T withSimd(String lanes, Supplier<T> body) {
        String old = System.getProperty("kvq.simd");
        try {
            if (lanes == null) {
                System.clearProperty("kvq.simd");
            } else {
                System.setProperty("kvq.simd", lanes);
            }
            return body.get();
        } finally {
            if (old == null) {
                System.clearProperty("kvq.simd");
            } else {
                System.setProperty("kvq.simd", old);
            }
        }
    }
}
