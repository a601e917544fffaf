package dev.kvq.quant;

import dev.kvq.geometry.AttentionShape;

/**
 * KV-cache memory arithmetic (spec §11): effective bits per element and bytes for a given context.
 *
 * <p>Two accountings. {@link Accounting#STORED} counts what kvq stores for a packed token (page format v2):
 * the code bits (the sum of the channels' widths), the value tokens' fp16 scale and zero, and the outliers
 * as the cache holds them — the allocated fixed slots ({@code 2·n_k} key and {@code 2(n_v−1)} value slots of
 * 32 bits: int16 channel + fp16 value) with a uint8 end per KV head and tensor, or in the token-major sparse
 * form a 32-bit pointer per token and tensor, 32 bits per entry and a uint16 end per KV head and tensor.
 * The sink tokens are fp16 (16 bits per element); every later token is packed, and the last
 * {@code N} of them (the recent-token window) are kept in fp16 as well, 16 more bits per element. So the
 * fixed costs weigh on short contexts and vanish at long ones. {@link Accounting#PAPER} is the paper's
 * App. M arithmetic (outliers at the nominal fraction, 16-bit value + 16-bit index each, a 32-bit pointer
 * per token and tensor, per-token fp16 scale and zero for values, sinks and window in fp16 instead of
 * packed); it reproduces the paper's headline figures and nothing else. Per-layer side data (codebooks,
 * key thresholds) does not grow with the context and is left out; the cache's own report includes it.
 */
public final class MemoryMath {
    private MemoryMath() {}

    /** How outlier storage is counted. */
    public enum Accounting {
        /** The paper's count: 32 bits per outlier at the nominal fraction plus the per-token pointer. */
        PAPER,
        /** What kvq stores: allocated fixed slots, or sparse entries and pointers. */
        STORED
    }

    /** Bits of an outlier entry or slot: an int16 channel and an fp16 value. */
    private static final double ENTRY_BITS = 32;
    /** Bits of a token's pointer into the sparse entries, per tensor. */
    private static final double POINTER_BITS = 32;
    /** Bits of a value token's fp16 zero-point and scale. */
    private static final double SCALE_BITS = 32;
    /** Bits of the end of one KV head's outliers in a token's list: fixed slots (uint8), sparse (uint16). */
    private static final double FIXED_HEAD_END_BITS = 8;
    private static final double SPARSE_HEAD_END_BITS = 16;

    /**
     * Bits of one packed (non-sink) token of one layer.
     *
     * @param keys bits of the token's keys: codes and outliers
     * @param values bits of the token's values: codes, scale, zero and outliers
     */
    public record TokenBits(double keys, double values) {}

    /**
     * What a packed token of {@code spec} costs with every channel at the spec's width; sparse key
     * entries are counted at the nominal rate {@code outlierFraction·D} (the real rate depends on the
     * data: {@link #storedToken} takes a measured one).
     *
     * @param spec the quantization
     * @param channels {@code kvHeads·headDim}
     * @param kvHeads KV heads (each has an end in a token's outlier lists)
     * @param accounting how outliers are counted
     * @return the token's bits
     */
    public static TokenBits token(QuantSpec spec, int channels, int kvHeads, Accounting accounting) {
        if (!spec.quantized()) {
            return new TokenBits((double) spec.bits() * channels, (double) spec.bits() * channels);
        }
        double codes = (double) spec.bits() * channels;
        if (accounting == Accounting.PAPER) {
            double outliers = spec.hasOutliers() ? ENTRY_BITS * spec.outlierFraction() * channels + POINTER_BITS : 0;
            return new TokenBits(codes + outliers, codes + SCALE_BITS + outliers);
        }
        return storedToken(spec, channels, kvHeads, codes, codes, spec.outlierFraction() * channels);
    }

    /**
     * What kvq stores for one packed token of {@code spec}, given its code bits (from the calibration's
     * widths) and, for the token-major sparse form, the key entries per token actually stored.
     *
     * @param spec the quantization (outlier form and counts)
     * @param channels {@code kvHeads·headDim}
     * @param kvHeads KV heads (each has an end in a token's outlier lists)
     * @param keyCodeBits the key code bits per token, {@code Σ_c width_K(c)}
     * @param valueCodeBits the value code bits per token
     * @param keyEntriesPerToken key outlier entries per token (token-major sparse form only)
     * @return the token's bits
     */
    public static TokenBits storedToken(QuantSpec spec, int channels, int kvHeads, double keyCodeBits,
                                        double valueCodeBits, double keyEntriesPerToken) {
        double keys = keyCodeBits;
        double values = valueCodeBits + SCALE_BITS;
        if (spec.hasOutliers()) {
            if (spec.outlierForm() == QuantSpec.OutlierForm.TOKEN_MAJOR_SPARSE) {
                keys += POINTER_BITS + ENTRY_BITS * keyEntriesPerToken + SPARSE_HEAD_END_BITS * kvHeads;
                values += POINTER_BITS + ENTRY_BITS * spec.valueOutliersPerToken(channels) + SPARSE_HEAD_END_BITS * kvHeads;
            } else {
                keys += ENTRY_BITS * 2 * spec.keyOutlierCap(channels) + FIXED_HEAD_END_BITS * kvHeads;
                values += ENTRY_BITS * spec.valueOutliersPerToken(channels) + FIXED_HEAD_END_BITS * kvHeads;
            }
        }
        return new TokenBits(keys, values);
    }

    /**
     * Bits per element of the key tensor for one packed (non-sink) token.
     *
     * @param spec the quantization
     * @param channels {@code kvHeads·headDim}
     * @param kvHeads KV heads
     * @param accounting how outliers are counted
     * @return bits per key element
     */
    public static double keyBits(QuantSpec spec, int channels, int kvHeads, Accounting accounting) {
        return token(spec, channels, kvHeads, accounting).keys() / channels;
    }

    /**
     * Bits per element of the value tensor for one packed (non-sink) token, scale and zero included.
     *
     * @param spec the quantization
     * @param channels {@code kvHeads·headDim}
     * @param kvHeads KV heads
     * @param accounting how outliers are counted
     * @return bits per value element
     */
    public static double valueBits(QuantSpec spec, int channels, int kvHeads, Accounting accounting) {
        return token(spec, channels, kvHeads, accounting).values() / channels;
    }

    /**
     * Effective bits per element averaged over keys and values for a context of {@code tokens}
     * ({@code tokens <= 0} means "long enough that sinks and the window do not matter").
     *
     * @param spec the quantization
     * @param channels {@code kvHeads·headDim}
     * @param kvHeads KV heads
     * @param tokens context length; 0 or less for the long-context limit
     * @param accounting how outliers are counted
     * @return bits per element
     */
    public static double effectiveBits(QuantSpec spec, int channels, int kvHeads, long tokens, Accounting accounting) {
        TokenBits packed = token(spec, channels, kvHeads, accounting);
        if (accounting == Accounting.PAPER) {
            // the paper keeps its fp16 tokens instead of packing them
            return effectiveBits(packed, channels, spec.fp16Tokens(), 0, tokens);
        }
        return effectiveBits(packed, channels, spec.quantized() ? spec.sinkTokens() : 0, spec.recentWindow(), tokens);
    }

    /**
     * Effective bits per element averaged over keys and values, as page format v2 stores a context: the first
     * {@code min(tokens, sinkTokens)} tokens at 16 bits, every later one packed, and the last
     * {@code min(windowTokens, packed)} of those also at 16 bits (the window's fp16 copy).
     *
     * @param packed what one packed token costs
     * @param channels {@code kvHeads·headDim}
     * @param sinkTokens tokens kept in fp16 only: the sinks
     * @param windowTokens the recent window, kept in fp16 besides their codes
     * @param tokens context length; 0 or less for the long-context limit
     * @return bits per element
     */
    public static double effectiveBits(TokenBits packed, int channels, int sinkTokens, int windowTokens, long tokens) {
        double perElement = (packed.keys() + packed.values()) / (2.0 * channels);
        if (tokens <= 0) {
            return perElement;
        }
        long sinks = Math.min(tokens, sinkTokens);
        long window = Math.min(tokens - sinks, windowTokens);
        return (perElement * (tokens - sinks) + 16.0 * (sinks + window)) / tokens;
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
        return elements * effectiveBits(spec, shape.kvChannels(), shape.kvHeads(), tokens, accounting) / 8.0;
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
     * @param kvHeads KV heads
     * @param tokens context length; 0 or less for the long-context limit
     * @param accounting how outliers are counted
     * @return fp16 bits divided by this spec's effective bits
     */
    public static double compression(QuantSpec spec, int channels, int kvHeads, long tokens, Accounting accounting) {
        return 16.0 / effectiveBits(spec, channels, kvHeads, tokens, accounting);
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
                * effectiveBits(spec, shape.kvChannels(), shape.kvHeads(), 0, accounting) / 8.0;
        long tokens = (long) Math.floor(budgetBytes / perToken);
        // sinks cost more than packed tokens: step back until the exact figure fits
        while (tokens > 0 && bytes(shape, spec, tokens, accounting) > budgetBytes) {
            tokens--;
        }
        return tokens;
    }
}
