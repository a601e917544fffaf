package dev.kvq.engine.cuda;

import dev.kvq.engine.Budget;
import dev.kvq.engine.CacheSetup;
import dev.kvq.engine.Engine;
import dev.kvq.engine.Sequence;

/**
 * The CUDA engine: pages on the device, byte for byte the CPU's, packed and attended to by kvq's PTX
 * kernels ({@link KvKernels}) on the JVM's {@link CudaRuntime}. Each sequence ({@link CudaSequence})
 * has its own pools, stream and scratch today; a device page pool shared by a pool's sequences and
 * batched decode launches across them would live here.
 */
public final class CudaEngine implements Engine {
    private final CudaRuntime runtime;
    private final CacheSetup setup;

    private CudaEngine(CudaRuntime runtime, CacheSetup setup) {
        this.runtime = runtime;
        this.setup = setup;
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
        KvKernels.requireSupported(setup.shape(), setup.spec(), setup.layout());
        CudaRuntime runtime = CudaRuntime.shared();
        runtime.bind();
        KvKernels.allowShared(runtime, setup.shape(), setup.spec());
        return new CudaEngine(runtime, setup);
    }

    @Override
    public Sequence open(long firstPosition, Budget budget) {
        runtime.bind();
        return new CudaSequence(runtime, setup, firstPosition, budget);
    }

    @Override
    public void close() {
        // the runtime lives as long as the JVM; sequences own their device memory
    }
}
