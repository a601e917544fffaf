package dev.kvq.quant;

import dev.kvq.geometry.AttentionShape;

/**
 * KV-cache memory arithmetic (spec §11): effective bits per element and bytes for a given context.
 *
 * <p>Two accountings: {@link Accounting#PAPER} follows the paper's App. M (outliers at the expected
 * fraction, 16-bit value + 16-bit index each, a 32-bit pointer per token and tensor, per-token fp16
 * scale and zero for values), which reproduces its headline figures; {@link Accounting#FIXED_SLOTS}
 * is what kvq's capped fixed-slot storage really holds per token (spec §5.2/§5.4): {@code 2·n_k} key
 * slots and {@code 2(n_v−1)} value slots of 32 bits each, no pointers. Sink tokens count at 16 bits.
 * Per-layer side data (codebooks, per-channel key thresholds) does not grow with the context and is
 * left out; the cache's own report includes it.
 */
public final class MemoryMath {
    private MemoryMath() {}

    /** How outlier storage is counted. */
    public enum Accounting {
        /** The paper's count: 32 bits per outlier plus the per-token pointer. */
        PAPER,
        /** What kvq's capped fixed slots really take. */
        FIXED_SLOTS
    }

    /**
     * Bits per element of the key tensor for one packed (non-sink) token.
     *
     * @param spec the quantization
     * @param channels {@code kvHeads·headDim}
     * @param accounting how outliers are counted
     * @return bits per key element
     */
    public static double keyBits(QuantSpec spec, int channels, Accounting accounting) {
        if (!spec.quantized()) {
            return spec.bits();
        }
        double bits = spec.bits();
        if (spec.hasOutliers()) {
            bits += switch (accounting) {
                case PAPER -> 32.0 * spec.outlierFraction() + 32.0 / channels;
                case FIXED_SLOTS -> 32.0 * 2 * spec.keyOutlierCap(channels) / channels;
            };
        }
        return bits;
    }

    /**
     * Bits per element of the value tensor for one packed (non-sink) token, scale and zero included.
     *
     * @param spec the quantization
     * @param channels {@code kvHeads·headDim}
     * @param accounting how outliers are counted
     * @return bits per value element
     */
    public static double valueBits(QuantSpec spec, int channels, Accounting accounting) {
        if (!spec.quantized()) {
            return spec.bits();
        }
        double bits = spec.bits() + 32.0 / channels;  // fp16 scale + fp16 zero per token
        if (spec.hasOutliers()) {
            bits += switch (accounting) {
                case PAPER -> 32.0 * spec.outlierFraction() + 32.0 / channels;
                case FIXED_SLOTS -> 32.0 * spec.valueOutliersPerToken(channels) / channels;
            };
        }
        return bits;
    }

    /**
     * Effective bits per element averaged over keys and values for a context of {@code tokens}
     * ({@code tokens <= 0} means "long enough that sinks do not matter").
     *
     * @param spec the quantization
     * @param channels {@code kvHeads·headDim}
     * @param tokens context length; 0 or less for the long-context limit
     * @param accounting how outliers are counted
     * @return bits per element
     */
    public static double effectiveBits(QuantSpec spec, int channels, long tokens, Accounting accounting) {
        double packed = (keyBits(spec, channels, accounting) + valueBits(spec, channels, accounting)) / 2;
        if (!spec.quantized() || tokens <= 0) {
            return packed;
        }
        long sinks = Math.min(tokens, spec.sinkTokens());
        return (packed * (tokens - sinks) + 16.0 * sinks) / tokens;
    }

    /**
     * Bytes of keys and values for {@code tokens} tokens of every layer.
     *
     * @param shape the attention geometry
     * @param spec the quantization
     * @param tokens context length
     * @param accounting how outliers are counted
     * @return the cache size in bytes (fractional: bits need not fill bytes)
     */
    public static double bytes(AttentionShape shape, QuantSpec spec, long tokens, Accounting accounting) {
        double elements = 2.0 * shape.layers() * shape.kvChannels() * (double) tokens;
        return elements * effectiveBits(spec, shape.kvChannels(), tokens, accounting) / 8.0;
    }

    /**
     * Bytes of an fp16 cache: {@code 2·layers·D·2·tokens}.
     *
     * @param shape the attention geometry
     * @param tokens context length
     * @return the fp16 cache size in bytes
     */
    public static long fp16Bytes(AttentionShape shape, long tokens) {
        return 2L * shape.layers() * shape.kvChannels() * 2L * tokens;
    }

    /**
     * Compression against fp16 at the same context.
     *
     * @param spec the quantization
     * @param channels {@code kvHeads·headDim}
     * @param tokens context length; 0 or less for the long-context limit
     * @param accounting how outliers are counted
     * @return fp16 bits divided by this spec's effective bits
     */
    public static double compression(QuantSpec spec, int channels, long tokens, Accounting accounting) {
        return 16.0 / effectiveBits(spec, channels, tokens, accounting);
    }

    /**
     * The longest context whose KV cache fits in {@code budgetBytes}.
     *
     * @param shape the attention geometry
     * @param spec the quantization
     * @param budgetBytes the memory available for the cache
     * @param accounting how outliers are counted
     * @return the token count
     */
    public static long maxTokens(AttentionShape shape, QuantSpec spec, double budgetBytes, Accounting accounting) {
        if (!(budgetBytes > 0)) {
            return 0;
        }
        double perToken = 2.0 * shape.layers() * shape.kvChannels()
                * effectiveBits(spec, shape.kvChannels(), 0, accounting) / 8.0;
        long tokens = (long) Math.floor(budgetBytes / perToken);
        // sinks cost more than packed tokens: step back until the exact figure fits
        while (tokens > 0 && bytes(shape, spec, tokens, accounting) > budgetBytes) {
            tokens--;
        }
        return tokens;
    }
}
