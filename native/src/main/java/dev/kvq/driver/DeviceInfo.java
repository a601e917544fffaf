package dev.kvq.driver;

import java.util.Locale;

/**
 * What the probe learned about one device; plain data, safe to keep after the driver is gone.
 *
 * @param ordinal                the device's CUDA ordinal (0-based)
 * @param name                   the marketing name, e.g. "NVIDIA H200"
 * @param computeCapabilityMajor e.g. 9 for sm_90
 * @param computeCapabilityMinor e.g. 0 for sm_90
 * @param multiprocessorCount    number of SMs
 * @param totalMemoryBytes       device memory in bytes
 */
public record DeviceInfo(int ordinal, String name, int computeCapabilityMajor, int computeCapabilityMinor,
                         int multiprocessorCount, long totalMemoryBytes) {

    /**
     * The architecture as nvcc spells it, e.g. {@code sm_90}.
     *
     * @return {@code sm_} followed by major and minor compute capability
     */
    public String arch() {
        return "sm_" + computeCapabilityMajor + computeCapabilityMinor;
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "#%d %s (compute capability %d.%d, %d SMs, %.1f GiB)", ordinal, name,
                computeCapabilityMajor, computeCapabilityMinor, multiprocessorCount,
                totalMemoryBytes / (double) (1L << 30));
    }
}
