package dev.kvq.driver;

import dev.kvq.bindings.cuda.cuda_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A block of device memory ({@code cuMemAlloc}), freed on {@link #close()}.
 *
 * <p>Every copy checks its arguments (open, in bounds, a native host segment of the right size)
 * before it reaches the driver: a wrong offset would otherwise be a silent memory corruption or a
 * sticky {@code CUDA_ERROR_ILLEGAL_ADDRESS} that kills the context. Not safe for concurrent use
 * and close.
 */
public final class DeviceMemory implements AutoCloseable {

    private final long address;
    private final long byteSize;
    private final AtomicBoolean closed = new AtomicBoolean();

    private DeviceMemory(long address, long byteSize) {
        this.address = address;
        this.byteSize = byteSize;
    }

    /**
     * Allocates {@code bytes} (> 0) in the current context.
     *
     * @param bytes the size of the block in bytes
     * @return the new block; close it to free the memory
     * @throws IllegalArgumentException when {@code bytes} is not positive
     */
    public static DeviceMemory allocate(long bytes) {
        if (bytes <= 0) {
            throw new IllegalArgumentException("device allocation size must be > 0, got " + bytes);
        }
        CudaDriver.requireInitialized();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.JAVA_LONG);
            CudaException.check(cuda_h.cuMemAlloc_v2(out, bytes), "cuMemAlloc_v2");
            return new DeviceMemory(out.get(ValueLayout.JAVA_LONG, 0), bytes);
        }
    }

    /**
     * The device pointer ({@code CUdeviceptr}).
     *
     * @return the address to pass to kernels or to copies the driver layer does not wrap
     */
    public long address() {
        ensureOpen();
        return address;
    }

    /**
     * The size of the block.
     *
     * @return the size in bytes, as allocated
     */
    public long byteSize() {
        return byteSize;
    }

    /**
     * Whether {@link #close()} has run.
     *
     * @return true once the memory is freed
     */
    public boolean isClosed() {
        return closed.get();
    }

    /**
     * Copies all of {@code src} to the start of this block.
     *
     * @param src host memory, at most {@link #byteSize()} bytes
     */
    public void copyFromHost(MemorySegment src) {
        copyFromHost(src, 0, 0, src.byteSize());
    }

    /**
     * Copies {@code bytes} from {@code src[srcOffset..]} to {@code this[dstOffset..]}; synchronous.
     *
     * @param src host memory to copy from
     * @param srcOffset first byte to read in {@code src}
     * @param dstOffset first byte to write in this block
     * @param bytes number of bytes to copy
     */
    public void copyFromHost(MemorySegment src, long srcOffset, long dstOffset, long bytes) {
        MemorySegment host = hostSlice(src, srcOffset, bytes, false);
        Objects.checkFromIndexSize(dstOffset, bytes, byteSize);
        if (bytes == 0) {
            return;
        }
        CudaException.check(cuda_h.cuMemcpyHtoD_v2(address + dstOffset, host, bytes), "cuMemcpyHtoD_v2");
    }

    /**
     * Copies the start of this block into all of {@code dst}.
     *
     * @param dst host memory that receives the bytes, at most {@link #byteSize()} bytes
     */
    public void copyToHost(MemorySegment dst) {
        copyToHost(dst, 0, 0, dst.byteSize());
    }

    /**
     * Copies {@code bytes} from {@code this[srcOffset..]} to {@code dst[dstOffset..]}; synchronous.
     *
     * @param dst host memory that receives the bytes
     * @param dstOffset first byte to write in {@code dst}
     * @param srcOffset first byte to read in this block
     * @param bytes number of bytes to copy
     */
    public void copyToHost(MemorySegment dst, long dstOffset, long srcOffset, long bytes) {
        MemorySegment host = hostSlice(dst, dstOffset, bytes, true);
        Objects.checkFromIndexSize(srcOffset, bytes, byteSize);
        if (bytes == 0) {
            return;
        }
        CudaException.check(cuda_h.cuMemcpyDtoH_v2(host, address + srcOffset, bytes), "cuMemcpyDtoH_v2");
    }

    /**
     * Copies {@code bytes} from {@code src[srcOffset..]} to {@code this[dstOffset..]} on the device.
     *
     * @param src device memory to copy from (may be this block for non-overlapping ranges)
     * @param srcOffset first byte to read in {@code src}
     * @param dstOffset first byte to write in this block
     * @param bytes number of bytes to copy
     */
    public void copyFrom(DeviceMemory src, long srcOffset, long dstOffset, long bytes) {
        long from = deviceSlice(src, srcOffset, dstOffset, bytes);
        if (bytes == 0) {
            return;
        }
        CudaException.check(cuda_h.cuMemcpyDtoD_v2(address + dstOffset, from, bytes), "cuMemcpyDtoD_v2");
    }

    /**
     * Queues a host-to-device copy on {@code stream}. The host memory must stay alive and
     * unchanged until the stream has passed this point; it is truly asynchronous only when it
     * is page-locked ({@link PinnedHostMemory}).
     *
     * @param src host memory to copy from, ideally pinned
     * @param srcOffset first byte to read in {@code src}
     * @param dstOffset first byte to write in this block
     * @param bytes number of bytes to copy
     * @param stream the stream that orders the copy
     */
    public void copyFromHostAsync(MemorySegment src, long srcOffset, long dstOffset, long bytes, Stream stream) {
        MemorySegment host = hostSlice(src, srcOffset, bytes, false);
        Objects.checkFromIndexSize(dstOffset, bytes, byteSize);
        MemorySegment s = stream.handle();
        if (bytes == 0) {
            return;
        }
        CudaException.check(cuda_h.cuMemcpyHtoDAsync_v2(address + dstOffset, host, bytes, s), "cuMemcpyHtoDAsync_v2");
    }

    /**
     * Queues a device-to-host copy on {@code stream}; see {@link #copyFromHostAsync}.
     *
     * @param dst host memory that receives the bytes, ideally pinned
     * @param dstOffset first byte to write in {@code dst}
     * @param srcOffset first byte to read in this block
     * @param bytes number of bytes to copy
     * @param stream the stream that orders the copy
     */
    public void copyToHostAsync(MemorySegment dst, long dstOffset, long srcOffset, long bytes, Stream stream) {
        MemorySegment host = hostSlice(dst, dstOffset, bytes, true);
        Objects.checkFromIndexSize(srcOffset, bytes, byteSize);
        MemorySegment s = stream.handle();
        if (bytes == 0) {
            return;
        }
        CudaException.check(cuda_h.cuMemcpyDtoHAsync_v2(host, address + srcOffset, bytes, s), "cuMemcpyDtoHAsync_v2");
    }

    /**
     * Queues a device-to-device copy on {@code stream}.
     *
     * @param src device memory to copy from
     * @param srcOffset first byte to read in {@code src}
     * @param dstOffset first byte to write in this block
     * @param bytes number of bytes to copy
     * @param stream the stream that orders the copy
     */
    public void copyFromAsync(DeviceMemory src, long srcOffset, long dstOffset, long bytes, Stream stream) {
        long from = deviceSlice(src, srcOffset, dstOffset, bytes);
        MemorySegment s = stream.handle();
        if (bytes == 0) {
            return;
        }
        CudaException.check(cuda_h.cuMemcpyDtoDAsync_v2(address + dstOffset, from, bytes, s), "cuMemcpyDtoDAsync_v2");
    }

    /**
     * Sets {@code bytes} bytes from {@code offset} to {@code value}.
     *
     * @param value the byte to write
     * @param offset first byte to set
     * @param bytes number of bytes to set
     */
    public void fill(byte value, long offset, long bytes) {
        ensureOpen();
        Objects.checkFromIndexSize(offset, bytes, byteSize);
        if (bytes == 0) {
            return;
        }
        CudaException.check(cuda_h.cuMemsetD8_v2(address + offset, value, bytes), "cuMemsetD8_v2");
    }

    /**
     * Sets the whole block to {@code value}.
     *
     * @param value the byte to write
     */
    public void fill(byte value) {
        fill(value, 0, byteSize);
    }

    /** Frees the block; idempotent. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            CudaException.check(cuda_h.cuMemFree_v2(address), "cuMemFree_v2");
        }
    }

    @Override
    public String toString() {
        return String.format("DeviceMemory[0x%x, %d bytes%s]", address, byteSize, closed.get() ? ", closed" : "");
    }

    void ensureOpen() {
        if (closed.get()) {
            throw new IllegalStateException("device memory (" + byteSize + " bytes) is closed");
        }
    }

    private long deviceSlice(DeviceMemory src, long srcOffset, long dstOffset, long bytes) {
        ensureOpen();
        Objects.requireNonNull(src, "src");
        src.ensureOpen();
        Objects.checkFromIndexSize(srcOffset, bytes, src.byteSize);
        Objects.checkFromIndexSize(dstOffset, bytes, byteSize);
        return src.address + srcOffset;
    }

    /** Validates a host range and returns it as a slice; throws before any native call. */
    private MemorySegment hostSlice(MemorySegment host, long offset, long bytes, boolean writes) {
        ensureOpen();
        Objects.requireNonNull(host, "host segment");
        if (!host.isNative()) {
            // the driver needs a stable address; heap segments can move under the GC
            throw new IllegalArgumentException("host segment must be native (off-heap), got a heap segment");
        }
        if (writes && host.isReadOnly()) {
            throw new IllegalArgumentException("host segment is read-only");
        }
        Objects.checkFromIndexSize(offset, bytes, host.byteSize());
        return host.asSlice(offset, bytes); // also checks that the segment's arena is still alive
    }
}
