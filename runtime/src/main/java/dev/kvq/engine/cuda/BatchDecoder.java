package dev.kvq.engine.cuda;

import dev.kvq.driver.DeviceMemory;
import dev.kvq.driver.Dim3;
import dev.kvq.driver.PinnedHostMemory;
import dev.kvq.driver.Stream;
import dev.kvq.engine.Budget;
import dev.kvq.engine.CacheSetup;
import dev.kvq.kernels.KernelSignatures;
import dev.kvq.layout.Occupancy;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * One decode step of one layer for many sequences of a pool in one launch (issue 15's batched decode): the fused
 * decode over the grid (splits, Hkv, B) and one merge over (Hq, B), through the batch's page table rows into the
 * layer's {@link SharedPagePool}. Per call the queries, the page table rows and the per-sequence counts, positions
 * and side buffer addresses go up in one asynchronous copy from one pinned buffer, the error word and the outputs
 * come back in another, and the stream is synchronized once, whatever the batch size. The argument blocks are
 * prepared once per layer and rebuilt only when the buffers grow (a larger batch or longer page tables).
 *
 * <p>The buffer, the same on the host (pinned) and on the device:
 * <pre>
 *   [error int32, padded to 16 B][out fp32 [B][Hq·d]]                          ← one copy down
 *   [query fp32 [B][Hq·d]][pageTable int32 [B][maxPages]][seqPacked int32 [B]][seqSinks int32 [B]]
 *   [seqFirstPos int64 [B]][seqSide int64 [B]]                                   ← one copy up
 * </pre>
 * and on the device only: partial stats fp32 [B][Hq][maxSplits][2], partial outputs fp32 [B][Hq][maxSplits][d].
 * The device buffer is charged to the pool's budget before it is allocated (and returned when it is replaced or
 * freed), so a batch larger than the budget allows is refused as over budget. Not thread-safe: the engine calls
 * it under its own lock. One owner; {@link #close()} frees everything once.
 */
final class BatchDecoder implements AutoCloseable {
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT;
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG;
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;
    private static final long HEAD = 16;

    private final CudaRuntime runtime;
    private final CacheSetup setup;
    private final Budget budget;        // the pool's (null: not charged)
    private long charged;               // bytes of `device` reserved from it
    private final int vector;           // Hq·d
    private final int maxSplits;
    private final int multiprocessors;
    private final Stream stream;
    private final DeviceMemory invFreq;
    private int batchCap;
    private int pagesCap;
    private DeviceMemory device;        // the buffer above, then stats and partials
    private PinnedHostMemory host;      // the buffer above (up to the seqSide array)
    private Arena launchArena;          // the prepared argument blocks of the current buffers
    private PreparedLaunch[] decodes;   // per layer
    private PreparedLaunch merge;
    private KvKernels[] kernels;        // per layer (each layer's own layout: width plans differ), current buffers
    private boolean closed;

    BatchDecoder(CudaRuntime runtime, CacheSetup setup, Budget budget) {
        this.runtime = runtime;
        this.setup = setup;
        this.budget = budget;
        this.vector = setup.shape().queryHeads() * setup.shape().headDim();
        this.multiprocessors = Math.max(1, runtime.device().multiprocessorCount());
        this.maxSplits = KernelSignatures.decodeSplits(multiprocessors, 1, setup.shape().kvHeads(), Integer.MAX_VALUE);
        Stream s = Stream.create(false);   // blocking: ordered after the legacy stream's page copies
        DeviceMemory f = null;
        try {
            f = DeviceMemory.allocate((long) setup.shape().headDim() / 2 * Float.BYTES);
            try (Arena arena = Arena.ofConfined()) {
                f.copyFromHost(arena.allocateFrom(FLOAT, setup.shape().rope().invFreq()));
            }
        } catch (RuntimeException e) {
            if (f != null) {
                f.close();
            }
            s.close();
            throw e;
        }
        this.stream = s;
        this.invFreq = f;
    }

    // byte offsets of the buffer's parts for the current capacities
    private long outAt() { return HEAD; }
    private long queryAt() { return outAt() + (long) batchCap * vector * Float.BYTES; }
    private long tableAt() { return queryAt() + (long) batchCap * vector * Float.BYTES; }
    private long packedAt() { return tableAt() + (long) batchCap * pagesCap * Integer.BYTES; }
    private long sinksAt() { return packedAt() + (long) batchCap * Integer.BYTES; }
    private long firstPosAt() { return (sinksAt() + (long) batchCap * Integer.BYTES + 7) & ~7L; }
    private long sideAt() { return firstPosAt() + (long) batchCap * Long.BYTES; }
    private long hostBytes() { return sideAt() + (long) batchCap * Long.BYTES; }
    private long statsAt() { return (hostBytes() + 15) & ~15L; }
    private long partialsAt() { return statsAt() + (long) batchCap * setup.shape().queryHeads() * maxSplits * 2 * Float.BYTES; }
    private long deviceBytes() { return partialsAt() + (long) batchCap * vector * maxSplits * Float.BYTES; }

    /** Makes room for {@code batch} sequences of up to {@code pages} pages each (buffers and argument blocks anew). */
    private void ensure(int batch, int pages) {
        if (batch <= batchCap && pages <= pagesCap && device != null) {
            return;
        }
        stream.synchronize();
        int b = Math.max(batch, batchCap + batchCap / 2);
        int p = Math.max(pages, pagesCap + pagesCap / 2);
        int oldBatch = batchCap;
        int oldPages = pagesCap;
        batchCap = b;
        pagesCap = Math.max(1, p);
        long bytes = deviceBytes();
        if (budget != null) {
            try {
                budget.reserveScratch(bytes, "device buffers of a batched decode of " + batch + " sequences");
            } catch (RuntimeException e) {
                batchCap = oldBatch;   // the old buffers stay as they were
                pagesCap = oldPages;
                throw e;
            }
        }
        freeBuffers();
        try {
            device = DeviceMemory.allocate(bytes);
        } catch (RuntimeException e) {
            if (budget != null) {
                budget.unreserve(bytes);
            }
            batchCap = 0;   // nothing held: the next step allocates anew
            pagesCap = 0;
            throw e;
        }
        charged = budget == null ? 0 : bytes;
        host = PinnedHostMemory.allocate(hostBytes());
        launchArena = Arena.ofShared();
        device.fill((byte) 0);
        kernels = new KvKernels[setup.shape().layers()];
        decodes = new PreparedLaunch[setup.shape().layers()];
        long base = device.address();
        merge = new PreparedLaunch(runtime.kernel("kvq_decode_merge"),
                kernels(0).mergeArgs(base + partialsAt(), base + statsAt(), 1, base + outAt()),
                Dim3.of(KernelSignatures.MERGE_THREADS), 0, launchArena);
    }

    /** The kernels of {@code layer}'s layout, with this decoder's constants (its error word, its RoPE frequencies). */
    private KvKernels kernels(int layer) {
        if (kernels[layer] == null) {
            kernels[layer] = new KvKernels(runtime, setup.shape(), setup.spec(), setup.layout(layer),
                    new KvKernels.Constants(invFreq.address(), 0, device.address()));
        }
        return kernels[layer];
    }

    private PreparedLaunch decode(int layer, SharedPagePool pool, long tables) {
        if (decodes[layer] == null) {
            long base = device.address();
            LayerView v = new LayerView(pool.memory().address(), pool.capacity(), base + tableAt(), pagesCap,
                    base + packedAt(), base + sinksAt(), base + firstPosAt(), base + sideAt(), 0, tables, null);
            KvKernels k = kernels(layer);
            decodes[layer] = new PreparedLaunch(runtime.kernel(k.decodeEntry()),
                    k.decodeArgs(v, base + queryAt(), base + partialsAt(), base + statsAt(), 0, 0),
                    Dim3.of(KernelSignatures.DECODE_THREADS), k.decodeSharedBytes(), launchArena);
        }
        return decodes[layer];
    }

    /**
     * Attends {@code layer} of every sequence: {@code out[i]} receives sequence i's output for {@code queries[i]},
     * only when the whole batch succeeds.
     *
     * @param layer    layer index
     * @param pool     the layer's shared pages, which hold every sequence's pages
     * @param seqs     the sequences (fused form, pages in {@code pool}), each with {@code stored[i] ≥ 1} tokens
     * @param stored   tokens of the layer per sequence
     * @param queries  {@code [Hq·d]} per sequence
     * @param outs     receive {@code [Hq·d]} per sequence
     * @throws IllegalArgumentException when a score overflows fp32
     * @throws IllegalStateException    when a kernel reports a bad index
     */
    void attend(int layer, SharedPagePool pool, CudaSequence[] seqs, int[] stored, float[][] queries, float[][] outs) {
        if (closed) {
            throw new IllegalStateException("the batch decoder is closed");
        }
        int batch = seqs.length;
        Occupancy occupancy = setup.occupancy(layer);
        int pages = 1;
        int longest = 0;
        for (int i = 0; i < batch; i++) {
            pages = Math.max(pages, seqs[i].pages(layer).size());
            int tokens = setup.spec().quantized() ? occupancy.packedTokens(stored[i]) : stored[i];
            longest = Math.max(longest, tokens);
        }
        ensure(batch, pages);
        MemorySegment h = host.segment();
        for (int i = 0; i < batch; i++) {
            CudaSequence s = seqs[i];
            MemorySegment.copy(queries[i], 0, h, FLOAT, queryAt() + (long) i * vector * Float.BYTES, vector);
            DevicePages p = s.pages(layer);
            long row = tableAt() + (long) i * pagesCap * Integer.BYTES;
            for (int k = 0; k < p.size(); k++) {
                h.set(INT, row + 4L * k, p.poolPage(k));
            }
            h.set(INT, packedAt() + 4L * i, occupancy.packedTokens(stored[i]));
            h.set(INT, sinksAt() + 4L * i, occupancy.sinkTokens(stored[i]));
            h.set(LONG, firstPosAt() + 8L * i, s.firstPosition());
            h.set(LONG, sideAt() + 8L * i, s.sideAddress(layer));
        }
        int splits = Math.min(maxSplits, KernelSignatures.decodeSplits(multiprocessors, batch, setup.shape().kvHeads(),
                longest));
        PreparedLaunch decode = decode(layer, pool, seqs[0].tablesAddress(layer));
        long up = queryAt();
        long down = outAt() + (long) batch * vector * Float.BYTES;
        runtime.bind();
        device.copyFromHostAsync(h, up, up, hostBytes() - up, stream);
        decode.launch(kernels(layer).decodeGrid(splits, batch), stream);
        merge.setInt(KvKernels.MERGE_SPLITS_ARG, splits);
        merge.launch(kernels(layer).mergeGrid(batch), stream);
        device.copyToHostAsync(h, 0, 0, down, stream);
        stream.synchronize();
        int code = h.get(INT, 0);
        if (code != 0) {
            device.fill((byte) 0, 0, 4);
            throw CudaSequence.kernelError(code, "a batched decode of layer " + layer + " over " + batch + " sequences");
        }
        for (int i = 0; i < batch; i++) {
            long at = outAt() + (long) i * vector * Float.BYTES;
            for (int j = 0; j < vector; j++) {
                if (!Float.isFinite(h.get(FLOAT, at + 4L * j))) {
                    throw new IllegalArgumentException("attention scores overflow fp32 on layer " + layer
                            + " for sequence " + i + " of the batch (its query is too large for its keys)");
                }
            }
        }
        for (int i = 0; i < batch; i++) {
            MemorySegment.copy(h, FLOAT, outAt() + (long) i * vector * Float.BYTES, outs[i], 0, vector);
        }
    }

    private void freeBuffers() {
        if (charged > 0) {
            budget.unreserve(charged);
            charged = 0;
        }
        if (launchArena != null) {
            launchArena.close();
            launchArena = null;
        }
        if (host != null) {
            host.close();
            host = null;
        }
        if (device != null) {
            device.close();
            device = null;
        }
    }

    /** Frees the buffers, constants and stream once (after waiting for the stream). */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        runtime.bind();
        try {
            stream.synchronize();
        } finally {
            freeBuffers();
            invFreq.close();
            stream.close();
        }
    }
}
