package dev.kvq.cache;

import static dev.kvq.cache.CacheFixtures.calibration;
import static dev.kvq.cache.CacheFixtures.randomQuery;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.driver.CudaDriver;
import dev.kvq.engine.Budget;
import dev.kvq.engine.CacheSetup;
import dev.kvq.engine.Engine;
import dev.kvq.engine.LayerImage;
import dev.kvq.engine.Sequence;
import dev.kvq.engine.Tensor;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.layout.MemoryReport;
import dev.kvq.layout.PageLayout;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.QuantSpec;
import dev.kvq.quant.SyntheticActivations;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The CUDA backend's wiring inside {@link KvCache}, on the CPU: start-up failures fall back with a
 * WARN, and a device half (here a fake that keeps its pages in a CPU cache) receives every call with
 * the right token counts, draws on the budget, and is closed exactly once.
 */
class DeviceDelegationTest {
    private static final Backend CUDA = new Backend(Backend.Kind.CUDA, "test");
    private final Engines.Factory original = Engines.cuda;

    @AfterEach
    void restoreFactory() {
        Engines.cuda = original;
    }

    @Test
    void aCacheWhoseDeviceDoesNotStartWarnsAndRunsOnTheCpu() {
        AttentionShape shape = new AttentionShape(1, 4, 2, 16);
        QuantSpec spec = QuantSpec.parse("nuq3-1%");
        Calibration cal = calibration(shape, spec, 80);
        Engines.cuda = (setup, pageBudget, engineBudget) -> {
            throw new IllegalStateException("cuDevicePrimaryCtxRetain failed: CUDA_ERROR_OUT_OF_MEMORY (2)");
        };
        try (LogCapture log = LogCapture.of(KvCache.class);
             KvCache cache = KvCache.open(shape, spec, cal, CUDA)) {
            assertEquals(Backend.Kind.CPU, cache.backend().kind());
            assertTrue(cache.backend().reason().contains("CUDA_ERROR_OUT_OF_MEMORY"), cache.backend().reason());
            assertEquals(1, log.warnings().size());
            assertTrue(log.warnings().get(0).startsWith("falling back to the CPU: the CUDA backend did not start"),
                    log.warnings().get(0));
            float[] k = SyntheticActivations.keys(1, 40, shape.kvChannels());
            cache.append(0, k, SyntheticActivations.values(2, 40, shape.kvChannels()));
            float[] out = new float[shape.queryHeads() * shape.headDim()];
            cache.attend(0, randomQuery(shape, 3), out);
            assertEquals(40, cache.length(0));
        }
    }

    @Test
    void withoutAGpuTheRealCudaFactoryFallsBackWithTheProbeReason() {
        if (CudaDriver.probe().available()) {
            return; // the GPU tests cover this machine
        }
        AttentionShape shape = new AttentionShape(1, 4, 2, 16);
        try (LogCapture log = LogCapture.of(KvCache.class);
             KvCache cache = KvCache.open(shape, QuantSpec.fp16(), null, CUDA)) {
            assertEquals(Backend.Kind.CPU, cache.backend().kind());
            assertTrue(cache.backend().reason().contains(CudaDriver.probe().reason()), cache.backend().reason());
            assertEquals(1, log.warnings().size());
        }
    }

    @Test
    void anUnsupportedModeFallsBackWithTheReason() {
        // fp32 pages have no kernels (sparse outliers do since they run on the device: GpuCacheTest)
        AttentionShape shape = new AttentionShape(1, 4, 2, 16);
        try (KvCache cache = KvCache.open(shape, QuantSpec.fp32(), null, CUDA)) {
            assertEquals(Backend.Kind.CPU, cache.backend().kind());
            assertTrue(cache.backend().reason().contains("no fp32 pages"), cache.backend().reason());
        }
    }

    /** An engine whose sequences are {@link FakeDevice}s. */
    private record FakeEngine(CacheSetup setup, List<FakeDevice> made) implements Engine {
        @Override
        public Sequence open(long firstPosition, Budget budget) {
            FakeDevice d = new FakeDevice(setup, budget);
            made.add(d);
            return d;
        }

        @Override
        public void close() {
            // the sequences own their inner caches
        }
    }

    /** A device half whose "device" is a CPU cache: checks what KvCache hands it. */
    private static final class FakeDevice implements Sequence {
        final KvCache inner;
        final Budget budget;
        final long pageBytes;
        final List<String> calls = new ArrayList<>();
        long reserved;
        int closes;

        FakeDevice(CacheSetup setup, Budget budget) {
            this.inner = KvCache.open(setup.shape(), setup.spec(), setup.calibration(), Backend.cpu(),
                    setup.layout().pageTokens());
            this.budget = budget;
            this.pageBytes = setup.layout().pageBytes();
        }

        @Override
        public void append(int layer, int stored, float[] keys, float[] values, int n) {
            assertEquals(inner.length(layer), stored);
            long bytes = pageBytes * ((stored + n + 63) / 64 - (stored + 63) / 64);
            budget.reserve(bytes, layer, n);
            reserved += bytes;
            inner.append(layer, keys, values);
            calls.add("append " + layer + " " + n);
        }

        @Override
        public void attend(int layer, int stored, float[] query, float[] out) {
            assertEquals(inner.length(layer), stored);
            inner.attend(layer, query, out);
            calls.add("attend " + layer);
        }

        @Override
        public void keyScores(int layer, int stored, float[] query, float[] scores) {
            inner.keyScores(layer, query, scores);
            calls.add("scores " + layer);
        }

        @Override
        public void valueMatvec(int layer, int stored, float[] weights, float[] out) {
            inner.valueMatvec(layer, weights, out);
            calls.add("values " + layer);
        }

        @Override
        public float[] decode(int layer, int stored, Tensor tensor) {
            return tensor == Tensor.KEYS ? inner.decodeKeys(layer) : inner.decodeValues(layer);
        }

        int pages(int layer) {
            int p = 0;
            while (true) {
                try {
                    inner.pageBytes(layer, p);
                    p++;
                } catch (IllegalArgumentException e) {
                    return p;
                }
            }
        }

        @Override
        public MemorySegment pageBytes(int layer, int page) {
            return inner.pageBytes(layer, page);
        }

        @Override
        public int entries(int layer, int stored, Tensor tensor) {
            return 0;
        }

        @Override
        public MemorySegment entryChunk(int layer, Tensor tensor, int chunk) {
            throw new IllegalArgumentException("this device cache stores no sparse entry chunks");
        }

        @Override
        public MemoryReport memory(int layer, int stored) {
            return inner.sequence().memory(layer, stored);
        }

        @Override
        public long hostBytes() {
            return 0;
        }

        @Override
        public LayerImage image(int layer, int stored) {
            throw new UnsupportedOperationException("no snapshots of the fake device");
        }

        @Override
        public MemorySegment mapSnapshot(FileChannel file) {
            throw new UnsupportedOperationException("no snapshots of the fake device");
        }

        @Override
        public void restore(int layer, int tokens, LayerImage image) {
            throw new UnsupportedOperationException("no snapshots of the fake device");
        }

        @Override
        public void close() {
            closes++;
            inner.close();
        }
    }

    @Test
    void everyCallReachesTheDeviceHalfAndCloseFreesItOnce() {
        AttentionShape shape = new AttentionShape(2, 8, 2, 32);
        QuantSpec spec = QuantSpec.parse("nuq4-1%");
        Calibration cal = calibration(shape, spec, 81);
        List<FakeDevice> made = new ArrayList<>();
        Engines.cuda = (setup, pageBudget, engineBudget) -> new FakeEngine(setup, made);
        int d = shape.kvChannels();
        float[] keys = SyntheticActivations.keys(5, 150, d);
        float[] values = SyntheticActivations.values(6, 150, d);
        float[] q = randomQuery(shape, 7);
        try (KvCachePool pool = KvCachePool.open(shape, spec, cal, CUDA, 1L << 30, 64);
             KvCache cpu = KvCache.open(shape, spec, cal, Backend.cpu(), 64)) {
            KvCache gpu = pool.newSequence();
            assertEquals(CUDA, gpu.backend());
            FakeDevice dev = made.get(0);
            gpu.append(1, keys, values);
            cpu.append(1, keys, values);
            assertEquals(150, gpu.length(1));
            assertEquals(0, gpu.length(0));
            assertEquals(dev.reserved, pool.reservedBytes());
            float[] a = new float[shape.queryHeads() * shape.headDim()];
            float[] b = new float[a.length];
            gpu.attend(1, q, a);
            cpu.attend(1, q, b);
            assertArrayEquals(b, a);
            float[] sa = new float[shape.queryHeads() * 150];
            float[] sb = new float[sa.length];
            gpu.keyScores(1, q, sa);
            cpu.keyScores(1, q, sb);
            assertArrayEquals(sb, sa);
            gpu.valueMatvec(1, sb, a);
            cpu.valueMatvec(1, sb, b);
            assertArrayEquals(b, a);
            assertArrayEquals(cpu.decodeKeys(1), gpu.decodeKeys(1));
            assertArrayEquals(cpu.decodeValues(1), gpu.decodeValues(1));
            int pages = dev.pages(1);
            assertEquals(3, pages);   // 149 packed tokens after the sink, 64 per page
            for (int p = 0; p < pages; p++) {
                assertEquals(-1, cpu.pageBytes(1, p).mismatch(gpu.pageBytes(1, p)));
            }
            assertThrows(IllegalArgumentException.class, () -> gpu.pageBytes(1, pages));
            assertEquals(cpu.memory(), gpu.memory());
            // validation stays in KvCache: the device never sees a bad call
            assertThrows(IllegalStateException.class, () -> gpu.attend(0, q, new float[q.length]));
            assertThrows(IllegalArgumentException.class, () -> gpu.append(1, new float[d + 1], new float[d + 1]));
            float[] nan = keys.clone();
            nan[3] = Float.NaN;
            assertThrows(IllegalArgumentException.class, () -> gpu.append(1, nan, values));
            assertEquals(List.of("append 1 150", "attend 1", "scores 1", "values 1"), dev.calls);
            gpu.close();
            gpu.close();
            assertEquals(1, dev.closes);
            assertEquals(0, pool.reservedBytes());
            assertThrows(IllegalStateException.class, () -> gpu.attend(1, q, new float[q.length]));
            assertThrows(IllegalStateException.class, () -> gpu.pageBytes(1, 0));
        }
        assertTrue(made.get(0).inner.isClosed());
    }

    @Test
    void aBudgetRefusalOnTheDeviceLeavesTheCacheAsItWas() {
        AttentionShape shape = new AttentionShape(1, 4, 2, 16);
        QuantSpec spec = QuantSpec.fp16();
        long pageBytes = new PageLayout(shape, spec, 64).pageBytes();
        Engines.cuda = (setup, pageBudget, engineBudget) -> new FakeEngine(setup, new ArrayList<>());
        try (KvCachePool pool = KvCachePool.open(shape, spec, null, CUDA, pageBytes, 64)) {
            KvCache cache = pool.newSequence();
            int d = shape.kvChannels();
            cache.append(0, SyntheticActivations.keys(1, 64, d), SyntheticActivations.values(2, 64, d));
            assertThrows(CacheBudgetExceededException.class,
                    () -> cache.append(0, SyntheticActivations.keys(3, 1, d), SyntheticActivations.values(4, 1, d)));
            assertEquals(64, cache.length(0));
            assertEquals(pageBytes, pool.reservedBytes());
            float[] keysBack = cache.decodeKeys(0);
            assertEquals(64 * d, keysBack.length);
            assertTrue(keysBack[0] != 0 || keysBack[1] != 0);
        }
    }
}
