package dev.kvq.model;

import dev.kvq.cache.Backend;
import dev.kvq.cache.KvCache;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.QuantSpec;

/**
 * Decoding on the runtime's packed {@link KvCache} (deployment semantics, spec §1 step 3–4): the
 * prompt is attended in full precision by the window forward pass and then handed over with
 * {@link #appendPrompt}; every later token is quantized on append and attention reads the packed form.
 * The cache rotates keys itself with the exact-angle runtime RoPE, so queries are rotated with the
 * same table here.
 */
public final class PackedDecodeCache implements DecodeCache {
    private final KvCache cache;
    private final AttentionShape shape;

    /**
     * A packed cache for {@code model} on the CPU backend.
     *
     * @param model the model
     * @param spec the quantization
     * @param calibration a calibration of the model for {@code spec}
     */
    public PackedDecodeCache(Llama model, QuantSpec spec, Calibration calibration) {
        this.shape = ModelShapes.attentionShape(model.config());
        this.cache = KvCache.open(shape, spec, calibration, Backend.cpu());
    }

    /**
     * The runtime cache underneath.
     *
     * @return the cache
     */
    public KvCache cache() {
        return cache;
    }

    @Override
    public void append(int layer, float[] keyPreRope, float[] value, int pos) {
        if (pos != cache.length(layer)) {
            throw new IllegalArgumentException("layer " + layer + " holds " + cache.length(layer)
                    + " tokens; cannot append position " + pos);
        }
        cache.append(layer, keyPreRope, value);
    }

    @Override
    public void appendPrompt(int layer, float[] keysPreRope, float[] values, int tokens) {
        int n = tokens * shape.kvChannels();
        cache.append(layer, java.util.Arrays.copyOf(keysPreRope, n), java.util.Arrays.copyOf(values, n));
    }

    @Override
    public void attend(int layer, float[] query, int pos, float[] out) {
        float[] q = query.clone();
        shape.rope().apply(q, 0, shape.queryHeads(), pos);
        cache.attend(layer, q, out);
    }

    @Override
    public double effectiveBits() {
        return cache.memory().effectiveBits();
    }

    @Override
    public void close() {
        cache.close();
    }
}
