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
 *        extended form (a spec with a recent window, a bit allocation or per-channel key codebooks):
 *        u8 (mode | 0x80), the same 16 bytes, then u32 recent window, u8 allocation, u8 key codebooks,
 *        u8 flags (bit 0: value codes packed along tokens)
 * </pre>
 * A spec without the extension is written in the original 17 bytes, so files written before the
 * extension existed read back unchanged and their bytes (and fingerprints) stay the same.
 */
public final class GeometryCodec {
    /** Bytes of an encoded spec without the extension ({@link QuantSpec#extended()} false). */
    public static final int SPEC_BYTES = 1 + 1 + 8 + 4 + 1 + 1 + 1;
    /** Bytes the extension adds: u32 recent window, u8 allocation, u8 key codebooks, u8 flags. */
    private static final int EXTENSION_BYTES = 4 + 1 + 1 + 1;
    private static final int VALUES_ALONG_TOKENS = 1;
    private static final int EXTENDED = 0x80;

    /**
     * Bytes of the encoded {@code spec}.
     *
     * @param spec the spec
     * @return {@link #SPEC_BYTES}, plus the extension when the spec needs it
     */
    public static int specBytes(QuantSpec spec) {
        return SPEC_BYTES + (spec.extended() ? EXTENSION_BYTES : 0);
    }

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
     * Writes {@code spec} ({@link #specBytes} bytes).
     *
     * @param b    a little-endian buffer
     * @param spec the spec
     */
    public static void putSpec(ByteBuffer b, QuantSpec spec) {
        boolean extended = spec.extended();
        b.put((byte) (spec.mode().ordinal() | (extended ? EXTENDED : 0))).put((byte) spec.bits())
                .putDouble(spec.outlierFraction()).putInt(spec.sinkTokens()).put((byte) (spec.qNorm() ? 1 : 0))
                .put((byte) spec.outlierForm().ordinal()).put((byte) spec.weighting().ordinal());
        if (extended) {
            b.putInt(spec.recentWindow()).put((byte) spec.allocation().ordinal()).put((byte) spec.keyCodebooks().ordinal())
                    .put((byte) (spec.valuesAlongTokens() ? VALUES_ALONG_TOKENS : 0));
        }
    }

    /**
     * Reads a spec written by {@link #putSpec}.
     *
     * @param b a little-endian buffer at the spec
     * @return the spec
     * @throws IllegalArgumentException when the bytes describe no valid spec
     */
    public static QuantSpec getSpec(ByteBuffer b) {
        int first = b.get() & 0xff;
        boolean extended = (first & EXTENDED) != 0;
        QuantSpec.Mode mode = enumAt(QuantSpec.Mode.values(), first & ~EXTENDED, "mode");
        int bits = b.get();
        double fraction = b.getDouble();
        int sinks = b.getInt();
        boolean qNorm = b.get() != 0;
        QuantSpec.OutlierForm form = enumAt(QuantSpec.OutlierForm.values(), b.get(), "outlier form");
        FisherWeighting weighting = enumAt(FisherWeighting.values(), b.get(), "weighting");
        if (!extended) {
            return new QuantSpec(mode, bits, fraction, sinks, qNorm, form, weighting);
        }
        int window = b.getInt();
        QuantSpec.Allocation allocation = enumAt(QuantSpec.Allocation.values(), b.get(), "allocation");
        QuantSpec.KeyCodebooks codebooks = enumAt(QuantSpec.KeyCodebooks.values(), b.get(), "key codebooks");
        int flags = b.get();
        if ((flags & ~VALUES_ALONG_TOKENS) != 0) {
            throw new IllegalArgumentException("spec flags " + flags + " are unknown");
        }
        QuantSpec spec = new QuantSpec(mode, bits, fraction, sinks, qNorm, form, weighting, window, allocation, codebooks,
                (flags & VALUES_ALONG_TOKENS) != 0);
        if (!spec.extended()) {
            // one spec, one encoding: the fingerprint of a calibration must not depend on how it was written
            throw new IllegalArgumentException("spec " + spec.name() + " is stored in the extended form it does not need");
        }
        return spec;
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
