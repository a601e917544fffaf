package dev.kvq.cache;

import dev.kvq.driver.Graph;
import dev.kvq.engine.cuda.CudaSequence;
import dev.kvq.engine.cuda.LayerView;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * A decode step of a CUDA cache captured once in a CUDA graph and replayed at every token: the caller's
 * {@code work} queues the whole step on {@link DeviceStep#stream()} (its own kernels that make each layer's query
 * and use each output, and {@link DeviceStep#attend} for every layer), and {@link #launch} replays all of it with
 * one driver call instead of four per layer attend plus the caller's launches.
 *
 * <pre>{@code
 * try (DeviceGraph step = DeviceGraph.capture(cache, s -> {
 *          for (int layer = 0; layer < layers; layer++) {
 *              // the model's kernels on s.stream(): the query of this layer into q
 *              s.attend(layer, q, out);
 *              // ... and what reads out
 *          }
 *      })) {
 *     for (int token = 0; token < n; token++) {
 *         // appends (KvCache.append) as usual, between replays
 *         step.launch();     // one driver call
 *         step.finish();     // one synchronization; kernel errors thrown here
 *     }
 * }
 * }</pre>
 *
 * <p>A replay reads everything that changes from token to token from device memory (token counts, positions,
 * page tables), so appends between replays need nothing more. What a graph cannot follow is the device layout
 * moving: a page table that grew into a new allocation, a side buffer allocated by the first sink. {@link #launch}
 * checks that first and captures {@code work} again when it moved (so {@code work} must queue the same step each
 * time it runs); {@link #captures()} counts the captures. Replays need no {@link #finish} in between: an engine
 * that keeps everything on the device may replay token after token without any synchronization and finish now
 * and then (the error word keeps the first error a kernel reports until a finish reads it). Not thread-safe; the
 * cache's lock is taken per call.
 */
public final class DeviceGraph implements AutoCloseable {
    private final KvCache cache;
    private final CudaSequence sequence;
    private final Consumer<DeviceStep> work;
    private Graph graph;
    private List<LayerView> layout;   // what the captured work addresses
    private int captures;
    private boolean closed;

    private DeviceGraph(KvCache cache, CudaSequence sequence, Consumer<DeviceStep> work) {
        this.cache = cache;
        this.sequence = sequence;
        this.work = work;
    }

    /**
     * Captures the step {@code work} queues on the cache's stream (nothing runs yet).
     *
     * @param cache a cache on the CUDA engine whose layers {@code work} attends are not empty
     * @param work  queues one whole step through the {@link DeviceStep} it is given, without waiting; it may run
     *              again when the graph is captured anew
     * @return the graph, owned by the caller
     * @throws UnsupportedOperationException when the cache's pages are not on a device
     */
    public static DeviceGraph capture(KvCache cache, Consumer<DeviceStep> work) {
        Objects.requireNonNull(cache, "cache");
        Objects.requireNonNull(work, "work");
        DeviceStep probe = cache.deviceStep();   // checks the backend and that the cache is open
        DeviceGraph g = new DeviceGraph(cache, probe.sequence(), work);
        g.recapture();
        return g;
    }

    private void recapture() {
        if (graph != null) {
            graph.close();
            graph = null;
        }
        List<LayerView> before = cache.underLock(sequence::deviceLayout);
        // the step is not finished inside the capture: finishing waits, which a capture cannot
        graph = cache.underLock(() -> {
            sequence.bind();
            return Graph.capture(sequence.stream(), () -> work.accept(new DeviceStep(cache, sequence)));
        });
        layout = before;
        captures++;
    }

    /**
     * Queues one replay of the captured step on the cache's stream, after capturing it anew if the cache's device
     * layout moved since the last capture.
     *
     * @throws IllegalStateException when the graph or the cache is closed
     */
    public void launch() {
        if (closed) {
            throw new IllegalStateException("the device graph is closed");
        }
        if (!cache.underLock(sequence::deviceLayout).equals(layout)) {   // host state only: no driver call
            recapture();
        }
        cache.underLock(() -> {
            sequence.bind();
            graph.launch(sequence.stream());
            return null;
        });
    }

    /**
     * Waits once for the replays queued so far and throws what the kernels reported, as {@link DeviceStep#finish}.
     *
     * @throws IllegalArgumentException when a score or an output overflowed fp32
     * @throws IllegalStateException    when the cache is closed, or a kernel found a bad index
     */
    public void finish() {
        cache.finishQueued(sequence, -1);
    }

    /**
     * How many times the step was captured: once, plus once per device layout move.
     *
     * @return the count
     */
    public int captures() {
        return captures;
    }

    /** Destroys the graph (a replay already queued still runs); idempotent. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            if (graph != null) {
                cache.closeOnDevice(sequence, graph);
                graph = null;
            }
        }
    }
}
