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

    /** Number of CUDA devices the driver sees. */
    public static int count() {
        CudaDriver.requireInitialized();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment n = arena.allocate(ValueLayout.JAVA_INT);
            CudaException.check(cuda_h.cuDeviceGetCount(n), "cuDeviceGetCount");
            return n.get(ValueLayout.JAVA_INT, 0);
        }
    }

    /** The device with CUDA ordinal {@code ordinal}. */
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

    public int ordinal() {
        return ordinal;
    }

    /** The raw {@code CUdevice}. */
    public int handle() {
        return handle;
    }

    public String name() {
        try (Arena arena = Arena.ofConfined()) {
            int len = 256;
            MemorySegment buf = arena.allocate(len);
            CudaException.check(cuda_h.cuDeviceGetName(buf, len, handle), "cuDeviceGetName");
            return buf.getString(0);
        }
    }

    /** {@code cuDeviceGetAttribute} for one {@code CU_DEVICE_ATTRIBUTE_*} value. */
    public int attribute(int attribute) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(ValueLayout.JAVA_INT);
            CudaException.check(cuda_h.cuDeviceGetAttribute(v, attribute, handle), "cuDeviceGetAttribute");
            return v.get(ValueLayout.JAVA_INT, 0);
        }
    }

    public int computeCapabilityMajor() {
        return attribute(cuda_h.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR());
    }

    public int computeCapabilityMinor() {
        return attribute(cuda_h.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR());
    }

    public int multiprocessorCount() {
        return attribute(cuda_h.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT());
    }

    public long totalMemoryBytes() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(ValueLayout.JAVA_LONG);
            CudaException.check(cuda_h.cuDeviceTotalMem_v2(v, handle), "cuDeviceTotalMem_v2");
            return v.get(ValueLayout.JAVA_LONG, 0);
        }
    }

    /** A snapshot of the properties the probe reports. */
    public DeviceInfo info() {
        return new DeviceInfo(ordinal, name(), computeCapabilityMajor(), computeCapabilityMinor(),
                multiprocessorCount(), totalMemoryBytes());
    }

    /** Retains this device's primary context and makes it current on the calling thread. */
    public Context primaryContext() {
        return Context.primary(this);
    }

    @Override
    public String toString() {
        return "Device[" + ordinal + "]";
    }
}
