package dev.kvq.cache;

import static dev.kvq.cache.CacheFixtures.calibration;
import static dev.kvq.cache.CacheFixtures.randomQuery;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.RopePairing;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.QuantSpec;
import dev.kvq.quant.SyntheticActivations;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;

/**
 * {@link KvCachePool#attend(int, List, float[][], float[][])}: a decode step of many sequences at once. On the CPU it
 * is each sequence's own step, bit for bit; on the CUDA engine one batched launch whose outputs match the CPU's
 * within 1e-4 for batches of 1 to 64 sequences of different lengths (sinks and a recent window, both pairings, MHA
 * and GQA, fp16 pages, a preset with mixed widths); bad batches are refused with the reason and change nothing.
 */
class PoolBatchTest {

    /** A pool of {@code count} sequences whose layer {@code l} holds a different number of tokens each. */
    private static List<KvCache> fill(KvCachePool pool, AttentionShape shape, int count, int longest) {
        List<KvCache> seqs = new ArrayList<>();
        int d = shape.kvChannels();
        for (int s = 0; s < count; s++) {
            KvCache c = pool.newSequence();
            int n = 1 + (int) ((long) (longest - 1) * ((s * 7919L) % count) / Math.max(1, count - 1));
            for (int l = 0; l < shape.layers(); l++) {
                c.append(l, SyntheticActivations.keys(100 * s + l, n + l, d), SyntheticActivations.values(100 * s + l + 50,
                        n + l, d));
            }
            seqs.add(c);
        }
        return seqs;
    }

    private static float[][] queries(AttentionShape shape, int count, long seed) {
        float[][] q = new float[count][];
        for (int i = 0; i < count; i++) {
            q[i] = randomQuery(shape, seed + i);
        }
        return q;
    }

    @Test
    void onTheCpuABatchIsEachSequencesOwnStep() {
        AttentionShape shape = new AttentionShape(2, 4, 2, 32);
        QuantSpec spec = QuantSpec.parse("nuq3-1%-s4-r32");
        Calibration cal = calibration(shape, spec, 11);
        try (KvCachePool pool = KvCachePool.open(shape, spec, cal, Backend.cpu(), 1L << 26, 32)) {
            List<KvCache> seqs = fill(pool, shape, 5, 150);
            float[][] q = queries(shape, 5, 7);
            float[][] out = new float[5][q[0].length];
            pool.attend(1, seqs, q, out);
            for (int i = 0; i < 5; i++) {
                float[] one = new float[q[i].length];
                seqs.get(i).attend(1, q[i], one);
                assertArrayEquals(one, out[i], "sequence " + i);
            }
        }
    }

    @Test
    void badBatchesAreRefusedWithTheReason() {
        AttentionShape shape = new AttentionShape(2, 4, 2, 32);
        try (KvCachePool pool = KvCachePool.open(shape, QuantSpec.fp16(), null, Backend.cpu(), 1L << 24, 32);
             KvCachePool other = KvCachePool.open(shape, QuantSpec.fp16(), null, Backend.cpu(), 1L << 24, 32)) {
            List<KvCache> seqs = fill(pool, shape, 2, 40);
            KvCache stranger = fill(other, shape, 1, 10).get(0);
            float[][] q = queries(shape, 2, 3);
            float[][] out = {new float[q[0].length], new float[q[0].length]};
            assertMessage(IllegalArgumentException.class, "not a sequence of this pool",
                    () -> pool.attend(0, List.of(seqs.get(0), stranger), q, out));
            assertMessage(IllegalArgumentException.class, "appears twice",
                    () -> pool.attend(0, List.of(seqs.get(0), seqs.get(0)), q, out));
            assertMessage(IllegalArgumentException.class, "one query and one output per sequence",
                    () -> pool.attend(0, seqs, new float[][] {q[0]}, out));
            float[][] nan = {q[0], q[1].clone()};
            nan[1][2] = Float.NaN;
            assertMessage(IllegalArgumentException.class, "query 1", () -> pool.attend(0, seqs, nan, out));
            KvCache empty = pool.newSequence();
            assertMessage(IllegalStateException.class, "is empty",
                    () -> pool.attend(0, List.of(seqs.get(0), empty), q, out));
            for (float[] o : out) {
                for (float x : o) {
                    assertEquals(0f, x, "a refused batch wrote an output");
                }
            }
            seqs.get(1).close();
            assertMessage(IllegalStateException.class, "closed", () -> pool.attend(0, seqs, q, out));
        }
    }

    @Test
    @Tag("gpu")
    @EnabledIf("dev.kvq.cache.GpuCondition#available")
    void onTheGpuOneBatchedLaunchMatchesTheCpu() {
        record Case(int headDim, int queryHeads, int kvHeads, RopePairing pairing, String mode, int batch, int longest) {}
        List<Case> cases = List.of(
                new Case(64, 8, 2, RopePairing.ROTATE_HALF, "nuq3-1%-s4-r32", 5, 700),
                new Case(64, 4, 4, RopePairing.INTERLEAVED, "nuq2-1%", 16, 300),
                new Case(32, 8, 2, RopePairing.INTERLEAVED, "fp16", 3, 200),
                new Case(64, 8, 4, RopePairing.INTERLEAVED, "nuq4-1%-s4", 64, 80),
                new Case(64, 4, 2, RopePairing.ROTATE_HALF, "nuq3-1%", 1, 500),
                // a bit allocation: every layer its own widths and page size (a shared pool per layer)
                new Case(64, 8, 2, RopePairing.INTERLEAVED, "kvq3", 4, 300));
        for (Case c : cases) {
            AttentionShape shape = new AttentionShape(2, c.queryHeads(), c.kvHeads(), c.headDim(),
                    dev.kvq.geometry.Rope.of(10000.0, c.pairing(), c.headDim()));
            QuantSpec spec = QuantSpec.parse(c.mode());
            Calibration cal = !spec.quantized() ? null
                    : spec.allocated() ? GpuCacheTest.allocatedCal(shape, spec) : calibration(shape, spec, 11);
            String what = c.toString();
            try (KvCachePool cpuPool = KvCachePool.open(shape, spec, cal, Backend.cpu(), 1L << 27, 64);
                 KvCachePool gpuPool = KvCachePool.open(shape, spec, cal, Backend.cuda(), 1L << 27, 64)) {
                List<KvCache> cpu = fill(cpuPool, shape, c.batch(), c.longest());
                List<KvCache> gpu = fill(gpuPool, shape, c.batch(), c.longest());
                assertEquals(Backend.Kind.CUDA, gpu.get(0).backend().kind(), gpu.get(0).backend().reason());
                for (int layer = 0; layer < shape.layers(); layer++) {
                    float[][] q = queries(shape, c.batch(), 31 + layer);
                    float[][] expected = new float[c.batch()][q[0].length];
                    float[][] actual = new float[c.batch()][q[0].length];
                    cpuPool.attend(layer, cpu, q, expected);
                    gpuPool.attend(layer, gpu, q, actual);
                    for (int i = 0; i < c.batch(); i++) {
                        GpuCacheTest.assertWithin(expected[i], actual[i], what + ", layer " + layer + ", sequence " + i);
                    }
                    // a sub-batch in another order gives each sequence the same output as the whole batch
                    if (c.batch() > 2) {
                        List<KvCache> sub = List.of(gpu.get(2), gpu.get(0));
                        float[][] subOut = new float[2][q[0].length];
                        gpuPool.attend(layer, sub, new float[][] {q[2], q[0]}, subOut);
                        GpuCacheTest.assertWithin(expected[2], subOut[0], what + ", sub-batch, sequence 2");
                        GpuCacheTest.assertWithin(expected[0], subOut[1], what + ", sub-batch, sequence 0");
                    }
                }
            }
        }
    }

    @Test
    @Tag("gpu")
    @EnabledIf("dev.kvq.cache.GpuCondition#available")
    void theBatchBuffersAreChargedToThePoolsBudget() {
        AttentionShape shape = new AttentionShape(1, 8, 2, 64);
        QuantSpec spec = QuantSpec.fp16();
        try (KvCachePool pool = KvCachePool.open(shape, spec, null, Backend.cuda(), 1L << 24, 64)) {
            List<KvCache> seqs = fill(pool, shape, 3, 100);
            long before = pool.reservedBytes();
            float[][] q = queries(shape, 3, 5);
            float[][] out = new float[3][q[0].length];
            pool.attend(0, seqs, q, out);
            assertTrue(pool.reservedBytes() > before, "the batched step's device buffers are charged");
            for (KvCache c : seqs) {
                c.close();
            }
            assertTrue(pool.reservedBytes() > 0, "the buffers belong to the pool, not to a sequence");
            pool.close();
            assertEquals(0, pool.reservedBytes(), "closing the pool returns them");
        }
        // a budget with room for the sequences but not for the batch's buffers: refused as over budget
        long tight;
        try (KvCachePool probe = KvCachePool.open(shape, spec, null, Backend.cuda(), 1L << 24, 64)) {
            fill(probe, shape, 3, 100);
            tight = probe.reservedBytes() + 16;
        }
        try (KvCachePool pool = KvCachePool.open(shape, spec, null, Backend.cuda(), tight, 64)) {
            List<KvCache> seqs = fill(pool, shape, 3, 100);
            float[][] q = queries(shape, 3, 5);
            float[][] out = new float[3][q[0].length];
            CacheBudgetExceededException e = assertThrows(CacheBudgetExceededException.class,
                    () -> pool.attend(0, seqs, q, out));
            assertTrue(e.getMessage().contains("batched decode"), e.getMessage());
        }
    }

    private static <T extends Throwable> void assertMessage(Class<T> type, String part,
                                                            org.junit.jupiter.api.function.Executable call) {
        T e = assertThrows(type, call);
        assertTrue(e.getMessage() != null && e.getMessage().contains(part), "expected '" + part + "' in: " + e.getMessage());
    }
}
