package dev.kvq.cache;

import static dev.kvq.cache.CacheFixtures.calibration;
import static dev.kvq.cache.CacheFixtures.randomQuery;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.driver.DeviceMemory;
import dev.kvq.engine.cuda.CudaRuntime;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.QuantSpec;
import dev.kvq.quant.SyntheticActivations;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;

/**
 * The host path of a decode step on the CUDA engine (issue 15, DECODE-PERF §4), counted by the emulated driver
 * ({@code kvq_emu_counters} of runtime/src/test/emulator), over a 32-layer cache at two lengths (one and two
 * decode splits), through both APIs: with host arrays ({@link KvCache#attend}: per layer one synchronization,
 * query in and output with the error word out) and with device memory ({@link DeviceStep}: no synchronization
 * per layer, one for the whole step, nothing copied between host and device but the error word). Either way no
 * allocation, and as many driver calls and bytes copied at every length. Writes the numbers to
 * {@code target/host-path.json} for {@code tests/device/proxies.sh}.
 */
@Tag("gpu")
@EnabledIf("dev.kvq.cache.GpuCondition#emulated")
class GpuHostPathTest {
    /** Order of kvq_emu_counters' output. */
    private static final String[] NAMES = {"driver_calls", "syncs", "allocations", "frees", "copies", "bytes_up",
            "bytes_down", "launches"};
    private static final int LAYERS = 32;

    private static long[] counters() {
        String lib = System.getProperty("kvq.cuda.driver");
        try {
            MethodHandle read = Linker.nativeLinker().downcallHandle(
                    SymbolLookup.libraryLookup(Path.of(lib), Arena.global()).find("kvq_emu_counters").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment out = arena.allocate(ValueLayout.JAVA_LONG, NAMES.length);
                int n = (int) read.invokeExact(out, NAMES.length);
                assertEquals(NAMES.length, n, "counters of the emulated driver");
                return out.toArray(ValueLayout.JAVA_LONG);
            }
        } catch (Throwable t) {
            throw new AssertionError("cannot read the emulated driver's counters from " + lib, t);
        }
    }

    /** Counter deltas of one decode step with host arrays: every layer attended once. */
    private static long[] step(KvCache cache, AttentionShape shape, long seed) {
        float[] q = randomQuery(shape, seed);
        float[] out = new float[q.length];
        long[] before = counters();
        for (int l = 0; l < LAYERS; l++) {
            cache.attend(l, q, out);
        }
        return since(before);
    }

    /** Counter deltas of one decode step whose query and output stay on the device, finished once. */
    private static long[] deviceStep(KvCache cache, DeviceMemory query, DeviceMemory out) {
        long[] before = counters();
        try (DeviceStep step = cache.deviceStep()) {
            for (int l = 0; l < LAYERS; l++) {
                step.attend(l, query, out);
            }
        }
        return since(before);
    }

    /** Counter deltas of one replay of a captured L-layer device step, finished once. */
    private static long[] graphStep(DeviceGraph graph) {
        long[] before = counters();
        graph.launch();
        graph.finish();
        return since(before);
    }

    private static long[] since(long[] before) {
        long[] after = counters();
        long[] delta = new long[after.length];
        for (int i = 0; i < delta.length; i++) {
            delta[i] = after[i] - before[i];
        }
        return delta;
    }

    @Test
    void aDecodeStepSynchronizesOncePerLayerOrOncePerDeviceStepAndAllocatesNothing() throws IOException {
        AttentionShape shape = new AttentionShape(LAYERS, 8, 2, 64);
        List<String> rows = new ArrayList<>();
        for (String mode : List.of("nuq3-1%", "nuq3-1%-s4-r32", "fp16")) {
            QuantSpec spec = QuantSpec.parse(mode);
            Calibration cal = spec.quantized() ? calibration(shape, spec, 11) : null;
            int d = shape.kvChannels();
            int[] lengths = {64, 1200};   // one split, then two (the emulated device has 1 SM: 3 blocks / 2 heads)
            long[][] perLength = new long[lengths.length][];
            long[][] perLengthDevice = new long[lengths.length][];
            long[][] perLengthGraph = new long[lengths.length][];
            float[] query = randomQuery(shape, 5);
            CudaRuntime.shared().bind();
            try (KvCache gpu = KvCache.open(shape, spec, cal, Backend.cuda(), 256);
                 DeviceMemory qd = DeviceMemory.allocate((long) query.length * Float.BYTES);
                 DeviceMemory od = DeviceMemory.allocate((long) query.length * Float.BYTES)) {
                try (Arena arena = Arena.ofConfined()) {
                    qd.copyFromHost(arena.allocateFrom(ValueLayout.JAVA_FLOAT, query));
                }
                assertEquals(Backend.Kind.CUDA, gpu.backend().kind(), gpu.backend().reason());
                int stored = 0;
                for (int i = 0; i < lengths.length; i++) {
                    int n = lengths[i] - stored;
                    float[] k = SyntheticActivations.keys(7 + i, n, d);
                    float[] v = SyntheticActivations.values(8 + i, n, d);
                    for (int l = 0; l < LAYERS; l++) {
                        gpu.append(l, k, v);
                    }
                    stored = lengths[i];
                    step(gpu, shape, 1);   // the first step at a length builds the argument blocks of grown pools
                    perLength[i] = step(gpu, shape, 2 + i);
                    deviceStep(gpu, qd, od);
                    perLengthDevice[i] = deviceStep(gpu, qd, od);
                    try (DeviceGraph graph = DeviceGraph.capture(gpu, s -> {
                        for (int l = 0; l < LAYERS; l++) {
                            s.attend(l, qd, od);
                        }
                    })) {
                        graphStep(graph);
                        perLengthGraph[i] = graphStep(graph);
                        assertEquals(1, graph.captures(), mode + ": the layout moved between two replays");
                    }
                }
            }
            long[] a = perLength[0];
            long[] b = perLength[1];
            String what = mode + " per decode step of " + LAYERS + " layers";
            assertEquals(LAYERS, a[1], what + ": synchronizations at " + lengths[0] + " tokens");
            assertEquals(LAYERS, b[1], what + ": synchronizations at " + lengths[1] + " tokens");
            assertEquals(0, a[2] + b[2], what + ": allocations");
            assertEquals(0, a[3] + b[3], what + ": frees");
            assertSameCounts(a, b, what);
            assertEquals(0, a[0] % LAYERS, what + ": driver calls are not the same for every layer");
            long vector = (long) shape.queryHeads() * shape.headDim() * Float.BYTES;
            assertEquals(LAYERS * vector, a[5], what + ": bytes up (the query)");
            assertEquals(LAYERS * (16 + vector), a[6], what + ": bytes down (the error word and the output)");
            rows.add(row(mode, "host arrays (KvCache.attend)", lengths, a));
            assertTrue(a[0] / LAYERS <= 8, what + ": " + a[0] / LAYERS + " driver calls per layer");

            long[] da = perLengthDevice[0];
            long[] db = perLengthDevice[1];
            String dwhat = mode + " per device step of " + LAYERS + " layers";
            assertSameCounts(da, db, dwhat);
            assertEquals(1, da[1], dwhat + ": synchronizations (the finish only)");
            assertEquals(0, da[2] + da[3], dwhat + ": allocations and frees");
            assertEquals(0, da[5], dwhat + ": bytes up");
            assertEquals(4, da[6], dwhat + ": bytes down (the error word only)");
            // per layer: the context made current, the query in, the decode, the merge, the output out; to finish:
            // the context, the error word down, the one synchronization
            assertEquals(5L * LAYERS + 3, da[0], dwhat + ": driver calls (5 per layer, 3 to finish)");
            rows.add(row(mode, "device memory (DeviceStep)", lengths, da));

            long[] ga = perLengthGraph[0];
            long[] gb = perLengthGraph[1];
            String gwhat = mode + " per replay of a captured " + LAYERS + "-layer step";
            assertSameCounts(ga, gb, gwhat);
            assertEquals(1, ga[1], gwhat + ": synchronizations (the finish only)");
            assertEquals(0, ga[2] + ga[3], gwhat + ": allocations and frees");
            assertEquals(2L * LAYERS, ga[7], gwhat + ": kernels run (a decode and a merge per layer)");
            // the replay: the context, cuGraphLaunch; the finish: the context, the error word down, the synchronization
            assertEquals(5, ga[0], gwhat + ": driver calls, whatever the number of layers");
            rows.add(row(mode, "CUDA graph replay (DeviceGraph)", lengths, ga));
        }
        rows.addAll(batchedRows(shape));
        Path out = Path.of("target/host-path.json");
        Files.writeString(out, "[" + String.join(",\n ", rows) + "]\n");
        System.out.println("gpu: host path per decode step written to " + out.toAbsolutePath());
    }

    /**
     * A pool's batched step ({@link KvCachePool#attend(int, List, float[][], float[][])}) over batches of 1 and 8
     * sequences of different lengths: per layer one fused decode and one merge launch, one synchronization, the
     * same driver calls whatever the batch, and no allocation once the batch buffers have grown.
     */
    private static List<String> batchedRows(AttentionShape shape) {
        QuantSpec spec = QuantSpec.parse("nuq3-1%-s4-r32");
        Calibration cal = calibration(shape, spec, 11);
        int d = shape.kvChannels();
        List<String> rows = new ArrayList<>();
        long[][] perBatch = new long[2][];
        int[] sizes = {1, 8};
        try (KvCachePool pool = KvCachePool.open(shape, spec, cal, Backend.cuda(), 1L << 28, 256)) {
            List<KvCache> seqs = new ArrayList<>();
            for (int s = 0; s < 8; s++) {
                KvCache c = pool.newSequence();
                assertEquals(Backend.Kind.CUDA, c.backend().kind(), c.backend().reason());
                int n = 40 + 150 * s;
                float[] k = SyntheticActivations.keys(20 + s, n, d);
                float[] v = SyntheticActivations.values(30 + s, n, d);
                for (int l = 0; l < LAYERS; l++) {
                    c.append(l, k, v);
                }
                seqs.add(c);
            }
            for (int b = 0; b < sizes.length; b++) {
                List<KvCache> batch = seqs.subList(0, sizes[b]);
                float[][] q = new float[sizes[b]][];
                float[][] out = new float[sizes[b]][];
                for (int i = 0; i < sizes[b]; i++) {
                    q[i] = randomQuery(shape, 60 + i);
                    out[i] = new float[q[i].length];
                }
                for (int l = 0; l < LAYERS; l++) {
                    pool.attend(l, batch, q, out);   // grows the batch buffers and prepares the launches
                }
                long[] before = counters();
                for (int l = 0; l < LAYERS; l++) {
                    pool.attend(l, batch, q, out);
                }
                perBatch[b] = since(before);
                String what = "a batched step of " + sizes[b] + " sequences over " + LAYERS + " layers";
                assertEquals(LAYERS, perBatch[b][1], what + ": synchronizations");
                assertEquals(2L * LAYERS, perBatch[b][7], what + ": launches");
                assertEquals(0, perBatch[b][2] + perBatch[b][3], what + ": allocations and frees");
                rows.add(row(spec.name(), "batched pool step of " + sizes[b] + " (KvCachePool.attend)",
                        new int[] {40, 40 + 150 * (sizes[b] - 1)}, perBatch[b]));
            }
        }
        assertEquals(perBatch[0][0], perBatch[1][0], "driver calls of a batched step depend on the batch size");
        return rows;
    }

    /** Every counter of a step at the first length equals the one at the second. */
    private static void assertSameCounts(long[] first, long[] second, String what) {
        for (int i = 0; i < NAMES.length; i++) {
            assertEquals(first[i], second[i], what + ": " + NAMES[i] + " depend on the length");
        }
    }

    /** One JSON row of counters per step (and per layer: the step's counts over the layers). */
    private static String row(String mode, String api, int[] lengths, long[] a) {
        StringBuilder row = new StringBuilder(String.format(Locale.ROOT,
                "{\"mode\": \"%s\", \"api\": \"%s\", \"layers\": %d, \"lengths\": [%d, %d], \"per_step\": {",
                mode, api, LAYERS, lengths[0], lengths[1]));
        for (int i = 0; i < NAMES.length; i++) {
            row.append(i == 0 ? "" : ", ").append('"').append(NAMES[i]).append("\": ").append(a[i]);
        }
        row.append(String.format(Locale.ROOT, "}, \"per_layer\": {\"driver_calls\": %.2f, \"syncs\": %.2f, "
                + "\"allocations\": %d, \"launches\": %d}, \"same_at_both_lengths\": true}",
                (double) a[0] / LAYERS, (double) a[1] / LAYERS, a[2] / LAYERS, a[7] / LAYERS));
        return row.toString();
    }
}
