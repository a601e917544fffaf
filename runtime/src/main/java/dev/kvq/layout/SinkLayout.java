package dev.kvq.layout;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.quant.QuantSpec;

/**
 * The attention-sink buffer of one layer: the first {@code S} tokens of a nuq cache kept in fp16,
 * keys post-RoPE {@code [S][D]} then values {@code [S][D]} ({@code fp16 [2][S][D]}, D =
 * kvHeads·headDim). The baselines have no sinks ({@code S = 0}). Both engines and snapshots store
 * exactly these bytes.
 */
public final class SinkLayout {
    private final int capacity;
    private final int channels;

    /**
     * The sink buffer of a cache of {@code shape} and {@code spec}.
     *
     * @param shape the attention geometry
     * @param spec the quantization: nuq keeps {@code spec.sinkTokens()} sinks, fp16/fp32 none
     */
    public SinkLayout(AttentionShape shape, QuantSpec spec) {
        this.capacity = spec.quantized() ? spec.sinkTokens() : 0;
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
     * Bytes of one layer's sink buffer.
     *
     * @return {@code 2·S·D·2}
     */
    public long bytes() {
        return (long) capacity * channels * 2 * 2;
    }

    /**
     * Byte offset of channel {@code c} of sink {@code i}'s key (post-RoPE).
     *
     * @param i sink token, {@code [0, S)}
     * @param c channel, {@code [0, D)}
     * @return the byte offset in the buffer
     */
    public long keyOffset(int i, int c) {
        return ((long) i * channels + c) * 2;
    }

    /**
     * Byte offset of channel {@code c} of sink {@code i}'s value.
     *
     * @param i sink token, {@code [0, S)}
     * @param c channel, {@code [0, D)}
     * @return the byte offset in the buffer
     */
    public long valueOffset(int i, int c) {
        return ((long) (capacity + i) * channels + c) * 2;
    }
}
