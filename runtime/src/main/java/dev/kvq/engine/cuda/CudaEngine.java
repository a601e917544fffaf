package dev.kvq.engine.cuda;

import dev.kvq.engine.Budget;
import dev.kvq.engine.CacheSetup;
import dev.kvq.engine.Engine;
import dev.kvq.engine.Sequence;
import dev.kvq.layout.PageLayout;
import dev.kvq.quant.QuantSpec;

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
        requireServed(setup);
        KvKernels.requireSupported(setup.shape(), setup.spec(), setup.layout());
        CudaRuntime runtime = CudaRuntime.shared();
        runtime.bind();
        KvKernels.allowShared(runtime, setup.shape(), setup.spec());
        return new CudaEngine(runtime, setup);
    }

    /**
     * The one rule of which caches this engine serves while its kernels write page format v1: those whose
     * page format v2 pages the v1 kernels can write up to what a host copy of a page converts
     * ({@link PageLayout#versionOneWriterDifference}: one width, D a multiple of 32, no window; rotate-half keys,
     * which the v1 kernels keep in logical order, are reordered and the outlier lists' per-head ends, which
     * they do not write, are derived when a page is copied to the host), and one key codebook per layer (the
     * pack kernel searches one). Every other setup
     * runs on the CPU engine; {@code Engines} logs the WARN naming this reason. It goes once the page format v2
     * kernels are wired in.
     *
     * @param setup the caches' setup
     * @throws UnsupportedOperationException naming what the v1 kernels would lay out differently
     */
    public static void requireServed(CacheSetup setup) {
        String difference = PageLayout.versionOneWriterDifference(setup.shape(), setup.spec());
        if (difference == null && setup.spec().keyCodebooks() == QuantSpec.KeyCodebooks.PER_CHANNEL) {
            difference = "per-channel key codebooks (the pack kernel searches one key codebook per layer)";
        }
        if (difference != null) {
            throw new UnsupportedOperationException(setup.spec().name() + " needs the CUDA kernels of page format v"
                    + PageLayout.VERSION + " for " + difference + "; the CUDA engine's kernels write page format v1");
        }
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
