package dev.kvq.cache;

import dev.kvq.engine.CacheSetup;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.quant.Checks;
import dev.kvq.quant.KeyQuantizer;
import dev.kvq.quant.QuantSpec;

/**
 * Rejects tokens whose stored form would overflow fp16 although every input is within the fp16
 * range: a key pair stored after RoPE (sink tokens, the recent-token window, the fp16 baseline) whose rotation can exceed
 * 65504, or an outlier residual beyond it. Runs before anything is allocated or written, on every
 * backend, so a rejected append leaves the cache unchanged; it is at least as strict as the quantizers.
 */
final class StorableInput {
    /** Widest span of one token's values with outliers: the fp16 maximum less two fp16 rounding steps. */
    static final float MAX_VALUE_SPAN = Checks.FP16_MAX - 64;

    private StorableInput() {}

    /** Checks {@code n} tokens appended after {@code stored} tokens of {@code layer}. */
    static void require(CacheSetup setup, int layer, int stored, float[] keys, float[] values, int n) {
        AttentionShape shape = setup.shape();
        QuantSpec spec = setup.spec();
        int d = shape.kvChannels();
        int headDim = shape.headDim();
        int sinkCapacity = setup.occupancy(layer).sinks().capacity();
        boolean window = setup.occupancy(layer).sinks().windowCapacity() > 0;
        KeyQuantizer keyQuantizer = spec.quantized() ? setup.layer(layer).keys() : null;
        double maxSquare = (double) Checks.FP16_MAX * Checks.FP16_MAX;
        for (int t = 0; t < n; t++) {
            int off = t * d;
            long position = (long) stored + t;
            // window tokens are both stored rotated in fp16 and packed: both checks apply
            if (spec.mode() == QuantSpec.Mode.FP16 || position < sinkCapacity || window) {
                for (int c = 0; c < d; c++) {
                    int j = c % headDim;
                    int partner = c - j + shape.rope().pairing().partner(j, headDim);
                    double a = keys[off + c];
                    double b = keys[off + partner];
                    if (a * a + b * b > maxSquare) {
                        throw new IllegalArgumentException("keys hold the RoPE pair (" + a + ", " + b + ") at token " + t
                                + ", channels " + c + "/" + partner + " of layer " + layer + ": rotated, it can exceed "
                                + "the fp16 maximum 65504 of the stored keys");
                    }
                }
            }
            if (position >= sinkCapacity && spec.hasOutliers()) {
                for (int c = 0; c < d; c++) {
                    float x = keys[off + c];
                    int top = (1 << keyQuantizer.width(c)) - 1;
                    // an element beyond a threshold takes the extreme code; its residual is stored in fp16
                    float residual = x > keyQuantizer.upper(c) ? x - keyQuantizer.dequantize(c, top)
                            : x < keyQuantizer.lower(c) ? x - keyQuantizer.dequantize(c, 0) : 0f;
                    if (Math.abs(residual) > Checks.FP16_MAX) {
                        throw new IllegalArgumentException("keys hold " + x + " at token " + t + ", channel " + c
                                + " of layer " + layer + ": its outlier residual " + residual
                                + " exceeds the fp16 range of the stored residuals");
                    }
                }
                // value residuals are taken against a point inside the token's own range (plus fp16
                // rounding of zero and scale), so a span within fp16 range minus that rounding is safe
                float lo = Float.POSITIVE_INFINITY;
                float hi = Float.NEGATIVE_INFINITY;
                for (int c = 0; c < d; c++) {
                    lo = Math.min(lo, values[off + c]);
                    hi = Math.max(hi, values[off + c]);
                }
                if (hi - lo > MAX_VALUE_SPAN) {
                    throw new IllegalArgumentException("values of token " + t + " of layer " + layer + " span ["
                            + lo + ", " + hi + "], wider than the " + MAX_VALUE_SPAN
                            + " that fp16 outlier residuals can hold");
                }
            }
        }
    }
}
