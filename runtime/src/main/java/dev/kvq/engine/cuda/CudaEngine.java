package dev.kvq.engine.cuda;

import dev.kvq.engine.Budget;
import dev.kvq.engine.CacheSetup;
import dev.kvq.engine.Engine;
import dev.kvq.engine.Sequence;
import dev.kvq.layout.PageLayout;
import dev.kvq.quant.QuantSpec;

/**
 * The CUDA engine: pages on the device, byte for byte the CPU's (page format v2), packed and attended to by
 * kvq's PTX kernels ({@link KvKernels}: the v2 appends and the fused FlashDecoding decode) on the JVM's
 * {@link CudaRuntime}. Each sequence ({@link CudaSequence}) has its own stream, scratch and page tables. The
 * engine of a {@code KvCachePool} also owns the pool's device pages: per layer one {@link SharedPagePool} of a
 * fixed size from the pool's budget, from which its sequences take pages (no growth by copy); a standalone
 * cache's sequence keeps a private pool per layer instead.
 */
public final class CudaEngine implements Engine {
    private final CudaRuntime runtime;
    private final CacheSetup setup;
    private final SharedPagePool[] shared;   // per layer; null for a standalone cache
    private final Budget budget;             // the pool's, for the engine's own buffers; null when standalone
    private BatchDecoder batch;              // made by the first batched step; guarded by this

    private CudaEngine(CudaRuntime runtime, CacheSetup setup, SharedPagePool[] shared, Budget budget) {
        this.runtime = runtime;
        this.setup = setup;
        this.shared = shared;
        this.budget = budget;
    }

    /**
     * The CUDA engine for caches of {@code setup}, on the JVM's runtime (started now if it is not yet).
     *
     * @param setup the shape, spec, calibration and layout of the caches
     * @return the engine
     * @throws UnsupportedOperationException for a spec or geometry the kernels do not cover here
     * @throws IllegalStateException         when CUDA does not start
     */
    public static CudaEngine open(CacheSetup setup) {
        return open(setup, 0, null);
    }

    /**
     * The CUDA engine for the sequences of a pool whose budget is {@code pageBudget} bytes (0: a standalone cache,
     * whose sequence grows private pools). With a budget, every layer gets a {@link SharedPagePool} of
     * ⌊budget ÷ Σ_layers pageBytes⌋ pages now, so the pages of all layers together take at most the budget.
     *
     * @param setup      the shape, spec, calibration and layout of the caches
     * @param pageBudget the pool's budget in bytes, or 0
     * @param budget     the pool's budget as the engine's own buffers draw on it (a batched step's), or null
     * @return the engine
     * @throws UnsupportedOperationException for a spec or geometry the kernels do not cover here
     * @throws IllegalStateException         when CUDA does not start, or the pages do not fit on the device
     */
    public static CudaEngine open(CacheSetup setup, long pageBudget, Budget budget) {
        requireServed(setup);
        // the layers' layouts differ at most in their widths: the kernels' shapes and shared memory do not
        KvKernels.requireSupported(setup.shape(), setup.spec(), setup.layout(0));
        CudaRuntime runtime = CudaRuntime.shared();
        runtime.bind();
        KvKernels.allowShared(runtime, setup.shape(), setup.spec(), setup.layout(0));
        return new CudaEngine(runtime, setup, pageBudget > 0 ? sharedPools(runtime, setup, pageBudget) : null, budget);
    }

    /** One shared page pool per layer, each of ⌊budget ÷ Σ pageBytes⌋ pages; all or nothing. */
    private static SharedPagePool[] sharedPools(CudaRuntime runtime, CacheSetup setup, long budget) {
        int layers = setup.shape().layers();
        long rowBytes = 0;   // one page of every layer
        for (int l = 0; l < layers; l++) {
            rowBytes += setup.layout(l).pageBytes();
        }
        long pages = Math.min(budget / rowBytes, Integer.MAX_VALUE - 8);
        if (pages < 1) {
            throw new IllegalArgumentException("a pool budget of " + budget + " bytes holds no page: one page of every "
                    + "layer takes " + rowBytes + " bytes");
        }
        SharedPagePool[] pools = new SharedPagePool[layers];
        try {
            for (int l = 0; l < layers; l++) {
                pools[l] = new SharedPagePool(setup.layout(l).pageBytes(), (int) pages);
            }
            return pools;
        } catch (RuntimeException e) {
            for (SharedPagePool p : pools) {
                if (p != null) {
                    p.close();
                }
            }
            long free = runtime.context().memoryInfo().freeBytes();
            throw new IllegalStateException("the pool's device pages (" + pages + " pages per layer, " + pages * rowBytes
                    + " bytes, sized from its budget of " + budget + " bytes) do not fit on the device (" + free
                    + " bytes free): give the pool a smaller budget (" + e.getMessage() + ")", e);
        }
    }

    /**
     * The one rule of which caches this engine serves. Its page format v2 kernels ({@code kvq_pack_keys_v2},
     * {@code kvq_pack_values_v2}, {@code kvq_side_append}, the fused decode) cover one code width and the mixed
     * widths of a bit allocation (the {@code nuqaB} modes and the presets: each layer's width plan walked by width
     * group, {@code kvq_decode_packed_groups}) with fixed-slot or no outliers, sinks and a recent-token window,
     * both RoPE pairings, per-layer or per-channel key codebooks, any head dim and page size, and fp16 pages. They
     * do not cover fixed-slot lists longer than the format's 255 slots. The TOKEN_MAJOR_SPARSE form runs on the
     * format v1 kernels, within what they write ({@link PageLayout#versionOneWriterDifference}: one code width, no
     * window, whole 32-channel key groups, one key codebook per layer). Every other setup runs on the CPU engine;
     * {@code Engines} logs the WARN naming the reason.
     *
     * @param setup the caches' setup
     * @throws UnsupportedOperationException naming what the kernels do not cover
     */
    public static void requireServed(CacheSetup setup) {
        String missing = uncovered(setup);
        if (missing != null) {
            throw new UnsupportedOperationException(setup.spec().name() + " needs " + missing
                    + ", which the CUDA engine's kernels do not cover");
        }
    }

    /** What {@link #requireServed} refuses for {@code setup}, in words, or null. */
    private static String uncovered(CacheSetup setup) {
        QuantSpec spec = setup.spec();
        if (!spec.quantized()) {
            return null;
        }
        if (setup.layout(0).sparseOutliers()) {
            if (spec.allocated()) {
                return "TOKEN_MAJOR_SPARSE outliers with mixed code widths (the sparse form runs on the page format v1 "
                        + "kernels, which pack one width)";
            }
            if (spec.keyCodebooks() == QuantSpec.KeyCodebooks.PER_CHANNEL) {
                return "TOKEN_MAJOR_SPARSE outliers with per-channel key codebooks (the sparse form runs on the page "
                        + "format v1 kernels, whose pack kernel searches one key codebook per layer)";
            }
            String v1 = PageLayout.versionOneWriterDifference(setup.shape(), spec);
            return v1 == null ? null : "TOKEN_MAJOR_SPARSE outliers with " + v1
                    + " (the sparse form runs on the page format v1 kernels)";
        }
        int slots = Math.max(setup.layout(0).keySlots(), setup.layout(0).valueSlots());
        if (slots > PageLayout.MAX_FIXED_SLOTS) {
            return slots + " fixed outlier slots per token (the page format v2 kernels hold "
                    + PageLayout.MAX_FIXED_SLOTS + ")";
        }
        return null;
    }

    @Override
    public Sequence open(long firstPosition, Budget budget) {
        runtime.bind();
        return new CudaSequence(runtime, setup, firstPosition, budget, shared);
    }

    /**
     * {@inheritDoc}
     *
     * <p>Sequences of a pool on the fused page format v2 kernels decode as one batch: one fused decode launch over
     * (splits, Hkv, B) and one merge, their page tables, counts and queries up in one copy, the outputs and the
     * error word down in another, one synchronization ({@link BatchDecoder}). Others (a standalone cache's, the
     * sparse form's) attend one by one.
     */
    @Override
    public synchronized void attend(int layer, Sequence[] seqs, int[] stored, float[][] queries, float[][] outs) {
        CudaSequence[] cuda = new CudaSequence[seqs.length];
        boolean batched = shared != null;
        for (int i = 0; i < seqs.length && batched; i++) {
            batched = seqs[i] instanceof CudaSequence c && c.batchable();
            cuda[i] = batched ? (CudaSequence) seqs[i] : null;
        }
        if (!batched) {
            Engine.super.attend(layer, seqs, stored, queries, outs);
            return;
        }
        runtime.bind();
        if (batch == null) {
            batch = new BatchDecoder(runtime, setup, budget);
        }
        batch.attend(layer, shared[layer], cuda, stored, queries, outs);
    }

    /**
     * The shared page pool of {@code layer}, or null for a standalone cache's engine.
     *
     * @param layer layer index
     * @return the pool of that layer's pages
     */
    public SharedPagePool sharedPages(int layer) {
        return shared == null ? null : shared[layer];
    }

    /**
     * Frees the batch decoder and the shared page pools (the sequences gave their pages back when they closed); the
     * runtime stays.
     */
    @Override
    public synchronized void close() {
        if (batch != null) {
            batch.close();
            batch = null;
        }
        if (shared != null) {
            runtime.bind();
            for (SharedPagePool p : shared) {
                p.close();
            }
        }
    }
}
