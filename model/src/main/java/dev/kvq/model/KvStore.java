package dev.kvq.model;

/**
 * How a teacher-forced forward pass stores its KV cache: the model hands every layer's pre-RoPE keys
 * and values of the whole window ({@code [tokens][kvDim]}, positions 0…tokens−1) and attends over
 * whatever view comes back. The fp32 reference only applies RoPE; quantizing stores replace each
 * vector by its reconstruction, which is the paper's "simulated" perplexity protocol (spec §15.14).
 */
public interface KvStore {
    /**
     * The view attention reads for one layer of a window.
     *
     * @param layer layer index
     * @param keysPreRope the window's keys before RoPE, {@code [tokens][kvDim]}
     * @param values the window's values, {@code [tokens][kvDim]}
     * @param tokens tokens in the window
     * @param rope the model's RoPE
     * @return keys after RoPE and values, as the store keeps them
     */
    KvView view(int layer, float[] keysPreRope, float[] values, int tokens, LlamaRope rope);

    /** The fp32 reference: keys rotated, nothing quantized. */
    KvStore FP32 = (layer, keys, values, tokens, rope) -> {
        float[] k = keys.clone();
        rope.rotate(k, tokens, rope.kvHeads());
        return KvView.of(k, values);
    };
}
