package dev.kvq.quant;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.Rope;
import dev.kvq.geometry.RopePairing;
import java.nio.ByteBuffer;

/**
 * The byte form of an {@link AttentionShape} and a {@link QuantSpec}, written once here for both files
 * that carry them: the calibration file's HEAD section and a cache snapshot's HEAD section
 * (docs/FORMATS.md). Little-endian buffers are the caller's; reads throw
 * {@link IllegalArgumentException} (impossible values) or {@link java.nio.BufferUnderflowException}
 * (too few bytes), which each file format turns into its own error.
 *
 * <pre>
 * shape: u32 layers, query heads, KV heads, head dim; u8 RoPE pairing; u32 n; f32 invFreq[n]
 * spec:  u8 mode, u8 bits, f64 outlier fraction, u32 sink tokens, u8 Q-Norm, u8 outlier form, u8 k-means weighting
 * </pre>
 */
public final class GeometryCodec {
    /** Bytes of an encoded spec. */
    public static final int SPEC_BYTES = 1 + 1 + 8 + 4 + 1 + 1 + 1;

    private GeometryCodec() {}

    /**
     * Bytes of the encoded shape.
     *
     * @param shape the shape
     * @return its size in bytes
     */
    public static int shapeBytes(AttentionShape shape) {
        return 16 + 1 + 4 + 4 * shape.rope().invFreq().length;
    }

    /**
     * Writes {@code shape}.
     *
     * @param b     a little-endian buffer with {@link #shapeBytes} bytes left
     * @param shape the shape
     */
    public static void putShape(ByteBuffer b, AttentionShape shape) {
        float[] invFreq = shape.rope().invFreq();
        b.putInt(shape.layers()).putInt(shape.queryHeads()).putInt(shape.kvHeads()).putInt(shape.headDim());
        b.put((byte) shape.rope().pairing().ordinal()).putInt(invFreq.length);
        for (float f : invFreq) {
            b.putFloat(f);
        }
    }

    /**
     * Reads a shape written by {@link #putShape}.
     *
     * @param b a little-endian buffer at the shape
     * @return the shape
     * @throws IllegalArgumentException when the bytes describe no valid shape
     */
    public static AttentionShape getShape(ByteBuffer b) {
        int layers = b.getInt();
        int queryHeads = b.getInt();
        int kvHeads = b.getInt();
        int headDim = b.getInt();
        RopePairing pairing = enumAt(RopePairing.values(), b.get(), "RoPE pairing");
        int n = b.getInt();
        if (n < 0 || n > AttentionShape.MAX_HEAD_DIM) {
            throw new IllegalArgumentException("RoPE table length " + n);
        }
        float[] invFreq = new float[n];
        for (int i = 0; i < n; i++) {
            invFreq[i] = b.getFloat();
        }
        // bounds no model reaches, so that a forged header cannot make a reader allocate absurd scratch
        if (layers > 100_000 || (long) queryHeads * headDim > 1 << 20
                || (long) layers * Math.max(kvHeads, 0) * Math.max(headDim, 0) > 1 << 24) {
            throw new IllegalArgumentException(layers + " layers × " + kvHeads + " KV heads × " + headDim
                    + " channels, " + queryHeads + " query heads: beyond any model");
        }
        return new AttentionShape(layers, queryHeads, kvHeads, headDim, new Rope(pairing, invFreq));
    }

    /**
     * Writes {@code spec} ({@link #SPEC_BYTES} bytes).
     *
     * @param b    a little-endian buffer
     * @param spec the spec
     */
    public static void putSpec(ByteBuffer b, QuantSpec spec) {
        b.put((byte) spec.mode().ordinal()).put((byte) spec.bits()).putDouble(spec.outlierFraction())
                .putInt(spec.sinkTokens()).put((byte) (spec.qNorm() ? 1 : 0))
                .put((byte) spec.outlierForm().ordinal()).put((byte) spec.weighting().ordinal());
    }

    /**
     * Reads a spec written by {@link #putSpec}.
     *
     * @param b a little-endian buffer at the spec
     * @return the spec
     * @throws IllegalArgumentException when the bytes describe no valid spec
     */
    public static QuantSpec getSpec(ByteBuffer b) {
        QuantSpec.Mode mode = enumAt(QuantSpec.Mode.values(), b.get(), "mode");
        int bits = b.get();
        double fraction = b.getDouble();
        int sinks = b.getInt();
        boolean qNorm = b.get() != 0;
        QuantSpec.OutlierForm form = enumAt(QuantSpec.OutlierForm.values(), b.get(), "outlier form");
        FisherWeighting weighting = enumAt(FisherWeighting.values(), b.get(), "weighting");
        return new QuantSpec(mode, bits, fraction, sinks, qNorm, form, weighting);
    }

    /**
     * The enum constant stored as {@code ordinal}.
     *
     * @param <E>     the enum
     * @param values  its constants
     * @param ordinal the stored byte
     * @param what    what it encodes, for the message
     * @return the constant
     * @throws IllegalArgumentException when no constant has that ordinal
     */
    public static <E extends Enum<E>> E enumAt(E[] values, int ordinal, String what) {
        if (ordinal < 0 || ordinal >= values.length) {
            throw new IllegalArgumentException(what + " code " + ordinal + " is unknown");
        }
        return values[ordinal];
    }
}
