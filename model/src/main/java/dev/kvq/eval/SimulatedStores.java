package dev.kvq.eval;

import dev.kvq.model.KvStore;
import dev.kvq.model.KvView;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.Calibrator;
import dev.kvq.quant.Codebook;
import dev.kvq.quant.Fp16;
import dev.kvq.quant.KeyQuantizer;
import dev.kvq.quant.LayerCalibration;
import dev.kvq.quant.QuantSpec;
import dev.kvq.quant.QuantizedToken;
import dev.kvq.quant.ValueQuantizer;

/**
 * "Simulated" quantization (spec §15.14): every key and value of the window, prompt included, is
 * replaced by its quantize→dequantize reconstruction before attention reads it.
 */
public final class SimulatedStores {
    private SimulatedStores() {}

    /**
     * fp16 storage: every element rounded to fp16 (keys after RoPE).
     *
     * @return the store
     */
    public static KvStore fp16() {
        return (layer, keys, values, n, rope) -> {
            float[] k = keys.clone();
            rope.rotate(k, n, rope.kvHeads());
            return KvView.of(roundFp16(k), roundFp16(values.clone()));
        };
    }

    private static float[] roundFp16(float[] a) {
        for (int i = 0; i < a.length; i++) {
            a[i] = Fp16.round(a[i]);
        }
        return a;
    }

    /**
     * kvq nuq with the runtime's quantizers: pre-RoPE per-channel keys with capped outliers
     * (uncapped for token-major sparse storage), per-token values with top-k outliers, reconstruction
     * {@code dequant(code) + residual}; the first {@code sinkTokens} tokens stay fp16 (keys post-RoPE), and
     * with a recent-token window query {@code t} reads tokens {@code (t − N, t]} in fp16 too.
     *
     * @param spec a nuq spec
     * @param calibration a calibration for {@code spec}
     * @return the store
     */
    public static KvStore nuq(QuantSpec spec, Calibration calibration) {
        return nuq(spec, calibration, true, true, null);
    }

    /**
     * {@link #nuq(QuantSpec, Calibration)} quantizing only the keys or only the values (the other stays
     * fp32): splits the perplexity cost of a mode between K and V. Counts the key outliers it stores
     * into {@code tally} when one is given.
     *
     * @param spec a nuq spec
     * @param calibration a calibration for {@code spec}
     * @param quantizeKeys whether keys are quantized
     * @param quantizeValues whether values are quantized
     * @param tally receives the quantized key tokens and their stored outliers, or null
     * @return the store
     */
    public static KvStore nuq(QuantSpec spec, Calibration calibration, boolean quantizeKeys, boolean quantizeValues,
                              OutlierTally tally) {
        return (layer, keys, values, n, rope) -> {
            LayerCalibration cal = calibration.layer(layer);
            KeyQuantizer kq = cal.keys();
            int d = kq.channels();
            ValueQuantizer vq = cal.valueQuantizer(spec);  // holds scratch: one per call
            int cap = Calibrator.keyCap(spec, d);
            int sinks = Math.min(n, spec.sinkTokens());
            QuantizedToken tok = new QuantizedToken(d);
            float[] k = keys.clone();
            float[] v = values.clone();
            long keyOutliers = 0;
            for (int t = sinks; t < n; t++) {
                int o = t * d;
                if (quantizeKeys) {
                    kq.quantize(keys, o, tok, cap);
                    for (int c = 0; c < d; c++) {
                        k[o + c] = kq.dequantize(c, tok.codes[c]);
                    }
                    addResiduals(k, o, tok);
                    keyOutliers += tok.outlierCount;
                }
                if (quantizeValues) {
                    vq.quantize(values, o, tok);
                    for (int c = 0; c < d; c++) {
                        v[o + c] = vq.dequantize(tok, c, tok.codes[c]);
                    }
                    addResiduals(v, o, tok);
                }
            }
            if (tally != null && quantizeKeys) {
                tally.add(n - sinks, keyOutliers);
            }
            rope.rotate(k, n, rope.kvHeads());
            for (int i = 0; i < sinks * d; i++) {
                k[i] = Fp16.round(k[i]);
                v[i] = Fp16.round(v[i]);
            }
            if (spec.recentWindow() == 0) {
                return KvView.of(k, v);
            }
            float[] recentKeys = keys.clone();
            rope.rotate(recentKeys, n, rope.kvHeads());
            return new KvView(k, v, roundFp16(recentKeys), roundFp16(values.clone()), spec.recentWindow(), 0);
        };
    }

    private static void addResiduals(float[] x, int offset, QuantizedToken tok) {
        for (int i = 0; i < tok.outlierCount; i++) {
            x[offset + tok.outlierChannels[i]] += tok.residual(i);
        }
    }

    /**
     * The paper's intN / nfN baselines: keys after RoPE and values, each token's whole vector with
     * {@code z = (max+min)/2}, {@code s = (max−min)/2} (fp16) and the nearest codebook level.
     *
     * @param codebook the levels, e.g. uniform or NormalFloat
     * @return the store
     */
    public static KvStore perToken(Codebook codebook) {
        return (layer, keys, values, n, rope) -> {
            float[] k = keys.clone();
            rope.rotate(k, n, rope.kvHeads());
            int d = rope.kvHeads() * rope.headSize();
            float[] v = values.clone();
            for (int t = 0; t < n; t++) {
                quantizeRange(k, t * d, 1, d, codebook);
                quantizeRange(v, t * d, 1, d, codebook);
            }
            return KvView.of(k, v);
        };
    }

    /**
     * Min/max quantization of the {@code count} elements {@code x[offset + i·stride]} with one fp16
     * zero-point and scale; a constant group is reproduced exactly.
     */
    static void quantizeRange(float[] x, int offset, int stride, int count, Codebook codebook) {
        float lo = Float.POSITIVE_INFINITY;
        float hi = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < count; i++) {
            float e = x[offset + i * stride];
            lo = Math.min(lo, e);
            hi = Math.max(hi, e);
        }
        float z = Fp16.round((hi + lo) * 0.5f);
        float s = Fp16.round((hi - lo) * 0.5f);
        for (int i = 0; i < count; i++) {
            int p = offset + i * stride;
            x[p] = s > 0 ? z + s * codebook.dequant(codebook.nearest((x[p] - z) / s)) : z;
        }
    }

    /**
     * Ablation: uniform keys per channel with offline (calibrated min/max) ranges, pre- or post-RoPE;
     * values per token as in {@link #perToken}. {@code ranges[layer] = {lo[D], hi[D]}}.
     *
     * @param bits code width
     * @param ranges per layer the calibrated key ranges
     * @param preRope whether keys are quantized before RoPE
     * @return the store
     */
    public static KvStore keysPerChannel(int bits, float[][][] ranges, boolean preRope) {
        Codebook codebook = Codebook.uniform(bits);
        KeyQuantizer[] quantizers = new KeyQuantizer[ranges.length];
        for (int l = 0; l < ranges.length; l++) {
            quantizers[l] = new KeyQuantizer(ranges[l][0], ranges[l][1], codebook);
        }
        return (layer, keys, values, n, rope) -> {
            KeyQuantizer kq = quantizers[layer];
            int d = kq.channels();
            float[] k = keys.clone();
            if (!preRope) {
                rope.rotate(k, n, rope.kvHeads());
            }
            for (int t = 0; t < n; t++) {
                for (int c = 0; c < d; c++) {
                    int p = t * d + c;
                    k[p] = kq.dequantize(c, codebook.nearest(kq.normalize(c, k[p])));
                }
            }
            if (preRope) {
                rope.rotate(k, n, rope.kvHeads());
            }
            float[] v = values.clone();
            for (int t = 0; t < n; t++) {
                quantizeRange(v, t * d, 1, d, codebook);
            }
            return KvView.of(k, v);
        };
    }

    /**
     * KIVI-style: post-RoPE keys per channel over groups of 32 consecutive tokens, values per token in
     * groups of 32 channels, uniform levels; query {@code t} reads tokens newer than {@code t − R} in fp16,
     * like kvq's recent window, and the tokens of a key group that is not complete yet at {@code t} as well
     * (a group is quantized once all its tokens exist, so no query sees statistics of later tokens; with
     * R a positive multiple of 32 the window already covers the open group).
     *
     * @param bits code width
     * @param recentWindow tokens kept in full precision
     * @return the store
     */
    public static KvStore kivi(int bits, int recentWindow) {
        Codebook codebook = Codebook.uniform(bits);
        int g = KvMode.KIVI_GROUP;
        return (layer, keys, values, n, rope) -> {
            int d = rope.kvHeads() * rope.headSize();
            float[] full = keys.clone();
            rope.rotate(full, n, rope.kvHeads());
            float[] k = full.clone();
            roundFp16(full);
            for (int start = 0; start < n; start += g) {
                int count = Math.min(g, n - start);
                for (int c = 0; c < d; c++) {
                    quantizeRange(k, start * d + c, d, count, codebook);
                }
            }
            float[] v = values.clone();
            for (int t = 0; t < n; t++) {
                for (int c = 0; c < d; c += g) {
                    quantizeRange(v, t * d + c, 1, Math.min(g, d - c), codebook);
                }
            }
            return new KvView(k, v, full, roundFp16(values.clone()), recentWindow, g);
        };
    }
}
