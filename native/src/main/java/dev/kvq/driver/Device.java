package dev.kvq.driver;

import dev.kvq.bindings.cuda.cuda_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** One CUDA device (a {@code CUdevice} ordinal) and its properties. */
public final class Device {

    private final int handle;
    private final int ordinal;

    private Device(int handle, int ordinal) {
        this.handle = handle;
        this.ordinal = ordinal;
    }

    /**
     * Number of CUDA devices the driver sees.
     *
     * @return the device count; 0 when the driver sees none
     */
    public static int count() {
        CudaDriver.requireInitialized();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment n = arena.allocate(ValueLayout.JAVA_INT);
            CudaException.check(cuda_h.cuDeviceGetCount(n), "cuDeviceGetCount");
            return n.get(ValueLayout.JAVA_INT, 0);
        }
    }

    /**
     * The device with CUDA ordinal {@code ordinal}.
     *
     * @param ordinal index from 0 to {@link #count()} - 1
     * @return the device
     * @throws IllegalArgumentException when the ordinal is negative
     * @throws CudaException when there is no device with that ordinal
     */
    public static Device get(int ordinal) {
        if (ordinal < 0) {
            throw new IllegalArgumentException("device ordinal must be >= 0, got " + ordinal);
        }
        CudaDriver.requireInitialized();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment d = arena.allocate(ValueLayout.JAVA_INT);
            CudaException.check(cuda_h.cuDeviceGet(d, ordinal), "cuDeviceGet");
            return new Device(d.get(ValueLayout.JAVA_INT, 0), ordinal);
        }
    }

    /**
     * The CUDA ordinal this device was looked up by.
     *
     * @return the ordinal, from 0
     */
    public int ordinal() {
        return ordinal;
    }

    /**
     * The raw {@code CUdevice}.
     *
     * @return the device handle, for calls the driver layer does not wrap
     */
    public int handle() {
        return handle;
    }

    /**
     * The marketing name the driver reports, e.g. "NVIDIA H200".
     *
     * @return the device name
     */
    public String name() {
        try (Arena arena = Arena.ofConfined()) {
            int len = 256;
            MemorySegment buf = arena.allocate(len);
            CudaException.check(cuda_h.cuDeviceGetName(buf, len, handle), "cuDeviceGetName");
            return buf.getString(0);
        }
    }

    /**
     * {@code cuDeviceGetAttribute} for one {@code CU_DEVICE_ATTRIBUTE_*} value.
     *
     * @param attribute a {@code CUdevice_attribute} constant from the CUDA headers
     * @return the attribute's value for this device
     */
    public int attribute(int attribute) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(ValueLayout.JAVA_INT);
            CudaException.check(cuda_h.cuDeviceGetAttribute(v, attribute, handle), "cuDeviceGetAttribute");
            return v.get(ValueLayout.JAVA_INT, 0);
        }
    }

    /**
     * The major part of the compute capability (8 on Ampere, 9 on Hopper).
     *
     * @return the major version
     */
    public int computeCapabilityMajor() {
        return attribute(cuda_h.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR());
    }

    /**
     * The minor part of the compute capability.
     *
     * @return the minor version
     */
    public int computeCapabilityMinor() {
        return attribute(cuda_h.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR());
    }

    /**
     * The most shared memory a block may use once a kernel opts in
     * ({@code CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN}; 227 KiB on sm_90, 163 KiB on
     * sm_80). Launches above 48 KiB of dynamic shared memory must raise the kernel's limit first
     * ({@link Kernel#setMaxDynamicSharedMemory(int)}).
     *
     * @return bytes of shared memory per block with opt-in
     */
    public int maxSharedMemoryPerBlockOptin() {
        return attribute(cuda_h.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN());
    }

    /**
     * The number of streaming multiprocessors.
     *
     * @return the SM count
     */
    public int multiprocessorCount() {
        return attribute(cuda_h.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT());
    }

    /**
     * The device's memory size.
     *
     * @return total device memory in bytes
     */
    public long totalMemoryBytes() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(ValueLayout.JAVA_LONG);
            CudaException.check(cuda_h.cuDeviceTotalMem_v2(v, handle), "cuDeviceTotalMem_v2");
            return v.get(ValueLayout.JAVA_LONG, 0);
        }
    }

    /**
     * A snapshot of the properties the probe reports.
     *
     * @return name, compute capability, SM count and memory in one record
     */
    public DeviceInfo info() {
        return new DeviceInfo(ordinal, name(), computeCapabilityMajor(), computeCapabilityMinor(),
                multiprocessorCount(), totalMemoryBytes());
    }

    /**
     * Retains this device's primary context and makes it current on the calling thread.
     *
     * @return the retained context; closing it releases the retain
     */
    public Context primaryContext() {
        return Context.primary(this);
    }

    @Override
    public String toString() {
        return "Device[" + ordinal + "]";
    }
}
