package dev.kvq.quant;

/** Argument checks shared by the quantizers; every failure names the offending value. */
public final class Checks {
    private Checks() {}

    /** Largest finite fp16 value: sinks, residuals and value scales are stored in fp16. */
    public static final float FP16_MAX = 65504f;

    /**
     * Checks a code width.
     *
     * @param bits the bit width
     * @return {@code bits}, when it is 2, 3 or 4
     */
    public static int requireBits(int bits) {
        if (bits < 2 || bits > 4) {
            throw new IllegalArgumentException("bit width must be 2, 3 or 4, got " + bits);
        }
        return bits;
    }

    /** The widest code of a Fisher-allocated channel (spec: whole widths 0–6). */
    public static final int MAX_ALLOCATED_BITS = 6;

    /**
     * Checks the width of one channel's codes under a bit allocation.
     *
     * @param bits the bit width
     * @return {@code bits}, when it is in {@code [0, }{@value #MAX_ALLOCATED_BITS}{@code ]}
     */
    public static int requireChannelBits(int bits) {
        if (bits < 0 || bits > MAX_ALLOCATED_BITS) {
            throw new IllegalArgumentException("channel bit width must be in [0, " + MAX_ALLOCATED_BITS + "], got " + bits);
        }
        return bits;
    }

    /**
     * Checks an outlier fraction.
     *
     * @param fraction the fraction of values kept sparse
     * @return {@code fraction}, when it is in {@code [0, 0.5)}
     */
    public static double requireOutlierFraction(double fraction) {
        if (!(fraction >= 0.0 && fraction < 0.5)) {
            throw new IllegalArgumentException("outlier fraction must be in [0, 0.5), got " + fraction);
        }
        return fraction;
    }

    /**
     * Checks that a count is positive.
     *
     * @param what names the value in the message
     * @param value the value
     * @return {@code value}, when it is above 0
     */
    public static int requirePositive(String what, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(what + " must be positive, got " + value);
        }
        return value;
    }

    /**
     * Checks that a count is not negative.
     *
     * @param what names the value in the message
     * @param value the value
     * @return {@code value}, when it is 0 or more
     */
    public static int requireNonNegative(String what, int value) {
        if (value < 0) {
            throw new IllegalArgumentException(what + " must not be negative, got " + value);
        }
        return value;
    }

    /**
     * Checks that {@code array} holds exactly {@code expected} elements.
     *
     * @param what names the array in the message
     * @param array the array
     * @param expected the required length
     */
    public static void requireLength(String what, float[] array, long expected) {
        if (array == null) {
            throw new IllegalArgumentException(what + " is null");
        }
        if (array.length != expected) {
            throw new IllegalArgumentException(what + " has " + array.length + " elements, expected " + expected);
        }
    }

    /**
     * Checks that {@code array[offset, offset+count)} is finite; names the first bad element.
     *
     * @param what names the array in the message
     * @param array the array
     * @param offset first element to check
     * @param count elements to check
     */
    public static void requireFinite(String what, float[] array, int offset, int count) {
        requireNonNull(what, array);
        for (int i = 0; i < count; i++) {
            float x = array[offset + i];
            if (!Float.isFinite(x)) {
                throw new IllegalArgumentException(what + " holds " + x + " at index " + i);
            }
        }
    }

    /**
     * Checks that every element of {@code array} is finite; names the first bad element.
     *
     * @param what names the array in the message
     * @param array the array
     */
    public static void requireFinite(String what, float[] array) {
        requireNonNull(what, array);
        requireFinite(what, array, 0, array.length);
    }

    /**
     * Like {@link #requireFinite} and also within the fp16 range, because the value is stored in fp16.
     *
     * @param what names the array in the message
     * @param array the array
     * @param offset first element to check
     * @param count elements to check
     */
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
