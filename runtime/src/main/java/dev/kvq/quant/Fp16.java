package dev.kvq.quant;

/** fp16 storage with fp32 math (spec §10): the only rounding helpers the quantizers use. */
public final class Fp16 {
    private Fp16() {}

    /**
     * Rounds {@code x} to the nearest fp16 (ties to even; overflow gives infinity).
     *
     * @param x the value
     * @return the fp16 bit pattern
     */
    public static short encode(float x) {
        return Float.floatToFloat16(x);
    }

    /**
     * Widens an fp16 value; exact.
     *
     * @param bits the fp16 bit pattern
     * @return the value as a float
     */
    public static float decode(short bits) {
        return Float.float16ToFloat(bits);
    }

    /**
     * The float that storing {@code x} in fp16 and reading it back yields.
     *
     * @param x the value
     * @return {@code x} rounded to fp16 precision, as a float
     */
    public static float round(float x) {
        return Float.float16ToFloat(Float.floatToFloat16(x));
    }
}
