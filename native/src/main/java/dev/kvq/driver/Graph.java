package dev.kvq.driver;

import dev.kvq.bindings.cuda.cuda_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * An executable CUDA graph ({@code CUgraphExec}) made by capturing the work one piece of code queues on a stream
 * ({@code cuStreamBeginCapture} … {@code cuStreamEndCapture}, {@code cuGraphInstantiate}). {@link #launch} then
 * replays all of it with one driver call, and the launches inside cost the device one graph's setup instead of
 * each kernel's. What was captured is fixed: kernel arguments are copied at capture time, so a replay uses the
 * addresses and values the captured calls had; anything that changes from step to step must be read by the
 * kernels from device memory. Closed once; {@link #close()} destroys it.
 */
public final class Graph implements AutoCloseable {
    private final MemorySegment exec;
    private final AtomicBoolean closed = new AtomicBoolean();

    private Graph(MemorySegment exec) {
        this.exec = exec;
    }

    /**
     * Captures what {@code work} queues on {@code stream} (thread-local capture mode: other threads' CUDA calls
     * are not affected) and instantiates it. Nothing {@code work} queues runs now. When {@code work} throws, the
     * capture is ended and dropped, and the exception propagates.
     *
     * @param stream a stream of the current context, not the legacy default stream (which cannot be captured)
     * @param work   queues the kernels and copies to capture, on {@code stream}, without synchronizing
     * @return the executable graph; close it to destroy it
     * @throws IllegalArgumentException for the default stream
     */
    public static Graph capture(Stream stream, Runnable work) {
        Objects.requireNonNull(stream, "stream");
        Objects.requireNonNull(work, "work");
        if (stream.handle().equals(MemorySegment.NULL)) {
            throw new IllegalArgumentException("the legacy default stream cannot be captured into a graph");
        }
        try (Arena arena = Arena.ofConfined()) {
            CudaException.check(cuda_h.cuStreamBeginCapture_v2(stream.handle(),
                    1 /* CU_STREAM_CAPTURE_MODE_THREAD_LOCAL */), "cuStreamBeginCapture_v2");
            MemorySegment graphOut = arena.allocate(ValueLayout.ADDRESS);
            try {
                work.run();
            } catch (RuntimeException | Error e) {
                int rc = cuda_h.cuStreamEndCapture(stream.handle(), graphOut);
                if (rc == 0 && !graphOut.get(ValueLayout.ADDRESS, 0).equals(MemorySegment.NULL)) {
                    cuda_h.cuGraphDestroy(graphOut.get(ValueLayout.ADDRESS, 0));
                }
                throw e;
            }
            CudaException.check(cuda_h.cuStreamEndCapture(stream.handle(), graphOut), "cuStreamEndCapture");
            MemorySegment graph = graphOut.get(ValueLayout.ADDRESS, 0);
            try {
                MemorySegment execOut = arena.allocate(ValueLayout.ADDRESS);
                CudaException.check(cuda_h.cuGraphInstantiateWithFlags(execOut, graph, 0), "cuGraphInstantiateWithFlags");
                return new Graph(execOut.get(ValueLayout.ADDRESS, 0));
            } finally {
                // the executable graph keeps what it needs; the captured one is no longer used
                CudaException.check(cuda_h.cuGraphDestroy(graph), "cuGraphDestroy");
            }
        }
    }

    /**
     * Queues one replay of the whole graph on {@code stream}: one driver call.
     *
     * @param stream the stream that orders the replay
     */
    public void launch(Stream stream) {
        if (closed.get()) {
            throw new IllegalStateException("the CUDA graph is destroyed");
        }
        CudaException.check(cuda_h.cuGraphLaunch(exec, stream.handle()), "cuGraphLaunch");
    }

    /**
     * Whether {@link #close()} has run.
     *
     * @return true once the graph is destroyed
     */
    public boolean isClosed() {
        return closed.get();
    }

    /** Destroys the executable graph; idempotent. A replay already queued still runs. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            CudaException.check(cuda_h.cuGraphExecDestroy(exec), "cuGraphExecDestroy");
        }
    }
}
