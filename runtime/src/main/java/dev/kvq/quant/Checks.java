package dev.kvq.quant;

/** Argument checks shared by the quantizers; every failure names the offending value. */
public final class Checks {
    private Checks() {}

    /** Largest finite fp16 value: sinks, residuals and value scales are stored in fp16. */
    public static final float FP16_MAX = 65504f;

    public static int requireBits(int bits) {
        if (bits < 2 || bits > 4) {
            throw new IllegalArgumentException("bit width must be 2, 3 or 4, got " + bits);
        }
        return bits;
    }

    public static double requireOutlierFraction(double fraction) {
        if (!(fraction >= 0.0 && fraction < 0.5)) {
            throw new IllegalArgumentException("outlier fraction must be in [0, 0.5), got " + fraction);
        }
        return fraction;
    }

    public static int requirePositive(String what, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(what + " must be positive, got " + value);
        }
        return value;
    }

    public static int requireNonNegative(String what, int value) {
        if (value < 0) {
            throw new IllegalArgumentException(what + " must not be negative, got " + value);
        }
        return value;
    }

    /** Checks that {@code array} holds exactly {@code expected} elements. */
    public static void requireLength(String what, float[] array, long expected) {
        if (array == null) {
            throw new IllegalArgumentException(what + " is null");
        }
        if (array.length != expected) {
            throw new IllegalArgumentException(what + " has " + array.length + " elements, expected " + expected);
        }
    }

    /** Checks that {@code array[offset, offset+count)} is finite; names the first bad element. */
    public static void requireFinite(String what, float[] array, int offset, int count) {
        requireNonNull(what, array);
        for (int i = 0; i < count; i++) {
            float x = array[offset + i];
            if (!Float.isFinite(x)) {
                throw new IllegalArgumentException(what + " holds " + x + " at index " + i);
            }
        }
    }

    public static void requireFinite(String what, float[] array) {
        requireNonNull(what, array);
        requireFinite(what, array, 0, array.length);
    }

    /** Like {@link #requireFinite} and also within the fp16 range, because the value is stored in fp16. */
    public static void requireFp16Range(String what, float[] array, int offset, int count) {
        requireNonNull(what, array);
        for (int i = 0; i < count; i++) {
            float x = array[offset + i];
            if (!Float.isFinite(x)) {
                throw new IllegalArgumentException(what + " holds " + x + " at index " + i);
            }
            if (Math.abs(x) > FP16_MAX) {
                throw new IllegalArgumentException(what + " holds " + x + " at index " + i
                        + ", outside the fp16 range (|x| <= 65504) that its storage needs");
            }
        }
    }

    private static void requireNonNull(String what, float[] array) {
        if (array == null) {
            throw new IllegalArgumentException(what + " is null");
        }
    }
}
