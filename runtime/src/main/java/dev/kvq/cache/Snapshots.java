package dev.kvq.cache;

import dev.kvq.cache.SnapshotFormatException.Problem;
import dev.kvq.engine.CacheSetup;
import dev.kvq.engine.LayerImage;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.layout.EntryChunks;
import dev.kvq.layout.Occupancy;
import dev.kvq.layout.PageLayout;
import dev.kvq.layout.SinkLayout;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.GeometryCodec;
import dev.kvq.quant.QuantSpec;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * The snapshot file format ({@code docs/FORMATS.md}, "KV-cache snapshot"): writing a cache or pool
 * atomically, and opening one with its full pages mapped from the file rather than read.
 *
 * <p>Opening parses and checks the whole file before it creates any cache, so a bad file never
 * yields a half-loaded one. Full pages and full sparse-entry chunks stay in the (read-only) mapping;
 * the partly filled last page, the last chunk and the sink buffer are copied into the cache's arena
 * because appends write into them.
 */
final class Snapshots {
    /** The snapshot format this build writes: version 2 holds pages of format v2 ({@link PageLayout#VERSION}). */
    static final int FORMAT_VERSION = 2;
    /** The format of snapshots with pages of format v1: read when those pages are v2 pages as they are. */
    static final int FORMAT_V1 = 1;
    private static final byte[] MAGIC = "KVQSNAPS".getBytes(StandardCharsets.US_ASCII);
    private static final int TAG_HEAD = tag("HEAD");
    private static final int TAG_LAYR = tag("LAYR");
    private static final int TAG_PAGE = tag("PAGE");
    private static final int TAG_KENT = tag("KENT");
    private static final int TAG_VENT = tag("VENT");
    private static final int KIND_CACHE = 0;
    private static final int KIND_POOL = 1;
    private static final long MAX_META = 1L << 28;
    /** Checksums of mapped data run over slices of this size (ByteBuffer views are int-indexed). */
    private static final long CRC_SLICE = 1L << 26;
    private static final int LAYER_FIXED = 8 + 5 * 4;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;

    private Snapshots() {}

    /** What the HEAD section says. */
    private record Header(int kind, int sequences, int pageTokens, long budget, AttentionShape shape,
                          QuantSpec spec, String fingerprint) {
        boolean sparse() {
            return spec.hasOutliers() && spec.outlierForm() == QuantSpec.OutlierForm.TOKEN_MAJOR_SPARSE;
        }

        int sectionsPerLayer() {
            return sparse() ? 4 : 2;
        }
    }

    /** Where one layer's parts are in the file. */
    private record LayerPlan(long firstPosition, int tokens, int pages, long pageBytes, int keyEntries,
                             int valueEntries, byte[] sinks, long pagesAt, long keyEntriesAt, long valueEntriesAt) {}

    // ------------------------------------------------------------------ writing

    static void save(KvCache cache, Path file) throws IOException {
        if (cache.isClosed()) {
            throw new IllegalStateException("the KV cache is closed: there is nothing to snapshot");
        }
        write(file, KIND_CACHE, -1, cache.pageTokens(), cache.shape(), cache.spec(), cache.calibration(),
                List.of(cache));
    }

    static void save(AttentionShape shape, QuantSpec spec, Calibration calibration, int pageTokens, long budget,
                     List<KvCache> sequences, Path file) throws IOException {
        for (KvCache c : sequences) {
            if (c.isClosed()) {
                throw new IllegalStateException("a sequence of the pool was closed during the save");
            }
        }
        write(file, KIND_POOL, budget, pageTokens, shape, spec, calibration, sequences);
    }

    private static void write(Path file, int kind, long budget, int pageTokens, AttentionShape shape, QuantSpec spec,
                              Calibration calibration, List<KvCache> caches) throws IOException {
        if (file == null) {
            throw new IllegalArgumentException("snapshot path must not be null");
        }
        requireImages(caches);
        Path target = file.toAbsolutePath();
        Path dir = target.getParent();
        Files.createDirectories(dir);
        // A fixed temporary name (not createTempFile): a save killed midway leaves one stale file that
        // the next save truncates and reuses, instead of a new multi-GiB leftover per crash.
        Path tmp = dir.resolve(target.getFileName() + ".tmp");
        // Savers exclude each other through a lock file that is never renamed: a lock on the temporary
        // file itself would move with it onto the published snapshot, where a second saver that had
        // opened the temporary name just before the rename could take it and truncate the snapshot.
        Path lockFile = dir.resolve(target.getFileName() + ".lock");
        byte[] head = headPayload(kind, caches.size(), pageTokens, budget, shape, spec, calibration);
        boolean sparse = spec.hasOutliers() && spec.outlierForm() == QuantSpec.OutlierForm.TOKEN_MAJOR_SPARSE;
        try (FileChannel lockChannel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            FileLock lock;
            try {
                lock = lockChannel.tryLock();
            } catch (OverlappingFileLockException e) {
                lock = null;
            }
            if (lock == null) {
                throw new IOException("another save to " + target + " is in progress (" + lockFile + " is locked)");
            }
            writeLocked(tmp, target, head, caches, shape, sparse);
        }
        forceDirectory(dir);
    }

    /** Writes the snapshot to {@code tmp}, forces it and renames it over {@code target}; the caller holds the lock. */
    private static void writeLocked(Path tmp, Path target, byte[] head, List<KvCache> caches, AttentionShape shape,
                                    boolean sparse) throws IOException {
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            boolean renamed = false;
            try {
                Out out = new Out(ch);
                long sections = 1 + (long) caches.size() * shape.layers() * (sparse ? 4 : 2);
                out.raw(le(16).put(MAGIC).putInt(FORMAT_VERSION).putInt((int) sections).flip());
                out.section(TAG_HEAD, 0, head);
                int index = 0;
                for (KvCache cache : caches) {
                    // the cache's own lock: appends from other threads wait, so each sequence is saved
                    // as of one instant, and a concurrent close cannot free pages under the writer
                    synchronized (cache.lock()) {
                        if (cache.isClosed()) {
                            throw new IllegalStateException("a sequence of the pool was closed during the save");
                        }
                        for (int l = 0; l < shape.layers(); l++, index++) {
                            writeLayer(out, index, cache.firstPosition(), cache.length(l), cache.image(l),
                                    cache.pageLayout(l), sparse);
                        }
                    }
                }
                ch.force(true);
                try {
                    Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
                }
                renamed = true;
            } finally {
                if (!renamed) {
                    Files.deleteIfExists(tmp);
                }
            }
        }
    }

    private static void writeLayer(Out out, int index, long firstPosition, int tokens, LayerImage image,
                                   PageLayout layout, boolean sparse) throws IOException {
        int sinkBytes = image.sinks() == null ? 0 : (int) image.sinks().byteSize();
        ByteBuffer meta = le(LAYER_FIXED + sinkBytes);
        meta.putLong(firstPosition).putInt(tokens).putInt(image.pages().size())
                .putInt(image.keyEntries()).putInt(image.valueEntries()).putInt(sinkBytes);
        if (sinkBytes > 0) {
            meta.put(image.sinks().toArray(ValueLayout.JAVA_BYTE));
        }
        out.section(TAG_LAYR, index, meta.array());
        out.blob(TAG_PAGE, index, image.pages(), layout.pageBytes());
        if (sparse) {
            out.blob(TAG_KENT, index, image.keyChunks(), EntryChunks.BYTES);
            out.blob(TAG_VENT, index, image.valueChunks(), EntryChunks.BYTES);
        }
    }

    private static byte[] headPayload(int kind, int sequences, int pageTokens, long budget, AttentionShape shape,
                                      QuantSpec spec, Calibration calibration) {
        byte[] fingerprint = spec.quantized() ? HexFormat.of().parseHex(calibration.fingerprint()) : new byte[0];
        ByteBuffer b = le(1 + 4 + 4 + 8 + GeometryCodec.shapeBytes(shape) + GeometryCodec.specBytes(spec) + 1
                + fingerprint.length);
        b.put((byte) kind).putInt(sequences).putInt(pageTokens).putLong(budget);
        GeometryCodec.putShape(b, shape);
        GeometryCodec.putSpec(b, spec);
        b.put((byte) fingerprint.length).put(fingerprint);
        return b.array();
    }

    /** Sequential section writer that knows its file offset (for the 64-byte alignment of the blobs). */
    private static final class Out {
        private final FileChannel ch;
        private final CRC32C crc = new CRC32C();
        private long position;

        Out(FileChannel ch) {
            this.ch = ch;
        }

        void raw(ByteBuffer b) throws IOException {
            while (b.hasRemaining()) {
                position += ch.write(b);
            }
        }

        private void begin(int tag, int index, long length) throws IOException {
            ByteBuffer h = le(16).putInt(tag).putInt(index).putLong(length).flip();
            crc.reset();
            crc.update(h.duplicate());
            raw(h);
        }

        private void payload(ByteBuffer b) throws IOException {
            crc.update(b.duplicate());
            raw(b);
        }

        private void end() throws IOException {
            raw(le(4).putInt((int) crc.getValue()).flip());
        }

        void section(int tag, int index, byte[] payload) throws IOException {
            begin(tag, index, payload.length);
            payload(ByteBuffer.wrap(payload));
            end();
        }

        /** u32 pad, pad zero bytes so that the data starts 64-byte aligned in the file, then the segments. */
        void blob(int tag, int index, List<MemorySegment> parts, long unit) throws IOException {
            int pad = padFor(position + 16);
            begin(tag, index, 4L + pad + parts.size() * unit);
            payload(le(4 + pad).putInt(pad).position(0));
            for (MemorySegment s : parts) {
                if (s.byteSize() != unit) {
                    throw new IllegalStateException("segment of " + s.byteSize() + " bytes where " + unit + " belong");
                }
                payload(s.asByteBuffer());
            }
            end();
        }
    }

    /** Pad bytes after the u32 pad field of a blob payload starting at {@code payloadAt}. */
    private static int padFor(long payloadAt) {
        return (int) ((PageLayout.ALIGN - (payloadAt + 4) % PageLayout.ALIGN) % PageLayout.ALIGN);
    }

    private static void forceDirectory(Path dir) {
        // makes the rename itself durable; not every platform can open a directory, which is harmless
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            // best effort
        }
    }

    // ------------------------------------------------------------------ reading

    /** A snapshot is written from host images of the layers; refused before any file is touched when a cache has none. */
    private static void requireImages(List<KvCache> caches) {
        for (KvCache c : caches) {
            synchronized (c.lock()) {
                if (!c.isClosed()) {
                    c.image(0);
                }
            }
        }
    }

    static KvCache openCache(Path file, Calibration calibration, Backend backend, boolean verifyData)
            throws IOException {
        try (FileChannel ch = openChannel(file)) {
            Parsed p = parse(ch, file, verifyData, KIND_CACHE, calibration);
            Header h = p.header;
            backend = Engines.forSnapshot(backend, h.shape, h.spec);
            KvCache cache = KvCache.standalone(h.shape, h.spec, calibration, backend, h.pageTokens,
                    p.layers.getFirst().firstPosition);
            restoreOrClose(cache, ch, p.layers.subList(0, h.shape.layers()), file);
            return cache;
        }
    }

    static KvCachePool openPool(Path file, Calibration calibration, Backend backend, boolean verifyData)
            throws IOException {
        try (FileChannel ch = openChannel(file)) {
            Parsed p = parse(ch, file, verifyData, KIND_POOL, calibration);
            Header h = p.header;
            backend = Engines.forSnapshot(backend, h.shape, h.spec);
            KvCachePool pool = KvCachePool.open(h.shape, h.spec, calibration, backend, h.budget, h.pageTokens);
            try {
                int layers = h.shape.layers();
                for (int s = 0; s < h.sequences; s++) {
                    List<LayerPlan> plans = p.layers.subList(s * layers, (s + 1) * layers);
                    KvCache cache = pool.newSequence(plans.getFirst().firstPosition);
                    restoreOrClose(cache, ch, plans, file);
                }
            } catch (IOException | RuntimeException | Error e) {
                pool.close();
                throw e;
            }
            return pool;
        }
    }

    private static FileChannel openChannel(Path file) throws IOException {
        if (file == null) {
            throw new IllegalArgumentException("snapshot path must not be null");
        }
        try {
            return FileChannel.open(file, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new NoSuchFileException(file.toString(), null, "snapshot does not exist");
        }
    }

    private static void requireKind(Header h, int kind, Path file) throws SnapshotFormatException {
        if (h.kind != kind) {
            throw new SnapshotFormatException(file, Problem.WRONG_KIND, h.kind == KIND_POOL
                    ? "it holds a pool of " + h.sequences + " sequences: open it with KvCachePool.openSnapshot"
                    : "it holds a single cache: open it with KvCache.openSnapshot");
        }
    }

    private static void requireCalibration(Header h, Calibration calibration, Path file)
            throws SnapshotFormatException {
        if (!h.spec.quantized()) {
            return;
        }
        if (calibration == null) {
            throw new SnapshotFormatException(file, Problem.CALIBRATION_MISMATCH, h.spec.name()
                    + " snapshot made with calibration " + h.fingerprint + "; no calibration was given");
        }
        String given = calibration.fingerprint();
        if (!given.equals(h.fingerprint)) {
            throw new SnapshotFormatException(file, Problem.CALIBRATION_MISMATCH, "made with calibration "
                    + h.fingerprint + ", given calibration " + given);
        }
        try {
            calibration.requireCompatible(h.shape, h.spec);
        } catch (IllegalArgumentException e) {
            // same calibration, yet a header it cannot serve: the header was forged or mis-written
            throw new SnapshotFormatException(file, Problem.INVALID, "the header does not fit the snapshot's own "
                    + "calibration: " + e.getMessage());
        }
    }

    private static void restoreOrClose(KvCache cache, FileChannel ch, List<LayerPlan> plans, Path file)
            throws IOException {
        try {
            restore(cache, ch, plans, file);
        } catch (IOException | RuntimeException | Error e) {
            cache.close();
            throw e;
        }
    }

    /** Fills the empty {@code cache} from the checked plans, mapping the file for as long as the cache is open. */
    private static void restore(KvCache cache, FileChannel ch, List<LayerPlan> plans, Path file) throws IOException {
        long total = restoredBytes(plans);
        try {
            cache.reserveRestored(total);
        } catch (CacheBudgetExceededException e) {
            throw new CacheBudgetExceededException("snapshot " + file + " needs " + total
                    + " bytes for a sequence, more than the budget has left: " + e.getMessage());
        }
        MemorySegment mapped = cache.mapSnapshot(ch);
        for (int l = 0; l < plans.size(); l++) {
            LayerPlan p = plans.get(l);
            List<MemorySegment> pages = slices(mapped, p.pagesAt, p.pages, p.pageBytes);
            MemorySegment sinks = p.sinks.length == 0 ? null : MemorySegment.ofArray(p.sinks);
            List<MemorySegment> keyChunks = slices(mapped, p.keyEntriesAt, EntryChunks.chunksFor(p.keyEntries),
                    EntryChunks.BYTES);
            List<MemorySegment> valueChunks = slices(mapped, p.valueEntriesAt, EntryChunks.chunksFor(p.valueEntries),
                    EntryChunks.BYTES);
            cache.restore(l, p.tokens, new LayerImage(pages, sinks, p.keyEntries, keyChunks, p.valueEntries,
                    valueChunks));
        }
    }

    /** {@code count} consecutive slices of {@code unit} bytes of the mapping from {@code at}. */
    private static List<MemorySegment> slices(MemorySegment mapped, long at, int count, long unit) {
        List<MemorySegment> list = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            list.add(mapped.asSlice(at + i * unit, unit));
        }
        return list;
    }

    /** Bytes the layers take once restored (mapped or copied), as the budget counts them. */
    private static long restoredBytes(List<LayerPlan> plans) {
        long total = 0;
        for (LayerPlan p : plans) {
            total += p.pages * p.pageBytes + p.sinks.length
                    + (EntryChunks.chunksFor(p.keyEntries) + EntryChunks.chunksFor(p.valueEntries)) * EntryChunks.BYTES;
        }
        return total;
    }

    private record Parsed(Header header, List<LayerPlan> layers) {}

    /**
     * Checks the whole file (structure, and every checksum unless {@code verifyData} is off for the blobs), that
     * it holds {@code kind}, and that {@code calibration} is the one it was made with (the layers' page layouts
     * depend on its widths).
     */
    private static Parsed parse(FileChannel ch, Path file, boolean verifyData, int kind, Calibration calibration)
            throws IOException {
        long size = ch.size();
        if (size < MAGIC.length + 8) {
            byte[] start = new byte[(int) size];
            ch.read(ByteBuffer.wrap(start), 0);
            boolean prefix = size > 0;
            for (int i = 0; i < Math.min(start.length, MAGIC.length); i++) {
                prefix &= start[i] == MAGIC[i];
            }
            throw new SnapshotFormatException(file, prefix ? Problem.TRUNCATED : Problem.FOREIGN,
                    "only " + size + " bytes" + (prefix ? "" : ", no magic"));
        }
        try (Arena scan = Arena.ofConfined()) {
            MemorySegment m = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, scan);
            Reader r = new Reader(m, file, verifyData);
            return r.parse(kind, calibration);
        }
    }

    /** Walks the sections in order, checking tags, indices, lengths and checksums. */
    private static final class Reader {
        private final MemorySegment m;
        private final Path file;
        private final boolean verifyData;
        private final CRC32C crc = new CRC32C();
        private long pos;

        Reader(MemorySegment m, Path file, boolean verifyData) {
            this.m = m;
            this.file = file;
            this.verifyData = verifyData;
        }

        Parsed parse(int kind, Calibration calibration) throws SnapshotFormatException {
            for (int i = 0; i < MAGIC.length; i++) {
                if (m.get(ValueLayout.JAVA_BYTE, i) != MAGIC[i]) {
                    throw new SnapshotFormatException(file, Problem.FOREIGN, "the first bytes are not \"KVQSNAPS\"");
                }
            }
            int version = m.get(INT, 8);
            if (version != FORMAT_VERSION && version != FORMAT_V1) {
                throw new SnapshotFormatException(file, Problem.UNSUPPORTED_VERSION,
                        "version " + version + ", this build reads version " + FORMAT_VERSION + " (and version "
                                + FORMAT_V1 + " where its pages are those of version " + FORMAT_VERSION + ")");
            }
            long count = Integer.toUnsignedLong(m.get(INT, 12));
            pos = 16;
            Header h = header(meta(TAG_HEAD, 0));
            String difference = version == FORMAT_V1 ? PageLayout.versionOneDifference(h.shape, h.spec) : null;
            if (difference != null) {
                // the same tokens are laid out differently in v2: reading the v1 pages as v2 pages would
                // attend over the wrong bits
                throw new SnapshotFormatException(file, Problem.UNSUPPORTED_VERSION, "version " + FORMAT_V1
                        + " (page format v1) of a " + h.spec.name() + " cache; this build reads version "
                        + FORMAT_VERSION + " (page format v" + PageLayout.VERSION + "), and version " + FORMAT_V1
                        + " only where its pages are the same, which they are not with " + difference
                        + ". Re-create the snapshot with this build");
            }
            requireKind(h, kind, file);
            requireCalibration(h, calibration, file);
            CacheSetup setup;
            try {
                setup = CacheSetup.of(h.shape, h.spec, calibration, h.pageTokens);
            } catch (IllegalArgumentException e) {
                throw invalid("header: " + e.getMessage());
            }
            long expected = 1 + (long) h.sequences * h.shape.layers() * h.sectionsPerLayer();
            if (count != expected) {
                throw new SnapshotFormatException(file, Problem.CORRUPTED, "the file header announces " + count
                        + " sections, the snapshot's shape needs " + expected);
            }
            List<LayerPlan> plans = new ArrayList<>();
            int index = 0;
            for (int s = 0; s < h.sequences; s++) {
                for (int l = 0; l < h.shape.layers(); l++, index++) {
                    LayerPlan p = layer(h, setup.layout(l), setup.occupancy(l), index);
                    if (l > 0 && p.firstPosition != plans.getLast().firstPosition) {
                        throw invalid("layer " + l + " of sequence " + s + " starts at position " + p.firstPosition
                                + ", layer 0 at " + plans.getLast().firstPosition);
                    }
                    plans.add(p);
                }
            }
            if (pos != m.byteSize()) {
                throw new SnapshotFormatException(file, Problem.CORRUPTED,
                        (m.byteSize() - pos) + " unexpected bytes after the last section");
            }
            long needed = restoredBytes(plans);
            if (h.kind == KIND_POOL && needed > h.budget) {
                throw invalid("the sequences need " + needed + " bytes, more than the pool's budget of " + h.budget);
            }
            return new Parsed(h, plans);
        }

        private LayerPlan layer(Header h, PageLayout layout, Occupancy occupancy, int index)
                throws SnapshotFormatException {
            ByteBuffer b = meta(TAG_LAYR, index);
            String name = "LAYR " + index;
            if (b.remaining() < LAYER_FIXED) {
                throw new SnapshotFormatException(file, Problem.CORRUPTED, "section " + name + " has "
                        + b.remaining() + " bytes, fewer than its fixed " + LAYER_FIXED);
            }
            long first = b.getLong();
            int tokens = b.getInt();
            int pages = b.getInt();
            int keyEntries = b.getInt();
            int valueEntries = b.getInt();
            int sinkBytes = b.getInt();
            if (first < 0 || first > KvCache.MAX_POSITION || tokens < 0 || tokens > Integer.MAX_VALUE - 64
                    || first + tokens > KvCache.MAX_POSITION) {
                throw invalid(name + ": " + tokens + " tokens from position " + first);
            }
            long packed = occupancy.packedTokens(tokens);
            long wantPages = occupancy.pagesFor(packed);
            if (pages != wantPages) {
                throw invalid(name + ": " + pages + " pages for " + packed + " packed tokens (needs " + wantPages + ")");
            }
            SinkLayout sinkLayout = occupancy.sinks();
            long wantSinks = tokens > 0 ? sinkLayout.bytes() : 0;
            if (sinkBytes != wantSinks || b.remaining() != sinkBytes) {
                throw invalid(name + ": " + sinkBytes + " bytes of sinks and window declared, " + b.remaining()
                        + " present, " + wantSinks + " expected");
            }
            boolean sparse = h.sparse();
            if (keyEntries < 0 || valueEntries < 0 || (!sparse && (keyEntries | valueEntries) != 0)) {
                throw invalid(name + ": " + keyEntries + " key and " + valueEntries + " value outlier entries");
            }
            if (sparse && valueEntries != occupancy.valueEntries(packed)) {
                throw invalid(name + ": " + valueEntries + " value outlier entries for " + packed + " tokens");
            }
            byte[] sinks = new byte[sinkBytes];
            b.get(sinks);
            long pagesAt = blob(TAG_PAGE, index, pages, layout.pageBytes());
            long keyAt = -1;
            long valueAt = -1;
            if (sparse) {
                keyAt = blob(TAG_KENT, index, EntryChunks.chunksFor(keyEntries), EntryChunks.BYTES);
                valueAt = blob(TAG_VENT, index, EntryChunks.chunksFor(valueEntries), EntryChunks.BYTES);
                if (packed > 0) {
                    // the last token's end pointer must close the entry range, else attention would read
                    // past the stored entries
                    int r = (int) ((packed - 1) % h.pageTokens);
                    long page = pagesAt + (pages - 1) * layout.pageBytes();
                    int keyEnd = m.get(INT, page + layout.offset(PageLayout.Part.KEY_OUT_START) + (r + 1) * 4L);
                    int valueEnd = m.get(INT, page + layout.offset(PageLayout.Part.VALUE_OUT_START) + (r + 1) * 4L);
                    if (keyEnd != keyEntries || valueEnd != valueEntries) {
                        throw invalid(name + ": the pages end at entries " + keyEnd + "/" + valueEnd + ", "
                                + keyEntries + "/" + valueEntries + " are stored");
                    }
                }
            }
            return new LayerPlan(first, tokens, pages, layout.pageBytes(), keyEntries, valueEntries, sinks, pagesAt, keyAt,
                    valueAt);
        }

        private SnapshotFormatException invalid(String detail) {
            return new SnapshotFormatException(file, Problem.INVALID, detail);
        }

        /** A small section copied to the heap. */
        private ByteBuffer meta(int tag, int index) throws SnapshotFormatException {
            long length = section(tag, index, true);
            if (length > MAX_META) {
                throw new SnapshotFormatException(file, Problem.CORRUPTED, "section " + tagName(tag) + " " + index
                        + " declares an implausible length " + length);
            }
            byte[] payload = m.asSlice(pos - 4 - length, length).toArray(ValueLayout.JAVA_BYTE);
            return ByteBuffer.wrap(payload).order(ByteOrder.LITTLE_ENDIAN);
        }

        /** A blob section of {@code count} units; returns the file offset of the first unit. */
        private long blob(int tag, int index, long count, long unit) throws SnapshotFormatException {
            long start = pos;
            long length = section(tag, index, verifyData);
            long payloadAt = start + 16;
            int pad = padFor(payloadAt);
            int storedPad = m.get(INT, payloadAt);
            long want = 4L + pad + count * unit;
            if (storedPad != pad || length != want) {
                throw new SnapshotFormatException(file, Problem.CORRUPTED, "section " + tagName(tag) + " " + index
                        + " has " + length + " bytes with pad " + storedPad + ", expected " + want + " with pad " + pad);
            }
            return payloadAt + 4 + pad;
        }

        /** Checks one section's frame (and checksum when asked); leaves {@code pos} after it; returns its length. */
        private long section(int tag, int index, boolean verify) throws SnapshotFormatException {
            String name = tagName(tag) + " " + index;
            need(16, "section " + name);
            long start = pos;
            int foundTag = m.get(INT, pos);
            int foundIndex = m.get(INT, pos + 4);
            long length = m.get(ValueLayout.JAVA_LONG_UNALIGNED, pos + 8);
            if (foundTag != tag || foundIndex != index) {
                throw new SnapshotFormatException(file, Problem.CORRUPTED, "expected section " + name + " at offset "
                        + start + ", found '" + tagName(foundTag) + "' " + foundIndex);
            }
            if (length < 0) {
                throw new SnapshotFormatException(file, Problem.CORRUPTED, "section " + name
                        + " declares a negative length " + length);
            }
            pos += 16;
            need(length + 4, "section " + name + " (" + length + " bytes + checksum)");
            if (verify) {
                crc.reset();
                for (long at = start; at < pos + length; at += CRC_SLICE) {
                    crc.update(m.asSlice(at, Math.min(CRC_SLICE, pos + length - at)).asByteBuffer());
                }
                int stored = m.get(INT, pos + length);
                if (stored != (int) crc.getValue()) {
                    throw new SnapshotFormatException(file, Problem.CORRUPTED, String.format(
                            "checksum mismatch in section %s (stored %08x, computed %08x)", name, stored,
                            (int) crc.getValue()));
                }
            }
            pos += length + 4;
            return length;
        }

        private void need(long n, String what) throws SnapshotFormatException {
            if (n > m.byteSize() - pos || n < 0) {
                throw new SnapshotFormatException(file, Problem.TRUNCATED, what + " needs " + n + " bytes at offset "
                        + pos + " but only " + (m.byteSize() - pos) + " remain (file size " + m.byteSize() + ")");
            }
        }

        private Header header(ByteBuffer b) throws SnapshotFormatException {
            try {
                int kind = b.get();
                if (kind != KIND_CACHE && kind != KIND_POOL) {
                    throw new IllegalArgumentException("unknown snapshot kind " + kind);
                }
                int sequences = b.getInt();
                int pageTokens = b.getInt();
                long budget = b.getLong();
                if (sequences < 0 || (kind == KIND_CACHE && sequences != 1) || sequences > 1_000_000) {
                    throw new IllegalArgumentException(sequences + " sequences");
                }
                if (kind == KIND_POOL && budget <= 0 || kind == KIND_CACHE && budget != -1) {
                    throw new IllegalArgumentException("budget " + budget);
                }
                AttentionShape shape = GeometryCodec.getShape(b);
                QuantSpec spec = GeometryCodec.getSpec(b);
                int fpLength = b.get();
                if (fpLength != (spec.quantized() ? 32 : 0)) {
                    throw new IllegalArgumentException("calibration fingerprint of " + fpLength + " bytes");
                }
                byte[] fp = new byte[fpLength];
                b.get(fp);
                if (b.hasRemaining()) {
                    throw new SnapshotFormatException(file, Problem.CORRUPTED, "section HEAD has " + b.remaining()
                            + " bytes more than its content");
                }
                if (!spec.allocated()) {
                    // validates the page size against the spec; an allocation's layouts need the calibration
                    new PageLayout(shape, spec, pageTokens);
                }
                return new Header(kind, sequences, pageTokens, budget, shape, spec,
                        spec.quantized() ? HexFormat.of().formatHex(fp) : null);
            } catch (IllegalArgumentException | BufferUnderflowException e) {
                // the checksum matched, so the writer itself stored a header no cache can have
                throw invalid("header: " + e);
            }
        }
    }

    private static ByteBuffer le(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static int tag(String name) {
        byte[] b = name.getBytes(StandardCharsets.US_ASCII);
        return (b[0] & 0xff) | (b[1] & 0xff) << 8 | (b[2] & 0xff) << 16 | (b[3] & 0xff) << 24;
    }

    private static String tagName(int tag) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < 4; i++) {
            int c = (tag >>> (8 * i)) & 0xff;
            s.append(c >= 32 && c < 127 ? (char) c : '?');
        }
        return s.toString();
    }
}
