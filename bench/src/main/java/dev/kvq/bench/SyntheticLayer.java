package dev.kvq.bench;

import dev.kvq.cache.KvCache;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.quant.Activations;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.LayerCalibration;
import dev.kvq.quant.Provenance;
import dev.kvq.quant.QuantSpec;
import dev.kvq.quant.WeightedKMeans;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A synthetic attention layer with the statistics that make KV quantization hard in real LLaMA
 * layers: pre-RoPE key channels with their own offsets and scales, a few channels an order of
 * magnitude larger (the outlier channels of the KVQuant paper, Fig. 2), rare per-element spikes,
 * and values whose magnitude varies per token. Deterministic for a seed.
 *
 * <p>Tokens come from a fixed block of {@value #BLOCK} generated tokens, repeated with a per-repeat
 * sign and scale change, so that long contexts cost no generation time; RoPE still puts every copy
 * at its own position.
 */
public final class SyntheticLayer {
    /** Tokens generated; longer contexts repeat them. */
    public static final int BLOCK = 2048;

    private final AttentionShape shape;
    private final float[] keys;     // [BLOCK][D] pre-RoPE
    private final float[] values;   // [BLOCK][D]
    private final long seed;

    /**
     * Generates the layer's block of tokens.
     *
     * @param shape the geometry (its layer count is used by {@link #calibrate})
     * @param seed  what the statistics and the tokens are drawn from
     */
    public SyntheticLayer(AttentionShape shape, long seed) {
        this.shape = shape;
        this.seed = seed;
        int d = shape.kvChannels();
        SplittableRandom model = new SplittableRandom(seed);
        float[] offset = new float[d];
        float[] scale = new float[d];
        for (int c = 0; c < d; c++) {
            boolean outlierChannel = model.nextInt(50) == 0;          // ~2% of channels are large
            scale[c] = (float) ((0.3 + 0.7 * model.nextDouble()) * (outlierChannel ? 8 : 1));
            offset[c] = (float) (model.nextGaussian() * 0.4 * scale[c]);
        }
        keys = new float[BLOCK * d];
        values = new float[BLOCK * d];
        SplittableRandom draw = new SplittableRandom(seed * 31 + 7);
        for (int t = 0; t < BLOCK; t++) {
            double tokenScale = 0.2 + draw.nextDouble() * (t % 17 == 0 ? 3 : 1);
            for (int c = 0; c < d; c++) {
                double k = offset[c] + scale[c] * draw.nextGaussian();
                double v = tokenScale * draw.nextGaussian();
                if (draw.nextInt(300) == 0) {
                    k *= 5;
                }
                if (draw.nextInt(300) == 0) {
                    v *= 6;
                }
                keys[t * d + c] = (float) k;
                values[t * d + c] = (float) v;
            }
        }
    }

    /**
     * The geometry.
     *
     * @return the shape given
     */
    public AttentionShape shape() {
        return shape;
    }

    /** Pre-RoPE keys and values of tokens {@code [from, from+n)}, {@code [n][D]} each. */
    public void tokens(int from, int n, float[] keysOut, float[] valuesOut) {
        int d = shape.kvChannels();
        for (int i = 0; i < n; i++) {
            int t = from + i;
            int src = t % BLOCK;
            int repeat = t / BLOCK;
            float sign = (repeat & 1) == 0 ? 1f : -1f;
            float k = 1f + 0.05f * (repeat % 5);
            System.arraycopy(keys, src * d, keysOut, i * d, d);
            System.arraycopy(values, src * d, valuesOut, i * d, d);
            if (repeat > 0) {
                for (int c = 0; c < d; c++) {
                    valuesOut[i * d + c] *= sign * k;
                }
            }
        }
    }

    /**
     * Appends tokens {@code [0, n)} of this layer to layer 0 of {@code cache} in 1,024-token chunks;
     * returns the nanoseconds spent inside {@code append}.
     */
    public long fill(KvCache cache, int n) {
        int d = shape.kvChannels();
        int chunk = 1024;
        float[] k = new float[chunk * d];
        float[] v = new float[chunk * d];
        long nanos = 0;
        for (int from = 0; from < n; from += chunk) {
            int m = Math.min(chunk, n - from);
            tokens(from, m, k, v);
            float[] kk = m == chunk ? k : Arrays.copyOf(k, m * d);
            float[] vv = m == chunk ? v : Arrays.copyOf(v, m * d);
            long t0 = System.nanoTime();
            cache.append(0, kk, vv);
            nanos += System.nanoTime() - t0;
        }
        return nanos;
    }

    /** Softmax of each row of {@code scores [rows][n]} in place, in double: attention weights for P·V. */
    public static void softmaxRows(float[] scores, int rows, int n) {
        for (int r = 0; r < rows; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int t = 0; t < n; t++) {
                max = Math.max(max, scores[r * n + t]);
            }
            double sum = 0;
            for (int t = 0; t < n; t++) {
                sum += Math.exp(scores[r * n + t] - max);
            }
            for (int t = 0; t < n; t++) {
                scores[r * n + t] = (float) (Math.exp(scores[r * n + t] - max) / sum);
            }
        }
    }

    /** A query for every query head, scaled so that attention is neither flat nor one-hot. */
    public float[] query(long querySeed) {
        SplittableRandom random = new SplittableRandom(seed ^ querySeed);
        float[] q = new float[shape.queryHeads() * shape.headDim()];
        for (int i = 0; i < q.length; i++) {
            q[i] = (float) (random.nextGaussian() * 0.35);
        }
        return q;
    }

    /** A calibration for {@code spec} fitted on the generated block (Fisher weights drawn at random). */
    public Calibration calibrate(QuantSpec spec) {
        int d = shape.kvChannels();
        SplittableRandom random = new SplittableRandom(seed + 99);
        float[] fisher = new float[BLOCK * d];
        for (int i = 0; i < fisher.length; i++) {
            double g = random.nextGaussian();
            fisher[i] = (float) (g * g);
        }
        List<LayerCalibration> layers = new ArrayList<>();
        Activations k = new Activations(keys, fisher, BLOCK, d, 512);
        Activations v = new Activations(values, fisher, BLOCK, d, 512);
        if (spec.allocated()) {
            // a bit allocation (nuqaB, the kvq presets) decides the widths across layers: the calibrator's
            Activations[] ks = new Activations[shape.layers()];
            Activations[] vs = new Activations[shape.layers()];
            java.util.Arrays.fill(ks, k);
            java.util.Arrays.fill(vs, v);
            layers.addAll(dev.kvq.quant.Calibrator.fit(shape, spec, ks, vs, WeightedKMeans.Options.defaults()));
        } else {
            LayerCalibration layer = LayerCalibration.calibrate(k, v, spec, WeightedKMeans.Options.defaults());
            for (int l = 0; l < shape.layers(); l++) {
                layers.add(layer);
            }
        }
        return new Calibration(shape, spec, new Provenance("synthetic LLaMA-shaped layer (seed " + seed + ")",
                "generated", BLOCK / 512, 512, "kvq", ""), layers);
    }
}
