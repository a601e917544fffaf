package dev.kvq.engine.cuda.profiling;

import dev.kvq.driver.DeviceMemory;
import dev.kvq.driver.Event;
import dev.kvq.driver.Stream;
import dev.kvq.engine.Budget;
import dev.kvq.engine.CacheSetup;
import dev.kvq.engine.Tensor;
import dev.kvq.engine.cuda.CudaEngine;
import dev.kvq.engine.cuda.CudaRuntime;
import dev.kvq.engine.cuda.CudaSequence;
import dev.kvq.engine.cuda.DevicePages;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.layout.Occupancy;
import dev.kvq.layout.PageLayout.Part;
import dev.kvq.layout.PageLayout;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.QuantSpec;

/**
 * The CUDA engine's profiling hooks, for the GPU benchmark harness only: this package is exported to
 * the {@code dev.kvq.bench} module and to nothing else, so none of it is API. A profiler is one CUDA
 * sequence opened on the engine directly, without a cache around it (no validation, no budget: its
 * inputs are the harness's synthetic data). Its layers are filled by real appends and then extended
 * by copying whole pages on the device ({@link #repeatPagesTo}), and the kernels of a decode step are
 * timed with CUDA events on the sequence's stream. Times come back raw, one per repetition: the
 * harness takes the medians.
 */
public final class CudaProfiler implements AutoCloseable {
    private final CacheSetup setup;
    private final CudaEngine engine;
    private final CudaSequence sequence;
    private final int[] tokens;

    /** Device memory the profiler's sequence could not get (there is no budget to refuse it sooner). */
    public static final class DeviceMemoryExhausted extends RuntimeException {
        private static final long serialVersionUID = 1L;

        DeviceMemoryExhausted(String message) {
            super(message);
        }
    }

    static final Budget UNLIMITED = new Budget() {
        @Override
        public void reserve(long bytes, int layer, int tokens) {
            // the harness sizes its runs itself; the device says when it is full
        }

        @Override
        public void reserveScratch(long bytes, String what) {
            // as for pages: the device says when it is full
        }

        @Override
        public void unreserve(long bytes) {
            // nothing was reserved
        }

        @Override
        public RuntimeException exceeded(String message) {
            return new DeviceMemoryExhausted(message);
        }
    };

    private CudaProfiler(CacheSetup setup) {
        this.setup = setup;
        this.engine = CudaEngine.open(setup);
        this.sequence = (CudaSequence) engine.open(0, UNLIMITED);
        this.tokens = new int[setup.shape().layers()];
    }

    /**
     * An empty sequence on the JVM's CUDA engine.
     *
     * @param shape       the geometry
     * @param spec        what is stored
     * @param calibration thresholds and codebooks (null for fp16)
     * @param pageTokens  tokens per page
     * @return the profiler; close it to free its device memory
     * @throws UnsupportedOperationException when the CUDA kernels do not cover this spec or geometry here
     * @throws IllegalStateException         when CUDA does not start
     */
    public static CudaProfiler open(AttentionShape shape, QuantSpec spec, Calibration calibration, int pageTokens) {
        return new CudaProfiler(CacheSetup.of(shape, spec, calibration, pageTokens));
    }

    /**
     * The device the JVM's CUDA engine runs on.
     *
     * @return its name and properties
     */
    public static String device() {
        return CudaRuntime.shared().device().toString();
    }

    /**
     * Tokens of {@code layer} the kernels see.
     *
     * @param layer layer index
     * @return the token count
     */
    public int length(int layer) {
        return tokens[layer];
    }

    /**
     * Appends tokens to {@code layer} on the device, as a cache would.
     *
     * @param layer  layer index
     * @param keys   pre-RoPE keys {@code [n][D]}
     * @param values values {@code [n][D]}
     */
    public void append(int layer, float[] keys, float[] values) {
        int n = keys.length / setup.shape().kvChannels();
        sequence.append(layer, tokens[layer], keys, values, n);
        tokens[layer] += n;
    }

    /**
     * Extends {@code layer} to {@code target} tokens by copying its whole packed pages over and over on
     * the device (timing does not depend on the codes' values, and packing a million real tokens per
     * mode would dominate the benchmark). Needs at least one full page.
     *
     * @param layer  layer index
     * @param target tokens afterwards
     * @throws UnsupportedOperationException for sparse outliers (copied pages would point at entries
     *                                       that were never written)
     */
    public void repeatPagesTo(int layer, int target) {
        repeatPages(setup, sequence, layer, tokens[layer], target);
        tokens[layer] = target;
    }

    /** {@link #repeatPagesTo} on any of the engine's sequences holding {@code stored} tokens of {@code layer}. */
    static void repeatPages(CacheSetup setup, CudaSequence sequence, int layer, int stored, int target) {
        sequence.bind();
        if (sequence.sparse()) {
            throw new UnsupportedOperationException("repeating pages needs fixed-slot outliers or none, not "
                    + QuantSpec.OutlierForm.TOKEN_MAJOR_SPARSE);
        }
        Occupancy occupancy = setup.occupancy(layer);
        int full = occupancy.packedTokens(stored) / setup.layout(layer).pageTokens();
        if (full < 1 || target < stored) {
            throw new IllegalArgumentException("need at least one full page and target >= stored, got " + stored
                    + " -> " + target);
        }
        DevicePages p = sequence.pages(layer);
        int need = occupancy.pagesFor(occupancy.packedTokens(target));
        p.grow(need);
        long pageBytes = setup.layout(layer).pageBytes();
        if (p.shared()) {
            // a pool's sequence: its pages are wherever the shared pool's free list put them, so one copy each
            for (int i = full; i < need; i++) {
                p.pool().copyFrom(p.pool(), p.pageOffset(i % full), p.pageOffset(i), pageBytes);
            }
        } else {
            // a private pool is in order: double the filled prefix with one copy each time
            int have = full;
            while (have < need) {
                int copy = Math.min(have, need - have);
                p.pool().copyFrom(p.pool(), 0, (long) have * pageBytes, (long) copy * pageBytes);
                have += copy;
            }
        }
        sequence.publish(layer, target);
    }

    /**
     * Bytes the key-score kernel must read for {@code layer}: key codes and fixed key outlier slots
     * (or fp16 keys) of the packed tokens, and the sink keys.
     *
     * @param layer layer index
     * @return bytes
     */
    public long keyBytes(int layer) {
        return readBytes(layer, Part.KEY_CODES, Part.KEY_OUT_CHANNEL, Part.KEY_OUT_VALUE, Part.KEYS);
    }

    /**
     * Bytes the value kernels must read for {@code layer}: value codes, zero-points, scales and fixed
     * value slots (or fp16 values) of the packed tokens, and the sink values; not the weights.
     *
     * @param layer layer index
     * @return bytes
     */
    public long valueBytes(int layer) {
        return readBytes(layer, Part.VALUE_CODES, Part.VALUE_ZERO, Part.VALUE_SCALE, Part.VALUE_OUT_CHANNEL,
                Part.VALUE_OUT_VALUE, Part.VALUES);
    }

    private long readBytes(int layer, Part... parts) {
        PageLayout layout = setup.layout(layer);
        long perPage = 0;
        for (Part part : parts) {
            perPage += layout.bytes(part);
        }
        Occupancy occupancy = setup.occupancy(layer);
        return perPage * occupancy.packedTokens(tokens[layer]) / layout.pageTokens()
                + (long) occupancy.sinks().capacity() * setup.shape().kvChannels() * 2;
    }

    /** What {@link #time} times. */
    public enum Launch {
        /** The key-score kernels. */
        SCORES,
        /** The softmax kernel. */
        SOFTMAX,
        /** The value kernels (partials and reduction). */
        VALUES,
        /** The three queued back to back: one decode step. */
        STEP
    }

    /**
     * GPU times of kernels of one decode step of {@code layer}, each repetition between two events on
     * the sequence's stream. Before timing, one step's scores and softmax run, so the value kernels
     * read real weights.
     *
     * @param layer  layer index
     * @param query  {@code [Hq·d]}
     * @param what   which launches
     * @param warmup untimed repetitions
     * @param repeat timed repetitions
     * @return ms of each timed repetition
     */
    public double[] time(int layer, float[] query, Launch what, int warmup, int repeat) {
        sequence.bind();
        CudaSequence.DecodeLaunches step = sequence.launches(layer, tokens[layer], query);
        step.scores().run();
        step.softmax().run();
        Runnable body = switch (what) {
            case SCORES -> step.scores();
            case SOFTMAX -> step.softmax();
            case VALUES -> step.values();
            case STEP -> () -> {
                step.scores().run();
                step.softmax().run();
                step.values().run();
            };
        };
        double[] ms = eventTimes(body, warmup, repeat);
        sequence.requireNoKernelError("timing layer " + layer);
        return ms;
    }

    /**
     * GPU times of one decode step over every layer, all queued on the stream back to back (each
     * layer's scores → softmax → values; no host round trip). Every layer must hold as many tokens.
     *
     * @param query  {@code [Hq·d]}
     * @param warmup untimed repetitions
     * @param repeat timed repetitions
     * @return ms of each timed repetition
     */
    public double[] timeAllLayers(float[] query, int warmup, int repeat) {
        sequence.bind();
        int stored = tokens[0];
        CudaSequence.DecodeLaunches[] steps = new CudaSequence.DecodeLaunches[tokens.length];
        for (int l = 0; l < tokens.length; l++) {
            if (tokens[l] != stored) {
                throw new IllegalArgumentException("layer " + l + " holds " + tokens[l] + " tokens, layer 0 " + stored
                        + ": the layers share one step's buffers");
            }
            steps[l] = sequence.launches(l, stored, query);
        }
        double[] ms = eventTimes(() -> {
            for (CudaSequence.DecodeLaunches step : steps) {
                step.scores().run();
                step.softmax().run();
                step.values().run();
            }
        }, warmup, repeat);
        sequence.requireNoKernelError("timing all layers");
        return ms;
    }

    private double[] eventTimes(Runnable body, int warmup, int repeat) {
        Stream stream = sequence.stream();
        for (int i = 0; i < warmup; i++) {
            body.run();
        }
        double[] ms = new double[repeat];
        try (Event start = Event.create(); Event stop = Event.create()) {
            for (int i = 0; i < repeat; i++) {
                start.record(stream);
                body.run();
                stop.record(stream);
                stop.synchronize();
                ms[i] = stop.elapsedMillisSince(start);
            }
        }
        return ms;
    }

    /**
     * One decode step of {@code layer} through the engine, uploads and downloads included.
     *
     * @param layer layer index
     * @param query {@code [Hq·d]}
     * @param out   receives {@code [Hq·d]}
     */
    public void attend(int layer, float[] query, float[] out) {
        sequence.attend(layer, tokens[layer], query, out);
    }

    /**
     * The scaled key scores of {@code layer}.
     *
     * @param layer  layer index
     * @param query  {@code [Hq·d]}
     * @param scores receives {@code [Hq][length(layer)]}
     */
    public void keyScores(int layer, float[] query, float[] scores) {
        sequence.keyScores(layer, tokens[layer], query, scores);
    }

    /**
     * The keys of {@code layer} as attention sees them (post-RoPE), copied back and decoded.
     *
     * @param layer layer index
     * @return {@code [length(layer)][D]}
     */
    public float[] decodeKeys(int layer) {
        return sequence.decode(layer, tokens[layer], Tensor.KEYS);
    }

    /**
     * The values of {@code layer}, copied back and decoded.
     *
     * @param layer layer index
     * @return {@code [length(layer)][D]}
     */
    public float[] decodeValues(int layer) {
        return sequence.decode(layer, tokens[layer], Tensor.VALUES);
    }

    /**
     * A device-to-device copy of up to 2 GiB (less on a small device), timed with events.
     *
     * @param bytes  bytes copied per repetition
     * @param ms     ms of each repetition
     */
    public record CopyTimes(long bytes, double[] ms) {}

    /**
     * Times {@code repeat} device-to-device copies of one buffer into another (after one untimed copy).
     *
     * @param repeat timed repetitions
     * @return the bytes copied and the time of each copy
     */
    public static CopyTimes deviceCopy(int repeat) {
        CudaRuntime runtime = CudaRuntime.shared();
        runtime.bind();
        long free = runtime.context().memoryInfo().freeBytes();
        long bytes = Math.max(1L << 20, Math.min(2L << 30, free / 4) & ~((1L << 20) - 1));
        try (DeviceMemory a = DeviceMemory.allocate(bytes); DeviceMemory b = DeviceMemory.allocate(bytes);
             Stream s = Stream.create(true); Event e0 = Event.create(); Event e1 = Event.create()) {
            a.fill((byte) 1);
            double[] ms = new double[repeat];
            b.copyFromAsync(a, 0, 0, bytes, s);
            for (int i = 0; i < ms.length; i++) {
                e0.record(s);
                b.copyFromAsync(a, 0, 0, bytes, s);
                e1.record(s);
                e1.synchronize();
                ms[i] = e1.elapsedMillisSince(e0);
            }
            return new CopyTimes(bytes, ms);
        }
    }

    /** Frees the sequence's device memory. */
    @Override
    public void close() {
        try {
            sequence.close();
        } finally {
            engine.close();
        }
    }
}
