package dev.kvq.driver;

import dev.kvq.bindings.cuda.cuda_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicBoolean;

/** A CUDA event: a marker in a stream, used here for GPU-side timing. */
public final class Event implements AutoCloseable {

    private final MemorySegment handle;
    private final AtomicBoolean closed = new AtomicBoolean();

    private Event(MemorySegment handle) {
        this.handle = handle;
    }

    /**
     * A timing-capable event in the current context.
     *
     * @return the new event; close it to destroy the driver object
     */
    public static Event create() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            CudaException.check(cuda_h.cuEventCreate(out, cuda_h.CU_EVENT_DEFAULT()), "cuEventCreate");
            return new Event(out.get(ValueLayout.ADDRESS, 0));
        }
    }

    /**
     * Records this event on {@code stream}.
     *
     * @param stream the stream whose work the event follows
     */
    public void record(Stream stream) {
        CudaException.check(cuda_h.cuEventRecord(handle(), stream.handle()), "cuEventRecord");
    }

    /** Waits for the work recorded before this event. */
    public void synchronize() {
        CudaException.check(cuda_h.cuEventSynchronize(handle()), "cuEventSynchronize");
    }

    /**
     * Milliseconds between {@code start} and this event (both recorded and completed;
     * the driver's resolution is about half a microsecond).
     *
     * @param start an event recorded earlier on the same context
     * @return the elapsed time in milliseconds
     */
    public float elapsedMillisSince(Event start) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ms = arena.allocate(ValueLayout.JAVA_FLOAT);
            CudaException.check(cuda_h.cuEventElapsedTime_v2(ms, start.handle(), handle()), "cuEventElapsedTime_v2");
            return ms.get(ValueLayout.JAVA_FLOAT, 0);
        }
    }

    /**
     * The raw {@code CUevent}, for calls the driver layer does not wrap.
     *
     * @return the event handle
     */
    public MemorySegment handle() {
        if (closed.get()) {
            throw new IllegalStateException("event is closed");
        }
        return handle;
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            CudaException.check(cuda_h.cuEventDestroy_v2(handle), "cuEventDestroy_v2");
        }
    }
}
