package dev.kvq.quant;

/**
 * One token's quantized form, reused across calls as scratch: dense codes for every channel plus the
 * sparse outliers as (channel, fp16 residual) pairs sorted by channel (spec §5.3: residual =
 * {@code x − dequant(code)}). Values also carry their per-token fp16 zero-point and scale.
 */
public final class QuantizedToken {
    /** [channels] codebook indices. */
    public final int[] codes;
    /** [capacity] outlier channels, ascending in [0, outlierCount). */
    public final int[] outlierChannels;
    /** [capacity] fp16 bits of {@code x − dequant(code)} for each outlier. */
    public final short[] outlierResiduals;
    /** Valid entries of {@link #outlierChannels} and {@link #outlierResiduals}. */
    public int outlierCount;
    /** Per-token zero-point and scale (values only), already rounded to fp16. */
    public float zero;
    /** See {@link #zero}. */
    public float scale;
    /** [channels] scratch: the normalized elements. */
    final float[] normalized;
    /** [channels] scratch: one codebook group's normalized elements ({@link CodebookGroups}). */
    final float[] gathered;
    /** [channels] scratch: their codes. */
    final int[] found;

    /**
     * Scratch for tokens of {@code channels} elements.
     *
     * @param channels {@code kvHeads·headDim}
     */
    public QuantizedToken(int channels) {
        Checks.requirePositive("channel count", channels);
        this.codes = new int[channels];
        this.outlierChannels = new int[channels];
        this.outlierResiduals = new short[channels];
        this.normalized = new float[channels];
        this.gathered = new float[channels];
        this.found = new int[channels];
    }

    /**
     * The number of channels this token holds.
     *
     * @return the channel count
     */
    public int channels() {
        return codes.length;
    }

    void clearOutliers() {
        outlierCount = 0;
    }

    void addOutlier(int channel, float residual) {
        if (!(Math.abs(residual) <= Checks.FP16_MAX)) {
            // fp16 would store ±Inf (or NaN) and attention would silently return NaN
            throw new IllegalArgumentException("outlier residual " + residual + " at channel " + channel
                    + " exceeds the fp16 range (|x| <= 65504) of its storage");
        }
        outlierChannels[outlierCount] = channel;
        outlierResiduals[outlierCount] = Fp16.encode(residual);
        outlierCount++;
    }

    /** Sorts the outliers by channel (insertion sort: the lists are short and nearly sorted). */
    void sortOutliers() {
        for (int i = 1; i < outlierCount; i++) {
            int c = outlierChannels[i];
            short r = outlierResiduals[i];
            int j = i - 1;
            while (j >= 0 && outlierChannels[j] > c) {
                outlierChannels[j + 1] = outlierChannels[j];
                outlierResiduals[j + 1] = outlierResiduals[j];
                j--;
            }
            outlierChannels[j + 1] = c;
            outlierResiduals[j + 1] = r;
        }
    }

    /**
     * The residual of outlier {@code i} as a float.
     *
     * @param i outlier index, {@code [0, outlierCount)}
     * @return {@code x − dequant(code)} for that outlier, as stored (fp16 precision)
     */
    public float residual(int i) {
        return Fp16.decode(outlierResiduals[i]);
    }
}
