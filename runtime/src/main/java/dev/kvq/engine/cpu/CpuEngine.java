package dev.kvq.engine.cpu;

import dev.kvq.engine.Budget;
import dev.kvq.engine.CacheSetup;
import dev.kvq.engine.Engine;
import dev.kvq.engine.Sequence;

/**
 * The CPU engine: pages in host memory ({@link CpuSequence}), attention with the Vector API kernels
 * of {@link PageKernels} (or their scalar references with {@code -Dkvq.simd=0}). Its sequences share
 * nothing, so they run on different threads without contention.
 */
public final class CpuEngine implements Engine {
    private final CacheSetup setup;

    /**
     * The engine for caches of {@code setup}.
     *
     * @param setup the shape, spec, calibration and layout of the caches
     */
    public CpuEngine(CacheSetup setup) {
        this.setup = setup;
    }

    @Override
    public Sequence open(long firstPosition, Budget budget) {
        return new CpuSequence(setup, firstPosition, budget);
    }

    @Override
    public void close() {
        // nothing shared to free
    }
}
