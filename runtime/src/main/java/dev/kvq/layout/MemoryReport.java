package dev.kvq.layout;

/**
 * What a cache (or pool) really holds, in bytes of allocated memory, by part.
 *
 * @param codes       packed codes of the stored tokens (or fp16/fp32 elements for the baselines)
 * @param scales      per-token value scale and zero-point of the stored tokens
 * @param outliers    outlier storage of the stored tokens (fixed slots, or sparse entries and pointers)
 * @param sinks       fp16 sink-token keys and values
 * @param window      the fp16 copy of the recent-token window (keys post-RoPE and values; the ring's
 *                    allocation), stored in addition to those tokens' codes
 * @param sideData    per-layer tables that do not grow with the context (thresholds, codebooks)
 * @param pageSlack   allocated but not yet used: the free slots of partly filled pages, spare
 *                    pages, unused sparse-entry capacity
 * @param tokens      tokens stored, summed over layers
 * @param channels    elements per token and tensor ({@code kvHeads·headDim})
 */
public record MemoryReport(long codes, long scales, long outliers, long sinks, long window, long sideData,
                           long pageSlack, long tokens, int channels) {

    /**
     * A report of nothing stored.
     *
     * @param channels elements per token and tensor
     * @return all counts zero
     */
    public static MemoryReport empty(int channels) {
        return new MemoryReport(0, 0, 0, 0, 0, 0, 0, 0, channels);
    }

    /**
     * Every byte allocated.
     *
     * @return the sum of all parts
     */
    public long totalBytes() {
        return codes + scales + outliers + sinks + window + sideData + pageSlack;
    }

    /**
     * Bytes that grow with the context: everything but the side data and the slack.
     *
     * @return codes, scales, outliers, sinks and the window
     */
    public long tokenBytes() {
        return codes + scales + outliers + sinks + window;
    }

    /**
     * Bits per stored K or V element, counting everything allocated.
     *
     * @return total bits divided by the K and V elements stored; 0 when empty
     */
    public double effectiveBits() {
        return tokens == 0 ? 0 : totalBytes() * 8.0 / (2.0 * tokens * channels);
    }

    /**
     * Bits per element counting only what the stored tokens occupy (no slack, no side data).
     *
     * @return token bits divided by the K and V elements stored; 0 when empty
     */
    public double tokenBits() {
        return tokens == 0 ? 0 : tokenBytes() * 8.0 / (2.0 * tokens * channels);
    }

    /**
     * The sum of two reports over the same channels (layers of a cache, sequences of a pool).
     *
     * @param o another report
     * @return every part and the token count added
     */
    public MemoryReport plus(MemoryReport o) {
        return new MemoryReport(codes + o.codes, scales + o.scales, outliers + o.outliers, sinks + o.sinks,
                window + o.window, sideData + o.sideData, pageSlack + o.pageSlack, tokens + o.tokens, channels);
    }

    @Override
    public String toString() {
        return String.format(java.util.Locale.ROOT,
                "%d bytes (codes %d, scales %d, outliers %d, sinks %d, window %d, side %d, slack %d) for %d token-layers:"
                        + " %.3f bits/element",
                totalBytes(), codes, scales, outliers, sinks, window, sideData, pageSlack, tokens, effectiveBits());
    }
}
