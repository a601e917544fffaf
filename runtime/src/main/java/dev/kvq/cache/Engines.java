package dev.kvq.cache;

import dev.kvq.engine.Budget;
import dev.kvq.engine.CacheSetup;
import dev.kvq.engine.Engine;
import dev.kvq.engine.Sequence;
import dev.kvq.engine.cpu.CpuEngine;
import dev.kvq.engine.cuda.CudaEngine;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.layout.PageLayout;
import dev.kvq.quant.QuantSpec;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

/**
 * Which engine the sequences of a cache or pool run on, decided here and nowhere else: the CPU engine
 * for a CPU backend; for CUDA the CUDA engine, unless it cannot serve this cache (no device, kernels
 * that do not load, a spec or geometry the kernels do not cover, device memory a sequence cannot
 * get): then that sequence runs on the CPU engine and a WARN names why. A snapshot opens on the requested
 * backend as well, but for the one case {@link #forSnapshot} names. Opened once per cache or pool; closing it closes the engines.
 */
final class Engines implements AutoCloseable {
    private static final Logger LOG = LogManager.getLogger(KvCache.class);

    /**
     * Opens the CUDA engine of a setup, with a pool's budget for its shared device pages (0 for a standalone
     * cache) and the pool's budget as the engine's own allocations draw on it (null for a standalone cache); any
     * {@link RuntimeException} or {@link LinkageError} means it cannot.
     */
    @FunctionalInterface
    interface Factory {
        Engine open(CacheSetup setup, long pageBudget, Budget engineBudget);
    }

    /** The CUDA factory; tests replace it (and restore it) to simulate start-up failures or fake devices. */
    static volatile Factory cuda = CudaEngine::open;

    /** The backend a sequence really got, and the sequence. */
    record Opened(Backend backend, Sequence sequence) {}

    private final Backend requested;
    private final CacheSetup setup;
    private final long pageBudget;    // a pool's budget for the device's shared pages; 0 when standalone
    private final Budget engineBudget; // what the engine itself allocates draws on it (a pool's); null when standalone
    private Engine device;            // the requested non-CPU engine, once opened
    private String deviceFailure;     // why it did not open
    private Engine cpu;               // the CPU engine, once needed

    /** The engines of a standalone cache ({@code pageBudget} 0, no engine budget) or of a pool with that budget. */
    Engines(Backend requested, CacheSetup setup, long pageBudget, Budget engineBudget) {
        this.requested = requested;
        this.setup = setup;
        this.pageBudget = pageBudget;
        this.engineBudget = engineBudget;
    }

    /** Opens a sequence on the requested backend, or on the CPU with a WARN when that backend cannot hold it. */
    synchronized Opened open(long firstPosition, Budget budget) {
        if (requested.kind() == Backend.Kind.CPU) {
            return new Opened(requested, cpu().open(firstPosition, budget));
        }
        String why = deviceFailure;
        if (why == null) {
            try {
                if (device == null) {
                    device = cuda.open(setup, pageBudget, engineBudget);
                }
                return new Opened(requested, device.open(firstPosition, budget));
            } catch (CacheBudgetExceededException e) {
                throw e;   // the budget, not the device: the CPU would be refused the same
            } catch (RuntimeException | LinkageError e) {
                String m = e.getMessage();
                why = "the CUDA backend did not start for this cache (" + e.getClass().getSimpleName()
                        + (m == null || m.isBlank() ? "" : ": " + m.strip()) + ")";
                if (device == null) {
                    deviceFailure = why;   // the engine itself cannot serve this setup: every sequence falls back
                }
            }
        }
        LOG.warn("falling back to the CPU: {}", why);
        return new Opened(new Backend(Backend.Kind.CPU, why, requested.threads()), cpu().open(firstPosition, budget));
    }

    /**
     * One decode step of {@code layer} for several sequences of this pool ({@link KvCachePool#attend}): one call
     * to the engine that holds them all (the CUDA engine batches them), or each in turn when they are spread over
     * engines (some fell back to the CPU).
     */
    void attend(int layer, Sequence[] seqs, Backend.Kind[] kinds, int[] stored, float[][] queries, float[][] outs) {
        Engine only = null;
        boolean same = true;
        synchronized (this) {
            for (Backend.Kind k : kinds) {
                Engine e = k == Backend.Kind.CPU ? cpu() : device;
                same &= only == null || only == e;
                only = e;
            }
            if (!same || only == null) {
                only = cpu();   // its default: each sequence in turn
            }
        }
        // outside this lock: a long step must not hold up the opening of other sequences
        only.attend(layer, seqs, stored, queries, outs);
    }

    private Engine cpu() {
        if (cpu == null) {
            cpu = new CpuEngine(setup, requested.threads());
        }
        return cpu;
    }

    /**
     * The backend a snapshot of {@code shape} and {@code spec} opens on: the requested one (the CUDA engine
     * copies the snapshot's pages onto the device, or {@link #open} falls back as for any cache it cannot
     * serve), except a TOKEN_MAJOR_SPARSE snapshot whose v2 key order differs from format v1's (rotate-half
     * pairs): the sparse form's CUDA kernels read format v1, so it opens on the CPU with a WARN naming why.
     */
    static Backend forSnapshot(Backend requested, AttentionShape shape, QuantSpec spec) {
        if (requested == null || requested.kind() == Backend.Kind.CPU || !spec.quantized() || !spec.hasOutliers()
                || spec.outlierForm() != QuantSpec.OutlierForm.TOKEN_MAJOR_SPARSE) {
            return requested;
        }
        String order = PageLayout.versionOneCodeDifference(shape, spec);
        if (order == null) {
            return requested;
        }
        String why = "a TOKEN_MAJOR_SPARSE snapshot with " + order + " opens on the CPU backend (the sparse form's "
                + "CUDA kernels read page format v1)";
        LOG.warn("falling back to the CPU: {}", why);
        return new Backend(Backend.Kind.CPU, why, requested.threads());
    }

    /** Closes the engines; their sequences are closed already. */
    @Override
    public synchronized void close() {
        try {
            if (device != null) {
                device.close();
            }
        } finally {
            if (cpu != null) {
                cpu.close();
            }
        }
    }
}
