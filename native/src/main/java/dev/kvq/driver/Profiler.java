package dev.kvq.driver;

import dev.kvq.bindings.cuda.cuda_h;

/**
 * {@code cuProfilerStart}/{@code cuProfilerStop}: limit what Nsight Systems/Compute capture to a
 * region (run them with {@code --capture-range=cudaProfilerApi} / {@code --profile-from-start off}).
 * Without a profiler attached both calls do nothing.
 */
public final class Profiler {

    private Profiler() {
    }

    /** Starts profiler capture ({@code cuProfilerStart}). */
    public static void start() {
        CudaDriver.requireInitialized();
        CudaException.check(cuda_h.cuProfilerStart(), "cuProfilerStart");
    }

    /** Stops profiler capture ({@code cuProfilerStop}). */
    public static void stop() {
        CudaDriver.requireInitialized();
        CudaException.check(cuda_h.cuProfilerStop(), "cuProfilerStop");
    }
}
