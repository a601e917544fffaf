package dev.kvq.cache;

import dev.kvq.driver.CudaDriver;

/**
 * Class-level condition of the GPU cache tests: enabled where the driver probe finds a device, so
 * they show as skipped elsewhere. With a device present, a backend that does not start is a failure,
 * not a skip. {@code -Dkvq.gpu.quick=true} (the sanitizer runs) keeps only the small cases.
 */
public final class GpuCondition {
    private GpuCondition() {}

    /** Whether a CUDA device is usable here. */
    public static boolean available() {
        return CudaDriver.probe().available();
    }

    /** Whether the long cases (a million tokens, the full batch) run. */
    public static boolean full() {
        return available() && !Boolean.getBoolean("kvq.gpu.quick");
    }
}
