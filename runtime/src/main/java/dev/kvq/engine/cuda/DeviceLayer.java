package dev.kvq.engine.cuda;

import dev.kvq.driver.DeviceMemory;
import dev.kvq.driver.Stream;
import dev.kvq.engine.LayerImage;
import dev.kvq.engine.Tensor;
import dev.kvq.layout.EntryChunks;
import dev.kvq.layout.MemoryReport;
import dev.kvq.layout.Occupancy;
import dev.kvq.layout.PageLayout;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * One layer of one sequence on the device: its page pool laid out exactly as {@link PageLayout} with
 * its page table ({@link DevicePages}), with TOKEN_MAJOR_SPARSE outliers a key and a value pool of
 * entry chunks ({@link EntryChunks}, identity chunk tables), the fp16 sink buffer and the quantizer
 * tables ({@link KvKernels#tables}); the last two are allocated by the first append that needs them.
 * It owns all of them and frees them once in {@link #close()}.
 */
final class DeviceLayer implements AutoCloseable {
    /** Smallest growth step of a layer's sparse entry chunk pool. */
    private static final long CHUNK_GROWTH = 1L << 20;

    private final PageLayout layout;
    private final DevicePages pages;
    private final DevicePages keyChunks;     // sparse only: key entry chunks
    private final DevicePages valueChunks;   // sparse only: value entry chunks
    private DeviceMemory sinks;              // SinkLayout; null until the first sink token
    private DeviceMemory tables;             // KvKernels.Tables (nuq); null until the first append
    private int keyEntries;                  // key entries stored (the host's count)

    /** A layer whose pages come from {@code shared} (a pool's sequence), or a private pool when it is null. */
    DeviceLayer(PageLayout layout, Stream stream, SharedPagePool shared) {
        DevicePages p = shared != null ? new DevicePages(shared, stream) : new DevicePages(layout.pageBytes(), stream);
        DevicePages k = null;
        DevicePages v = null;
        try {
            if (layout.sparseOutliers()) {
                // chunks grow by at least 1 MiB (16 chunks): entries come in bursts of a whole prefill
                k = new DevicePages(EntryChunks.BYTES, stream, CHUNK_GROWTH);
                v = new DevicePages(EntryChunks.BYTES, stream, CHUNK_GROWTH);
            }
        } catch (RuntimeException e) {
            p.close();
            throw e;
        }
        this.layout = layout;
        this.pages = p;
        this.keyChunks = k;
        this.valueChunks = v;
    }

    DevicePages pages() {
        return pages;
    }

    /** The entry chunk pool of {@code tensor}; null unless the outliers are sparse. */
    DevicePages chunks(Tensor tensor) {
        return tensor == Tensor.KEYS ? keyChunks : valueChunks;
    }

    boolean sparse() {
        return keyChunks != null;
    }

    boolean hasSinks() {
        return sinks != null;
    }

    /** Device address of the fp16 side buffer (sinks, recent window), 0 before it is allocated. */
    long sideAddress() {
        return sinks == null ? 0 : sinks.address();
    }

    boolean hasTables() {
        return tables != null;
    }

    int keyEntries() {
        return keyEntries;
    }

    void keyEntries(int entries) {
        keyEntries = entries;
    }

    /** Takes over a sink buffer and quantizer tables allocated for an append (either may be null). */
    void adopt(DeviceMemory newSinks, DeviceMemory newTables) {
        if (newSinks != null) {
            sinks = newSinks;
        }
        if (newTables != null) {
            tables = newTables;
        }
    }

    /** The kernels' view of this layer, with the sequence's counts at {@code seqMeta}. */
    LayerView view(long seqMeta, long seqKeyEntries) {
        SparseView sv = null;
        if (sparse()) {
            sv = new SparseView(keyChunks.poolAddress(), keyChunks.capacity(), keyChunks.tableAddress(),
                    keyChunks.capacity(), valueChunks.poolAddress(), valueChunks.capacity(),
                    valueChunks.tableAddress(), valueChunks.capacity(), seqKeyEntries);
        }
        return new LayerView(pages.poolAddress(), pages.poolPages(), pages.tableAddress(), pages.capacity(), seqMeta,
                sinks == null ? 0 : sinks.address(), tables == null ? 0 : tables.address(), sv);
    }

    /** Device bytes of the page pool and the entry chunk pools, with their tables. */
    long poolBytes() {
        long b = pages.allocatedBytes();
        if (sparse()) {
            b += keyChunks.allocatedBytes() + valueChunks.allocatedBytes();
        }
        return b;
    }

    /** Device bytes drawn from the budget: the pools, the sink buffer and the quantizer tables. */
    long budgetedBytes() {
        return poolBytes() + (sinks == null ? 0 : sinks.byteSize()) + (tables == null ? 0 : tables.byteSize());
    }

    /** Bytes by part, from what is allocated on the device. */
    MemoryReport memory(Occupancy occupancy, int stored) {
        long valueEntries = occupancy.valueEntries(occupancy.packedTokens(stored));
        long chunks = sparse() ? keyChunks.capacity() + valueChunks.capacity() : 0;
        // beside the host's quantizer side data: the page table, the device tables and the chunk tables
        long side = occupancy.quantizerBytes() + (long) pages.capacity() * Integer.BYTES
                + (tables == null ? 0 : tables.byteSize()) + chunks * Integer.BYTES;
        return occupancy.memory(stored, pages.allocatedPages(), keyEntries + valueEntries, chunks,
                sinks == null ? 0 : sinks.byteSize(), side);
    }

    /** A host copy of the layer holding {@code stored} tokens, allocated from {@code arena}. */
    LayerImage hostCopy(Occupancy occupancy, int stored, Arena arena) {
        long pageBytes = pages.pageBytes();
        List<MemorySegment> hostPages = new ArrayList<>();
        for (int i = 0; i < pages.size(); i++) {
            MemorySegment host = arena.allocate(pageBytes, PageLayout.ALIGN);
            pages.pool().copyToHost(host, 0, pages.pageOffset(i), pageBytes);
            hostPages.add(host);
        }
        MemorySegment hostSinks = null;
        if (sinks != null) {
            hostSinks = arena.allocate(sinks.byteSize(), PageLayout.ALIGN);
            sinks.copyToHost(hostSinks);
        }
        int valueEntries = (int) occupancy.valueEntries(occupancy.packedTokens(stored));
        List<MemorySegment> hostKeyChunks = sparse() ? hostChunks(keyChunks, keyEntries, arena) : List.of();
        List<MemorySegment> hostValueChunks = sparse() ? hostChunks(valueChunks, valueEntries, arena) : List.of();
        for (MemorySegment page : hostPages) {
            toVersionTwo(page, hostKeyChunks, hostValueChunks);
        }
        return new LayerImage(hostPages, hostSinks, keyEntries, hostKeyChunks, valueEntries, hostValueChunks);
    }

    /** A host copy of page {@code i} in page format v2 ({@link #toVersionTwo}). */
    MemorySegment hostPage(int i, Arena arena) {
        MemorySegment host = arena.allocate(pages.pageBytes(), PageLayout.ALIGN);
        pages.pool().copyToHost(host, 0, pages.pageOffset(i), pages.pageBytes());
        if (sparse()) {
            toVersionTwo(host, hostChunks(keyChunks, keyChunks.size() * EntryChunks.ENTRIES, arena),
                    hostChunks(valueChunks, valueChunks.size() * EntryChunks.ENTRIES, arena));
        } else {
            toVersionTwo(host, List.of(), List.of());
        }
        return host;
    }

    /**
     * The sparse form's pack kernels write page format v1: the v2 page's parts but for the per-head ends of the
     * outlier lists, and keys in logical channel order (v2 puts rotate-half partners adjacent). Its device kernels
     * read their own form; a host copy (for the reference decoder, page comparisons) is converted to v2 here:
     * keys reordered ({@link PageLayout#keysFromVersionOne}), head ends derived from the lists
     * ({@link PageLayout#fillHeadEnds}). Every other form is written in v2 by the v2 kernels: nothing to do.
     */
    private void toVersionTwo(MemorySegment page, List<MemorySegment> keyChunks, List<MemorySegment> valueChunks) {
        if (!sparse()) {
            return;   // written by the page format v2 kernels already
        }
        layout.keysFromVersionOne(page);
        layout.fillHeadEnds(page, e -> entryChannel(keyChunks, e), e -> entryChannel(valueChunks, e));
    }

    private static int entryChannel(List<MemorySegment> chunks, int entry) {
        return chunks.get(EntryChunks.chunk(entry)).get(java.lang.foreign.ValueLayout.JAVA_SHORT,
                EntryChunks.channelOffset(entry));
    }

    private static List<MemorySegment> hostChunks(DevicePages pool, int entries, Arena arena) {
        List<MemorySegment> chunks = new ArrayList<>();
        for (int i = 0; i < EntryChunks.chunksFor(entries); i++) {
            MemorySegment host = arena.allocate(EntryChunks.BYTES, PageLayout.ALIGN);
            pool.pool().copyToHost(host, 0, pool.pageOffset(i), EntryChunks.BYTES);
            chunks.add(host);
        }
        return chunks;
    }

    /**
     * Device bytes {@link #restore} of {@code image} allocates: the pools grown to its pages and entry chunks,
     * its side buffer, and {@code tableBytes} of quantizer tables.
     */
    long restoreBytes(LayerImage image, long tableBytes) {
        long b = pages.bytesToGrow(image.pages().size()) + tableBytes
                + (image.sinks() == null ? 0 : image.sinks().byteSize());
        if (sparse()) {
            b += keyChunks.bytesToGrow(image.keyChunks().size()) + valueChunks.bytesToGrow(image.valueChunks().size());
        }
        return b;
    }

    /**
     * Fills this empty layer from a host image (a snapshot in page format v2): its pages, entry chunks and side
     * buffer copied up as they are, and the quantizer tables {@code tableValues} (null for fp16 pages).
     */
    void restore(LayerImage image, float[] tableValues) {
        if (pages.size() > 0 || sinks != null) {
            throw new IllegalStateException("a snapshot restores into an empty layer; this one holds "
                    + pages.size() + " pages");
        }
        pages.grow(image.pages().size());
        for (int i = 0; i < image.pages().size(); i++) {
            upload(pages.pool(), pages.pageOffset(i), image.pages().get(i));
        }
        if (sparse()) {
            restoreChunks(keyChunks, image.keyChunks());
            restoreChunks(valueChunks, image.valueChunks());
            keyEntries = image.keyEntries();
        }
        if (image.sinks() != null) {
            sinks = DeviceMemory.allocate(image.sinks().byteSize());
            upload(sinks, 0, image.sinks());
        }
        if (tableValues != null) {
            tables = DeviceMemory.allocate((long) tableValues.length * Float.BYTES);
            try (Arena arena = Arena.ofConfined()) {
                tables.copyFromHost(arena.allocateFrom(java.lang.foreign.ValueLayout.JAVA_FLOAT, tableValues));
            }
        }
    }

    private static void restoreChunks(DevicePages pool, List<MemorySegment> chunks) {
        pool.grow(chunks.size());
        for (int i = 0; i < chunks.size(); i++) {
            upload(pool.pool(), pool.pageOffset(i), chunks.get(i));
        }
    }

    /** Copies {@code host} to {@code offset} of {@code to}; through native memory when it is on the heap. */
    private static void upload(DeviceMemory to, long offset, MemorySegment host) {
        if (host.isNative()) {
            to.copyFromHost(host, 0, offset, host.byteSize());
            return;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment staged = arena.allocate(host.byteSize(), PageLayout.ALIGN);
            staged.copyFrom(host);
            to.copyFromHost(staged, 0, offset, host.byteSize());
        }
    }

    /** Frees every allocation of the layer once; the caller has synchronized the stream. */
    @Override
    public void close() {
        RuntimeException first = null;
        for (AutoCloseable c : new AutoCloseable[] {tables, sinks, valueChunks, keyChunks, pages}) {
            try {
                if (c != null) {
                    c.close();
                }
            } catch (Exception e) {
                if (first == null) {
                    first = e instanceof RuntimeException re ? re : new IllegalStateException(e);
                }
            }
        }
        tables = null;
        sinks = null;
        if (first != null) {
            throw first;
        }
    }
}
