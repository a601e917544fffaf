package dev.kvq.model;

/**
 * The KV cache of token-by-token decoding. {@link Llama#step} appends each layer's pre-RoPE key and
 * value of the new token, then asks for the attention output of its (pre-RoPE) query.
 */
public interface DecodeCache extends AutoCloseable {
    /**
     * Stores one token's pre-RoPE key and value ({@code [kvDim]} each) of {@code layer} at {@code pos}.
     *
     * @param layer layer index
     * @param keyPreRope the key before RoPE
     * @param value the value
     * @param pos the token's position
     */
    void append(int layer, float[] keyPreRope, float[] value, int pos);

    /**
     * Prefill: stores {@code tokens} rows {@code [tokens][kvDim]} at positions 0…tokens−1.
     *
     * @param layer layer index
     * @param keysPreRope the keys before RoPE
     * @param values the values
     * @param tokens number of prompt tokens
     */
    void appendPrompt(int layer, float[] keysPreRope, float[] values, int tokens);

    /**
     * Attention output {@code [heads·headSize]} of the pre-RoPE {@code query} at {@code pos} over what is
     * stored.
     *
     * @param layer layer index
     * @param query the query of every head, before RoPE
     * @param pos the query's position
     * @param out receives the output of every head
     */
    void attend(int layer, float[] query, int pos, float[] out);

    /**
     * Effective bits per stored K/V element, or 32 for an fp32 cache.
     *
     * @return bits per element
     */
    double effectiveBits();

    @Override
    default void close() {}
}
