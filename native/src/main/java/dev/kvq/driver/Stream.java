package dev.kvq.driver;

import dev.kvq.bindings.cuda.cuda_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicBoolean;

/** A CUDA stream: work on one stream runs in order; work on different streams may overlap. */
public final class Stream implements AutoCloseable {

    private static final Stream DEFAULT = new Stream(MemorySegment.NULL, true);

    private final MemorySegment handle;
    private final boolean isDefault;
    private final AtomicBoolean closed = new AtomicBoolean();

    private Stream(MemorySegment handle, boolean isDefault) {
        this.handle = handle;
        this.isDefault = isDefault;
    }

    /**
     * The legacy default (NULL) stream of the current context; closing it does nothing.
     *
     * @return the default stream
     */
    public static Stream defaultStream() {
        return DEFAULT;
    }

    /**
     * A new stream in the current context; {@code nonBlocking}: no implicit sync with the NULL stream.
     *
     * @param nonBlocking true for {@code CU_STREAM_NON_BLOCKING}
     * @return the new stream; close it to destroy it
     */
    public static Stream create(boolean nonBlocking) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            int flags = nonBlocking ? cuda_h.CU_STREAM_NON_BLOCKING() : cuda_h.CU_STREAM_DEFAULT();
            CudaException.check(cuda_h.cuStreamCreate(out, flags), "cuStreamCreate");
            return new Stream(out.get(ValueLayout.ADDRESS, 0), false);
        }
    }

    /**
     * A new blocking stream in the current context.
     *
     * @return the new stream; close it to destroy it
     */
    public static Stream create() {
        return create(false);
    }

    /** Waits until all work queued on this stream has finished. */
    public void synchronize() {
        CudaException.check(cuda_h.cuStreamSynchronize(handle()), "cuStreamSynchronize");
    }

    /**
     * The raw {@code CUstream} (NULL for the default stream).
     *
     * @return the stream handle, for calls the driver layer does not wrap
     */
    public MemorySegment handle() {
        if (closed.get()) {
            throw new IllegalStateException("stream is closed");
        }
        return handle;
    }

    /**
     * Whether {@link #close()} has run.
     *
     * @return true once the stream is destroyed
     */
    public boolean isClosed() {
        return closed.get();
    }

    @Override
    public void close() {
        if (!isDefault && closed.compareAndSet(false, true)) {
            CudaException.check(cuda_h.cuStreamDestroy_v2(handle), "cuStreamDestroy_v2");
        }
    }
}
