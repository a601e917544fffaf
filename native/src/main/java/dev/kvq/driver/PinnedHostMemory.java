package dev.kvq.driver;

import dev.kvq.bindings.cuda.cuda_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Page-locked host memory ({@code cuMemAllocHost}): the DMA engines copy it at full bus speed and
 * asynchronously. Exposed as a {@link MemorySegment} that becomes inaccessible on {@link #close()}.
 */
@SuppressWarnings("restricted") // FFM: this class is where kvq talks to native code
public final class PinnedHostMemory implements AutoCloseable {

    private final MemorySegment raw;       // the driver's pointer, for cuMemFreeHost
    private final Arena arena;             // scopes the public segment: closing it revokes access
    private final MemorySegment segment;
    private final AtomicBoolean closed = new AtomicBoolean();

    private PinnedHostMemory(MemorySegment raw, long bytes) {
        this.raw = raw;
        this.arena = Arena.ofShared();
        this.segment = raw.reinterpret(bytes, arena, null);
    }

    /**
     * Allocates {@code bytes} (> 0) of page-locked host memory in the current context.
     *
     * @param bytes the size in bytes
     * @return the new block; close it to free the memory
     */
    public static PinnedHostMemory allocate(long bytes) {
        if (bytes <= 0) {
            throw new IllegalArgumentException("pinned allocation size must be > 0, got " + bytes);
        }
        CudaDriver.requireInitialized();
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment out = tmp.allocate(ValueLayout.ADDRESS);
            CudaException.check(cuda_h.cuMemAllocHost_v2(out, bytes), "cuMemAllocHost_v2");
            return new PinnedHostMemory(out.get(ValueLayout.ADDRESS, 0), bytes);
        }
    }

    /**
     * The memory as a segment of {@link #byteSize()} bytes; unusable after {@link #close()}.
     *
     * @return the host memory, usable from Java and for async copies
     */
    public MemorySegment segment() {
        if (closed.get()) {
            throw new IllegalStateException("pinned host memory (" + byteSize() + " bytes) is closed");
        }
        return segment;
    }

    /**
     * The size of the block.
     *
     * @return the size in bytes, as allocated
     */
    public long byteSize() {
        return segment.byteSize();
    }

    /**
     * Whether {@link #close()} has run.
     *
     * @return true once the memory is freed
     */
    public boolean isClosed() {
        return closed.get();
    }

    /** Revokes the segment, then frees the memory; idempotent. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            arena.close(); // fails (and keeps the memory) if another thread is inside an access
            CudaException.check(cuda_h.cuMemFreeHost(raw), "cuMemFreeHost");
        }
    }
}
