package dev.kvq.cache;

import dev.kvq.engine.CacheSetup;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.layout.MemoryReport;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.QuantSpec;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Many sequences (batch &gt; 1) of one shape and spec under one memory budget. Closing the pool
 * closes every sequence still open.
 *
 * <p><b>Threads.</b> Every pool method is safe from any thread: {@link #newSequence}, the budget
 * accounting done by appends, {@link #memory}, {@link #reservedBytes} and {@link #close} run under the
 * pool's lock. Each sequence is a {@link KvCache} with its own lock: serve each from one thread at a
 * time (calls from several threads are serialized, not interleaved), and sequences on different
 * threads run in parallel, contending only for the short budget update when an append needs a new
 * page. A cache takes its own lock before the pool's, never the other way round, so a pool and its
 * caches cannot deadlock. Once {@link #close} starts, {@link #newSequence} and appends that need
 * memory throw {@link IllegalStateException}; a sequence closed by the pool waits for its call in flight.
 */
public final class KvCachePool implements AutoCloseable {
    private final CacheSetup setup;
    private final Engines engines;         // one engine per backend for all sequences
    private final long budgetBytes;
    private final Set<KvCache> open = new LinkedHashSet<>();
    private long reserved;
    private boolean closed;

    private KvCachePool(AttentionShape shape, QuantSpec spec, Calibration calibration, Backend backend,
                        int pageTokens, long budgetBytes) {
        if (budgetBytes <= 0) {
            throw new IllegalArgumentException("pool budget must be positive, got " + budgetBytes + " bytes");
        }
        KvCache.checkSetup(shape, spec, calibration, backend);
        this.setup = CacheSetup.of(shape, spec, calibration, pageTokens);  // validates the page size up front
        // CUDA: the device pages, sized from the budget; the engine's own buffers (a batched step's) draw on it too
        this.engines = new Engines(backend, setup, budgetBytes, new dev.kvq.engine.Budget() {
            @Override
            public void reserve(long bytes, int layer, int tokens) {
                KvCachePool.this.reserve(bytes, "appending " + tokens + " tokens to layer " + layer + " needs " + bytes
                        + " more bytes");
            }

            @Override
            public void reserveScratch(long bytes, String what) {
                KvCachePool.this.reserve(bytes, "the pool's device engine needs " + bytes + " bytes of " + what);
            }

            @Override
            public void unreserve(long bytes) {
                KvCachePool.this.unreserve(bytes);
            }

            @Override
            public RuntimeException exceeded(String message) {
                return new CacheBudgetExceededException(message);
            }
        });
        this.budgetBytes = budgetBytes;
    }

    /**
     * A pool whose sequences together may use at most {@code budgetBytes}, with {@value
     * KvCache#DEFAULT_PAGE_TOKENS}-token pages.
     *
     * @param shape the attention geometry of the model
     * @param spec what to store
     * @param calibration the model's thresholds and codebooks; null for fp16/fp32
     * @param backend where attention runs
     * @param budgetBytes the memory all sequences may share, above 0
     * @return an empty pool
     */
    public static KvCachePool open(AttentionShape shape, QuantSpec spec, Calibration calibration, Backend backend,
                                   long budgetBytes) {
        return new KvCachePool(shape, spec, calibration, backend, KvCache.DEFAULT_PAGE_TOKENS, budgetBytes);
    }

    /**
     * A pool whose sequences together may use at most {@code budgetBytes}, with pages of {@code pageTokens}
     * tokens.
     *
     * @param shape the attention geometry of the model
     * @param spec what to store
     * @param calibration the model's thresholds and codebooks; null for fp16/fp32
     * @param backend where attention runs
     * @param budgetBytes the memory all sequences may share, above 0
     * @param pageTokens tokens per page, a multiple of 32
     * @return an empty pool
     */
    public static KvCachePool open(AttentionShape shape, QuantSpec spec, Calibration calibration, Backend backend,
                                   long budgetBytes, int pageTokens) {
        return new KvCachePool(shape, spec, calibration, backend, pageTokens, budgetBytes);
    }

    /**
     * Opens an empty sequence that draws on the pool's budget.
     *
     * @return a new cache; closing it returns its memory to the pool
     */
    public synchronized KvCache newSequence() {
        return newSequence(0);
    }

    /** An empty sequence whose first token sits at {@code firstPosition} (a restored snapshot's). */
    synchronized KvCache newSequence(long firstPosition) {
        requireOpen();
        KvCache c = new KvCache(setup, engines, false, this, Long.MAX_VALUE, firstPosition);
        open.add(c);
        return c;
    }

    /**
     * The open sequences, in the order they were opened (a snapshot restores them in this order).
     *
     * @return an unmodifiable copy of the open sequences
     */
    public synchronized List<KvCache> sequences() {
        return List.copyOf(open);
    }

    /**
     * Writes a snapshot of every open sequence, with the pool's shape, spec, page size, budget and the
     * calibration's fingerprint, atomically like {@link KvCache#save}. Each sequence is written under its
     * own lock, so it is saved as of one instant while appends to it from other threads wait; a
     * sequence closed during the save makes the save fail and leaves the previous file as it was.
     *
     * @param file where the snapshot goes (replaced atomically)
     * @throws IllegalStateException if the pool is closed
     * @throws java.io.IOException   if the file cannot be written
     */
    public void save(java.nio.file.Path file) throws java.io.IOException {
        List<KvCache> sequences;
        synchronized (this) {
            requireOpen();
            sequences = List.copyOf(open);
        }
        Snapshots.save(setup.shape(), setup.spec(), setup.calibration(), setup.pageTokens(), budgetBytes,
                sequences, file);
    }

    /**
     * Opens a pool snapshot written by {@link #save}: a pool with the saved budget and page size whose
     * {@link #sequences()} are the saved sequences, each bit-identical and mapped from the file like
     * {@link KvCache#openSnapshot}. Every checksum is verified first.
     *
     * @param file        a pool snapshot
     * @param calibration the calibration the snapshot was made with (its fingerprint must match)
     * @param backend     the backend of the opened pool
     * @return the opened pool, owned by the caller
     * @throws SnapshotFormatException if the file is not a usable pool snapshot; nothing is loaded
     * @throws java.io.IOException     if the file cannot be read
     */
    public static KvCachePool openSnapshot(java.nio.file.Path file, Calibration calibration, Backend backend)
            throws java.io.IOException {
        return Snapshots.openPool(file, calibration, backend, true);
    }

    /**
     * {@link #openSnapshot(java.nio.file.Path, Calibration, Backend)}, checking the page and
     * outlier-entry checksums only when {@code verifyData} is true (see {@link KvCache#openSnapshot(
     * java.nio.file.Path, Calibration, Backend, boolean)}).
     *
     * @param file        a pool snapshot
     * @param calibration the calibration the snapshot was made with
     * @param backend     the backend of the opened pool
     * @param verifyData  whether to check the checksums of the page and outlier-entry sections too
     * @return the opened pool, owned by the caller
     * @throws SnapshotFormatException if the file is not a usable pool snapshot; nothing is loaded
     * @throws java.io.IOException     if the file cannot be read
     */
    public static KvCachePool openSnapshot(java.nio.file.Path file, Calibration calibration, Backend backend,
                                           boolean verifyData) throws java.io.IOException {
        return Snapshots.openPool(file, calibration, backend, verifyData);
    }

    /**
     * One decode step of {@code layer} for several of the pool's sequences at once, as {@link KvCache#attend} on
     * each: {@code outs[i]} receives the output of {@code sequences.get(i)} for {@code queries[i]}. On the CUDA
     * engine they decode as one batch (one fused decode launch and one merge through the page tables, one
     * synchronization for all); on the CPU, or when some sequences fell back to it, each in turn. The outputs are
     * written only when every sequence succeeds. The caches' locks are taken for the call, in the order the caches
     * were opened, so concurrent batched steps over overlapping sequences cannot deadlock.
     *
     * @param layer     layer index, {@code [0, layers)}, not empty in any of the sequences
     * @param sequences distinct open sequences of this pool
     * @param queries   {@code [queryHeads·headDim]} per sequence, post-RoPE
     * @param outs      receive {@code [queryHeads·headDim]} per sequence
     * @throws IllegalArgumentException for a sequence of another pool, a repeated one, counts that differ, a bad
     *                                  query or output, or scores that overflow fp32
     * @throws IllegalStateException    when the pool or a sequence is closed, or a layer is empty
     */
    public void attend(int layer, List<KvCache> sequences, float[][] queries, float[][] outs) {
        requireOpenNow();
        if (sequences == null || queries == null || outs == null) {
            throw new IllegalArgumentException("sequences, queries and outputs must not be null");
        }
        int n = sequences.size();
        if (n == 0 || queries.length != n || outs.length != n) {
            throw new IllegalArgumentException("a batched step needs one query and one output per sequence, got "
                    + n + " sequences, " + queries.length + " queries, " + outs.length + " outputs");
        }
        java.util.Set<KvCache> seen = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        for (int i = 0; i < n; i++) {
            KvCache c = sequences.get(i);
            if (c == null || c.pool() != this) {
                throw new IllegalArgumentException("sequence " + i + " of the batch is " + (c == null ? "null"
                        : "not a sequence of this pool"));
            }
            if (!seen.add(c)) {
                throw new IllegalArgumentException("sequence " + i + " of the batch appears twice");
            }
        }
        List<KvCache> order = new ArrayList<>(sequences);
        order.sort(java.util.Comparator.comparingLong(c -> c.serial));
        lockAll(order, 0, () -> {
            int[] stored = new int[n];
            dev.kvq.engine.Sequence[] seqs = new dev.kvq.engine.Sequence[n];
            Backend.Kind[] kinds = new Backend.Kind[n];
            for (int i = 0; i < n; i++) {
                KvCache c = sequences.get(i);
                stored[i] = c.checkedBatchStep(layer, queries[i], outs[i], i);
                seqs[i] = c.sequence();
                kinds[i] = c.engineKind();
            }
            engines.attend(layer, seqs, kinds, stored, queries, outs);
        });
    }

    /** Runs {@code body} holding the locks of {@code caches[from..]} (nested, in list order). */
    private static void lockAll(List<KvCache> caches, int from, Runnable body) {
        if (from == caches.size()) {
            body.run();
            return;
        }
        synchronized (caches.get(from).lock()) {
            lockAll(caches, from + 1, body);
        }
    }

    private synchronized void requireOpenNow() {
        requireOpen();
    }

    /** Reserves {@code bytes} of the budget; {@code need} says what for (the start of the refusal's message). */
    synchronized void reserve(long bytes, String need) {
        requireOpen();
        if (bytes > budgetBytes - reserved) {
            throw new CacheBudgetExceededException(need + "; the pool budget of " + budgetBytes + " has "
                    + (budgetBytes - reserved) + " left");
        }
        reserved += bytes;
    }

    synchronized void unreserve(long bytes) {
        reserved -= bytes;
    }

    synchronized void released(KvCache cache, long bytes) {
        if (open.remove(cache)) {
            reserved -= bytes;
        }
    }

    /**
     * Bytes reserved by open sequences.
     *
     * @return the bytes in use by the pool's sequences
     */
    public synchronized long reservedBytes() {
        return reserved;
    }

    /**
     * The memory all sequences may share.
     *
     * @return the budget in bytes
     */
    public long budgetBytes() {
        return budgetBytes;
    }

    /**
     * The sequences opened and not yet closed.
     *
     * @return the count
     */
    public synchronized int openSequences() {
        return open.size();
    }

    /**
     * Memory over all open sequences. Each sequence is measured between its own calls, so with appends
     * running on other threads the total is a sum of per-sequence snapshots, not one instant.
     *
     * @return the parts summed over the sequences
     */
    public MemoryReport memory() {
        List<KvCache> snapshot;
        synchronized (this) {
            requireOpen();
            snapshot = new ArrayList<>(open);
        }
        // measured outside the pool lock: a cache takes its own lock first and the pool's second
        MemoryReport total = MemoryReport.empty(setup.shape().kvChannels());
        for (KvCache c : snapshot) {
            MemoryReport m = c.memoryIfOpen();
            if (m != null) {
                total = total.plus(m);
            }
        }
        return total;
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("the KV cache pool is closed");
        }
    }

    /**
     * Closes every open sequence (each after its call in flight, if any) and the pool; idempotent.
     * Afterwards {@link #reservedBytes()} is 0.
     */
    @Override
    public void close() {
        List<KvCache> toClose;
        synchronized (this) {
            if (closed) {
                return;
            }
            // closed first, so no sequence can be opened after the snapshot and escape the loop below
            closed = true;
            toClose = new ArrayList<>(open);
        }
        // outside the pool lock: closing a cache takes its lock, then calls released() on the pool.
        // Every sequence is closed even when one fails (a dead CUDA context, say): the first failure
        // is rethrown afterwards with the others attached, so no sequence's memory is left behind.
        RuntimeException failure = null;
        for (KvCache c : toClose) {
            try {
                c.close();
            } catch (RuntimeException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        try {
            engines.close();
        } catch (RuntimeException e) {
            if (failure == null) {
                failure = e;
            } else {
                failure.addSuppressed(e);
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    /**
     * Whether {@link #close} has been called.
     *
     * @return true once the pool is closed; its sequences are then closed too
     */
    public synchronized boolean isClosed() {
        return closed;
    }
}
