package dev.kvq.driver;

import dev.kvq.bindings.cuda.cuda_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A device's primary context (the one the CUDA runtime shares), retained on creation and
 * released on {@link #close()}. CUDA binds contexts to threads: {@link #primary} makes it
 * current on the calling thread; other threads call {@link #makeCurrent()} before any work.
 */
public final class Context implements AutoCloseable {

    /**
     * Free and total device memory, as {@code cuMemGetInfo} reports them.
     *
     * @param freeBytes bytes not yet allocated on the device (by any process)
     * @param totalBytes the device's memory size
     */
    public record MemoryInfo(long freeBytes, long totalBytes) {
    }

    private final Device device;
    private final MemorySegment handle;
    private final AtomicBoolean closed = new AtomicBoolean();

    private Context(Device device, MemorySegment handle) {
        this.device = device;
        this.handle = handle;
    }

    /**
     * Retains {@code device}'s primary context and makes it current on the calling thread.
     *
     * @param device the device whose primary context to retain
     * @return the retained context; closing it releases the retain
     */
    public static Context primary(Device device) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            CudaException.check(cuda_h.cuDevicePrimaryCtxRetain(out, device.handle()), "cuDevicePrimaryCtxRetain");
            Context ctx = new Context(device, out.get(ValueLayout.ADDRESS, 0));
            try {
                ctx.makeCurrent();
            } catch (RuntimeException e) {
                ctx.close();
                throw e;
            }
            return ctx;
        }
    }

    /**
     * The device this context belongs to.
     *
     * @return the device, also after the context is closed
     */
    public Device device() {
        return device;
    }

    /** Binds this context to the calling thread. */
    public void makeCurrent() {
        ensureOpen();
        CudaException.check(cuda_h.cuCtxSetCurrent(handle), "cuCtxSetCurrent");
    }

    /** Waits for all work in this context (the calling thread's current one). */
    public void synchronize() {
        ensureOpen();
        CudaException.check(cuda_h.cuCtxSynchronize(), "cuCtxSynchronize");
    }

    /**
     * Free and total memory of the current context's device.
     *
     * @return the free and total bytes at the time of the call
     */
    public MemoryInfo memoryInfo() {
        ensureOpen();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment free = arena.allocate(ValueLayout.JAVA_LONG);
            MemorySegment total = arena.allocate(ValueLayout.JAVA_LONG);
            CudaException.check(cuda_h.cuMemGetInfo_v2(free, total), "cuMemGetInfo_v2");
            return new MemoryInfo(free.get(ValueLayout.JAVA_LONG, 0), total.get(ValueLayout.JAVA_LONG, 0));
        }
    }

    /**
     * The raw {@code CUcontext}.
     *
     * @return the context handle, for calls the driver layer does not wrap
     * @throws IllegalStateException when the context is closed
     */
    public MemorySegment handle() {
        ensureOpen();
        return handle;
    }

    /**
     * Whether {@link #close()} has run.
     *
     * @return true once closed; every other method then throws
     */
    public boolean isClosed() {
        return closed.get();
    }

    /** Releases the retained primary context; idempotent. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            CudaException.check(cuda_h.cuDevicePrimaryCtxRelease_v2(device.handle()), "cuDevicePrimaryCtxRelease_v2");
        }
    }

    private void ensureOpen() {
        if (closed.get()) {
            throw new IllegalStateException("context of " + device + " is closed");
        }
    }
}
