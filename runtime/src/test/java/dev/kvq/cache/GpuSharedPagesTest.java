package dev.kvq.cache;

import static dev.kvq.cache.CacheFixtures.calibration;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.engine.cuda.CudaSequence;
import dev.kvq.engine.cuda.DevicePages;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.layout.PageLayout;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.QuantSpec;
import dev.kvq.quant.SyntheticActivations;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;

/**
 * The device pages of a {@link KvCachePool} on the CUDA engine: one pool per layer of a fixed size from the budget,
 * shared by the sequences through their page tables, with a free list. Sequences hold distinct pages of the one
 * pool, whose address never changes as they grow; a closed sequence's pages go back and are handed out again,
 * zeroed (pages stay byte-identical to the CPU's); a layer whose shared pool is empty refuses the append as over
 * budget and changes nothing; a budget the device cannot hold sends the pool's sequences to the CPU, saying why
 * with the sizes.
 */
@Tag("gpu")
@EnabledIf("dev.kvq.cache.GpuCondition#available")
class GpuSharedPagesTest {

    private static CudaSequence device(KvCache c) {
        assertEquals(Backend.Kind.CUDA, c.backend().kind(), c.backend().reason());
        return (CudaSequence) c.sequence();
    }

    /** The pool pages {@code c} holds in {@code layer}. */
    private static Set<Long> pagesOf(KvCache c, int layer) {
        DevicePages p = device(c).pages(layer);
        Set<Long> at = new HashSet<>();
        for (int i = 0; i < p.size(); i++) {
            at.add(p.pageOffset(i));
        }
        return at;
    }

    @Test
    void sequencesShareOnePoolPerLayerAndReusePagesZeroed() {
        AttentionShape shape = new AttentionShape(2, 8, 2, 64);
        for (String mode : List.of("nuq3-1%-s4-r32", "fp16")) {
            QuantSpec spec = QuantSpec.parse(mode);
            Calibration cal = spec.quantized() ? calibration(shape, spec, 11) : null;
            int d = shape.kvChannels();
            try (KvCachePool cpuPool = KvCachePool.open(shape, spec, cal, Backend.cpu(), 1L << 26, 64);
                 KvCachePool gpuPool = KvCachePool.open(shape, spec, cal, Backend.cuda(), 1L << 26, 64)) {
                KvCache a = gpuPool.newSequence();
                KvCache b = gpuPool.newSequence();
                KvCache ca = cpuPool.newSequence();
                KvCache cb = cpuPool.newSequence();
                long poolAddress = -1;
                for (int step = 0; step < 3; step++) {   // interleaved growth: the pages of a and b alternate
                    for (int l = 0; l < shape.layers(); l++) {
                        float[] k = SyntheticActivations.keys(10 * step + l, 150, d);
                        float[] v = SyntheticActivations.values(10 * step + l + 5, 150, d);
                        a.append(l, k, v);
                        ca.append(l, k, v);
                        b.append(l, v, k);
                        cb.append(l, v, k);
                    }
                    long at = device(a).pages(0).poolAddress();
                    assertEquals(at, device(b).pages(0).poolAddress(), mode + ": both sequences use one pool");
                    assertTrue(poolAddress < 0 || poolAddress == at, mode + ": the pool never moves");
                    poolAddress = at;
                }
                for (int l = 0; l < shape.layers(); l++) {
                    Set<Long> pa = pagesOf(a, l);
                    Set<Long> pb = pagesOf(b, l);
                    assertEquals(device(a).pages(l).size(), pa.size());
                    pa.retainAll(pb);
                    assertTrue(pa.isEmpty(), mode + ": layer " + l + " pages held by both sequences: " + pa);
                    GpuCacheTest.compareLayer(ca, a, l, shape, 40 + l);
                    GpuCacheTest.compareLayer(cb, b, l, shape, 50 + l);
                }
                Set<Long> freed = pagesOf(a, 0);
                a.close();
                ca.close();
                // a new sequence takes the freed pages (the free list is a stack): zeroed, so its pages are the CPU's
                KvCache c = gpuPool.newSequence();
                KvCache cc = cpuPool.newSequence();
                float[] k = SyntheticActivations.keys(99, 70, d);
                float[] v = SyntheticActivations.values(98, 70, d);
                c.append(0, k, v);
                cc.append(0, k, v);
                Set<Long> reused = pagesOf(c, 0);
                assertTrue(freed.containsAll(reused), mode + ": the new sequence reuses freed pages " + reused);
                assertEquals(poolAddress, device(c).pages(0).poolAddress());
                GpuCacheTest.compareLayer(cc, c, 0, shape, 60);
                GpuCacheTest.compareLayer(cb, b, 0, shape, 61);
            }
        }
    }

    @Test
    void aLayerWhosePoolIsFullRefusesTheAppendAndChangesNothing() {
        AttentionShape shape = new AttentionShape(2, 4, 2, 64);
        QuantSpec spec = QuantSpec.fp16();
        long pageBytes = new PageLayout(shape, spec, 64).pageBytes();
        int d = shape.kvChannels();
        // four pages per layer; the budget leaves room for a fifth page of one layer (beside the sequence's
        // scratch), which the layer's pool does not have
        try (KvCachePool pool = KvCachePool.open(shape, spec, null, Backend.cuda(), 8 * pageBytes, 64)) {
            KvCache c = pool.newSequence();
            c.append(0, SyntheticActivations.keys(1, 4 * 64, d), SyntheticActivations.values(2, 4 * 64, d));
            long reserved = pool.reservedBytes();
            assertTrue(pool.budgetBytes() - reserved >= pageBytes, "the budget still has room for a page");
            CacheBudgetExceededException e = assertThrows(CacheBudgetExceededException.class,
                    () -> c.append(0, SyntheticActivations.keys(3, 1, d), SyntheticActivations.values(4, 1, d)));
            assertTrue(e.getMessage().contains("shared device page pool"), e.getMessage());
            assertEquals(4 * 64, c.length(0));
            assertEquals(reserved, pool.reservedBytes(), "the refused append returned its reservation");
            // the other layer still has its own pages
            c.append(1, SyntheticActivations.keys(5, 64, d), SyntheticActivations.values(6, 64, d));
            assertEquals(64, c.length(1));
        }
    }

    @Test
    void eachSequencesDeviceScratchIsChargedToTheBudgetAndReturned() {
        AttentionShape shape = new AttentionShape(2, 4, 2, 64);
        QuantSpec spec = QuantSpec.fp16();
        long pageBytes = new PageLayout(shape, spec, 64).pageBytes();
        try (KvCachePool pool = KvCachePool.open(shape, spec, null, Backend.cuda(), 1L << 24, 64)) {
            KvCache a = pool.newSequence();
            long scratch = device(a).budgetedBytes();
            assertTrue(scratch > 0, "the split partials, step buffer and constants are charged");
            assertEquals(scratch, pool.reservedBytes());
            a.close();
            assertEquals(0, pool.reservedBytes(), "closing returns the scratch");
        }
        // a budget with room for a page of each layer but not for a sequence's scratch (many query heads, small
        // pages): refused as over budget, not sent to the CPU
        AttentionShape wide = new AttentionShape(2, 32, 1, 64);
        long small = new PageLayout(wide, spec, 32).pageBytes();
        try (KvCachePool pool = KvCachePool.open(wide, spec, null, Backend.cuda(), 2 * small + 16, 32)) {
            CacheBudgetExceededException e = assertThrows(CacheBudgetExceededException.class, pool::newSequence);
            assertTrue(e.getMessage().contains("device scratch"), e.getMessage());
            assertEquals(0, pool.reservedBytes());
            assertEquals(0, pool.openSequences());
        }
    }

    @Test
    void aBudgetTheDeviceCannotHoldIsRefusedWithTheSizes() {
        AttentionShape shape = new AttentionShape(2, 4, 2, 64);
        long total = dev.kvq.engine.cuda.CudaRuntime.shared().context().memoryInfo().totalBytes();
        try (KvCachePool pool = KvCachePool.open(shape, QuantSpec.fp16(), null, Backend.cuda(), 2 * total, 64)) {
            // as for any cache the CUDA engine cannot hold: the sequence runs on the CPU, and its backend says why
            KvCache c = pool.newSequence();
            assertEquals(Backend.Kind.CPU, c.backend().kind());
            assertTrue(c.backend().reason().contains("do not fit on the device"), c.backend().reason());
        }
    }
}
