package dev.kvq.layout;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.quant.QuantSpec;

/**
 * The fp16 side buffer of one layer (page format v2): the attention-sink tokens and the recent-token window
 * of a nuq cache, keys post-RoPE {@code [S+N][D]} then values {@code [S+N][D]} ({@code fp16 [2][S+N][D]},
 * D = kvHeads·headDim, logical channel order). Slots {@code [0, S)} hold the first S tokens; slots
 * {@code [S, S+N)} are the window ring: the token at index {@code p ≥ S} of the sequence lives in slot
 * {@code S + ((p − S) mod N)} ({@link #slot}). Every non-sink token is packed in the pages as well; a decode
 * step reads the last {@code min(N, packed)} of them from here instead. Without a window ({@code N = 0})
 * this is format v1's sink buffer. The baselines have neither ({@code S = N = 0}). Both engines and
 * snapshots store exactly these bytes.
 */
public final class SinkLayout {
    private final int capacity;
    private final int window;
    private final int channels;

    /**
     * The side buffer of a cache of {@code shape} and {@code spec}.
     *
     * @param shape the attention geometry
     * @param spec the quantization: nuq keeps {@code spec.sinkTokens()} sinks and a window of
     *        {@code spec.recentWindow()} tokens, fp16/fp32 neither
     */
    public SinkLayout(AttentionShape shape, QuantSpec spec) {
        this.capacity = spec.quantized() ? spec.sinkTokens() : 0;
        this.window = spec.quantized() ? spec.recentWindow() : 0;
        this.channels = shape.kvChannels();
    }

    /**
     * Sink tokens a layer holds when full.
     *
     * @return {@code S}
     */
    public int capacity() {
        return capacity;
    }

    /**
     * Slots of the recent-token window ring.
     *
     * @return {@code N}
     */
    public int windowCapacity() {
        return window;
    }

    /**
     * Bytes of one layer's side buffer.
     *
     * @return {@code 2·(S+N)·D·2}
     */
    public long bytes() {
        return sinkBytes() + windowBytes();
    }

    /**
     * Bytes of the sink slots (keys and values).
     *
     * @return {@code 2·S·D·2}
     */
    public long sinkBytes() {
        return (long) capacity * channels * 2 * 2;
    }

    /**
     * Bytes of the window ring (keys and values).
     *
     * @return {@code 2·N·D·2}
     */
    public long windowBytes() {
        return (long) window * channels * 2 * 2;
    }

    /**
     * The slot of the token at index {@code token} of its sequence: itself for a sink, its ring slot
     * otherwise.
     *
     * @param token the token's index in the sequence (0 = first)
     * @return the slot, or −1 for a non-sink token when there is no window
     */
    public int slot(int token) {
        if (token < capacity) {
            return token;
        }
        return window > 0 ? capacity + (token - capacity) % window : -1;
    }

    /**
     * Byte offset of channel {@code c} of the key in slot {@code i} (post-RoPE).
     *
     * @param i slot, {@code [0, S+N)}
     * @param c channel, {@code [0, D)}
     * @return the byte offset in the buffer
     */
    public long keyOffset(int i, int c) {
        return ((long) i * channels + c) * 2;
    }

    /**
     * Byte offset of channel {@code c} of the value in slot {@code i}.
     *
     * @param i slot, {@code [0, S+N)}
     * @param c channel, {@code [0, D)}
     * @return the byte offset in the buffer
     */
    public long valueOffset(int i, int c) {
        return ((long) (capacity + window + i) * channels + c) * 2;
    }
}
