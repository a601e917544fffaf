package dev.kvq.cache;

import dev.kvq.driver.DeviceMemory;
import dev.kvq.driver.Stream;
import dev.kvq.engine.cuda.CudaSequence;

/**
 * A decode step whose queries and outputs stay in device memory, for engines that run the rest of the model on
 * the GPU: each {@link #attend} is queued on the cache's {@link #stream()} (the query copied in, the fused
 * decode, its merge, the output copied out) without waiting, and {@link #finish} waits once for the whole step
 * and reports what the kernels found. A step over L layers therefore synchronizes once, however many layers it
 * attends, and allocates nothing.
 *
 * <pre>{@code
 * try (DeviceStep step = cache.deviceStep()) {
 *     for (int layer = 0; layer < layers; layer++) {
 *         // the model's own kernels on step.stream() write the post-RoPE query of this layer into q
 *         step.attend(layer, q, out);      // fp32 [queryHeads·headDim] each, device memory
 *         // ... and read out on the same stream
 *     }
 * }                                        // close() = finish(): one synchronization, errors thrown here
 * }</pre>
 *
 * <p>Work queued on {@link #stream()} runs in order, so the caller's kernels that produce a query or consume an
 * output order with the attends when they run on that stream. Appends ({@link KvCache#append}) keep their
 * synchronous contract and may be interleaved with a step's attends. A score that overflows fp32 (a query too
 * large for the keys, or one holding NaN or Inf, which cannot be checked on the host) makes {@link #finish} throw
 * {@link IllegalArgumentException}; the outputs of that step are then undefined. Not thread-safe: one thread per
 * step, like the cache's other calls; each call takes the cache's lock.
 */
public final class DeviceStep implements AutoCloseable {
    private final KvCache cache;
    private final CudaSequence sequence;
    private int queued;
    private boolean finished;

    DeviceStep(KvCache cache, CudaSequence sequence) {
        this.cache = cache;
        this.sequence = sequence;
    }

    /**
     * The stream the attends are queued on (the cache's own): run the kernels that write queries and read
     * outputs on it, or make another stream wait for it, so they order with the step.
     *
     * @return the cache's stream
     */
    public Stream stream() {
        return sequence.stream();
    }

    /**
     * Queues one decode step of {@code layer}: {@code query} holds the post-RoPE query of every head, fp32
     * {@code [queryHeads·headDim]} from byte 0; {@code out} receives the attention output in the same shape. The
     * query is read and the output written when the stream gets there; nothing waits here.
     *
     * @param layer layer index, {@code [0, layers)}, not empty
     * @param query device memory holding the query
     * @param out   device memory that receives the output
     * @throws IllegalStateException    when the step is finished or the cache closed, or the layer is empty
     * @throws IllegalArgumentException for a layer out of range or a buffer smaller than the vector
     */
    public void attend(int layer, DeviceMemory query, DeviceMemory out) {
        if (finished) {
            throw new IllegalStateException("this device step is finished; open a new one with KvCache.deviceStep()");
        }
        long bytes = (long) cache.shape().queryHeads() * cache.shape().headDim() * Float.BYTES;
        requireVector("query", query, bytes);
        requireVector("output", out, bytes);
        cache.attendQueued(layer, sequence, query, out);
        queued++;
    }

    private static void requireVector(String what, DeviceMemory m, long bytes) {
        if (m == null || m.isClosed()) {
            throw new IllegalArgumentException("the " + what + " buffer is " + (m == null ? "missing" : "freed"));
        }
        if (m.byteSize() < bytes) {
            throw new IllegalArgumentException("the " + what + " buffer holds " + m.byteSize() + " bytes, expected "
                    + bytes + " (queryHeads × headDim fp32)");
        }
    }

    /** The sequence the step queues on. */
    CudaSequence sequence() {
        return sequence;
    }

    /**
     * Layer attends queued so far.
     *
     * @return the count
     */
    public int queued() {
        return queued;
    }

    /**
     * Waits once for everything queued on the stream and throws what the kernels reported; idempotent.
     *
     * @throws IllegalArgumentException when a score or an output of the step overflowed fp32
     * @throws IllegalStateException    when the cache was closed, or a kernel found a bad index
     */
    public void finish() {
        if (finished) {
            return;
        }
        finished = true;
        cache.finishQueued(sequence, queued);
    }

    /** {@link #finish()}. */
    @Override
    public void close() {
        finish();
    }
}
