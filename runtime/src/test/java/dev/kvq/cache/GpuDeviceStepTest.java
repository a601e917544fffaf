package dev.kvq.cache;

import static dev.kvq.cache.CacheFixtures.calibration;
import static dev.kvq.cache.CacheFixtures.randomQuery;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.driver.DeviceMemory;
import dev.kvq.engine.cuda.CudaRuntime;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.QuantSpec;
import dev.kvq.quant.SyntheticActivations;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;

/**
 * {@link DeviceStep}: decode steps whose queries and outputs stay in device memory. The outputs are the host
 * API's within 1e-5 (the same kernels on the same inputs; a device step always runs the most splits, the host API
 * as many as the length needs, so sums may round differently); an overflowing or non-finite query is reported by
 * {@link DeviceStep#finish} from the merge kernel's error word; bad buffers, a finished step, an empty layer, a
 * closed cache and caches that are not on the device are refused with a message naming why.
 */
class GpuDeviceStepTest {
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    /** {@code x} in new device memory (the caller closes it). */
    static DeviceMemory upload(float[] x) {
        CudaRuntime.shared().bind();
        DeviceMemory m = DeviceMemory.allocate((long) x.length * Float.BYTES);
        try (Arena arena = Arena.ofConfined()) {
            m.copyFromHost(arena.allocateFrom(FLOAT, x));
        }
        return m;
    }

    /** The first {@code n} floats of {@code m}. */
    static float[] download(DeviceMemory m, int n) {
        CudaRuntime.shared().bind();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate((long) n * Float.BYTES);
            m.copyToHost(host);
            return host.toArray(FLOAT);
        }
    }

    @Test
    @Tag("gpu")
    @EnabledIf("dev.kvq.cache.GpuCondition#available")
    void aDeviceStepGivesTheHostOutputsOfEveryLayer() {
        for (String mode : List.of("nuq3-1%-s4-r32", "nuq2-1%", "fp16")) {
            for (int kvHeads : new int[] {4, 1}) {
                AttentionShape shape = new AttentionShape(3, 4, kvHeads, 64);
                QuantSpec spec = QuantSpec.parse(mode);
                Calibration cal = spec.quantized() ? calibration(shape, spec, 11) : null;
                String what = mode + ", " + shape.queryHeads() + ":" + kvHeads;
                try (KvCache gpu = KvCache.open(shape, spec, cal, Backend.cuda(), 64)) {
                    assertEquals(Backend.Kind.CUDA, gpu.backend().kind(), gpu.backend().reason());
                    int[] lengths = {5, 300, 71};   // different lengths per layer: one and two splits, sinks only
                    for (int l = 0; l < shape.layers(); l++) {
                        gpu.append(l, SyntheticActivations.keys(3 + l, lengths[l], shape.kvChannels()),
                                SyntheticActivations.values(4 + l, lengths[l], shape.kvChannels()));
                    }
                    List<DeviceMemory> buffers = new ArrayList<>();
                    try {
                        float[][] queries = new float[shape.layers()][];
                        DeviceMemory[] outs = new DeviceMemory[shape.layers()];
                        try (DeviceStep step = gpu.deviceStep()) {
                            for (int l = 0; l < shape.layers(); l++) {
                                queries[l] = randomQuery(shape, 20 + l);
                                DeviceMemory q = upload(queries[l]);
                                buffers.add(q);
                                outs[l] = upload(new float[queries[l].length]);
                                buffers.add(outs[l]);
                                step.attend(l, q, outs[l]);
                            }
                            assertEquals(shape.layers(), step.queued());
                        }
                        for (int l = 0; l < shape.layers(); l++) {
                            float[] expected = new float[queries[l].length];
                            gpu.attend(l, queries[l], expected);
                            assertClose(expected, download(outs[l], expected.length), what + ", layer " + l);
                        }
                    } finally {
                        buffers.forEach(DeviceMemory::close);
                    }
                }
            }
        }
    }

    @Test
    @Tag("gpu")
    @EnabledIf("dev.kvq.cache.GpuCondition#available")
    void overflowingOrNonFiniteQueriesAreReportedWhenTheStepFinishes() {
        AttentionShape shape = new AttentionShape(1, 4, 2, 64);
        QuantSpec spec = QuantSpec.parse("nuq3-1%");
        Calibration cal = calibration(shape, spec, 11);
        try (KvCache gpu = KvCache.open(shape, spec, cal, Backend.cuda())) {
            gpu.append(0, SyntheticActivations.keys(41, 300, shape.kvChannels()),
                    SyntheticActivations.values(42, 300, shape.kvChannels()));
            float[] keys = gpu.decodeKeys(0);
            int d = shape.headDim();
            float[] huge = new float[shape.queryHeads() * d];
            int last = (300 - 1) * shape.kvChannels();
            for (int h = 0; h < shape.queryHeads(); h++) {
                for (int j = 0; j < d; j++) {
                    huge[h * d + j] = Math.copySign(1e38f, keys[last + h / shape.groupSize() * d + j]);
                }
            }
            float[] nan = randomQuery(shape, 5);
            nan[3] = Float.NaN;
            for (float[] bad : List.of(huge, nan)) {
                try (DeviceMemory q = upload(bad); DeviceMemory out = upload(new float[bad.length])) {
                    DeviceStep step = gpu.deviceStep();
                    step.attend(0, q, out);   // queued: nothing is known yet
                    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, step::finish);
                    assertTrue(e.getMessage().contains("overflow fp32"), e.getMessage());
                    step.close();   // finished already: nothing more to report
                }
            }
            // the error word was cleared: the cache answers a normal query on both APIs alike
            float[] q = randomQuery(shape, 6);
            float[] expected = new float[q.length];
            gpu.attend(0, q, expected);
            try (DeviceMemory qd = upload(q); DeviceMemory out = upload(new float[q.length]);
                 DeviceStep step = gpu.deviceStep()) {
                step.attend(0, qd, out);
                step.finish();
                assertClose(expected, download(out, q.length), "after the errors");
            }
        }
    }

    @Test
    @Tag("gpu")
    @EnabledIf("dev.kvq.cache.GpuCondition#available")
    void badUsesAreRefusedWithTheirReason() {
        AttentionShape shape = new AttentionShape(2, 4, 2, 64);
        int n = shape.queryHeads() * shape.headDim();
        try (DeviceMemory q = upload(new float[n]); DeviceMemory small = upload(new float[n - 1]);
             DeviceMemory out = upload(new float[n])) {
            KvCache gpu = KvCache.open(shape, QuantSpec.fp16(), null, Backend.cuda());
            gpu.append(0, SyntheticActivations.keys(1, 10, shape.kvChannels()),
                    SyntheticActivations.values(2, 10, shape.kvChannels()));
            DeviceStep step = gpu.deviceStep();
            assertMessage(IllegalArgumentException.class, "query buffer holds " + (n - 1) * 4L,
                    () -> step.attend(0, small, out));
            assertMessage(IllegalArgumentException.class, "output buffer holds", () -> step.attend(0, q, small));
            assertMessage(IllegalArgumentException.class, "layer", () -> step.attend(2, q, out));
            assertMessage(IllegalStateException.class, "layer 1 is empty", () -> step.attend(1, q, out));
            step.attend(0, q, out);
            step.finish();
            assertMessage(IllegalStateException.class, "finished", () -> step.attend(0, q, out));
            DeviceStep open = gpu.deviceStep();
            open.attend(0, q, out);
            gpu.close();   // waits for the queued work, frees the pages
            assertMessage(IllegalStateException.class, "closed", open::finish);
            assertMessage(IllegalStateException.class, "closed", gpu::deviceStep);
            DeviceMemory freed = upload(new float[n]);
            freed.close();
            try (KvCache again = KvCache.open(shape, QuantSpec.fp16(), null, Backend.cuda())) {
                again.append(0, SyntheticActivations.keys(1, 10, shape.kvChannels()),
                        SyntheticActivations.values(2, 10, shape.kvChannels()));
                assertMessage(IllegalArgumentException.class, "query buffer is freed",
                        () -> again.deviceStep().attend(0, freed, out));
            }
        }
    }

    @Test
    void aCacheWhosePagesAreOnTheHostHasNoDeviceSteps() {
        AttentionShape shape = new AttentionShape(1, 4, 2, 16);
        try (KvCache cpu = KvCache.open(shape, QuantSpec.fp16(), null, Backend.cpu())) {
            assertMessage(UnsupportedOperationException.class, "device steps need a cache on the CUDA engine",
                    cpu::deviceStep);
        }
    }

    /** max |a − e| ≤ 1e-5 · max |e|. */
    private static void assertClose(float[] expected, float[] actual, String what) {
        double err = 0;
        double scale = 0;
        for (int i = 0; i < expected.length; i++) {
            err = Math.max(err, Math.abs((double) actual[i] - expected[i]));
            scale = Math.max(scale, Math.abs(expected[i]));
        }
        assertTrue(err <= 1e-5 * scale, what + ": max error " + err + " of " + scale);
    }

    private static <T extends Throwable> void assertMessage(Class<T> type, String part,
                                                            org.junit.jupiter.api.function.Executable call) {
        T e = assertThrows(type, call);
        assertTrue(e.getMessage() != null && e.getMessage().contains(part), "expected '" + part + "' in: " + e.getMessage());
    }
}
