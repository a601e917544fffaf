package dev.kvq.quant;

import dev.kvq.geometry.AttentionShape;

/**
 * KV-cache memory arithmetic (spec §11): effective bits per element and bytes for a given context.
 *
 * <p>Two accountings. {@link Accounting#STORED} counts what kvq stores for a packed token: the code bits
 * (the sum of the channels' widths), the value tokens' fp16 scale and zero, and the outliers as the cache
 * holds them — the allocated fixed slots ({@code 2·n_k} key and {@code 2(n_v−1)} value slots of 32
 * bits: int16 channel + fp16 value, no pointer), or in the token-major sparse form a 32-bit pointer per
 * token and tensor plus 32 bits per entry. {@link Accounting#PAPER} is the paper's App. M arithmetic
 * (outliers at the nominal fraction, 16-bit value + 16-bit index each, a 32-bit pointer per token and
 * tensor, per-token fp16 scale and zero for values); it reproduces the paper's headline figures and
 * nothing else. In both, the sink tokens and the recent-token window are fp16 (16 bits per element),
 * so they weigh on short contexts and vanish at long ones. Per-layer side data (codebooks, key
 * thresholds) does not grow with the context and is left out; the cache's own report includes it.
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

    /**
     * Bits of one packed (non-sink, non-window) token of one layer.
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
     * @param accounting how outliers are counted
     * @return the token's bits
     */
    public static TokenBits token(QuantSpec spec, int channels, Accounting accounting) {
        if (!spec.quantized()) {
            return new TokenBits((double) spec.bits() * channels, (double) spec.bits() * channels);
        }
        double codes = (double) spec.bits() * channels;
        if (accounting == Accounting.PAPER) {
            double outliers = spec.hasOutliers() ? ENTRY_BITS * spec.outlierFraction() * channels + POINTER_BITS : 0;
            return new TokenBits(codes + outliers, codes + SCALE_BITS + outliers);
        }
        return storedToken(spec, channels, codes, codes, spec.outlierFraction() * channels);
    }

    /**
     * What kvq stores for one packed token of {@code spec}, given its code bits (from the calibration's
     * widths) and, for the token-major sparse form, the key entries per token actually stored.
     *
     * @param spec the quantization (outlier form and counts)
     * @param channels {@code kvHeads·headDim}
     * @param keyCodeBits the key code bits per token, {@code Σ_c width_K(c)}
     * @param valueCodeBits the value code bits per token
     * @param keyEntriesPerToken key outlier entries per token (token-major sparse form only)
     * @return the token's bits
     */
    public static TokenBits storedToken(QuantSpec spec, int channels, double keyCodeBits, double valueCodeBits,
                                        double keyEntriesPerToken) {
        double keys = keyCodeBits;
        double values = valueCodeBits + SCALE_BITS;
        if (spec.hasOutliers()) {
            if (spec.outlierForm() == QuantSpec.OutlierForm.TOKEN_MAJOR_SPARSE) {
                keys += POINTER_BITS + ENTRY_BITS * keyEntriesPerToken;
                values += POINTER_BITS + ENTRY_BITS * spec.valueOutliersPerToken(channels);
            } else {
                keys += ENTRY_BITS * 2 * spec.keyOutlierCap(channels);
                values += ENTRY_BITS * spec.valueOutliersPerToken(channels);
            }
        }
        return new TokenBits(keys, values);
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
        return token(spec, channels, accounting).keys() / channels;
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
        return token(spec, channels, accounting).values() / channels;
    }

    /**
     * Effective bits per element averaged over keys and values for a context of {@code tokens}
     * ({@code tokens <= 0} means "long enough that sinks and the window do not matter").
     *
     * @param spec the quantization
     * @param channels {@code kvHeads·headDim}
     * @param tokens context length; 0 or less for the long-context limit
     * @param accounting how outliers are counted
     * @return bits per element
     */
    public static double effectiveBits(QuantSpec spec, int channels, long tokens, Accounting accounting) {
        return effectiveBits(token(spec, channels, accounting), channels, spec.fp16Tokens(), tokens);
    }

    /**
     * Effective bits per element averaged over keys and values: {@code min(tokens, fp16Tokens)} tokens at
     * 16 bits, the rest packed.
     *
     * @param packed what one packed token costs
     * @param channels {@code kvHeads·headDim}
     * @param fp16Tokens tokens kept in fp16: sinks and the recent window
     * @param tokens context length; 0 or less for the long-context limit
     * @return bits per element
     */
    public static double effectiveBits(TokenBits packed, int channels, int fp16Tokens, long tokens) {
        double perElement = (packed.keys() + packed.values()) / (2.0 * channels);
        if (tokens <= 0) {
            return perElement;
        }
        long fp16 = Math.min(tokens, fp16Tokens);
        return (perElement * (tokens - fp16) + 16.0 * fp16) / tokens;
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
