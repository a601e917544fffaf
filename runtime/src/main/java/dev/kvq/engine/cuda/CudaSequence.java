package dev.kvq.engine.cuda;

import dev.kvq.driver.DeviceMemory;
import dev.kvq.driver.Dim3;
import dev.kvq.driver.Nvtx;
import dev.kvq.driver.PinnedHostMemory;
import dev.kvq.driver.Stream;
import dev.kvq.engine.Budget;
import dev.kvq.engine.CacheSetup;
import dev.kvq.engine.LayerImage;
import dev.kvq.engine.ReferenceDecoder;
import dev.kvq.engine.Sequence;
import dev.kvq.engine.Tensor;
import dev.kvq.kernels.KernelSignatures;
import dev.kvq.layout.EntryChunks;
import dev.kvq.layout.MemoryReport;
import dev.kvq.layout.Occupancy;
import dev.kvq.layout.PageLayout;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.List;

/**
 * One sequence on the device: a {@link DeviceLayer} per layer, the sequence's counts and constants,
 * and the scratch of its appends and decode steps, all on one stream. One owner for every
 * allocation: this object, which frees all of them once in {@link #close()}.
 *
 * <p>Page format v2 (every cache but the TOKEN_MAJOR_SPARSE form): appends pack on the device
 * ({@code kvq_pack_keys_v2}, {@code kvq_pack_values_v2}, {@code kvq_side_append} for the sinks and the
 * recent-window ring, {@code kvq_fp16_append} for fp16 pages), bit for bit as the CPU engine writes. A
 * decode step is one fused FlashDecoding launch ({@link KvKernels#decodeEntry()}: a specialized instance
 * where the shape has one) over a split count sized from the device's multiprocessors, then
 * {@code kvq_decode_merge}; the query goes up and the output and the error word come back through one
 * pinned buffer, with prebuilt argument blocks ({@link PreparedLaunch}) and one stream synchronization.
 * Nothing is allocated per step. {@link #attendQueued} does the same with the query and the output in device
 * memory and no synchronization; {@link #finishQueued} then waits once for a whole step of layers.
 *
 * <p>The sparse form still runs the format v1 kernels (scores → softmax → values, pages converted to v2 on
 * host copies): the device keeps the running key entry count that {@code kvq_key_sparse_starts}
 * advances; after each append it must equal the host's count ({@link AppendPlan}).
 */
@SuppressWarnings("try") // NVTX ranges are try-with-resources whose variable is not used
public final class CudaSequence implements Sequence {
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT;
    /** Tokens per pack launch: keeps the fp32 staging below 2 × 128 MiB whatever the prefill length. */
    private static final long STAGING_FLOATS = 1L << 25;
    private static final long STAGING_KEPT_BYTES = 1L << 20;   // enough for dozens of decode tokens

    private final CudaRuntime runtime;
    private final CacheSetup setup;
    private final Occupancy occupancy;
    private final long firstPosition;
    private final Budget budget;
    private final KvKernels kernels;           // layer 0's: the launches every layer shares (merge, grids)
    private final KvKernels[] layerKernels;    // per layer: a bit allocation gives layers their own page layouts
    private final Stream stream;
    private final DeviceLayer[] layers;
    private final List<AutoCloseable> owned = new ArrayList<>();  // every allocation, in order, freed once
    /** Bytes before the output in the step buffers: the kernels' error word, padded to 16 bytes. */
    private static final long STEP_HEAD = 16;

    private final boolean fused;               // page format v2 kernels (all but the sparse form)
    private final int maxSplits;               // splits of a fused decode launch at most (sized to the device)
    private final int multiprocessors;
    /** Bytes of one layer's metadata: int32 packed, int32 sinks, int64 first position, int64 side buffer address, pad. */
    private static final long META_BYTES = 32;
    private final DeviceMemory meta;           // [layers][META_BYTES]
    // [error int32, padded to 16 B][output fp32 Hq·d][partialStats fp32 [Hq][splits][2], room for maxSplits]
    // [query fp32 Hq·d]: what a step reads back (error, output) is one copy, the query another
    private final DeviceMemory step;
    private final PinnedHostMemory stepHost;   // the same layout on the host (fused path; null otherwise)
    private final DeviceMemory splitPartials;  // fp32 partialOut [Hq][splits][d], room for maxSplits
    private final Arena launchArena;           // the prepared argument blocks
    private final PreparedLaunch[] decodeSteps; // per layer, for preparedViews[layer]
    private final LayerView[] preparedViews;
    private final PreparedLaunch merge;
    private final PreparedLaunch mergeAllSplits; // the device steps' merge: maxSplits, never rewritten (graph-safe)
    private final DeviceMemory keyEntryCounts; // int32 [layers]: the device's running key entry counts
    private final DeviceScratch input;         // append: keys, values fp32 [n][D], tokenSeq, tokenSlot int32 [n]
    private final DeviceScratch query;         // fp32 [Hq·d]
    private final DeviceScratch scores;        // fp32 [Hq][stored]
    private final DeviceScratch partials;      // fp32 [Hq][tiles][d]
    private final DeviceScratch output;        // fp32 [Hq·d]
    private boolean closed;

    /** A sequence whose layer {@code l} takes its pages from {@code shared[l]}, or from private pools when it is null. */
    CudaSequence(CudaRuntime runtime, CacheSetup setup, long firstPosition, Budget budget, SharedPagePool[] shared) {
        this.runtime = runtime;
        this.setup = setup;
        this.occupancy = setup.occupancy(0);   // token counts; layers differ only in their page layouts
        this.firstPosition = firstPosition;
        this.budget = budget;
        int count = setup.shape().layers();
        int headDim = setup.shape().headDim();
        int hq = setup.shape().queryHeads();
        long vectorBytes = (long) hq * headDim * Float.BYTES;
        this.layers = new DeviceLayer[count];
        this.fused = !setup.layout(0).sparseOutliers();
        this.multiprocessors = Math.max(1, runtime.device().multiprocessorCount());
        this.maxSplits = KernelSignatures.decodeSplits(multiprocessors, 1, setup.shape().kvHeads(), Integer.MAX_VALUE);
        this.decodeSteps = new PreparedLaunch[count];
        this.layerKernels = new KvKernels[count];
        this.preparedViews = new LayerView[count];
        // allocate in order, remembering each: a failure part-way frees what was made (no leak)
        boolean ok = false;
        Stream s = null;
        try {
            s = own(Stream.create(false));   // blocking: the synchronous copies order after its kernels
            this.stream = s;
            this.meta = own(DeviceMemory.allocate(META_BYTES * count));
            long stepBytes = STEP_HEAD + 2 * vectorBytes + statsBytes();
            this.step = own(DeviceMemory.allocate(stepBytes));
            this.stepHost = fused ? own(PinnedHostMemory.allocate(stepBytes)) : null;
            long partialFloats = (long) hq * maxSplits * headDim;
            this.splitPartials = fused ? own(DeviceMemory.allocate(partialFloats * Float.BYTES)) : null;
            this.launchArena = own(Arena.ofShared());
            this.keyEntryCounts = own(DeviceMemory.allocate(4L * count));
            DeviceMemory invFreq = own(DeviceMemory.allocate((long) headDim / 2 * Float.BYTES));
            DeviceMemory ropeSteps = own(DeviceMemory.allocate(KvKernels.ropeStepBytes(headDim)));
            KvKernels.Constants constants = new KvKernels.Constants(invFreq.address(), ropeSteps.address(),
                    step.address());
            for (int l = 0; l < count; l++) {
                layerKernels[l] = l > 0 && setup.layout(l) == setup.layout(l - 1) ? layerKernels[l - 1]
                        : new KvKernels(runtime, setup.shape(), setup.spec(), setup.layout(l), constants);
            }
            this.kernels = layerKernels[0];
            this.input = own(new DeviceScratch("append input", s));
            this.query = own(new DeviceScratch("query", s));
            this.scores = own(new DeviceScratch("scores", s));
            this.partials = own(new DeviceScratch("value partials", s));
            this.output = own(new DeviceScratch("output", s));
            for (int l = 0; l < count; l++) {
                layers[l] = own(new DeviceLayer(setup.layout(l), s, shared == null ? null : shared[l]));
            }
            meta.fill((byte) 0);
            keyEntryCounts.fill((byte) 0);
            step.fill((byte) 0);
            try (Arena arena = Arena.ofConfined()) {
                invFreq.copyFromHost(arena.allocateFrom(FLOAT, setup.shape().rope().invFreq()));
                for (int l = 0; l < count; l++) {
                    writeMeta(l, 0, arena);
                }
            }
            if (setup.spec().quantized() && !fused) {
                kernels.ropeSteps(s);   // the v1 key scores' step table
                s.synchronize();
            }
            this.merge = fused ? new PreparedLaunch(runtime.kernel("kvq_decode_merge"),
                    kernels.mergeArgs(partialOut(), partialStats(), 1, outputAddress()),
                    Dim3.of(KernelSignatures.MERGE_THREADS), 0, launchArena) : null;
            this.mergeAllSplits = fused ? new PreparedLaunch(runtime.kernel("kvq_decode_merge"),
                    kernels.mergeArgs(partialOut(), partialStats(), maxSplits, outputAddress()),
                    Dim3.of(KernelSignatures.MERGE_THREADS), 0, launchArena) : null;
            // the sequence's own device memory, charged before it holds a token (the pinned buffer is host memory)
            budget.reserveScratch(scratchBytes(), "device scratch (step buffer, split partials, counts, RoPE tables)");
            ok = true;
        } finally {
            if (!ok) {
                freeAll();
            }
        }
    }

    /** Device bytes this sequence allocated for itself at open: metadata, step buffer, split partials, constants. */
    private long scratchBytes() {
        long b = 0;
        for (AutoCloseable r : owned) {
            if (r instanceof DeviceMemory m) {
                b += m.byteSize();
            }
        }
        return b;
    }

    private long outputAddress() {
        return step.address() + STEP_HEAD;
    }

    private long vectorBytes() {
        return (long) setup.shape().queryHeads() * setup.shape().headDim() * Float.BYTES;
    }

    /** Bytes of the split statistics at the most splits: (max, Σp) per query head and split. */
    private long statsBytes() {
        return (long) setup.shape().queryHeads() * maxSplits * 2 * Float.BYTES;
    }

    private long partialStats() {
        return outputAddress() + vectorBytes();
    }

    private long queryAddress() {
        return partialStats() + statsBytes();
    }

    private long partialOut() {
        return splitPartials.address();
    }

    /** The kernels of {@code layer}'s page layout. */
    private KvKernels kernels(int layer) {
        return layerKernels[layer];
    }

    private <T extends AutoCloseable> T own(T resource) {
        owned.add(resource);
        return resource;
    }

    /** The kernels' view of {@code layer}. */
    private LayerView view(int layer) {
        return layers[layer].view(meta.address() + META_BYTES * layer, keyEntryCounts.address() + 4L * layer);
    }

    /** Uploads the packed and sink counts, the first position and the side buffer's address of {@code layer}. */
    private void writeMeta(int layer, int stored, Arena arena) {
        MemorySegment m = arena.allocate(META_BYTES, 16);
        m.set(INT, 0, occupancy.packedTokens(stored));
        m.set(INT, 4, occupancy.sinkTokens(stored));
        m.set(ValueLayout.JAVA_LONG, 8, firstPosition);
        m.set(ValueLayout.JAVA_LONG, 16, layers[layer] == null ? 0 : layers[layer].sideAddress());
        meta.copyFromHost(m, 0, META_BYTES * layer, META_BYTES);
    }

    // ------------------------------------------------------------------ appending

    @Override
    public void append(int layer, int stored, float[] keysPreRope, float[] values, int n) {
        requireOpen();
        runtime.bind();
        DeviceLayer l = layers[layer];
        AppendPlan plan = AppendPlan.of(setup, l, layer, stored, keysPreRope, n,
                (long) kernels(layer).tableFloats() * Float.BYTES, budget);
        if (plan.bytes() > 0) {
            budget.reserve(plan.bytes(), layer, n);
        }
        try (Nvtx.Range r = Nvtx.range("kvq append")) {
            plan.allocate(l, layer, n, budget, () -> kernels(layer).tables(setup.layer(layer)));
            try {
                storeOnDevice(layer, stored, keysPreRope, values, n, plan.tokens().newSinks());
                // a prefill's staging (up to 256 MiB) is not kept for the decode appends that follow
                input.trimTo(STAGING_KEPT_BYTES);
                checkError("append to layer " + layer);
                if (l.sparse()) {
                    int onDevice = deviceKeyEntries(layer);
                    if (onDevice != plan.keyEntriesAfter()) {
                        throw new IllegalStateException("layer " + layer + " holds " + onDevice
                                + " key outlier entries on the device after an append, but the host counted "
                                + plan.keyEntriesAfter() + " (sparse start pointers and chunks disagree)");
                    }
                }
            } catch (RuntimeException e) {
                // None of the batch becomes visible: the kernels read lengths from the device's counts,
                // so they go back to what the host holds (a retry re-packs the same slots exactly).
                restoreCounts(layer, stored, e);
                throw e;
            }
            // only now do the kernels see the new tokens
            publish(layer, stored + n);
            if (l.sparse()) {
                l.keyEntries((int) plan.keyEntriesAfter());
            }
        }
    }

    /**
     * Makes the first {@code stored} tokens of {@code layer} visible to the kernels.
     *
     * @param layer  layer index
     * @param stored tokens the layer's pages hold
     */
    public void publish(int layer, int stored) {
        try (Arena arena = Arena.ofConfined()) {
            writeMeta(layer, stored, arena);
        }
    }

    /** After a failed append: the error word cleared, the layer's device counts back to the host's. */
    private void restoreCounts(int layer, int stored, RuntimeException failure) {
        try (Arena arena = Arena.ofConfined()) {
            step.fill((byte) 0, 0, 4);
            writeMeta(layer, stored, arena);
            if (layers[layer].sparse()) {
                keyEntryCounts.copyFromHost(arena.allocateFrom(INT, layers[layer].keyEntries()), 0, 4L * layer, 4);
            }
        } catch (RuntimeException e) {
            failure.addSuppressed(e);   // a dead context: the sequence is unusable either way, say both
        }
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
     * sinks, the rest into page slots (packed, or rotated into fp16 pages), and with a recent-token window
     * (format v2) the batch's last N non-sink tokens into the window ring as well. Token t of the batch sits
     * at position firstPosition + stored + t.
     */
    private void storeOnDevice(int layer, int stored, float[] keys, float[] values, int n, int newSinks) {
        int d = setup.shape().kvChannels();
        int sinkCap = occupancy.sinks().capacity();
        int window = occupancy.sinks().windowCapacity();
        // the batch's tokens that end in the window ring: its last N non-sink ones (earlier ones would be overwritten)
        int windowFrom = window > 0 ? Math.max(newSinks, n - window) : n;
        int chunk = (int) Math.max(1, Math.min(n, STAGING_FLOATS / d));
        LayerView v = view(layer);
        KvKernels kernels = kernels(layer);
        long floats = (long) chunk * d;
        // keys, values fp32 [chunk][D]; tokenSeq, tokenSlot, keyOutCount, tokenIndex int32 [chunk]
        long bytes = floats * 2 * Float.BYTES + 4L * chunk * Integer.BYTES;
        long seqAt = floats * 2 * Float.BYTES;
        long slotAt = seqAt + (long) chunk * Integer.BYTES;
        long countAt = slotAt + (long) chunk * Integer.BYTES;
        long indexAt = countAt + (long) chunk * Integer.BYTES;
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
                    host.set(INT, indexAt + 4L * i, stored + t);   // its index in the sequence (side buffer)
                }
                in.copyFromHost(host, 0, 0, bytes);   // synchronous: the previous chunk's kernels are done
                long base = in.address();
                long keysAt = base;
                long valuesAt = base + floats * Float.BYTES;
                int sinksHere = Math.max(0, Math.min(m, newSinks - from));
                if (sinksHere > 0) {
                    if (fused) {
                        kernels.appendSide(stream, v, keysAt, valuesAt, base + seqAt, base + indexAt, sinksHere);
                    } else {
                        kernels.appendSinks(stream, v, keysAt, valuesAt, base + seqAt, base + slotAt, sinksHere);
                    }
                }
                if (m > sinksHere) {
                    long skip = (long) sinksHere * d * Float.BYTES;
                    long tokens = 4L * sinksHere;
                    if (fused) {
                        kernels.appendPagesV2(stream, v, keysAt + skip, valuesAt + skip, base + seqAt + tokens,
                                base + slotAt + tokens, m - sinksHere);
                    } else {
                        kernels.appendPages(stream, v, keysAt + skip, valuesAt + skip, base + seqAt + tokens,
                                base + slotAt + tokens, m - sinksHere, base + countAt);
                    }
                }
                int ringFrom = Math.max(from, windowFrom) - from;
                if (fused && ringFrom < m) {
                    long skip = (long) ringFrom * d * Float.BYTES;
                    long tokens = 4L * ringFrom;
                    kernels.appendSide(stream, v, keysAt + skip, valuesAt + skip, base + seqAt + tokens,
                            base + indexAt + tokens, m - ringFrom);
                }
                stream.synchronize();
            }
        }
    }

    /** Reads the kernels' error word; throws (and clears it) when a kernel found a bad index. */
    private void checkError(String during) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment e = arena.allocate(4);
            step.copyToHost(e, 0, 0, 4);
            throwIfError(e.get(INT, 0), during);
        }
    }

    /** Throws (and clears the device's error word) when {@code code}, read from it, names a kernel's error. */
    private void throwIfError(int code, String during) {
        if (code == 0) {
            return;
        }
        step.fill((byte) 0, 0, 4);
        throw kernelError(code, during);
    }

    /**
     * The exception for a nonzero error word {@code code} read after {@code during}: an overflowed score is the
     * caller's query ({@link IllegalArgumentException}, as on the CPU), any other code a bad index.
     */
    static RuntimeException kernelError(int code, String during) {
        if (code == KernelSignatures.ERR_OVERFLOW) {
            return new IllegalArgumentException("attention scores overflow fp32 during " + during
                    + " (the query is too large for these keys, or not finite)");
        }
        String what = switch (code) {
            case KernelSignatures.ERR_PAGE -> "KVQ_ERR_PAGE (a page-table entry or slot out of range)";
            case KernelSignatures.ERR_CHUNK -> "KVQ_ERR_CHUNK (a sparse entry out of range)";
            case KernelSignatures.ERR_SEQ -> "KVQ_ERR_SEQ (a sequence index out of range)";
            case KernelSignatures.ERR_CAP -> "KVQ_ERR_CAP (more outliers per side than the kernels hold)";
            case KernelSignatures.ERR_SHAPE -> "KVQ_ERR_SHAPE (a kernel launched for a shape it was not built for)";
            case KernelSignatures.ERR_SLOT -> "KVQ_ERR_SLOT (an outlier list with inconsistent per-head ends)";
            default -> "error code " + code;
        };
        return new IllegalStateException("a CUDA kernel reported " + what + " during " + during);
    }

    // ------------------------------------------------------------------ decode steps

    /**
     * The launches of one decode step of {@code layer} over {@code stored} tokens, queued on the
     * sequence's stream when run; {@link #launches} uploads the query and sizes the buffers they use.
     * With page format v2 (every form but the sparse one) the step is fused: {@code scores} is the whole
     * fused decode kernel (scores, online softmax and value partials on-chip), {@code softmax} queues
     * nothing, and {@code values} is the split merge.
     *
     * @param scores  key scores into the scores buffer (fused: the fused decode)
     * @param softmax softmax of the scores buffer in place (fused: nothing)
     * @param values  the value matvec of the scores buffer into the output buffer (fused: the split merge)
     */
    public record DecodeLaunches(Runnable scores, Runnable softmax, Runnable values) {}

    /** Uploads {@code q}; returns the device buffer that holds it (format v1 path). */
    private DeviceMemory upload(float[] q) {
        DeviceMemory qd = query.atLeast((long) q.length * Float.BYTES);
        try (Arena arena = Arena.ofConfined()) {
            qd.copyFromHost(arena.allocateFrom(FLOAT, q));
        }
        return qd;
    }

    /**
     * Uploads {@code q}, sizes the step's buffers and returns the launches of one decode step of
     * {@code layer} over {@code stored} tokens (nothing is queued yet).
     *
     * @param layer  layer index
     * @param stored tokens the kernels attend to (the device's counts must hold as many)
     * @param q      the query, {@code [Hq·d]}
     * @return the three launches
     */
    public DecodeLaunches launches(int layer, int stored, float[] q) {
        if (fused) {
            MemorySegment h = stepHost.segment();
            MemorySegment.copy(q, 0, h, FLOAT, queryAddress() - step.address(), q.length);
            step.copyFromHost(h, queryAddress() - step.address(), queryAddress() - step.address(),
                    (long) q.length * Float.BYTES);
            int splits = splits(stored);
            PreparedLaunch decode = prepared(layer);
            return new DecodeLaunches(() -> decode.launch(kernels.decodeGrid(splits), stream), () -> { },
                    () -> {
                        merge.setInt(KvKernels.MERGE_SPLITS_ARG, splits);
                        merge.launch(kernels.mergeGrid(), stream);
                    });
        }
        DeviceMemory qd = upload(q);
        DeviceMemory sd = scores.atLeast((long) setup.shape().queryHeads() * stored * Float.BYTES);
        int packed = occupancy.packedTokens(stored);
        DeviceMemory pd = partials.atLeast(kernels.partialBytes(packed));
        DeviceMemory od = output.atLeast((long) q.length * Float.BYTES);
        LayerView v = view(layer);
        long entries = layers[layer].keyEntries();
        return new DecodeLaunches(
                () -> kernels.scores(stream, v, packed, entries, qd.address(), sd.address(), stored),
                () -> kernels.softmax(stream, v, sd.address(), stored),
                () -> kernels.values(stream, v, packed, sd.address(), stored, pd.address(), od.address()));
    }

    /** Splits of a fused decode over {@code stored} tokens: sized to the device, at most {@link #maxSplits}. */
    private int splits(int stored) {
        int pageTokens = setup.spec().quantized() ? occupancy.packedTokens(stored) : stored;
        return Math.min(maxSplits,
                KernelSignatures.decodeSplits(multiprocessors, 1, setup.shape().kvHeads(), pageTokens));
    }

    /** The fused decode of {@code layer} with its argument block, rebuilt only when the layer's pools moved. */
    private PreparedLaunch prepared(int layer) {
        LayerView v = view(layer);
        if (!v.equals(preparedViews[layer])) {
            // a grown pool or a new side buffer: the old block stays in the arena (a handful per layer)
            KvKernels k = kernels(layer);
            decodeSteps[layer] = new PreparedLaunch(runtime.kernel(k.decodeEntry()),
                    k.decodeArgs(v, queryAddress(), partialOut(), partialStats(), 0, 0),
                    Dim3.of(KernelSignatures.DECODE_THREADS), k.decodeSharedBytes(), launchArena);
            preparedViews[layer] = v;
        }
        return decodeSteps[layer];
    }

    @Override
    public void attend(int layer, int stored, float[] q, float[] out) {
        requireOpen();
        runtime.bind();
        if (fused) {
            attendFused(layer, stored, q, out);
            return;
        }
        DecodeLaunches launches = launches(layer, stored, q);
        try (Nvtx.Range r = Nvtx.range("kvq scores")) {
            launches.scores().run();
        }
        try (Nvtx.Range r = Nvtx.range("kvq softmax")) {
            launches.softmax().run();
        }
        try (Nvtx.Range r = Nvtx.range("kvq values")) {
            launches.values().run();
        }
        // checked in the host staging copy, so out stays untouched when the call throws, as on the CPU
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate((long) out.length * Float.BYTES, 64);
            output.atLeast((long) out.length * Float.BYTES).copyToHost(host, 0, 0, host.byteSize());
            checkError("attention over layer " + layer);
            copyFinite(host, 0, out, layer);
        }
    }

    /**
     * One fused decode step: the query up and the output with the error word back through the pinned step
     * buffer, both asynchronous, the fused decode and the merge between them from prepared argument blocks,
     * and one synchronization. Nothing is allocated. A score that overflowed fp32 is reported by the merge
     * kernel in the error word ({@code KVQ_ERR_OVERFLOW}), so no split statistics come back.
     */
    private void attendFused(int layer, int stored, float[] q, float[] out) {
        MemorySegment h = stepHost.segment();
        long queryAt = queryAddress() - step.address();
        long queryBytes = (long) q.length * Float.BYTES;
        MemorySegment.copy(q, 0, h, FLOAT, queryAt, q.length);
        try (Nvtx.Range r = Nvtx.range("kvq decode")) {
            step.copyFromHostAsync(h, queryAt, queryAt, queryBytes, stream);
            queueFused(layer, stored);
            step.copyToHostAsync(h, 0, 0, STEP_HEAD + vectorBytes(), stream);
            stream.synchronize();
        }
        throwIfError(h.get(INT, 0), "attention over layer " + layer);
        copyFinite(h, STEP_HEAD, out, layer);
    }

    /** Queues the fused decode of {@code layer} and its merge: the step's query in, the step's output out. */
    private void queueFused(int layer, int stored) {
        int splits = splits(stored);
        prepared(layer).launch(kernels.decodeGrid(splits), stream);
        merge.setInt(KvKernels.MERGE_SPLITS_ARG, splits);
        merge.launch(kernels.mergeGrid(), stream);
    }

    /**
     * Queues one decode step of {@code layer} whose query and output stay on the device, on {@link #stream()}:
     * the query copied into the step buffer, the fused decode over the most splits and its merge, the output
     * copied out; four driver calls, no synchronization, nothing allocated, and nothing that depends on the
     * length on the host (so it can be captured in a graph). What the kernels find (an overflowed score, a bad
     * index) is reported by {@link #finishQueued}.
     *
     * @param layer  layer index
     * @param stored tokens of the layer, at least 1
     * @param query  holds the query, fp32 {@code [Hq·d]} post-RoPE, at byte 0
     * @param out    receives the output, fp32 {@code [Hq·d]}, at byte 0
     * @throws UnsupportedOperationException for the TOKEN_MAJOR_SPARSE form (its format v1 kernels are not fused)
     */
    public void attendQueued(int layer, int stored, DeviceMemory query, DeviceMemory out) {
        requireOpen();
        if (!fused) {
            throw new UnsupportedOperationException("device decode steps need the fused page format v2 kernels; "
                    + "TOKEN_MAJOR_SPARSE outliers run the format v1 kernels (use attend with host arrays)");
        }
        runtime.bind();
        long bytes = vectorBytes();
        long queryAt = queryAddress() - step.address();
        try (Nvtx.Range r = Nvtx.range("kvq decode (device)")) {
            step.copyFromAsync(query, 0, queryAt, bytes, stream);
            // every split the device has room for, whatever the length (empty splits end at once): the work
            // queued depends on device memory only, so a captured graph replays it right at any later length
            prepared(layer).launch(kernels.decodeGrid(maxSplits), stream);
            mergeAllSplits.launch(kernels.mergeGrid(), stream);
            out.copyFromAsync(step, STEP_HEAD, 0, bytes, stream);
        }
    }

    /**
     * What the queued work of a device step addresses, per layer: a captured graph replays correctly while this
     * stays equal (it changes when a page table grows or a side buffer is allocated).
     *
     * @return the kernels' views of every layer
     */
    public List<LayerView> deviceLayout() {
        requireOpen();
        List<LayerView> views = new ArrayList<>(layers.length);
        for (int l = 0; l < layers.length; l++) {
            views.add(view(l));
        }
        return views;
    }

    /**
     * Waits once for everything queued on {@link #stream()} and throws what a kernel reported in the error word:
     * two driver calls (the error word down through the pinned buffer, one synchronization).
     *
     * @param during what was queued, for the message
     * @throws IllegalArgumentException when a score or an output overflowed fp32
     * @throws IllegalStateException    when a kernel found a bad index
     */
    public void finishQueued(String during) {
        requireOpen();
        runtime.bind();
        if (stepHost == null) {
            stream.synchronize();
            checkError(during);
            return;
        }
        MemorySegment h = stepHost.segment();
        step.copyToHostAsync(h, 0, 0, Integer.BYTES, stream);
        stream.synchronize();
        throwIfError(h.get(INT, 0), during);
    }

    private static IllegalArgumentException overflow(int layer) {
        return new IllegalArgumentException("attention scores overflow fp32 on layer " + layer
                + " (the query is too large for these keys, or not finite)");
    }

    /** Copies the output at {@code offset} of {@code host} into {@code out}, unless a value is not finite. */
    private static void copyFinite(MemorySegment host, long offset, float[] out, int layer) {
        for (int i = 0; i < out.length; i++) {
            if (!Float.isFinite(host.get(FLOAT, offset + 4L * i))) {
                // the CPU rejects a score of ±Inf; on the device it turns the softmax into NaN
                throw overflow(layer);
            }
        }
        MemorySegment.copy(host, FLOAT, offset, out, 0, out.length);
    }

    @Override
    public void keyScores(int layer, int stored, float[] q, float[] result) {
        requireOpen();
        runtime.bind();
        DeviceMemory sd = scores.atLeast((long) setup.shape().queryHeads() * stored * Float.BYTES);
        if (fused) {
            // the fused decode's debug mode writes every score; one split, the partials are not read
            MemorySegment h = stepHost.segment();
            long queryAt = queryAddress() - step.address();
            MemorySegment.copy(q, 0, h, FLOAT, queryAt, q.length);
            step.copyFromHost(h, queryAt, queryAt, (long) q.length * Float.BYTES);
            try (Nvtx.Range r = Nvtx.range("kvq scores")) {
                kernels(layer).decode(stream, view(layer), 1, queryAddress(), partialOut(), partialStats(), sd.address(),
                        stored);
            }
        } else {
            DeviceMemory qd = upload(q);
            try (Nvtx.Range r = Nvtx.range("kvq scores")) {
                kernels.scores(stream, view(layer), occupancy.packedTokens(stored), layers[layer].keyEntries(),
                        qd.address(), sd.address(), stored);
            }
        }
        readBack(sd, result, setup.shape().queryHeads() * stored);
        checkError("key scores of layer " + layer);
    }

    /**
     * {@inheritDoc}
     *
     * <p>With page format v2 the fused decode takes no outside weights, so this diagnostic runs on the host over
     * the layer's values as attention sees them ({@link #decode}: pages, sinks and the window ring copied back);
     * the sparse form runs the format v1 value kernels on the device.
     */
    @Override
    public void valueMatvec(int layer, int stored, float[] weights, float[] out) {
        requireOpen();
        runtime.bind();
        if (fused) {
            float[] v = decode(layer, stored, Tensor.VALUES);
            int d = setup.shape().headDim();
            int group = setup.shape().groupSize();
            int channels = setup.shape().kvChannels();
            for (int q = 0; q < setup.shape().queryHeads(); q++) {
                int base = q / group * d;
                for (int j = 0; j < d; j++) {
                    double sum = 0;
                    for (int t = 0; t < stored; t++) {
                        sum += (double) weights[q * stored + t] * v[t * channels + base + j];
                    }
                    out[q * d + j] = (float) sum;
                }
            }
            return;
        }
        int n = setup.shape().queryHeads() * stored;
        DeviceMemory wd = scores.atLeast((long) n * Float.BYTES);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate((long) n * Float.BYTES, 64);
            MemorySegment.copy(weights, 0, host, FLOAT, 0, n);
            wd.copyFromHost(host, 0, 0, host.byteSize());
        }
        int packed = occupancy.packedTokens(stored);
        DeviceMemory pd = partials.atLeast(kernels.partialBytes(packed));
        DeviceMemory od = output.atLeast((long) out.length * Float.BYTES);
        try (Nvtx.Range r = Nvtx.range("kvq values")) {
            kernels.values(stream, view(layer), packed, wd.address(), stored, pd.address(), od.address());
        }
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

    // ------------------------------------------------------------------ reading back

    @Override
    public float[] decode(int layer, int stored, Tensor tensor) {
        requireOpen();
        runtime.bind();
        try (Arena arena = Arena.ofConfined()) {
            LayerImage copy = layers[layer].hostCopy(setup.occupancy(layer), stored, arena);
            return ReferenceDecoder.decode(setup, layer, firstPosition, stored, copy, tensor);
        }
    }

    @Override
    public MemorySegment pageBytes(int layer, int page) {
        requireOpen();
        runtime.bind();
        return layers[layer].hostPage(page, Arena.ofAuto());
    }

    @Override
    public int entries(int layer, int stored, Tensor tensor) {
        requireOpen();
        if (!layers[layer].sparse()) {
            return 0;
        }
        return tensor == Tensor.KEYS ? layers[layer].keyEntries()
                : (int) occupancy.valueEntries(occupancy.packedTokens(stored));
    }

    @Override
    public MemorySegment entryChunk(int layer, Tensor tensor, int chunk) {
        requireOpen();
        runtime.bind();
        DevicePages pool = layers[layer].chunks(tensor);
        if (pool == null || chunk < 0 || chunk >= pool.size()) {
            throw new IllegalArgumentException("layer " + layer + " has " + (pool == null ? 0 : pool.size()) + " "
                    + (tensor == Tensor.KEYS ? "key" : "value") + " entry chunks, no chunk " + chunk);
        }
        MemorySegment host = Arena.ofAuto().allocate(EntryChunks.BYTES, PageLayout.ALIGN);
        pool.pool().copyToHost(host, 0, pool.pageOffset(chunk), EntryChunks.BYTES);
        return host;
    }

    @Override
    public MemoryReport memory(int layer, int stored) {
        requireOpen();
        return layers[layer].memory(setup.occupancy(layer), stored);
    }

    @Override
    public long hostBytes() {
        return 0;
    }

    /**
     * {@inheritDoc}
     *
     * <p>A host copy of the device's pages, side buffer and entry chunks, in page format v2 (the sparse form's
     * pages converted as for {@link #decode}), so a CUDA cache saves the same snapshot file as the CPU's.
     */
    @Override
    public LayerImage image(int layer, int stored) {
        requireOpen();
        runtime.bind();
        return layers[layer].hostCopy(setup.occupancy(layer), stored, Arena.ofAuto());
    }

    /**
     * {@inheritDoc}
     *
     * <p>The mapping is read once, by {@link #restore} copying the layers onto the device; it is unmapped when no
     * longer reachable.
     */
    @Override
    public MemorySegment mapSnapshot(FileChannel file) throws IOException {
        requireOpen();
        return file.map(FileChannel.MapMode.READ_ONLY, 0, file.size(), Arena.ofAuto());
    }

    /**
     * {@inheritDoc}
     *
     * <p>Copies the image onto the device (pages, side buffer, entry chunks) with the layer's quantizer tables,
     * then publishes its counts. The snapshot reserved the image's bytes; the device's page and chunk tables and
     * quantizer tables are reserved here on top.
     */
    @Override
    public void restore(int layer, int tokens, LayerImage image) {
        requireOpen();
        runtime.bind();
        if (!fused && !setup.layout(layer).plan().keysInLogicalOrder()) {
            // the sparse form's v1 kernels read keys in logical order, which a v2 page of these pairs is not in
            throw new UnsupportedOperationException("a TOKEN_MAJOR_SPARSE snapshot with " + setup.shape().rope().pairing()
                    + " RoPE pairs cannot be restored onto the device (its format v1 kernels read keys in logical "
                    + "order); open it with Backend.cpu()");
        }
        DeviceLayer l = layers[layer];
        float[] tables = setup.spec().quantized() ? kernels(layer).tables(setup.layer(layer)) : null;
        long reserved = (image.sinks() == null ? 0 : image.sinks().byteSize())
                + (long) (image.keyChunks().size() + image.valueChunks().size()) * EntryChunks.BYTES;
        for (MemorySegment page : image.pages()) {
            reserved += page.byteSize();
        }
        long more = l.restoreBytes(image, tables == null ? 0 : (long) tables.length * Float.BYTES) - reserved;
        if (more > 0) {
            budget.reserve(more, layer, tokens);
        }
        l.restore(image, tables);
        if (l.sparse()) {
            try (Arena arena = Arena.ofConfined()) {
                keyEntryCounts.copyFromHost(arena.allocateFrom(INT, image.keyEntries()), 0, 4L * layer, 4);
            }
        }
        publish(layer, tokens);
    }

    // ------------------------------------------------------------------ for the engine's batched decode

    /** Whether this sequence can join a batched decode: fused kernels and pages in the engine's shared pools. */
    boolean batchable() {
        return !closed && fused && layers.length > 0 && layers[0].pages().shared();
    }

    /** RoPE position of the sequence's first token. */
    long firstPosition() {
        return firstPosition;
    }

    /** Device address of {@code layer}'s side buffer (sinks, window), 0 before it exists. */
    long sideAddress(int layer) {
        return layers[layer].sideAddress();
    }

    /** Device address of {@code layer}'s quantizer tables (0 for fp16 pages or before the first append). */
    long tablesAddress(int layer) {
        return layers[layer].view(0, 0).tables();
    }

    // ------------------------------------------------------------------ for tests and the profiler

    /**
     * The page pool of {@code layer}.
     *
     * @param layer layer index
     * @return its device pages
     */
    public DevicePages pages(int layer) {
        requireOpen();
        return layers[layer].pages();
    }

    /**
     * Whether the layers keep sparse outlier entries beside their pages.
     *
     * @return true for TOKEN_MAJOR_SPARSE outliers
     */
    public boolean sparse() {
        return setup.layout(0).sparseOutliers();
    }

    /**
     * The stream the sequence's kernels run on.
     *
     * @return the stream
     */
    public Stream stream() {
        return stream;
    }

    /** Makes the runtime's context current on the calling thread. */
    public void bind() {
        runtime.bind();
    }

    /**
     * Throws what a kernel reported in the error word, if anything.
     *
     * @param during what was running, for the message
     */
    public void requireNoKernelError(String during) {
        checkError(during);
    }

    /**
     * Bytes of the append staging buffer held now (a prefill's staging is let go).
     *
     * @return device bytes
     */
    public long stagingBytes() {
        return input.byteSize();
    }

    /**
     * Device bytes drawn from the budget: the sequence's own scratch and constants (charged when it opened), and
     * over all layers the pages and entry chunk pools with their tables, side buffers and quantizer tables. The
     * growing staging buffers of appends and diagnostics are not budgeted. Equals what the sequence reserved.
     *
     * @return device bytes
     */
    public long budgetedBytes() {
        long b = scratchBytes();
        for (DeviceLayer l : layers) {
            b += l.budgetedBytes();
        }
        return b;
    }

    void requireOpen() {
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
            runtime.bind();
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
