package dev.kvq.cache;

import dev.kvq.driver.CudaDriver;

/**
 * Class-level condition of the GPU cache tests: enabled where the driver probe finds a device, so
 * they show as skipped elsewhere. With a device present, a backend that does not start is a failure,
 * not a skip. {@code -Dkvq.gpu.quick=true} (the sanitizer runs) keeps only the small cases, and so
 * does the emulated driver.
 */
public final class GpuCondition {
    private GpuCondition() {}

    static {
        EmulatedDriver.installIfRequested();
    }

    /** Whether a CUDA device is usable here. */
    public static boolean available() {
        return CudaDriver.probe().available();
    }

    /**
     * Whether the long cases (a million tokens, the full batch, device OOM) run: not in quick mode, and
     * not on the emulated driver (runtime/src/test/emulator), whose kernels run on one host thread.
     */
    public static boolean full() {
        return available() && !Boolean.getBoolean("kvq.gpu.quick") && !emulated();
    }

    /** Whether the device out-of-memory case runs: on a GPU outside quick mode, and on the (small) emulated device. */
    public static boolean oomTestable() {
        return available() && !Boolean.getBoolean("kvq.gpu.quick");
    }

    /** Whether the device is the host emulation of the kernels (runtime/src/test/emulator). */
    public static boolean emulated() {
        return available() && CudaDriver.probe().devices().get(0).name().contains("emulated");
    }
}
