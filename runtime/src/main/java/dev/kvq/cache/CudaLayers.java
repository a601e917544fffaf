package dev.kvq.cache;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.engine.cuda.CudaEngine;
import dev.kvq.engine.cuda.DevicePages;
import dev.kvq.engine.cuda.DeviceScratch;
import dev.kvq.engine.cuda.KvKernels;
import dev.kvq.engine.cuda.LayerView;
import dev.kvq.engine.cuda.SparseView;
import dev.kvq.driver.CudaException;
import dev.kvq.driver.DeviceMemory;
import dev.kvq.driver.Event;
import dev.kvq.driver.Nvtx;
import dev.kvq.driver.Stream;
import dev.kvq.kernels.KernelSignatures;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.KeyQuantizer;
import dev.kvq.quant.QuantSpec;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import dev.kvq.layout.PageLayout;
import dev.kvq.layout.MemoryReport;

/**
 * The CUDA half of a {@link KvCache}: per layer a device page pool laid out exactly as
 * {@link PageLayout}, with its page table ({@link DevicePages}), an fp16 sink buffer and the
 * quantizer tables; appends pack on the device ({@code kvq_pack_keys}, {@code kvq_pack_values});
 * attention runs on the device, scores → softmax → values on the cache's stream with no host round
 * trip in between (the host reads only the output). One owner for every allocation: this object,
 * which frees all of them once in {@link #close()}.
 *
 * <p>Appends store everything on the device: sinks ({@code kvq_sinks_append}), packed tokens and the
 * fp16 baseline's tokens ({@code kvq_fp16_append}) are rotated, rounded and packed there, bit for bit
 * as {@link LayerStore} does on the host.
 *
 * <p>TOKEN_MAJOR_SPARSE outliers: per layer a key and a value pool of 64 KiB entry chunks
 * ({@link SparseEntries}'s layout, identity chunk tables) beside the pages. The host counts each
 * append's key outliers first (the same comparisons as {@link LayerStore#keyEntriesNeeded}) to reserve
 * and zero the chunks before any kernel runs and to size the sparse score grid; value entries are a
 * fixed number per token. The device keeps the running key entry count that
 * {@code kvq_key_sparse_starts} advances; after each append it must equal the host's count.
 */
@SuppressWarnings("try") // NVTX ranges are try-with-resources whose variable is not used
final class CudaLayers implements DeviceCache {
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT;
    /** Tokens per pack launch: keeps the fp32 staging below 2 × 128 MiB whatever the prefill length. */
    private static final long STAGING_FLOATS = 1L << 25;
    private static final long STAGING_KEPT_BYTES = 1L << 20;   // enough for dozens of decode tokens
    /** Smallest growth step of a layer's sparse entry chunk pool. */
    private static final long CHUNK_GROWTH = 1L << 20;

    private final CudaEngine engine;
    private final KvKernels kernels;
    private final AttentionShape shape;
    private final QuantSpec spec;
    private final PageLayout layout;
    private final Calibration calibration;
    private final long firstPosition;
    private final Budget budget;
    private final Stream stream;
    private final DevicePages[] pages;
    private final boolean sparse;              // TOKEN_MAJOR_SPARSE outliers: entry chunks beside the pages
    private final DevicePages[] keyChunks;     // per layer, sparse only: key entry chunks [CHUNK_BYTES]
    private final DevicePages[] valueChunks;   // per layer, sparse only: value entry chunks
    private final int[] keyEntries;            // per layer: key entries stored (the host's count)
    private final DeviceMemory keyEntryCounts; // int32 [layers]: the device's running key entry counts
    private final DeviceMemory[] sinks;        // fp16 [2][S][D]: keys post-RoPE, then values; null until used
    private final DeviceMemory[] tables;       // per-layer quantizer tables (nuq); null until the first append
    private final List<AutoCloseable> owned = new ArrayList<>();  // every allocation, in order, freed once
    private final DeviceMemory meta;           // [layers][16 B]: int32 packed, int32 sinks, int64 first position
    private final DeviceMemory error;          // int32 [1] error word of the kernels
    private final DeviceMemory invFreq;        // fp32 [d/2]
    private final DeviceMemory ropeSteps;      // float2 [d/2][T]
    private final DeviceScratch input;         // append: keys, values fp32 [n][D], tokenSeq, tokenSlot int32 [n]
    private final DeviceScratch query;         // fp32 [Hq·d]
    private final DeviceScratch scores;        // fp32 [Hq][stored]
    private final DeviceScratch partials;      // fp32 [Hq][tiles][d]
    private final DeviceScratch output;        // fp32 [Hq·d]
    private final long sinkBytes;
    private boolean closed;

    private CudaLayers(CudaEngine engine, AttentionShape shape, QuantSpec spec, Calibration calibration,
                       PageLayout layout, long firstPosition, Budget budget) {
        this.engine = engine;
        this.shape = shape;
        this.spec = spec;
        this.layout = layout;
        this.calibration = calibration;
        this.firstPosition = firstPosition;
        this.budget = budget;
        this.kernels = new KvKernels(engine, shape, spec, layout);
        int layers = shape.layers();
        this.pages = new DevicePages[layers];
        this.sparse = layout.sparseOutliers();
        this.keyChunks = new DevicePages[sparse ? layers : 0];
        this.valueChunks = new DevicePages[sparse ? layers : 0];
        this.keyEntries = new int[layers];
        this.sinks = new DeviceMemory[layers];
        this.tables = new DeviceMemory[layers];
        this.sinkBytes = (long) sinkCapacity() * shape.kvChannels() * 2 * 2;
        // allocate in order, remembering each: a failure part-way frees what was made (no leak)
        boolean ok = false;
        Stream s = null;
        try {
            s = own(Stream.create(false));   // blocking: the synchronous copies order after its kernels
            this.stream = s;
            this.meta = own(DeviceMemory.allocate(16L * layers));
            this.error = own(DeviceMemory.allocate(256));
            this.keyEntryCounts = own(DeviceMemory.allocate(4L * layers));
            this.invFreq = own(DeviceMemory.allocate((long) shape.headDim() / 2 * Float.BYTES));
            this.ropeSteps = own(DeviceMemory.allocate(kernels.ropeStepBytes()));
            this.input = own(new DeviceScratch("append input", s));
            this.query = own(new DeviceScratch("query", s));
            this.scores = own(new DeviceScratch("scores", s));
            this.partials = own(new DeviceScratch("value partials", s));
            this.output = own(new DeviceScratch("output", s));
            for (int l = 0; l < layers; l++) {
                pages[l] = own(new DevicePages(layout.pageBytes(), s));
                if (sparse) {
                    // chunks grow by at least 1 MiB (16 chunks): entries come in bursts of a whole prefill
                    keyChunks[l] = own(new DevicePages(SparseEntries.CHUNK_BYTES, s, CHUNK_GROWTH));
                    valueChunks[l] = own(new DevicePages(SparseEntries.CHUNK_BYTES, s, CHUNK_GROWTH));
                }
            }
            meta.fill((byte) 0);
            keyEntryCounts.fill((byte) 0);
            error.fill((byte) 0);
            try (Arena arena = Arena.ofConfined()) {
                invFreq.copyFromHost(arena.allocateFrom(FLOAT, shape.rope().invFreq()));
                for (int l = 0; l < layers; l++) {
                    writeMeta(l, 0, arena);
                }
            }
            if (spec.quantized()) {
                kernels.ropeSteps(s, ropeSteps.address(), invFreq.address());
                s.synchronize();
            }
            ok = true;
        } finally {
            if (!ok) {
                freeAll();
            }
        }
    }

    private <T extends AutoCloseable> T own(T resource) {
        owned.add(resource);
        return resource;
    }

    /**
     * The device half of a cache, on the JVM's {@link CudaEngine}.
     *
     * @throws IllegalStateException when CUDA does not start here
     * @throws UnsupportedOperationException for a spec the kernels do not cover
     */
    static CudaLayers open(AttentionShape shape, QuantSpec spec, Calibration calibration, PageLayout layout,
                           long firstPosition, Budget budget) {
        KvKernels.requireSupported(shape, spec, layout);
        CudaEngine engine = CudaEngine.shared();
        engine.bind();
        return new CudaLayers(engine, shape, spec, calibration, layout, firstPosition, budget);
    }

    private int sinkCapacity() {
        return spec.quantized() ? spec.sinkTokens() : 0;
    }

    private int packed(int stored) {
        return Math.max(0, stored - sinkCapacity());
    }

    private int pagesFor(long packed) {
        return (int) ((packed + layout.pageTokens() - 1) / layout.pageTokens());
    }

    /** The kernels' view of {@code layer}. */
    LayerView view(int layer) {
        DevicePages p = pages[layer];
        SparseView sv = null;
        if (sparse) {
            DevicePages k = keyChunks[layer];
            DevicePages v = valueChunks[layer];
            sv = new SparseView(k.poolAddress(), k.capacity(), k.tableAddress(), k.capacity(), v.poolAddress(),
                    v.capacity(), v.tableAddress(), v.capacity(), keyEntryCounts.address() + 4L * layer);
        }
        return new LayerView(p.poolAddress(), p.capacity(), p.tableAddress(), p.capacity(),
                meta.address() + 16L * layer, sinks[layer] == null ? 0 : sinks[layer].address(),
                tables[layer] == null ? 0 : tables[layer].address(), sv);
    }

    /** Chunks that hold {@code entries} sparse entries. */
    private static int chunksFor(long entries) {
        return (int) ((entries + SparseEntries.CHUNK - 1) / SparseEntries.CHUNK);
    }

    /**
     * Key outliers of tokens {@code [from, n)} of the batch: elements above the upper or below the lower
     * threshold, the comparisons of {@code kvq_pack_keys} and {@link LayerStore#keyEntriesNeeded} on the
     * same fp32 numbers, so the count is exact.
     */
    private long keyOutliers(int layer, float[] keys, int from, int n) {
        KeyQuantizer k = calibration.layer(layer).keys();
        int d = shape.kvChannels();
        float[] lo = new float[d];
        float[] hi = new float[d];
        for (int c = 0; c < d; c++) {
            lo[c] = k.lower(c);
            hi[c] = k.upper(c);
        }
        long count = 0;
        for (int t = from; t < n; t++) {
            int off = t * d;
            for (int c = 0; c < d; c++) {
                float x = keys[off + c];
                if (x > hi[c] || x < lo[c]) {
                    count++;
                }
            }
        }
        return count;
    }

    /** Sparse value entries of {@code packed} packed tokens (a fixed number per token). */
    private long valueEntries(long packed) {
        return packed * spec.valueOutliersPerToken(shape.kvChannels());
    }

    /** Uploads packed and sink counts and the first position of {@code layer}. */
    private void writeMeta(int layer, int stored, Arena arena) {
        MemorySegment m = arena.allocate(16, 16);
        m.set(INT, 0, packed(stored));
        m.set(INT, 4, Math.min(stored, sinkCapacity()));
        m.set(ValueLayout.JAVA_LONG, 8, firstPosition);
        meta.copyFromHost(m, 0, 16L * layer, 16);
    }

    @Override
    public void append(int layer, int stored, float[] keysPreRope, float[] values, int n) {
        requireOpen();
        engine.bind();
        int sinkCap = sinkCapacity();
        int newSinks = Math.max(0, Math.min(n, sinkCap - stored));
        int packedAfter = packed(stored + n);
        boolean needSinks = newSinks > 0 && sinks[layer] == null;
        boolean needTables = spec.quantized() && tables[layer] == null;
        DevicePages p = pages[layer];
        long tableBytes = needTables ? (long) kernels.tableFloats() * Float.BYTES : 0;
        long bytes = p.bytesToGrow(pagesFor(packedAfter)) + (needSinks ? sinkBytes : 0) + tableBytes;
        long keyEntriesAfter = 0;
        int keyChunksAfter = 0;
        int valueChunksAfter = 0;
        if (sparse) {
            // entries stay int-indexed like SparseEntries: a layer holds at most 2^31 − 1 of each
            keyEntriesAfter = keyEntries[layer] + keyOutliers(layer, keysPreRope, newSinks, n);
            long valueEntriesAfter = valueEntries(packedAfter);
            if (keyEntriesAfter > Integer.MAX_VALUE || valueEntriesAfter > Integer.MAX_VALUE) {
                throw new CacheBudgetExceededException("layer " + layer + " would hold " + keyEntriesAfter
                        + " key and " + valueEntriesAfter + " value outlier entries, more than the "
                        + Integer.MAX_VALUE + " a sparse entry store indexes");
            }
            keyChunksAfter = chunksFor(keyEntriesAfter);
            valueChunksAfter = chunksFor(valueEntriesAfter);
            bytes += keyChunks[layer].bytesToGrow(keyChunksAfter) + valueChunks[layer].bytesToGrow(valueChunksAfter);
        }
        if (bytes > 0) {
            budget.reserve(bytes, layer, n);
        }
        try (Nvtx.Range r = Nvtx.range("kvq append")) {
            long capacityBefore = allocatedBytes(layer);
            DeviceMemory newSinkBuffer = null;
            DeviceMemory newTables = null;
            try {
                p.grow(pagesFor(packedAfter));
                if (sparse) {
                    // new chunks are zeroed by the growth, as the value pack and an exact copy of the host need
                    keyChunks[layer].grow(keyChunksAfter);
                    valueChunks[layer].grow(valueChunksAfter);
                }
                if (needSinks) {
                    newSinkBuffer = DeviceMemory.allocate(sinkBytes);
                    newSinkBuffer.fill((byte) 0);
                }
                if (needTables) {
                    newTables = DeviceMemory.allocate(tableBytes);
                    try (Arena arena = Arena.ofConfined()) {
                        newTables.copyFromHost(arena.allocateFrom(FLOAT, kernels.tables(calibration.layer(layer))));
                    }
                }
            } catch (CudaException e) {
                // a grown pool stays (it is the layer's now, counted); the rest of the reservation returns
                long kept = allocatedBytes(layer) - capacityBefore;
                if (newSinkBuffer != null) {
                    newSinkBuffer.close();
                }
                if (newTables != null) {
                    newTables.close();
                }
                budget.unreserve(bytes - kept);
                throw new CacheBudgetExceededException("could not allocate " + bytes + " device bytes for " + n
                        + " tokens of layer " + layer + ": " + e.getMessage());
            }
            if (newSinkBuffer != null) {
                sinks[layer] = own(newSinkBuffer);
            }
            if (newTables != null) {
                tables[layer] = own(newTables);
            }
            try {
                storeOnDevice(layer, stored, keysPreRope, values, n, newSinks);
                // a prefill's staging (up to 256 MiB) is not kept for the decode appends that follow
                input.trimTo(STAGING_KEPT_BYTES);
                checkError("append to layer " + layer);
                if (sparse) {
                    int onDevice = deviceKeyEntries(layer);
                    if (onDevice != keyEntriesAfter) {
                        throw new IllegalStateException("layer " + layer + " holds " + onDevice
                                + " key outlier entries on the device after an append, but the host counted "
                                + keyEntriesAfter + " (sparse start pointers and chunks disagree)");
                    }
                }
            } catch (RuntimeException e) {
                // None of the batch becomes visible: the kernels read lengths from the device's counts,
                // so they go back to what the host holds (a retry re-packs the same slots exactly).
                restoreCounts(layer, stored, e);
                throw e;
            }
            // only now do the kernels see the new tokens
            try (Arena arena = Arena.ofConfined()) {
                writeMeta(layer, stored + n, arena);
            }
            if (sparse) {
                keyEntries[layer] = (int) keyEntriesAfter;
            }
        }
    }

    /** After a failed append: the error word cleared, the layer's device counts back to the host's. */
    private void restoreCounts(int layer, int stored, RuntimeException failure) {
        try (Arena arena = Arena.ofConfined()) {
            error.fill((byte) 0, 0, 4);
            writeMeta(layer, stored, arena);
            if (sparse) {
                keyEntryCounts.copyFromHost(arena.allocateFrom(INT, keyEntries[layer]), 0, 4L * layer, 4);
            }
        } catch (RuntimeException e) {
            failure.addSuppressed(e);   // a dead context: the cache is unusable either way, say both
        }
    }

    /** Device bytes of {@code layer}'s page pool and (sparse) entry chunk pools, with their tables. */
    private long allocatedBytes(int layer) {
        long b = pages[layer].allocatedBytes();
        if (sparse) {
            b += keyChunks[layer].allocatedBytes() + valueChunks[layer].allocatedBytes();
        }
        return b;
    }

    /** Bytes of the append staging buffer held now (for tests: a prefill's staging is let go). */
    long stagingBytes() {
        return input.byteSize();
    }

    /**
     * Device bytes drawn from the budget, over all layers: page and entry chunk pools with their
     * tables, sink buffers and quantizer tables (scratch buffers and per-cache constants are not
     * budgeted). Equals what the appends reserved.
     */
    long budgetedBytes() {
        long b = 0;
        for (int l = 0; l < pages.length; l++) {
            b += allocatedBytes(l) + (sinks[l] == null ? 0 : sinks[l].byteSize())
                    + (tables[l] == null ? 0 : tables[l].byteSize());
        }
        return b;
    }

    /** The device's running key entry count of {@code layer} (kvq_key_sparse_starts advances it). */
    private int deviceKeyEntries(int layer) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment c = arena.allocate(4);
            keyEntryCounts.copyToHost(c, 0, 4L * layer, 4);
            return c.get(INT, 0);
        }
    }

    /**
     * Copies the batch up in chunks and stores it on the device: its first {@code newSinks} tokens as
     * sinks ({@code kvq_sinks_append}: rotated, fp16), the rest packed ({@code kvq_pack_keys},
     * {@code kvq_pack_values}) or, for the fp16 baseline, rotated into fp16 pages
     * ({@code kvq_fp16_append}). Token t of the batch sits at position firstPosition + stored + t.
     */
    private void storeOnDevice(int layer, int stored, float[] keys, float[] values, int n, int newSinks) {
        int d = shape.kvChannels();
        int sinkCap = sinkCapacity();
        int chunk = (int) Math.max(1, Math.min(n, STAGING_FLOATS / d));
        LayerView v = view(layer);
        long floats = (long) chunk * d;
        // keys, values fp32 [chunk][D]; tokenSeq, tokenSlot, keyOutCount int32 [chunk]
        long bytes = floats * 2 * Float.BYTES + 3L * chunk * Integer.BYTES;
        long seqAt = floats * 2 * Float.BYTES;
        long slotAt = seqAt + (long) chunk * Integer.BYTES;
        long countAt = slotAt + (long) chunk * Integer.BYTES;
        DeviceMemory in = input.atLeast(bytes);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(bytes, 64);
            for (int from = 0; from < n; from += chunk) {
                int m = Math.min(chunk, n - from);
                long elements = (long) m * d;
                MemorySegment.copy(keys, from * d, host, FLOAT, 0, (int) elements);
                MemorySegment.copy(values, from * d, host, FLOAT, floats * Float.BYTES, (int) elements);
                for (int i = 0; i < m; i++) {
                    int t = from + i;
                    host.set(INT, seqAt + 4L * i, 0);
                    // a sink's slot is its sink index; a packed token's is its slot after the sinks
                    host.set(INT, slotAt + 4L * i, t < newSinks ? stored + t : stored + t - sinkCap);
                }
                in.copyFromHost(host, 0, 0, bytes);   // synchronous: the previous chunk's kernels are done
                long base = in.address();
                int sinksHere = Math.max(0, Math.min(m, newSinks - from));
                if (sinksHere > 0) {
                    kernels.append(stream, v, true, base, base + floats * Float.BYTES, base + seqAt, base + slotAt,
                            sinksHere, 0, invFreq.address(), error.address());
                }
                if (m > sinksHere) {
                    long skip = (long) sinksHere * d * Float.BYTES;
                    kernels.append(stream, v, false, base + skip, base + floats * Float.BYTES + skip,
                            base + seqAt + 4L * sinksHere, base + slotAt + 4L * sinksHere, m - sinksHere,
                            base + countAt, invFreq.address(), error.address());
                }
                stream.synchronize();
            }
        }
    }

    /** Reads the kernels' error word; throws (and clears it) when a kernel found a bad index. */
    private void checkError(String during) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment e = arena.allocate(4);
            error.copyToHost(e, 0, 0, 4);
            int code = e.get(INT, 0);
            if (code != 0) {
                error.fill((byte) 0, 0, 4);
                String what = switch (code) {
                    case KernelSignatures.ERR_PAGE -> "KVQ_ERR_PAGE (a page-table entry or slot out of range)";
                    case KernelSignatures.ERR_CHUNK -> "KVQ_ERR_CHUNK (a sparse entry out of range)";
                    case KernelSignatures.ERR_SEQ -> "KVQ_ERR_SEQ (a sequence index out of range)";
                    case KernelSignatures.ERR_CAP -> "KVQ_ERR_CAP (more outliers per side than the kernels hold)";
                    default -> "error code " + code;
                };
                throw new IllegalStateException("a CUDA kernel reported " + what + " during " + during);
            }
        }
    }

    /** Uploads the query and queues the scores of the {@code stored} tokens; returns the scores buffer. */
    private DeviceMemory queueScores(int layer, int stored, float[] q) {
        DeviceMemory qd = query.atLeast((long) q.length * Float.BYTES);
        try (Arena arena = Arena.ofConfined()) {
            qd.copyFromHost(arena.allocateFrom(FLOAT, q));
        }
        DeviceMemory sd = scores.atLeast((long) shape.queryHeads() * stored * Float.BYTES);
        try (Nvtx.Range r = Nvtx.range("kvq scores")) {
            kernels.scores(stream, view(layer), packed(stored), keyEntries[layer], qd.address(), ropeSteps.address(),
                    invFreq.address(), sd.address(), stored, error.address());
        }
        return sd;
    }

    private void queueValues(int layer, int stored, DeviceMemory weights, DeviceMemory out) {
        DeviceMemory pd = partials.atLeast(kernels.partialBytes(packed(stored)));
        try (Nvtx.Range r = Nvtx.range("kvq values")) {
            kernels.values(stream, view(layer), packed(stored), weights.address(), stored, pd.address(), out.address(),
                    error.address());
        }
    }

    @Override
    public void attend(int layer, int stored, float[] q, float[] out) {
        requireOpen();
        engine.bind();
        DeviceMemory sd = queueScores(layer, stored, q);
        try (Nvtx.Range r = Nvtx.range("kvq softmax")) {
            kernels.softmax(stream, view(layer), sd.address(), stored);
        }
        DeviceMemory od = output.atLeast((long) out.length * Float.BYTES);
        queueValues(layer, stored, sd, od);
        // checked in the host staging copy, so out stays untouched when the call throws, as on the CPU
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate((long) out.length * Float.BYTES, 64);
            od.copyToHost(host, 0, 0, host.byteSize());
            checkError("attention over layer " + layer);
            for (int i = 0; i < out.length; i++) {
                if (!Float.isFinite(host.getAtIndex(FLOAT, i))) {
                    // the CPU rejects a score of ±Inf; on the device it turns the softmax into NaN
                    throw new IllegalArgumentException("attention scores overflow fp32 on layer " + layer
                            + " (the query is too large for these keys)");
                }
            }
            MemorySegment.copy(host, FLOAT, 0, out, 0, out.length);
        }
    }

    @Override
    public void keyScores(int layer, int stored, float[] q, float[] result) {
        requireOpen();
        engine.bind();
        DeviceMemory sd = queueScores(layer, stored, q);
        readBack(sd, result, shape.queryHeads() * stored);
        checkError("key scores of layer " + layer);
    }

    @Override
    public void valueMatvec(int layer, int stored, float[] weights, float[] out) {
        requireOpen();
        engine.bind();
        int n = shape.queryHeads() * stored;
        DeviceMemory wd = scores.atLeast((long) n * Float.BYTES);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate((long) n * Float.BYTES, 64);
            MemorySegment.copy(weights, 0, host, FLOAT, 0, n);
            wd.copyFromHost(host, 0, 0, host.byteSize());
        }
        DeviceMemory od = output.atLeast((long) out.length * Float.BYTES);
        queueValues(layer, stored, wd, od);
        readBack(od, out, out.length);
        checkError("value matvec of layer " + layer);
    }

    /** Copies {@code n} floats back; the synchronous copy orders after the (blocking) stream's kernels. */
    private static void readBack(DeviceMemory from, float[] to, int n) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate((long) n * Float.BYTES, 64);
            from.copyToHost(host, 0, 0, host.byteSize());
            MemorySegment.copy(host, FLOAT, 0, to, 0, n);
        }
    }

    @Override
    public float[] decode(int layer, int stored, boolean keys) {
        requireOpen();
        engine.bind();
        try (Arena arena = Arena.ofConfined()) {
            return LayerDecoder.decode(hostCopy(layer, stored, arena, true), keys);
        }
    }

    /**
     * The layer as a host {@link LayerStore}: pages and sinks copied back when {@code withData}, else
     * only counted, so the decoder and the memory report are the host's own code. Unused pool pages
     * count as spares (allocated, holding nothing).
     */
    private LayerStore hostCopy(int layer, int stored, Arena arena, boolean withData) {
        LayerStore s = new LayerStore(shape, spec, layout, spec.quantized() ? calibration.layer(layer) : null,
                firstPosition);
        DevicePages p = pages[layer];
        for (int i = 0; i < p.size(); i++) {
            if (withData) {
                MemorySegment host = arena.allocate(layout.pageBytes(), PageLayout.ALIGN);
                p.pool().copyToHost(host, 0, p.pageOffset(i), layout.pageBytes());
                s.pages.add(host);
            } else {
                s.pages.add(MemorySegment.NULL);
            }
        }
        for (int i = p.size(); i < p.capacity(); i++) {
            s.spare.add(MemorySegment.NULL);
        }
        if (withData && sinks[layer] != null) {
            s.sinks = arena.allocate(sinkBytes, PageLayout.ALIGN);
            sinks[layer].copyToHost(s.sinks);
        }
        if (sparse) {
            s.keyEntries.restore(hostChunks(keyChunks[layer], keyEntries[layer], arena, withData), keyEntries[layer]);
            int values = (int) valueEntries(packed(stored));
            s.valueEntries.restore(hostChunks(valueChunks[layer], values, arena, withData), values);
        }
        s.tokens = stored;
        return s;
    }

    /**
     * The chunks of an entry pool for a host {@link SparseEntries}: those holding the first
     * {@code entries} entries copied back when {@code withData}, every other allocated chunk (and all of
     * them without data) as an empty placeholder, so the memory report counts what is allocated.
     */
    private static List<MemorySegment> hostChunks(DevicePages pool, int entries, Arena arena, boolean withData) {
        List<MemorySegment> chunks = new ArrayList<>();
        int used = chunksFor(entries);
        for (int i = 0; i < pool.capacity(); i++) {
            if (withData && i < used) {
                MemorySegment host = arena.allocate(SparseEntries.CHUNK_BYTES, PageLayout.ALIGN);
                pool.pool().copyToHost(host, 0, (long) i * SparseEntries.CHUNK_BYTES, SparseEntries.CHUNK_BYTES);
                chunks.add(host);
            } else {
                chunks.add(MemorySegment.NULL);
            }
        }
        return chunks;
    }

    @Override
    public int entries(int layer, int stored, boolean keys) {
        requireOpen();
        return !sparse ? 0 : keys ? keyEntries[layer] : (int) valueEntries(packed(stored));
    }

    @Override
    public MemorySegment entryChunk(int layer, boolean keys, int chunk) {
        requireOpen();
        engine.bind();
        DevicePages pool = sparse ? (keys ? keyChunks : valueChunks)[layer] : null;
        if (pool == null || chunk < 0 || chunk >= pool.size()) {
            throw new IllegalArgumentException("layer " + layer + " has " + (pool == null ? 0 : pool.size()) + " "
                    + (keys ? "key" : "value") + " entry chunks, no chunk " + chunk);
        }
        MemorySegment host = Arena.ofAuto().allocate(SparseEntries.CHUNK_BYTES, PageLayout.ALIGN);
        pool.pool().copyToHost(host, 0, pool.pageOffset(chunk), SparseEntries.CHUNK_BYTES);
        return host;
    }

    @Override
    public int pages(int layer) {
        requireOpen();
        return pages[layer].size();
    }

    @Override
    public MemorySegment pageBytes(int layer, int page) {
        requireOpen();
        engine.bind();
        MemorySegment host = Arena.ofAuto().allocate(layout.pageBytes(), PageLayout.ALIGN);
        DevicePages p = pages[layer];
        p.pool().copyToHost(host, 0, p.pageOffset(page), layout.pageBytes());
        return host;
    }

    @Override
    public MemoryReport memory(int[] stored) {
        requireOpen();
        MemoryReport total = MemoryReport.empty(shape.kvChannels());
        try (Arena arena = Arena.ofConfined()) {
            for (int l = 0; l < stored.length; l++) {
                MemoryReport m = hostCopy(l, stored[l], arena, false).memory();
                long sinkHere = sinks[l] == null ? 0 : sinks[l].byteSize();
                long side = m.sideData() + (long) pages[l].capacity() * Integer.BYTES
                        + (tables[l] == null ? 0 : tables[l].byteSize())
                        + (sparse ? (long) (keyChunks[l].capacity() + valueChunks[l].capacity()) * Integer.BYTES : 0);
                total = total.plus(new MemoryReport(m.codes(), m.scales(), m.outliers(), sinkHere, side,
                        m.pageSlack(), m.tokens(), shape.kvChannels()));
            }
        }
        return total;
    }

    // ------------------------------------------------------------------ benchmark support

    /**
     * Extends {@code layer} from {@code stored} tokens to {@code target} by copying its whole packed
     * pages over and over on the device (timing does not depend on the codes' values, and packing a
     * million real tokens per mode would dominate the benchmark). Needs at least one full page.
     * The cache's own token count is not changed: callers pass {@code target} as {@code stored}.
     */
    void repeatPagesTo(int layer, int stored, int target) {
        requireOpen();
        engine.bind();
        if (sparse) {
            // copied pages would point at entries that were never written (start pointers run on)
            throw new UnsupportedOperationException("repeating pages needs fixed-slot outliers or none, not "
                    + QuantSpec.OutlierForm.TOKEN_MAJOR_SPARSE);
        }
        int full = packed(stored) / layout.pageTokens();
        if (full < 1 || target < stored) {
            throw new IllegalArgumentException("need at least one full page and target >= stored, got " + stored
                    + " -> " + target);
        }
        DevicePages p = pages[layer];
        int need = pagesFor(packed(target));
        budget.reserve(p.bytesToGrow(need), layer, target - stored);
        p.grow(need);
        long pageBytes = layout.pageBytes();
        int have = full;
        while (have < need) {
            int copy = Math.min(have, need - have);
            p.pool().copyFrom(p.pool(), 0, (long) have * pageBytes, (long) copy * pageBytes);
            have += copy;
        }
        try (Arena arena = Arena.ofConfined()) {
            writeMeta(layer, target, arena);
        }
    }

    /** Bytes the key-score kernel reads for {@code stored} tokens (codes and key outlier slots, or fp16 keys). */
    long keyBytes(int stored) {
        long n = packed(stored);
        int pt = layout.pageTokens();
        long perPage = spec.quantized() ? layout.bytes("keyCodes")
                + (layout.keySlots() > 0 ? layout.bytes("keyOutChannel") + layout.bytes("keyOutValue") : 0)
                : layout.bytes("keys");
        return perPage * n / pt + (long) sinkCapacity() * shape.kvChannels() * 2;
    }

    /** Bytes the value kernels read for {@code stored} tokens (codes, z/s, value slots, or fp16 values; not the weights). */
    long valueBytes(int stored) {
        long n = packed(stored);
        int pt = layout.pageTokens();
        long perPage = spec.quantized() ? layout.bytes("valueCodes") + layout.bytes("valueZero") + layout.bytes("valueScale")
                + (layout.valueSlots() > 0 ? layout.bytes("valueOutChannel") + layout.bytes("valueOutValue") : 0)
                : layout.bytes("values");
        return perPage * n / pt + (long) sinkCapacity() * shape.kvChannels() * 2;
    }

    /** Per-launch GPU times (ms, medians over {@code repeat} after {@code warmup}) of one layer's decode step. */
    record StepTimes(double scoresMs, double softmaxMs, double valuesMs, double stepMs) {}

    /**
     * Times the kernels of one decode step of {@code layer} over {@code stored} tokens with CUDA events on
     * the cache's stream: scores, softmax and values each on their own, then the three back to back.
     */
    StepTimes timeStep(int layer, int stored, float[] q, int warmup, int repeat) {
        requireOpen();
        engine.bind();
        queueScores(layer, stored, q);   // uploads the query and sizes the buffers
        DeviceMemory sd = scores.atLeast((long) shape.queryHeads() * stored * Float.BYTES);
        DeviceMemory od = output.atLeast((long) q.length * Float.BYTES);
        DeviceMemory qd = query.atLeast((long) q.length * Float.BYTES);
        DeviceMemory pd = partials.atLeast(kernels.partialBytes(packed(stored)));
        LayerView v = view(layer);
        int packed = packed(stored);
        long entries = keyEntries[layer];
        Runnable scoresOnly = () -> kernels.scores(stream, v, packed, entries, qd.address(), ropeSteps.address(),
                invFreq.address(), sd.address(), stored, error.address());
        Runnable softmaxOnly = () -> kernels.softmax(stream, v, sd.address(), stored);
        Runnable valuesOnly = () -> kernels.values(stream, v, packed, sd.address(), stored, pd.address(), od.address(),
                error.address());
        // the weights the value kernels read are a real softmax output
        scoresOnly.run();
        softmaxOnly.run();
        double s = timeMs(scoresOnly, warmup, repeat);
        double values = timeMs(valuesOnly, warmup, repeat);
        // softmax of its own output costs the same (max, exp, sum over the same length)
        double soft = timeMs(softmaxOnly, warmup, repeat);
        double step = timeMs(() -> {
            scoresOnly.run();
            softmaxOnly.run();
            valuesOnly.run();
        }, warmup, repeat);
        checkError("timing layer " + layer);
        return new StepTimes(s, soft, values, step);
    }

    /**
     * One decode step over every layer, all queued on the stream back to back (each layer's scores →
     * softmax → values; no host round trip), timed with events: ms per whole step, median.
     */
    double timeAllLayers(int stored, float[] q, int warmup, int repeat) {
        requireOpen();
        engine.bind();
        int layers = pages.length;
        queueScores(0, stored, q);
        DeviceMemory sd = scores.atLeast((long) shape.queryHeads() * stored * Float.BYTES);
        DeviceMemory od = output.atLeast((long) q.length * Float.BYTES);
        DeviceMemory qd = query.atLeast((long) q.length * Float.BYTES);
        DeviceMemory pd = partials.atLeast(kernels.partialBytes(packed(stored)));
        LayerView[] views = new LayerView[layers];
        for (int l = 0; l < layers; l++) {
            views[l] = view(l);
        }
        int packed = packed(stored);
        double ms = timeMs(() -> {
            for (int l = 0; l < layers; l++) {
                kernels.scores(stream, views[l], packed, keyEntries[l], qd.address(), ropeSteps.address(),
                        invFreq.address(), sd.address(), stored, error.address());
                kernels.softmax(stream, views[l], sd.address(), stored);
                kernels.values(stream, views[l], packed, sd.address(), stored, pd.address(), od.address(),
                        error.address());
            }
        }, warmup, repeat);
        checkError("timing all layers");
        return ms;
    }

    /** Median ms of {@code body} between events on the stream. */
    private double timeMs(Runnable body, int warmup, int repeat) {
        for (int i = 0; i < warmup; i++) {
            body.run();
        }
        double[] ms = new double[repeat];
        try (Event start = Event.create(); Event stop = Event.create()) {
            for (int i = 0; i < repeat; i++) {
                start.record(stream);
                body.run();
                stop.record(stream);
                stop.synchronize();
                ms[i] = stop.elapsedMillisSince(start);
            }
        }
        return median(ms);
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("the KV cache is closed");
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        freeAll();
    }

    /** Synchronizes the stream, then frees every allocation once, newest first; reports the first failure. */
    private void freeAll() {
        RuntimeException first = null;
        try {
            engine.bind();
            if (stream != null) {
                stream.synchronize();   // nothing may still run on memory that is about to be freed
            }
        } catch (RuntimeException e) {
            first = e;
        }
        for (int i = owned.size() - 1; i >= 0; i--) {
            try {
                owned.get(i).close();
            } catch (Exception e) {
                if (first == null) {
                    first = e instanceof RuntimeException re ? re : new IllegalStateException(e);
                }
            }
        }
        owned.clear();
        if (first != null) {
            throw first;
        }
    }
}
