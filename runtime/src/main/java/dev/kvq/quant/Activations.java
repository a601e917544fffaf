package dev.kvq.quant;

/**
 * Calibration activations of one layer and tensor: row-major {@code values[token][channel]} with
 * optional Fisher weights of the same shape. Tokens are grouped in sequences of
 * {@code sequenceLength}; the first sink tokens of every sequence are left out of calibration.
 *
 * @param values         [tokens][channels] pre-RoPE keys or values
 * @param fisher         [tokens][channels] squared loss gradients, or null when none were computed
 * @param sequenceLength tokens per calibration sequence (the last sequence may be shorter)
 * @param tokens rows of {@code values}
 * @param channels columns of {@code values}: {@code kvHeads·headDim}
 */
public record Activations(float[] values, float[] fisher, int tokens, int channels, int sequenceLength) {
    /** Checks sizes, that the activations are finite and that Fisher weights are finite and non-negative. */
    public Activations {
        Checks.requirePositive("token count", tokens);
        Checks.requirePositive("channel count", channels);
        Checks.requirePositive("sequence length", sequenceLength);
        long expected = (long) tokens * channels;
        Checks.requireLength("calibration activations", values, expected);
        // the cache stores keys and values within fp16 range only, so larger ones are not activations
        Checks.requireFp16Range("calibration activations", values, 0, values.length);
        if (fisher != null) {
            Checks.requireLength("Fisher weights", fisher, expected);
            for (int i = 0; i < fisher.length; i++) {
                float f = fisher[i];
                if (!Float.isFinite(f) || f < 0) {
                    throw new IllegalArgumentException("Fisher weight at index " + i + " is " + f
                            + " (must be finite and >= 0)");
                }
            }
        }
    }

    /**
     * Whether token {@code t} is one of the first {@code sinkTokens} of its sequence.
     *
     * @param t token index
     * @param sinkTokens sink tokens per sequence
     * @return true when the token is left out of calibration
     */
    public boolean isSink(int t, int sinkTokens) {
        return t % sequenceLength < sinkTokens;
    }

    /**
     * Tokens that remain after dropping {@code sinkTokens} per sequence.
     *
     * @param sinkTokens sink tokens per sequence
     * @return the number of tokens calibration uses
     */
    public int calibrationTokens(int sinkTokens) {
        int full = tokens / sequenceLength;
        int rest = tokens % sequenceLength;
        return full * Math.max(0, sequenceLength - sinkTokens) + Math.max(0, rest - sinkTokens);
    }
}
