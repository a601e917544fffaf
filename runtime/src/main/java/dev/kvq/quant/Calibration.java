package dev.kvq.quant;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.quant.CalibrationFormatException.Problem;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * The calibration artifact: per layer the key thresholds and key codebooks and the value codebooks,
 * plus the attention shape, the quantization spec and the provenance.
 *
 * <p>File format (little-endian), version 1 or {@value #FORMAT_VERSION} (docs/FORMATS.md):
 * <pre>
 *   magic "KVQCALIB" · u32 version · u32 sectionCount
 *   sectionCount × { u32 tag · u32 index · u64 length · payload[length] · u32 crc32c(tag..payload) }
 *   sections: 'HEAD' (shape, RoPE, spec), 'PROV' (provenance), 'LAYR' × layers (in order)
 * </pre>
 * Every section carries its own checksum, so a flipped byte is reported with the section it hit. A
 * calibration that version 1 can hold (one key and one value codebook per layer, every channel at the
 * spec's width, a spec without the extended fields) is written as version 1, so its bytes and
 * fingerprint are what they were before version 2 existed; anything else is written as version 2,
 * whose layers carry a codebook table, each channel's codebook and the packed channel order.
 */
public final class Calibration {
    /** The newest version of the file format; {@link #load} reads it and version 1. */
    public static final int FORMAT_VERSION = 2;
    private static final int FORMAT_V1 = 1;
    private static final byte[] MAGIC = "KVQCALIB".getBytes(StandardCharsets.US_ASCII);
    private static final int TAG_HEAD = tag("HEAD");
    private static final int TAG_PROV = tag("PROV");
    private static final int TAG_LAYR = tag("LAYR");
    /** Upper bound on a section payload; real ones are a few KiB (8 bytes per key channel). */
    private static final long MAX_SECTION = 1L << 28;

    private final AttentionShape shape;
    private final QuantSpec spec;
    private final Provenance provenance;
    private final List<LayerCalibration> layers;

    /**
     * A calibration of every layer of {@code shape} for the nuq spec {@code spec}.
     *
     * @param shape the attention geometry it was fitted on
     * @param spec the quantization it serves (a nuq spec)
     * @param provenance where it came from, or null for unknown
     * @param layers one calibration per layer, with {@code kvHeads·headDim} key channels and the spec's bit
     *         width
     * @throws IllegalArgumentException when the parts do not fit together (the message says which)
     */
    public Calibration(AttentionShape shape, QuantSpec spec, Provenance provenance, List<LayerCalibration> layers) {
        if (shape == null || spec == null || layers == null) {
            throw new IllegalArgumentException("calibration needs a shape, a spec and layers");
        }
        if (!spec.quantized()) {
            throw new IllegalArgumentException("a calibration is for nuq specs, not " + spec.name());
        }
        if (layers.size() != shape.layers()) {
            throw new IllegalArgumentException("calibration has " + layers.size() + " layers, the shape has " + shape.layers());
        }
        for (int i = 0; i < layers.size(); i++) {
            LayerCalibration l = layers.get(i);
            if (l == null) {
                throw new IllegalArgumentException("layer " + i + " calibration is null");
            }
            if (l.keys().channels() != shape.kvChannels()) {
                throw new IllegalArgumentException("layer " + i + " has " + l.keys().channels()
                        + " key channels, the shape has " + shape.kvChannels());
            }
            requireWidths(shape, spec, l, i);
        }
        this.shape = shape;
        this.spec = spec;
        this.provenance = provenance == null ? Provenance.unknown() : provenance;
        this.layers = List.copyOf(layers);
    }

    /** The widths a spec promises: uniform ones, or an allocation's (pairs equal, whole 32-bit words per token). */
    private static void requireWidths(AttentionShape shape, QuantSpec spec, LayerCalibration l, int layer) {
        int d = shape.kvChannels();
        if (!spec.allocated()) {
            for (int c = 0; c < d; c++) {
                if (l.keys().width(c) != spec.bits() || l.valueWidth(c) != spec.bits()) {
                    throw new IllegalArgumentException("layer " + layer + " channel " + c + " has "
                            + l.keys().width(c) + "-bit key and " + l.valueWidth(c) + "-bit value codes, the spec "
                            + spec.name() + " has " + spec.bits());
                }
            }
            if (spec.keyCodebooks() == QuantSpec.KeyCodebooks.PER_LAYER && !l.keys().sharedCodebook()) {
                throw new IllegalArgumentException("layer " + layer + " has a key codebook per channel, the spec "
                        + spec.name() + " one per layer");
            }
            return;
        }
        for (int c = 0; c < d; c++) {
            int j = c % shape.headDim();
            int partner = c - j + shape.rope().pairing().partner(j, shape.headDim());
            if (l.keys().width(c) != l.keys().width(partner)) {
                throw new IllegalArgumentException("layer " + layer + " key channels " + c + " and " + partner
                        + " form a RoPE pair but have widths " + l.keys().width(c) + " and " + l.keys().width(partner));
            }
        }
        if (Calibrator.wordAligned(spec, d, true) && l.keyCodeBits() % Calibrator.WORD_BITS != 0) {
            throw new IllegalArgumentException("layer " + layer + " has " + l.keyCodeBits() + " key code bits per token;"
                    + " the packed format needs a multiple of " + Calibrator.WORD_BITS);
        }
        if (Calibrator.wordAligned(spec, d, false) && l.valueCodeBits() % Calibrator.WORD_BITS != 0) {
            throw new IllegalArgumentException("layer " + layer + " has " + l.valueCodeBits() + " value code bits per"
                    + " token; the packed format needs a multiple of " + Calibrator.WORD_BITS + " (or -vtok)");
        }
    }

    /**
     * Key code bits per token, averaged over the layers (the sum of the key channels' widths).
     *
     * @return mean {@code Σ_c width_K(c)} per layer
     */
    public double meanKeyCodeBits() {
        return layers.stream().mapToInt(LayerCalibration::keyCodeBits).average().orElse(0);
    }

    /**
     * Value code bits per token, averaged over the layers.
     *
     * @return mean {@code Σ_c width_V(c)} per layer
     */
    public double meanValueCodeBits() {
        return layers.stream().mapToInt(LayerCalibration::valueCodeBits).average().orElse(0);
    }

    /**
     * How many channels of all layers have each code width.
     *
     * @param keys true for the key channels, false for the value channels
     * @return {@code [0, 6]} → channel count, summed over the layers
     */
    public int[] widthHistogram(boolean keys) {
        int[] h = new int[Checks.MAX_ALLOCATED_BITS + 1];
        for (LayerCalibration l : layers) {
            for (int c = 0; c < shape.kvChannels(); c++) {
                h[keys ? l.keys().width(c) : l.valueWidth(c)]++;
            }
        }
        return h;
    }

    /**
     * The geometry the calibration was fitted on.
     *
     * @return the attention shape
     */
    public AttentionShape shape() { return shape; }

    /**
     * The quantization the calibration serves.
     *
     * @return the nuq spec
     */
    public QuantSpec spec() { return spec; }

    /**
     * Where the calibration came from.
     *
     * @return the provenance; {@link Provenance#unknown()} when not recorded
     */
    public Provenance provenance() { return provenance; }

    /**
     * The per-layer quantizers.
     *
     * @return an unmodifiable list, one entry per layer
     */
    public List<LayerCalibration> layers() { return layers; }

    /**
     * The quantizers of one layer.
     *
     * @param index layer index, {@code [0, layers)}
     * @return the layer's key and value quantizers
     * @throws IllegalArgumentException when {@code index} is out of range
     */
    public LayerCalibration layer(int index) {
        if (index < 0 || index >= layers.size()) {
            throw new IllegalArgumentException("layer " + index + " is out of range [0, " + layers.size() + ")");
        }
        return layers.get(index);
    }

    /**
     * Checks that this calibration can serve a cache of {@code cacheShape} and {@code cacheSpec}: the
     * same geometry, widths (bits or allocation), key codebooks and outlier fraction (the key thresholds
     * depend on it). The recent-token window does not matter to a calibration.
     *
     * @param cacheShape the shape of the cache to be opened
     * @param cacheSpec the spec of the cache to be opened
     * @throws IllegalArgumentException when they do not match, naming the difference
     */
    public void requireCompatible(AttentionShape cacheShape, QuantSpec cacheSpec) {
        String problem = incompatibility(cacheShape, cacheSpec);
        if (problem != null) {
            throw new IllegalArgumentException(problem);
        }
    }

    private String incompatibility(AttentionShape cacheShape, QuantSpec cacheSpec) {
        if (cacheShape != null && !shape.sameGeometry(cacheShape)) {
            return "calibration is for " + shape.describe() + ", the cache is " + cacheShape.describe();
        }
        if (cacheSpec != null && cacheSpec.quantized()) {
            if (cacheSpec.allocation() != spec.allocation() || cacheSpec.bits() != spec.bits()) {
                return "calibration has " + (spec.allocated() ? spec.allocation() + "-allocated widths averaging "
                        + spec.bits() + " bits" : spec.bits() + "-bit codebooks") + ", the cache asks for " + cacheSpec.name();
            }
            if (cacheSpec.keyCodebooks() != spec.keyCodebooks()) {
                return "calibration has key codebooks " + spec.keyCodebooks() + ", the cache asks for "
                        + cacheSpec.keyCodebooks() + " (" + cacheSpec.name() + ")";
            }
            if (cacheSpec.outlierFraction() != spec.outlierFraction()) {
                return "calibration thresholds are for " + spec.outlierFraction() * 100 + "% outliers, the cache asks for "
                        + cacheSpec.name();
            }
        }
        return null;
    }

    /**
     * SHA-256 of the serialized form, in hex: the calibration's identity.
     *
     * @return 64 hex digits
     */
    public String fingerprint() {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(toBytes()));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }

    // ------------------------------------------------------------------ writing

    /**
     * The file image. Deterministic: the same calibration always gives the same bytes.
     *
     * @return the bytes {@link #save} writes
     */
    public byte[] toBytes() {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            boolean v1 = fitsVersion1();
            out.write(MAGIC);
            out.write(le(4).putInt(v1 ? FORMAT_V1 : FORMAT_VERSION).array());
            out.write(le(4).putInt(2 + layers.size()).array());
            writeSection(out, TAG_HEAD, 0, headPayload());
            writeSection(out, TAG_PROV, 0, provenancePayload());
            for (int i = 0; i < layers.size(); i++) {
                writeSection(out, TAG_LAYR, i, v1 ? layerPayload(layers.get(i)) : layerPayloadV2(layers.get(i), shape));
            }
            return out.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);  // a ByteArrayOutputStream does not fail
        }
    }

    /**
     * Writes the file atomically: a temporary file beside it, forced to disk, then renamed over it.
     *
     * @param file where to write; an existing file is replaced
     * @throws java.io.IOException when writing fails; the old file is then untouched
     */
    public void save(Path file) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        if (dir != null) {
            Files.createDirectories(dir);
        }
        Path tmp = Files.createTempFile(dir, file.getFileName().toString(), ".tmp");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer buf = ByteBuffer.wrap(toBytes());
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                ch.force(true);
            }
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private static void writeSection(ByteArrayOutputStream out, int tag, int index, byte[] payload) throws IOException {
        ByteBuffer head = le(16).putInt(tag).putInt(index).putLong(payload.length);
        CRC32C crc = new CRC32C();
        crc.update(head.array());
        crc.update(payload);
        out.write(head.array());
        out.write(payload);
        out.write(le(4).putInt((int) crc.getValue()).array());
    }

    /** Version 1 holds one key and one value codebook per layer, at the spec's width, and no extended spec. */
    private boolean fitsVersion1() {
        return !spec.extended() && layers.stream().allMatch(l -> l.keys().sharedCodebook() && l.sharedValueCodebook());
    }

    private byte[] headPayload() {
        ByteBuffer b = le(GeometryCodec.shapeBytes(shape) + GeometryCodec.specBytes(spec));
        GeometryCodec.putShape(b, shape);
        GeometryCodec.putSpec(b, spec);
        return b.array();
    }

    private byte[] provenancePayload() {
        byte[][] strings = {utf8(provenance.model()), utf8(provenance.data()), utf8(provenance.createdBy()),
                utf8(provenance.createdAt())};
        int size = 8;
        for (byte[] s : strings) {
            size += 4 + s.length;
        }
        ByteBuffer b = le(size);
        for (byte[] s : strings) {
            b.putInt(s.length).put(s);
        }
        b.putInt(provenance.sequences()).putInt(provenance.sequenceLength());
        return b.array();
    }

    private static byte[] layerPayload(LayerCalibration layer) {
        KeyQuantizer k = layer.keys();
        int d = k.channels();
        ByteBuffer b = le(4 + 8 * d + 2 * codebookSize(k.codebook()));
        b.putInt(d);
        for (int c = 0; c < d; c++) {
            b.putFloat(k.lower(c));
        }
        for (int c = 0; c < d; c++) {
            b.putFloat(k.upper(c));
        }
        putCodebook(b, k.codebook());
        putCodebook(b, layer.values());
        return b.array();
    }

    /**
     * Version 2: {@code u32 D; f32 lo[D]; f32 hi[D]; u16 C; codebook × C; u16 keyBook[D]; u16 valueBook[D];
     * u16 keyOrder[D]; u16 valueOrder[D]} — a table of the layer's distinct codebooks (first use first: key
     * channels, then value channels), the table index of every key and value channel (its width is that
     * codebook's), and the physical order of each tensor in page format v2
     * ({@link LayerCalibration#keyPackedOrder(AttentionShape)}, {@link LayerCalibration#valuePackedOrder(AttentionShape)}).
     */
    private static byte[] layerPayloadV2(LayerCalibration layer, AttentionShape shape) {
        KeyQuantizer k = layer.keys();
        int d = k.channels();
        List<Codebook> table = new ArrayList<>();
        int[] keyBook = new int[d];
        int[] valueBook = new int[d];
        for (int c = 0; c < d; c++) {
            keyBook[c] = indexIn(table, k.codebook(c));
        }
        for (int c = 0; c < d; c++) {
            valueBook[c] = indexIn(table, layer.valueCodebook(c));
        }
        int size = 4 + 8 * d + 2 + 8 * d;
        for (Codebook c : table) {
            size += codebookSize(c);
        }
        ByteBuffer b = le(size);
        b.putInt(d);
        for (int c = 0; c < d; c++) {
            b.putFloat(k.lower(c));
        }
        for (int c = 0; c < d; c++) {
            b.putFloat(k.upper(c));
        }
        b.putShort((short) table.size());
        for (Codebook c : table) {
            putCodebook(b, c);
        }
        for (int[] column : new int[][] {keyBook, valueBook, layer.keyPackedOrder(shape), layer.valuePackedOrder(shape)}) {
            for (int x : column) {
                b.putShort((short) x);
            }
        }
        return b.array();
    }

    private static int indexIn(List<Codebook> table, Codebook c) {
        int i = table.indexOf(c);
        if (i < 0) {
            table.add(c);
            i = table.size() - 1;
        }
        return i;
    }

    private static int codebookSize(Codebook c) {
        return 3 + 8 + 4 * c.size();
    }

    private static void putCodebook(ByteBuffer b, Codebook c) {
        b.put((byte) c.kind().ordinal()).put((byte) c.bits()).put((byte) (c.hasQNorm() ? 1 : 0));
        b.putFloat(c.qNormScale()).putFloat(c.qNormOffset());
        for (float x : c.centroids()) {
            b.putFloat(x);
        }
    }

    // ------------------------------------------------------------------ reading

    /**
     * Reads and verifies a calibration file.
     *
     * @param file a file written by {@link #save}
     * @return the calibration
     * @throws java.io.IOException when the file cannot be read; a {@link CalibrationFormatException} when it is
     *         not a valid calibration
     */
    public static Calibration load(Path file) throws IOException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new NoSuchFileException(file.toString(), null, "calibration file does not exist");
        } catch (IOException e) {
            // e.g. a directory: the JDK's message ("Is a directory") does not say which path
            throw new IOException("cannot read calibration file " + file + ": " + e.getMessage(), e);
        }
        return fromBytes(bytes, file);
    }

    /**
     * Reads a calibration file and checks it against the cache it is meant for.
     *
     * @param file a file written by {@link #save}
     * @param expectedShape the shape of the cache it is meant for
     * @param expectedSpec the spec of the cache it is meant for
     * @return the calibration
     * @throws java.io.IOException when the file cannot be read; a {@link CalibrationFormatException} (problem
     *         {@code SHAPE_MISMATCH}) when it does not fit the cache
     */
    public static Calibration load(Path file, AttentionShape expectedShape, QuantSpec expectedSpec) throws IOException {
        Calibration c = load(file);
        String problem = c.incompatibility(expectedShape, expectedSpec);
        if (problem != null) {
            throw new CalibrationFormatException(file, Problem.SHAPE_MISMATCH, problem);
        }
        return c;
    }

    /**
     * Parses a file image; {@code source} only names the file in errors (may be null).
     *
     * @param bytes a file image from {@link #toBytes}
     * @param source the file the bytes came from, or null
     * @return the calibration
     * @throws dev.kvq.quant.CalibrationFormatException when the image is foreign, truncated, corrupted or
     *         invalid
     */
    public static Calibration fromBytes(byte[] bytes, Path source) throws CalibrationFormatException {
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        if (bytes.length < MAGIC.length) {
            if (startsWithMagicPrefix(bytes)) {
                throw new CalibrationFormatException(source, Problem.TRUNCATED, "only " + bytes.length + " bytes");
            }
            throw new CalibrationFormatException(source, Problem.FOREIGN, "only " + bytes.length + " bytes, no magic");
        }
        for (int i = 0; i < MAGIC.length; i++) {
            if (bytes[i] != MAGIC[i]) {
                throw new CalibrationFormatException(source, Problem.FOREIGN,
                        "the first bytes are not \"KVQCALIB\"");
            }
        }
        b.position(MAGIC.length);
        need(b, 8, source, "the header");
        int version = b.getInt();
        if (version != FORMAT_V1 && version != FORMAT_VERSION) {
            throw new CalibrationFormatException(source, Problem.UNSUPPORTED_VERSION,
                    "version " + version + ", this build reads versions " + FORMAT_V1 + " and " + FORMAT_VERSION);
        }
        int sections = b.getInt();
        if (sections < 3 || sections > 1_000_000) {
            throw new CalibrationFormatException(source, Problem.CORRUPTED, "implausible section count " + sections);
        }
        Reader r = new Reader(b, source);
        ByteBuffer head = r.section(TAG_HEAD, 0);
        ByteBuffer prov = r.section(TAG_PROV, 0);
        try {
            AttentionShape shape = GeometryCodec.getShape(head);
            QuantSpec spec = GeometryCodec.getSpec(head);
            r.requireConsumed(head, "HEAD");
            if (version == FORMAT_V1 && spec.extended()) {
                throw new CalibrationFormatException(source, Problem.CORRUPTED, "a version 1 file with the "
                        + "extended spec " + spec.name() + " of version " + FORMAT_VERSION);
            }
            Provenance provenance = readProvenance(prov);
            r.requireConsumed(prov, "PROV");
            if (sections != 2 + shape.layers()) {
                throw new CalibrationFormatException(source, Problem.CORRUPTED, "the header announces "
                        + shape.layers() + " layers but the file has " + (sections - 2) + " layer sections");
            }
            List<LayerCalibration> layers = new ArrayList<>(shape.layers());
            for (int i = 0; i < shape.layers(); i++) {
                ByteBuffer l = r.section(TAG_LAYR, i);
                layers.add(version == FORMAT_V1 ? readLayer(l, shape.kvChannels(), i, source)
                        : readLayerV2(l, shape, i, source));
                r.requireConsumed(l, "LAYR " + i);
            }
            if (b.hasRemaining()) {
                throw new CalibrationFormatException(source, Problem.CORRUPTED,
                        b.remaining() + " unexpected bytes after the last section");
            }
            Calibration c = new Calibration(shape, spec, provenance, layers);
            if (version != FORMAT_V1 && c.fitsVersion1()) {
                // one calibration, one image: a second encoding would give it a second fingerprint
                throw new CalibrationFormatException(source, Problem.CORRUPTED, "a version " + version
                        + " file holding a calibration that version 1 writes");
            }
            return c;
        } catch (IllegalArgumentException | java.nio.BufferUnderflowException e) {
            // the checksums matched, so the writer itself stored values no calibration can have
            throw new CalibrationFormatException(source, Problem.INVALID, String.valueOf(e.getMessage()));
        }
    }

    private static boolean startsWithMagicPrefix(byte[] bytes) {
        for (int i = 0; i < bytes.length; i++) {
            if (bytes[i] != MAGIC[i]) {
                return false;
            }
        }
        return bytes.length > 0;
    }

    private static void need(ByteBuffer b, long n, Path source, String what) throws CalibrationFormatException {
        if (b.remaining() < n) {
            throw new CalibrationFormatException(source, Problem.TRUNCATED, what + " needs " + n + " bytes at offset "
                    + b.position() + " but only " + b.remaining() + " remain (file size " + b.limit() + ")");
        }
    }

    /** Walks the sections in order, checking tag, index, length and checksum. */
    private record Reader(ByteBuffer b, Path source) {
        ByteBuffer section(int expectedTag, int expectedIndex) throws CalibrationFormatException {
            String name = tagName(expectedTag) + (expectedTag == TAG_LAYR ? " " + expectedIndex : "");
            need(b, 16, source, "section " + name);
            int start = b.position();
            int tag = b.getInt();
            int index = b.getInt();
            long length = b.getLong();
            if (tag != expectedTag || index != expectedIndex) {
                throw new CalibrationFormatException(source, Problem.CORRUPTED, "expected section " + name
                        + " at offset " + start + ", found '" + tagName(tag) + "' " + index);
            }
            if (length < 0 || length > MAX_SECTION) {
                throw new CalibrationFormatException(source, Problem.CORRUPTED, "section " + name
                        + " declares an implausible length " + length);
            }
            need(b, length + 4, source, "section " + name);
            CRC32C crc = new CRC32C();
            crc.update(b.array(), start, 16 + (int) length);
            ByteBuffer payload = b.slice(b.position(), (int) length).order(ByteOrder.LITTLE_ENDIAN);
            b.position(b.position() + (int) length);
            int stored = b.getInt();
            if (stored != (int) crc.getValue()) {
                throw new CalibrationFormatException(source, Problem.CORRUPTED, String.format(
                        "checksum mismatch in section %s (stored %08x, computed %08x)", name, stored, (int) crc.getValue()));
            }
            return payload;
        }

        void requireConsumed(ByteBuffer payload, String name) throws CalibrationFormatException {
            if (payload.hasRemaining()) {
                throw new CalibrationFormatException(source, Problem.CORRUPTED, "section " + name + " has "
                        + payload.remaining() + " bytes more than its content");
            }
        }
    }

    private static Provenance readProvenance(ByteBuffer p) {
        String model = readString(p);
        String data = readString(p);
        String createdBy = readString(p);
        String createdAt = readString(p);
        return new Provenance(model, data, p.getInt(), p.getInt(), createdBy, createdAt);
    }

    /** The start of every layer payload: {@code u32 D; f32 lo[D]; f32 hi[D]}, returned as {@code {lo, hi}}. */
    private static float[][] readThresholds(ByteBuffer l, int channels, int index, Path source)
            throws CalibrationFormatException {
        int d = l.getInt();
        if (d != channels) {
            throw new CalibrationFormatException(source, Problem.CORRUPTED, "layer " + index + " has " + d
                    + " key channels, the header says " + channels);
        }
        float[][] t = new float[2][d];
        for (float[] column : t) {
            for (int c = 0; c < d; c++) {
                column[c] = l.getFloat();
            }
        }
        return t;
    }

    private static LayerCalibration readLayer(ByteBuffer l, int channels, int index, Path source)
            throws CalibrationFormatException {
        float[][] t = readThresholds(l, channels, index, source);
        Codebook k = readCodebook(l);
        Codebook v = readCodebook(l);
        return new LayerCalibration(new KeyQuantizer(t[0], t[1], k), v);
    }

    private static LayerCalibration readLayerV2(ByteBuffer l, AttentionShape shape, int index, Path source)
            throws CalibrationFormatException {
        int d = shape.kvChannels();
        float[][] t = readThresholds(l, d, index, source);
        float[] lo = t[0];
        float[] hi = t[1];
        int count = Short.toUnsignedInt(l.getShort());
        if (count == 0 || count > 2 * d) {
            throw new IllegalArgumentException("layer " + index + " has " + count + " codebooks for 2 × " + d + " channels");
        }
        Codebook[] table = new Codebook[count];
        for (int i = 0; i < count; i++) {
            table[i] = readCodebook(l);
        }
        Codebook[] keys = new Codebook[d];
        Codebook[] values = new Codebook[d];
        for (Codebook[] books : new Codebook[][] {keys, values}) {
            for (int c = 0; c < d; c++) {
                int i = Short.toUnsignedInt(l.getShort());
                if (i >= count) {
                    throw new IllegalArgumentException("layer " + index + " channel " + c + " names codebook " + i
                            + " of " + count);
                }
                books[c] = table[i];
            }
        }
        LayerCalibration layer = new LayerCalibration(new KeyQuantizer(lo, hi, keys), values);
        for (int[] expected : new int[][] {layer.keyPackedOrder(shape), layer.valuePackedOrder(shape)}) {
            for (int i = 0; i < d; i++) {
                int stored = Short.toUnsignedInt(l.getShort());
                if (stored != expected[i]) {
                    throw new IllegalArgumentException("layer " + index + " packed order has channel " + stored
                            + " at position " + i + "; the widths put channel " + expected[i] + " there (page format v2:"
                            + " head-major, widest first; recalibrate a file written before it)");
                }
            }
        }
        return layer;
    }

    private static Codebook readCodebook(ByteBuffer b) {
        Codebook.Kind kind = GeometryCodec.enumAt(Codebook.Kind.values(), b.get(), "codebook kind");
        int bits = Checks.requireChannelBits(b.get());
        boolean qNorm = b.get() != 0;
        float scale = b.getFloat();
        float offset = b.getFloat();
        float[] centroids = new float[1 << bits];
        for (int i = 0; i < centroids.length; i++) {
            centroids[i] = b.getFloat();
        }
        Codebook c = switch (kind) {
            case NON_UNIFORM -> Codebook.nonUniform(centroids);
            case UNIFORM -> requireSame(Codebook.uniform(bits), centroids);
            case NORMAL_FLOAT -> requireSame(Codebook.normalFloat(bits), centroids);
        };
        return qNorm ? c.withQNorm(scale, offset) : c;
    }

    private static Codebook requireSame(Codebook expected, float[] stored) {
        if (!java.util.Arrays.equals(expected.centroids(), stored)) {
            throw new IllegalArgumentException(expected.kind() + " codebook with altered centroids");
        }
        return expected;
    }

    private static String readString(ByteBuffer b) {
        int n = b.getInt();
        if (n < 0 || n > b.remaining()) {
            throw new IllegalArgumentException("string length " + n + " exceeds its section");
        }
        byte[] s = new byte[n];
        b.get(s);
        return new String(s, StandardCharsets.UTF_8);
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static ByteBuffer le(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static int tag(String name) {
        byte[] b = name.getBytes(StandardCharsets.US_ASCII);
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getInt();
    }

    private static String tagName(int tag) {
        byte[] b = le(4).putInt(tag).array();
        StringBuilder s = new StringBuilder();
        for (byte x : b) {
            s.append(x >= 32 && x < 127 ? (char) x : '?');
        }
        return s.toString();
    }
}
