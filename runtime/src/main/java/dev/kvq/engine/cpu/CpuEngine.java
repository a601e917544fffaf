package dev.kvq.engine.cpu;

import dev.kvq.engine.Budget;
import dev.kvq.engine.CacheSetup;
import dev.kvq.engine.Engine;
import dev.kvq.engine.Sequence;

/**
 * The CPU engine: pages in host memory ({@link CpuSequence}), attention with the Vector API kernels
 * (or their scalar references with {@code -Dkvq.simd=0}) split across the engine's threads
 * ({@link CpuThreads}: the caller plus a {@code ForkJoinPool} its sequences share). Sequences share
 * nothing else, so they run on different threads without contention.
 */
public final class CpuEngine implements Engine {
    private final CacheSetup setup;
    private final CpuThreads threads;

    /**
     * The engine for caches of {@code setup}.
     *
     * @param setup   the shape, spec, calibration and layout of the caches
     * @param threads threads a decode step runs on (the caller included), or 0 for the default: the
     *                system property {@code kvq.threads}, else the available processors
     * @throws IllegalArgumentException for a thread count outside [0, 256] or a bad {@code kvq.threads}
     */
    public CpuEngine(CacheSetup setup, int threads) {
        this.setup = setup;
        this.threads = new CpuThreads(threads);
    }

    /**
     * The threads a decode step of this engine's sequences runs on.
     *
     * @return at least 1
     */
    public int threads() {
        return threads.threads();
    }

    @Override
    public Sequence open(long firstPosition, Budget budget) {
        return new CpuSequence(setup, firstPosition, budget, threads);
    }

    @Override
    public void close() {
        threads.close();
    }
}
