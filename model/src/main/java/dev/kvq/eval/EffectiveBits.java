package dev.kvq.eval;

import dev.kvq.quant.Calibration;
import dev.kvq.quant.MemoryMath;

/**
 * Bits per stored K/V element of every mode for a context of {@code tokens}, averaged over keys and
 * values, counting what is stored. nuq modes: {@link MemoryMath.Accounting#STORED} (the code bits of the
 * calibration's widths, allocated outlier slots or sparse entries and pointers with their per-head ends,
 * value scales, the sinks in fp16, and the recent window's fp16 copy besides its codes). Per-token baselines pay an fp16 zero and scale per vector
 * ({@code 32/D} bits); per-channel keys calibrated offline pay nothing per token; KIVI pays fp16 zero and
 * scale per group of 32 (1 bit per element) and 16 bits for each token it keeps in fp16 (the R-token
 * window, or without one the tokens of the key group still being filled).
 */
public final class EffectiveBits {
    /** The long context at which the fixed costs (sinks, windows) have nearly vanished. */
    public static final int LONG_CONTEXT = 32 * 1024;

    private EffectiveBits() {}

    /**
     * The bits per stored K/V element of {@code mode} with every channel at its nominal width (the sparse
     * key entries at the nominal rate).
     *
     * @param mode the KV mode
     * @param channels {@code kvHeads·headDim}
     * @param kvHeads KV heads (nuq outlier lists store an end per head)
     * @param tokens the context length (sinks and recent windows are amortized over it)
     * @return bits per element
     */
    public static double of(KvMode mode, int channels, int kvHeads, int tokens) {
        double perVector = 32.0 / channels;
        return switch (mode.kind()) {
            case FP32 -> 32;
            case FP16 -> 16;
            case INT, NF -> mode.bits() + perVector;
            case INT_KEY_CHANNEL, INT_KEY_CHANNEL_PRE_ROPE -> mode.bits() + perVector / 2;
            case KIVI -> {
                int g = KvMode.KIVI_GROUP;
                int recent = Math.min(tokens, mode.recentWindow() > 0 ? mode.recentWindow() : tokens % g);
                double quantized = mode.bits() + 32.0 / g;
                yield (quantized * (tokens - recent) + 16.0 * recent) / tokens;
            }
            case NUQ, NUQ_PACKED, NUQ_KEYS_ONLY, NUQ_VALUES_ONLY ->
                    MemoryMath.effectiveBits(mode.spec(), channels, kvHeads, tokens, MemoryMath.Accounting.STORED);
        };
    }

    /**
     * The bits per stored K/V element of a nuq mode as calibrated and run: the calibration's code widths
     * and the key outliers actually stored per token (token-major sparse form).
     *
     * @param mode a nuq mode
     * @param calibration its calibration (the widths)
     * @param keyOutliersPerToken key outliers stored per quantized token, measured
     * @param tokens the context length
     * @return bits per element
     */
    public static double nuq(KvMode mode, Calibration calibration, double keyOutliersPerToken, int tokens) {
        int d = calibration.shape().kvChannels();
        MemoryMath.TokenBits packed = MemoryMath.storedToken(mode.spec(), d, calibration.shape().kvHeads(),
                calibration.meanKeyCodeBits(), calibration.meanValueCodeBits(), keyOutliersPerToken);
        return MemoryMath.effectiveBits(packed, d, mode.spec().sinkTokens(), mode.spec().recentWindow(), tokens);
    }
}
