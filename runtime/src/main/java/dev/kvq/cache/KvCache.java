package dev.kvq.cache;

import dev.kvq.engine.Budget;
import dev.kvq.engine.CacheSetup;
import dev.kvq.engine.LayerImage;
import dev.kvq.engine.Sequence;
import dev.kvq.engine.Tensor;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.layout.MemoryReport;
import dev.kvq.layout.PageLayout;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.Checks;
import dev.kvq.quant.QuantSpec;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;

/**
 * The KV cache of one sequence: keys and values of every layer packed in off-heap pages (allocated on
 * demand, no maximum length), attention computed from the packed form.
 *
 * <pre>{@code
 * try (KvCache cache = KvCache.open(shape, QuantSpec.nuq(3).outliers(0.01), calibration, Backend.auto())) {
 *     cache.append(layer, keysPreRope, values);   // [n][kvHeads·headDim] each, n ≥ 1
 *     cache.attend(layer, query, out);            // [queryHeads·headDim], query post-RoPE
 * }
 * }</pre>
 *
 * <p>Keys are given <b>before</b> RoPE; the cache rotates them itself at their positions (0, 1, 2, …
 * in append order, per layer). The query of {@link #attend} is already rotated to its own position.
 * An append is atomic: a rejected one (bad shape, NaN/Inf, layer out of range, closed cache, budget
 * or allocation failure) leaves the cache exactly as it was.
 *
 * <p><b>Threads.</b> Every method may be called from any thread. The methods that read or change the
 * cache run one at a time under a lock of this cache (different caches never share a lock), so calls
 * from two threads are serialized, never interleaved; the intended use is one thread per sequence at a
 * time, as a {@link KvCachePool} hands them out, and then the lock is never contended. {@link #close}
 * takes the same lock: it waits for a call in flight to finish, then frees the pages; every later call
 * throws {@link IllegalStateException}. Pages are therefore never freed under a running kernel (a
 * shared arena closed under a reader would make that reader fail part-way through with "Already
 * closed"). {@link #isClosed} never blocks. Segments returned by {@link #pageBytes} on the CPU become
 * inaccessible (accesses throw {@code IllegalStateException}) once the cache is closed.
 *
 * <p>The cache keeps the API, the validation, the lock, the budget and the token counts; the pages
 * and the attention kernels are its engine's (an internal {@code dev.kvq.engine.Sequence}). With a
 * CUDA {@link Backend} they live on the device (same bytes) and append and attention run there, under
 * the same lock; a cache the CUDA engine cannot serve falls back to the CPU with a WARN, and
 * {@link #backend()} then says so.
 */
public final class KvCache implements AutoCloseable {
    /** Tokens per page when none are given: 256 keeps the page slack of short sequences small. */
    public static final int DEFAULT_PAGE_TOKENS = 256;
    /** Largest RoPE position supported: angles stay exact in double below 2^29 (see {@code Rope}). */
    public static final long MAX_POSITION = (1L << 29) - 1;

    private final CacheSetup setup;
    private final Backend backend;
    private final Engines engines;         // the pool's, or this cache's own when standalone
    private final boolean ownsEngines;
    private final Sequence sequence;       // the pages and kernels, on the engine's backend
    private final KvCachePool pool;        // null when standalone
    private final long budgetBytes;        // Long.MAX_VALUE when unlimited (standalone)
    private final long firstPosition;      // RoPE position of the sequence's first token
    /** Creation order in this JVM: batched calls take the locks of their caches in this order (no deadlock). */
    final long serial = SERIALS.incrementAndGet();
    private static final java.util.concurrent.atomic.AtomicLong SERIALS = new java.util.concurrent.atomic.AtomicLong();
    // guards every field below and all page contents; taken before the pool's lock, never after it
    private final Object lock = new Object();
    private final int[] tokens;            // per layer, sinks included
    private long reservedBytes;
    private volatile boolean closed;       // volatile: isClosed() reads it without the lock

    /** A standalone cache: unlimited budget, engines of its own (closed with it). */
    static KvCache standalone(AttentionShape shape, QuantSpec spec, Calibration calibration, Backend backend,
                              int pageTokens, long firstPosition) {
        requireFirstPosition(firstPosition);
        checkSetup(shape, spec, calibration, backend);
        CacheSetup setup = CacheSetup.of(shape, spec, calibration, pageTokens);
        Engines own = new Engines(backend, setup, 0, null);
        try {
            return new KvCache(setup, own, true, null, Long.MAX_VALUE, firstPosition);
        } catch (RuntimeException | Error e) {
            own.close();
            throw e;
        }
    }

    /** A cache on {@code engines} (a pool's sequence when {@code pool} is not null), set up and checked. */
    KvCache(CacheSetup setup, Engines engines, boolean ownsEngines, KvCachePool pool, long budgetBytes,
            long firstPosition) {
        requireFirstPosition(firstPosition);
        this.setup = setup;
        this.engines = engines;
        this.ownsEngines = ownsEngines;
        this.pool = pool;
        this.budgetBytes = budgetBytes;
        this.firstPosition = firstPosition;
        this.tokens = new int[setup.shape().layers()];
        Engines.Opened opened = engines.open(firstPosition, new Budget() {
            @Override
            public void reserve(long bytes, int layer, int tokens) {
                KvCache.this.reserve(bytes, layer, tokens);
            }

            @Override
            public void unreserve(long bytes) {
                KvCache.this.unreserve(bytes);
            }

            @Override
            public void reserveScratch(long bytes, String what) {
                KvCache.this.reserveScratch(bytes, what);
            }

            @Override
            public RuntimeException exceeded(String message) {
                return new CacheBudgetExceededException(message);
            }
        });
        this.backend = opened.backend();
        this.sequence = opened.sequence();
    }

    private static void requireFirstPosition(long firstPosition) {
        if (firstPosition < 0 || firstPosition > MAX_POSITION) {
            throw new IllegalArgumentException("first position must be in [0, " + MAX_POSITION + "], got " + firstPosition);
        }
    }

    /** The checks every cache and pool makes before allocating anything. */
    static void checkSetup(AttentionShape shape, QuantSpec spec, Calibration calibration, Backend backend) {
        if (shape == null || spec == null || backend == null) {
            throw new IllegalArgumentException("shape, spec and backend must not be null");
        }
        if (spec.quantized()) {
            if (calibration == null) {
                throw new IllegalArgumentException(spec.name() + " needs a calibration (thresholds and codebooks)");
            }
            calibration.requireCompatible(shape, spec);
        }
    }

    /**
     * A standalone cache with {@value #DEFAULT_PAGE_TOKENS}-token pages.
     *
     * @param shape the attention geometry of the model
     * @param spec what to store (nuq bits, outliers, sinks) or an fp16/fp32 baseline
     * @param calibration the model's thresholds and codebooks; null for fp16/fp32
     * @param backend where attention runs, usually {@link Backend#auto()}
     * @return an empty cache; close it to free its memory
     * @throws IllegalArgumentException when the parts do not fit together (e.g. a calibration of another shape)
     */
    public static KvCache open(AttentionShape shape, QuantSpec spec, Calibration calibration, Backend backend) {
        return standalone(shape, spec, calibration, backend, DEFAULT_PAGE_TOKENS, 0);
    }

    /**
     * A standalone cache with pages of {@code pageTokens} tokens (a multiple of 32).
     *
     * @param shape the attention geometry of the model
     * @param spec what to store (nuq bits, outliers, sinks) or an fp16/fp32 baseline
     * @param calibration the model's thresholds and codebooks; null for fp16/fp32
     * @param backend where attention runs, usually {@link Backend#auto()}
     * @param pageTokens tokens per page
     * @return an empty cache; close it to free its memory
     */
    public static KvCache open(AttentionShape shape, QuantSpec spec, Calibration calibration, Backend backend,
                               int pageTokens) {
        return standalone(shape, spec, calibration, backend, pageTokens, 0);
    }

    /**
     * A standalone cache whose first token sits at RoPE position {@code firstPosition} (a sequence
     * continued after earlier context was dropped; also how positions up to 10^7 are tested).
     *
     * @param shape the attention geometry of the model
     * @param spec what to store (nuq bits, outliers, sinks) or an fp16/fp32 baseline
     * @param calibration the model's thresholds and codebooks; null for fp16/fp32
     * @param backend where attention runs, usually {@link Backend#auto()}
     * @param pageTokens tokens per page
     * @param firstPosition RoPE position of the first token, at most {@link #MAX_POSITION}
     * @return an empty cache; close it to free its memory
     */
    public static KvCache open(AttentionShape shape, QuantSpec spec, Calibration calibration, Backend backend,
                               int pageTokens, long firstPosition) {
        return standalone(shape, spec, calibration, backend, pageTokens, firstPosition);
    }

    /**
     * The geometry this cache serves.
     *
     * @return the attention shape
     */
    public AttentionShape shape() { return setup.shape(); }

    /**
     * What this cache stores.
     *
     * @return the quantization spec
     */
    public QuantSpec spec() { return setup.spec(); }

    /**
     * The thresholds and codebooks the cache quantizes with.
     *
     * @return the calibration; null for fp16/fp32
     */
    public Calibration calibration() { return setup.calibration(); }

    /**
     * Where attention runs.
     *
     * @return the backend
     */
    public Backend backend() { return backend; }

    /**
     * Tokens per page.
     *
     * @return a multiple of 32
     */
    public int pageTokens() { return setup.pageTokens(); }

    /**
     * Tokens stored in {@code layer}.
     *
     * @param layer layer index, {@code [0, layers)}
     * @return the number of tokens appended to that layer
     */
    public int length(int layer) {
        synchronized (lock) {
            requireOpen();
            return tokens[checkLayer(layer)];
        }
    }

    /**
     * Appends {@code n} tokens to {@code layer}: {@code keysPreRope} and {@code values} are
     * {@code [n][kvHeads·headDim]} (n ≥ 1: a prefill or one decode token).
     *
     * @param layer layer index, {@code [0, layers)}
     * @param keysPreRope the keys before RoPE (the cache rotates them to their positions)
     * @param values the values
     * @throws CacheBudgetExceededException when the tokens do not fit the budget; the cache is then unchanged
     */
    public void append(int layer, float[] keysPreRope, float[] values) {
        synchronized (lock) {
            appendLocked(layer, keysPreRope, values);
        }
    }

    private void appendLocked(int layer, float[] keysPreRope, float[] values) {
        requireOpen();
        checkLayer(layer);
        int d = setup.shape().kvChannels();
        if (keysPreRope == null || values == null) {
            throw new IllegalArgumentException("keys and values must not be null");
        }
        if (keysPreRope.length == 0 || keysPreRope.length % d != 0) {
            throw new IllegalArgumentException("keys have " + keysPreRope.length + " elements, expected a positive multiple of "
                    + d + " (kvHeads × headDim)");
        }
        if (values.length != keysPreRope.length) {
            throw new IllegalArgumentException("values have " + values.length + " elements, keys " + keysPreRope.length);
        }
        Checks.requireFp16Range("keys", keysPreRope, 0, keysPreRope.length);
        Checks.requireFp16Range("values", values, 0, values.length);
        int n = keysPreRope.length / d;
        int stored = tokens[layer];
        if ((long) stored + n > Integer.MAX_VALUE - 64 || firstPosition + stored + n > MAX_POSITION) {
            throw new IllegalArgumentException("layer " + layer + " would exceed the longest supported sequence ("
                    + stored + " + " + n + " tokens from position " + firstPosition + ")");
        }
        StorableInput.require(setup, layer, stored, keysPreRope, values, n);
        sequence.append(layer, stored, keysPreRope, values, n);
        tokens[layer] = stored + n;
    }

    /**
     * {@link #append(int, float[], float[])} from off-heap fp32 arrays {@code [n][kvHeads·headDim]}.
     *
     * @param layer layer index, {@code [0, layers)}
     * @param keysPreRope the keys before RoPE, {@code n·kvHeads·headDim} floats
     * @param values the values, {@code n·kvHeads·headDim} floats
     * @param n number of tokens
     * @throws CacheBudgetExceededException when the tokens do not fit the budget; the cache is then unchanged
     */
    public void append(int layer, MemorySegment keysPreRope, MemorySegment values, int n) {
        requireOpen();
        checkLayer(layer);
        if (keysPreRope == null || values == null) {
            throw new IllegalArgumentException("keys and values must not be null");
        }
        int channels = setup.shape().kvChannels();
        long elements = (long) n * channels;
        if (elements > Integer.MAX_VALUE - 64) {
            throw new IllegalArgumentException(n + " tokens × " + channels
                    + " channels exceed the largest Java array; append them in smaller batches");
        }
        if (n <= 0 || keysPreRope.byteSize() < elements * 4 || values.byteSize() < elements * 4) {
            throw new IllegalArgumentException("segments of " + keysPreRope.byteSize() + " and " + values.byteSize()
                    + " bytes cannot hold " + n + " tokens × " + channels + " fp32 values");
        }
        append(layer, keysPreRope.asSlice(0, elements * 4).toArray(ValueLayout.JAVA_FLOAT),
                values.asSlice(0, elements * 4).toArray(ValueLayout.JAVA_FLOAT));
    }

    private void reserve(long bytes, int layer, int n) {
        reserve(bytes, "appending " + n + " tokens to layer " + layer + " needs " + bytes + " more bytes");
    }

    private void reserveScratch(long bytes, String what) {
        reserve(bytes, "opening a sequence needs " + bytes + " bytes of " + what);
    }

    /** Reserves {@code bytes} from the pool's budget or this cache's own; {@code need} says what for. */
    private void reserve(long bytes, String need) {
        if (pool != null) {
            pool.reserve(bytes, need);
        } else if (bytes > budgetBytes - reservedBytes) {
            throw new CacheBudgetExceededException(need + "; the budget has " + (budgetBytes - reservedBytes) + " left");
        }
        reservedBytes += bytes;
    }

    private void unreserve(long bytes) {
        reservedBytes -= bytes;
        if (pool != null) {
            pool.unreserve(bytes);
        }
    }

    /**
     * One decode step for {@code layer}: {@code query} is {@code [queryHeads·headDim]} (post-RoPE, at
     * this step's position), {@code out} receives the attention output of every query head.
     *
     * @param layer layer index, {@code [0, layers)}
     * @param query the query of every head, post-RoPE
     * @param out receives {@code [queryHeads·headDim]} outputs
     */
    public void attend(int layer, float[] query, float[] out) {
        synchronized (lock) {
            int stored = checkedStep(layer, query, "query");
            requireOutput(out);
            sequence.attend(layer, stored, query, out);
        }
    }

    /**
     * Opens a decode step whose queries and outputs stay on the device ({@link DeviceStep}): attends are queued
     * without waiting and the step synchronizes once when finished. Needs a cache on the CUDA engine.
     *
     * @return the step, finished by {@link DeviceStep#close()}
     * @throws UnsupportedOperationException when the cache's pages are not on a device (a CPU backend, or a CUDA
     *                                       cache that fell back to the CPU), naming why
     * @throws IllegalStateException         when the cache is closed
     */
    public DeviceStep deviceStep() {
        synchronized (lock) {
            requireOpen();
            if (!(sequence instanceof dev.kvq.engine.cuda.CudaSequence cuda)) {
                throw new UnsupportedOperationException("device steps need a cache on the CUDA engine; this one runs "
                        + "on the " + backend.kind() + " backend" + (backend.reason() == null ? "" : " (" + backend.reason() + ")"));
            }
            return new DeviceStep(this, cuda);
        }
    }

    /** {@link DeviceStep#attend}: checked and queued under the lock. */
    void attendQueued(int layer, dev.kvq.engine.cuda.CudaSequence cuda, dev.kvq.driver.DeviceMemory query,
                      dev.kvq.driver.DeviceMemory out) {
        synchronized (lock) {
            requireOpen();
            checkLayer(layer);
            if (tokens[layer] == 0) {
                throw new IllegalStateException("layer " + layer + " is empty: append keys and values before attending");
            }
            cuda.attendQueued(layer, tokens[layer], query, out);
        }
    }

    /** {@link DeviceStep#finish}: one wait for the step's {@code queued} attends (−1: a graph's replays). */
    void finishQueued(dev.kvq.engine.cuda.CudaSequence cuda, int queued) {
        synchronized (lock) {
            requireOpen();
            cuda.finishQueued(queued < 0 ? "a device decode step replayed from a CUDA graph"
                    : "a device decode step of " + queued + " layer attends");
        }
    }

    /** {@link DeviceGraph}'s calls (capture, replay, layout) under the lock of an open cache. */
    <T> T underLock(java.util.function.Supplier<T> body) {
        synchronized (lock) {
            requireOpen();
            return body.get();
        }
    }

    /** {@link DeviceGraph}: destroys {@code graph} (in the cache's context, whether or not the cache is open). */
    void closeOnDevice(dev.kvq.engine.cuda.CudaSequence cuda, dev.kvq.driver.Graph graph) {
        synchronized (lock) {
            cuda.bind();
            graph.close();
        }
    }

    /**
     * The scaled scores {@code q·k_t/√d} of every stored token, without softmax: {@code scores} is
     * {@code [queryHeads][length(layer)]}. With {@link #valueMatvec} this is {@link #attend} in two
     * halves, for callers that mask or post-process scores (and for measuring each half).
     *
     * @param layer layer index, {@code [0, layers)}
     * @param query the query of every head, post-RoPE
     * @param scores receives {@code [queryHeads][length(layer)]} scores
     */
    public void keyScores(int layer, float[] query, float[] scores) {
        synchronized (lock) {
            int stored = checkedStep(layer, query, "query");
            int n = headsTimesTokens(stored, "scores");
            if (scores == null || scores.length < n) {
                throw new IllegalArgumentException("scores need " + n + " elements (queryHeads × length), got "
                        + (scores == null ? "none" : scores.length));
            }
            sequence.keyScores(layer, stored, query, scores);
        }
    }

    /**
     * {@code out[q] = Σ_t weights[q][t]·v_t}: the value half of attention, {@code weights} being
     * {@code [queryHeads][length(layer)]} (normally softmax probabilities).
     *
     * @param layer layer index, {@code [0, layers)}
     * @param weights {@code [queryHeads][length(layer)]} weights
     * @param out receives {@code [queryHeads·headDim]} outputs
     */
    public void valueMatvec(int layer, float[] weights, float[] out) {
        synchronized (lock) {
            valueMatvecLocked(layer, weights, out);
        }
    }

    /** {@code queryHeads × tokens}, the length of a scores or weights array, when a Java array can have it. */
    private int headsTimesTokens(int stored, String what) {
        long n = (long) setup.shape().queryHeads() * stored;
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(what + " of " + setup.shape().queryHeads() + " heads × " + stored
                    + " tokens exceed the largest Java array; use attend, which needs no such array");
        }
        return (int) n;
    }

    private void valueMatvecLocked(int layer, float[] weights, float[] out) {
        requireOpen();
        int stored = tokens[checkLayer(layer)];
        if (stored == 0) {
            throw new IllegalStateException("layer " + layer + " is empty: append keys and values first");
        }
        int n = headsTimesTokens(stored, "weights");
        if (weights == null || weights.length < n) {
            throw new IllegalArgumentException("weights need " + n + " elements (queryHeads × length), got "
                    + (weights == null ? "none" : weights.length));
        }
        Checks.requireFinite("weights", weights, 0, n);
        requireOutput(out);
        sequence.valueMatvec(layer, stored, weights, out);
    }

    /** The checks of a decode step's query; returns the layer's token count. */
    /** The pool this cache draws on, or null when standalone. */
    KvCachePool pool() {
        return pool;
    }

    /** The engine kind the sequence really runs on. */
    Backend.Kind engineKind() {
        return backend.kind();
    }

    /** {@link #attend}'s checks of one sequence of a batched step, under this cache's lock: the tokens stored. */
    int checkedBatchStep(int layer, float[] query, float[] out, int index) {
        int stored = checkedStep(layer, query, "query " + index);
        requireOutput(out);
        return stored;
    }

    private int checkedStep(int layer, float[] query, String what) {
        requireOpen();
        checkLayer(layer);
        int n = setup.shape().queryHeads() * setup.shape().headDim();
        if (query == null || query.length != n) {
            throw new IllegalArgumentException(what + " has " + (query == null ? "no" : query.length)
                    + " elements, expected " + n + " (queryHeads × headDim)");
        }
        Checks.requireFinite(what, query);
        if (tokens[layer] == 0) {
            throw new IllegalStateException("layer " + layer + " is empty: append keys and values before attending");
        }
        return tokens[layer];
    }

    private void requireOutput(float[] out) {
        int n = setup.shape().queryHeads() * setup.shape().headDim();
        if (out == null || out.length != n) {
            throw new IllegalArgumentException("output has " + (out == null ? "no" : out.length)
                    + " elements, expected " + n + " (queryHeads × headDim)");
        }
    }

    /**
     * Bytes by part over all layers, measured from what is allocated.
     *
     * @return codes, scales, outliers, sinks, side data and slack, with token and channel counts
     */
    public MemoryReport memory() {
        synchronized (lock) {
            requireOpen();
            return memoryLocked();
        }
    }

    /** {@link #memory()}, or null when the cache is closed (for the pool, which races with closes). */
    MemoryReport memoryIfOpen() {
        synchronized (lock) {
            return closed ? null : memoryLocked();
        }
    }

    private MemoryReport memoryLocked() {
        MemoryReport total = MemoryReport.empty(setup.shape().kvChannels());
        for (int l = 0; l < tokens.length; l++) {
            total = total.plus(sequence.memory(l, tokens[l]));
        }
        return total;
    }

    /** This cache's engine state (for tests of an engine behind the cache). */
    Sequence sequence() {
        return sequence;
    }

    /** Bytes reserved from the budget (pages, sink buffers, sparse chunks). */
    long reservedBytes() {
        synchronized (lock) {
            return reservedBytes;
        }
    }

    /** Bytes allocated off-heap and not yet freed (0 once closed). */
    long allocatedBytes() {
        synchronized (lock) {
            return closed ? 0 : sequence.hostBytes();
        }
    }

    /**
     * The keys of {@code layer} as attention sees them: dequantized (residuals included) and rotated to
     * their positions, {@code [length][kvHeads·headDim]}. Materializes the whole layer: for verification.
     *
     * @param layer layer index, {@code [0, layers)}
     * @return the decoded keys, post-RoPE
     */
    public float[] decodeKeys(int layer) {
        return decode(layer, Tensor.KEYS);
    }

    /**
     * The values of {@code layer} as attention sees them, {@code [length][kvHeads·headDim]}.
     *
     * @param layer layer index, {@code [0, layers)}
     * @return the decoded values
     */
    public float[] decodeValues(int layer) {
        return decode(layer, Tensor.VALUES);
    }

    private float[] decode(int layer, Tensor tensor) {
        synchronized (lock) {
            requireOpen();
            return sequence.decode(layer, tokens[checkLayer(layer)], tensor);
        }
    }

    /**
     * Writes a snapshot of this cache to {@code file}: every layer's pages, sink tokens, outlier
     * entries and scales, with the shape, spec, page size and the calibration's
     * {@link Calibration#fingerprint() fingerprint} (format: {@code docs/FORMATS.md}). The file is
     * written beside its final name ({@code file + ".tmp"}), forced to disk and renamed over
     * {@code file} atomically, so a crash at any point leaves the previous snapshot intact. A stale
     * temporary file from a killed save is reused; a save running at the same time from another
     * process or thread is refused with an {@link java.io.IOException}.
     *
     * @param file where the snapshot goes (replaced atomically)
     * @throws IllegalStateException if the cache is closed
     * @throws java.io.IOException   if the file cannot be written
     */
    public void save(java.nio.file.Path file) throws java.io.IOException {
        synchronized (lock) {
            requireOpen();
            Snapshots.save(this, file);
        }
    }

    /**
     * Opens a snapshot written by {@link #save}, verifying every checksum first. Full pages are not
     * read into memory: they stay mapped from the file (read-only, released when the cache closes);
     * only the partly filled last page, sink tokens and the last outlier-entry chunk are copied, so
     * the opened cache accepts appends like any other. The result is bit-identical to the saved cache.
     *
     * @param file        a snapshot of a single cache
     * @param calibration the calibration the snapshot was made with (its fingerprint must match;
     *                    ignored, may be null, for the fp16/fp32 baselines)
     * @param backend     the backend of the opened cache
     * @return the opened cache, owned by the caller
     * @throws SnapshotFormatException if the file is truncated, corrupted, of another format or version,
     *                                 a pool snapshot, or made with another calibration; nothing is loaded
     * @throws java.io.IOException     if the file cannot be read
     */
    public static KvCache openSnapshot(java.nio.file.Path file, Calibration calibration, Backend backend)
            throws java.io.IOException {
        return Snapshots.openCache(file, calibration, backend, true);
    }

    /**
     * {@link #openSnapshot(java.nio.file.Path, Calibration, Backend)} with a choice of how much to
     * verify: with {@code verifyData} false only the structure and the checksums of the metadata
     * sections are checked, and the page and outlier-entry bytes are trusted, so a very long cache
     * opens without reading its pages at all (the OS pages them in on first use).
     *
     * @param file        a snapshot of a single cache
     * @param calibration the calibration the snapshot was made with
     * @param backend     the backend of the opened cache
     * @param verifyData  whether to check the checksums of the page and outlier-entry sections too
     * @return the opened cache, owned by the caller
     * @throws SnapshotFormatException if the file is not a usable snapshot; nothing is loaded
     * @throws java.io.IOException     if the file cannot be read
     */
    public static KvCache openSnapshot(java.nio.file.Path file, Calibration calibration, Backend backend,
                                       boolean verifyData) throws java.io.IOException {
        return Snapshots.openCache(file, calibration, backend, verifyData);
    }

    /**
     * The lock that guards this cache's state (for {@link Snapshots}, which writes pages under it, and a pool's
     * batched step, which takes the locks of all its caches in {@link #serial} order).
     */
    Object lock() {
        return lock;
    }

    /** RoPE position of the first token (for {@link Snapshots}). */
    long firstPosition() {
        return firstPosition;
    }

    /** Layer {@code l} as host memory, for {@link Snapshots}; the caller holds the lock. */
    LayerImage image(int l) {
        try {
            return sequence.image(l, tokens[l]);
        } catch (UnsupportedOperationException e) {
            throw new IllegalStateException(e.getMessage(), e);
        }
    }

    /** Maps a snapshot for as long as this cache is open (for {@link Snapshots}). */
    MemorySegment mapSnapshot(FileChannel file) throws IOException {
        return sequence.mapSnapshot(file);
    }

    /** Fills the empty layer {@code l} from a snapshot (for {@link Snapshots}); the bytes are reserved. */
    void restore(int l, int stored, LayerImage image) {
        sequence.restore(l, stored, image);
        tokens[l] = stored;
    }

    /** Charges memory a snapshot restores directly into the layers to the budget. */
    void reserveRestored(long bytes) {
        reserve(bytes, 0, 0);
    }

    /**
     * The raw bytes of page {@code page} of {@code layer} (read-only), laid out as {@link PageLayout}.
     * On the CPU this is a view of the page itself (inaccessible once the cache is closed); on the CUDA
     * backend it is a host copy of the device page, taken now, which stays readable after close.
     *
     * @param layer layer index, {@code [0, layers)}
     * @param page page index, from 0
     * @return a read-only view (CPU) or copy (CUDA) of the page
     */
    public MemorySegment pageBytes(int layer, int page) {
        synchronized (lock) {
            requireOpen();
            int stored = tokens[checkLayer(layer)];
            int pages = setup.occupancy(layer).pagesFor(setup.occupancy(layer).packedTokens(stored));
            if (page < 0 || page >= pages) {
                throw new IllegalArgumentException("layer " + layer + " has " + pages + " pages, no page " + page);
            }
            return sequence.pageBytes(layer, page).asReadOnly();
        }
    }

    /**
     * Sparse outlier entries (TOKEN_MAJOR_SPARSE) of {@code layer}, keys or values; 0 for other forms.
     * For tests comparing backends.
     */
    int entryCount(int layer, boolean keys) {
        synchronized (lock) {
            requireOpen();
            return sequence.entries(layer, tokens[checkLayer(layer)], keys ? Tensor.KEYS : Tensor.VALUES);
        }
    }

    /**
     * A read-only copy (CUDA) or view (CPU) of sparse entry chunk {@code chunk} of {@code layer}: int16
     * channels [16384], then fp16 values [16384]. For tests comparing backends.
     *
     * @throws IllegalArgumentException when the layer holds no such chunk
     */
    MemorySegment entryChunk(int layer, boolean keys, int chunk) {
        synchronized (lock) {
            requireOpen();
            return sequence.entryChunk(layer, keys ? Tensor.KEYS : Tensor.VALUES, chunk).asReadOnly();
        }
    }

    /**
     * The byte layout of this cache's pages, which every layer shares unless a bit allocation gives the
     * layers different widths ({@link #pageLayout(int)}).
     *
     * @return the page layout
     * @throws IllegalStateException when the layers' layouts differ
     */
    public PageLayout pageLayout() {
        return setup.layout();
    }

    /**
     * The byte layout of one layer's pages (page format v2: its code parts depend on the layer's widths).
     *
     * @param layer layer index, {@code [0, layers)}
     * @return the page layout
     */
    public PageLayout pageLayout(int layer) {
        return setup.layout(checkLayer(layer));
    }

    private int checkLayer(int layer) {
        if (layer < 0 || layer >= tokens.length) {
            throw new IllegalArgumentException("layer " + layer + " is out of range [0, " + tokens.length + ")");
        }
        return layer;
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("the KV cache is closed");
        }
    }

    /**
     * Whether {@link #close()} has been called (or the pool closed); never blocks.
     *
     * @return true once closed; every other call then throws
     */
    public boolean isClosed() {
        return closed;
    }

    /**
     * Frees every page and returns the reservation to the pool; idempotent, callable from any thread.
     * A call in flight on another thread finishes first (this waits for it).
     */
    @Override
    public void close() {
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            try {
                sequence.close();
            } finally {
                try {
                    if (ownsEngines) {
                        engines.close();
                    }
                } finally {
                    if (pool != null) {
                        pool.released(this, reservedBytes);
                    }
                }
            }
        }
    }
}
