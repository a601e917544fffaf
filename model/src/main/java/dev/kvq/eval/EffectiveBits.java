package dev.kvq.eval;

import dev.kvq.quant.MemoryMath;

/**
 * Bits per stored K/V element of every mode for a context of {@code tokens}, averaged over keys and
 * values. nuq modes use the runtime's paper accounting ({@link MemoryMath}); per-token baselines pay an
 * fp16 zero and scale per vector ({@code 32/D} bits); per-channel keys calibrated offline pay nothing
 * per token; KIVI pays fp16 zero and scale per group of 32 (1 bit per element) and 16 bits for each of the
 * R recent tokens it keeps in full precision (the window counts).
 */
public final class EffectiveBits {
    private EffectiveBits() {}

    /**
     * The bits per stored K/V element of {@code mode}.
     *
     * @param mode the KV mode
     * @param channels {@code kvHeads·headDim}
     * @param tokens the context length (sinks and KIVI's recent window are amortized over it)
     * @return bits per element
     */
    public static double of(KvMode mode, int channels, int tokens) {
        double perVector = 32.0 / channels;
        return switch (mode.kind()) {
            case FP32 -> 32;
            case FP16 -> 16;
            case INT, NF -> mode.bits() + perVector;
            case INT_KEY_CHANNEL, INT_KEY_CHANNEL_PRE_ROPE -> mode.bits() + perVector / 2;
            case KIVI -> {
                int recent = Math.min(tokens, mode.recentWindow());
                double quantized = mode.bits() + 32.0 / KvMode.KIVI_GROUP;
                yield (quantized * (tokens - recent) + 16.0 * recent) / tokens;
            }
            case NUQ, NUQ_PACKED, NUQ_KEYS_ONLY, NUQ_VALUES_ONLY -> MemoryMath.effectiveBits(mode.spec(), channels, tokens, MemoryMath.Accounting.PAPER);
        };
    }
}
