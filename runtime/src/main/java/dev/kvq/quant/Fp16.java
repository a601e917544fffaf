package dev.kvq.quant;

/** fp16 storage with fp32 math (spec §10): the only rounding helpers the quantizers use. */
public final class Fp16 {
    private Fp16() {}

    public static short encode(float x) {
        return Float.floatToFloat16(x);
    }

    public static float decode(short bits) {
        return Float.float16ToFloat(bits);
    }

    /** The float that storing {@code x} in fp16 and reading it back yields. */
    public static float round(float x) {
        return Float.float16ToFloat(Float.floatToFloat16(x));
    }
}
