package dev.kvq.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.model.KvStore;
import dev.kvq.model.KvView;
import dev.kvq.model.Llama;
import dev.kvq.model.LlamaConfig;
import dev.kvq.model.LlamaRope;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.Codebook;
import dev.kvq.quant.QuantSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Stores and the calibration pipeline on a small random model (no data needed). */
class SimulatedStoresTest {
    // head size 8 (the runtime's minimum), 2 KV heads: D = 16
    static final LlamaConfig SMALL = new LlamaConfig(32, 48, 2, 4, 2, 40, 96, true);

    /** Calibration activations of a random model on random tokens: 4 windows of 64. */
    private static CalibrationData randomData(Llama m, long seed) {
        int[] tokens = new Random(seed).ints(6 * 64, 0, SMALL.vocabSize()).toArray();
        return CalibrationData.collect(m, tokens, 4, 64, "random", "random tokens");
    }

    private static float[] randomKv(int n, int d, long seed) {
        Random r = new Random(seed);
        float[] a = new float[n * d];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return a;
    }

    @Test
    void perTokenErrorIsBoundedByHalfTheLevelGap() {
        LlamaRope rope = new LlamaRope(8, 2, 64);
        int n = 40;
        int d = 16;
        float[] k = randomKv(n, d, 1);
        float[] v = randomKv(n, d, 2);
        KvView exact = KvStore.FP32.view(0, k, v, n, rope);
        KvView q = SimulatedStores.perToken(Codebook.uniform(3)).view(0, k, v, n, rope);
        for (int t = 0; t < n; t++) {
            float lo = Float.POSITIVE_INFINITY;
            float hi = Float.NEGATIVE_INFINITY;
            for (int c = 0; c < d; c++) {
                lo = Math.min(lo, v[t * d + c]);
                hi = Math.max(hi, v[t * d + c]);
            }
            float halfGap = (hi - lo) / 2 * (2f / 7) / 2;  // 8 levels over [−1, 1], scale s = (hi−lo)/2
            for (int c = 0; c < d; c++) {
                assertEquals(v[t * d + c], q.values()[t * d + c], halfGap * 1.01f + 1e-3f);
            }
        }
        assertNotEquals(exact.keys()[5], q.keys()[5]);
    }

    @Test
    void kiviReadsTheRecentWindowInFullPrecision() {
        LlamaRope rope = new LlamaRope(8, 2, 128);
        int n = 100;
        float[] k = randomKv(n, 16, 3);
        float[] v = randomKv(n, 16, 4);
        KvView view = SimulatedStores.kivi(2, 32).view(0, k, v, n, rope);
        KvView exact = KvStore.FP32.view(0, k, v, n, rope);
        assertArrayEquals(fp16(exact.keys()), view.recentKeys(), "the window is fp16, as kvq's");
        assertArrayEquals(fp16(v), view.recentValues());
        assertTrue(view.recent(99, 68) && !view.recent(99, 67));
        // a group of 32 tokens shares one range per channel: 4 levels, so at most 4 distinct values
        long distinct = java.util.stream.IntStream.range(0, 32).mapToDouble(t -> view.keys()[t * 16 + 3]).distinct().count();
        assertTrue(distinct <= 4, "channel 3 of group 0 has " + distinct + " distinct levels");
    }

    private static float[] fp16(float[] a) {
        float[] r = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            r[i] = dev.kvq.quant.Fp16.round(a[i]);
        }
        return r;
    }

    @Test
    void kiviWithoutAWindowKeepsTheGroupBeingFilledInFp16() {
        KvView view = SimulatedStores.kivi(2, 0).view(0, randomKv(100, 16, 3), randomKv(100, 16, 4), 100,
                new LlamaRope(8, 2, 128));
        assertTrue(view.recent(70, 64) && view.recent(70, 70), "group [64, 96) is not complete at 70");
        assertTrue(!view.recent(70, 63) && !view.recent(96, 95), "group [32, 64) is, and [64, 96) at 96");
    }

    @Test
    void theRecentWindowIsReadInFp16ForTheLastNTokensOfEachQuery() {
        Llama m = Llama.random(SMALL, 23, 0.2f);
        CalibrationData data = randomData(m, 7);
        QuantSpec spec = QuantSpec.parse("nuq2-r8");
        Calibration c = data.calibrate(spec, "test");
        int n = 64;
        int d = SMALL.kvDim();
        float[] k = java.util.Arrays.copyOf(data.keys(0).values(), n * d);
        float[] v = java.util.Arrays.copyOf(data.values(0).values(), n * d);
        KvView view = SimulatedStores.nuq(spec, c).view(0, k, v, n, m.rope());
        KvView exact = KvStore.FP32.view(0, k, v, n, m.rope());
        assertArrayEquals(fp16(exact.keys()), view.recentKeys());
        assertArrayEquals(fp16(v), view.recentValues());
        assertTrue(view.recent(40, 33) && !view.recent(40, 32), "(t − 8, t]");
        KvView without = SimulatedStores.nuq(QuantSpec.parse("nuq2"), c).view(0, k, v, n, m.rope());
        assertArrayEquals(without.keys(), view.keys(), "tokens that left the window read the same codes");
        // a window as long as the sequence leaves nothing quantized: exactly the fp16 store
        int[] tokens = new Random(17).ints(n, 0, SMALL.vocabSize()).toArray();
        float[] all = m.forward(tokens, 0, n, SimulatedStores.nuq(QuantSpec.parse("nuq2-r64"), c));
        assertArrayEquals(m.forward(tokens, 0, n, SimulatedStores.fp16()), all);
    }

    @Test
    void windowedAndKiviStoresAreCausal() {
        Llama m = Llama.random(SMALL, 24, 0.2f);
        int n = 80;
        int[] tokens = new Random(8).ints(4 * 64 + n, 0, SMALL.vocabSize()).toArray();
        CalibrationData data = CalibrationData.collect(m, tokens, 4, 64, "random", "random tokens");
        int[] changed = tokens.clone();
        changed[n - 1] = (changed[n - 1] + 1) % SMALL.vocabSize();
        int vocab = SMALL.vocabSize();
        for (KvStore store : java.util.List.of(SimulatedStores.kivi(2, 0), SimulatedStores.kivi(3, 32),
                SimulatedStores.nuq(QuantSpec.parse("nuq3-r16"), data.calibrate(QuantSpec.parse("nuq3"), "test")))) {
            float[] a = m.forward(tokens, 0, n, store);
            float[] b = m.forward(changed, 0, n, store);
            assertArrayEquals(java.util.Arrays.copyOf(a, (n - 1) * vocab), java.util.Arrays.copyOf(b, (n - 1) * vocab),
                    "no earlier position may see the last token");
        }
    }

    @Test
    void packedRowsWithAWindowAndMixedWidthsRunAndAgreeWithTheSimulatedRows() {
        // page format v2: the recent-token window and a bit allocation run in the packed runtime cache too
        Llama m = Llama.random(SMALL, 25, 0.2f);
        int[] tokens = new Random(9).ints(8 * 64, 0, SMALL.vocabSize()).toArray();
        CalibrationData data = CalibrationData.collect(m, tokens, 4, 64, "random", "random tokens");
        Evaluator ev = new Evaluator(m, tokens, 64, 2, () -> data);
        for (String name : java.util.List.of("nuq3-r16", "nuqa3", "nuqa2-1%-r16")) {
            Evaluator.Row simulated = ev.evaluate(KvMode.parse(name));
            Evaluator.Row packed = ev.evaluate(KvMode.parse(name + "-packed"));
            assertEquals(simulated.perplexity(), packed.perplexity(), 0.005 * simulated.perplexity(),
                    name + ": packed " + packed.perplexity() + " vs simulated " + simulated.perplexity());
        }
        Evaluator.Row row = ev.evaluate(KvMode.parse("nuqa3-r16"));
        assertEquals(EffectiveBits.nuq(KvMode.parse("nuqa3-r16"), ev.calibration(QuantSpec.parse("nuqa3")), 0, 64),
                row.bits(), 1e-12);
        assertTrue(row.bits32k() < row.bits(), "the window weighs less at 32K tokens");
    }

    @Test
    void calibrationIsDeterministicAndRoundTripsThroughAFile(@TempDir Path dir) throws Exception {
        Llama m = Llama.random(SMALL, 21, 0.2f);
        CalibrationData a = randomData(m, 5);
        CalibrationData b = randomData(m, 5);
        QuantSpec spec = QuantSpec.parse("nuq3-1%");
        Calibration ca = a.calibrate(spec, "test");
        Calibration cb = b.calibrate(spec, "test");
        assertEquals(ca.layers(), cb.layers());
        Path f = dir.resolve("c.kvqcal");
        ca.save(f);
        assertTrue(Files.size(f) > 0);
        Calibration loaded = Calibration.load(f, a.shape(), spec);
        assertEquals(ca.layers(), loaded.layers());
        // Fisher weights must change the fit: an unweighted codebook differs
        Calibration unweighted = a.calibrate(spec.weighting(dev.kvq.quant.FisherWeighting.UNWEIGHTED), "test");
        assertNotEquals(ca.layers().get(0).values(), unweighted.layers().get(0).values());
    }

    @Test
    void nuqStoreKeepsSinksAndStaysCloseToExact() {
        Llama m = Llama.random(SMALL, 22, 0.2f);
        CalibrationData data = randomData(m, 6);
        QuantSpec spec = QuantSpec.parse("nuq4-1%");
        KvStore store = SimulatedStores.nuq(spec, data.calibrate(spec, "test"));
        LlamaRope rope = m.rope();
        float[] k = data.keys(0).values();
        float[] v = data.values(0).values();
        int n = 64;
        int d = SMALL.kvDim();
        float[] kw = java.util.Arrays.copyOf(k, n * d);
        float[] vw = java.util.Arrays.copyOf(v, n * d);
        KvView exact = KvStore.FP32.view(0, kw, vw, n, rope);
        KvView q = store.view(0, kw, vw, n, rope);
        for (int c = 0; c < d; c++) {
            assertEquals(exact.keys()[c], q.keys()[c], Math.abs(exact.keys()[c]) * 1e-3 + 1e-4, "sink key " + c);
        }
        double err = 0;
        double norm = 0;
        for (int i = d; i < n * d; i++) {
            err += Math.pow(exact.values()[i] - q.values()[i], 2) + Math.pow(exact.keys()[i] - q.keys()[i], 2);
            norm += Math.pow(exact.values()[i], 2) + Math.pow(exact.keys()[i], 2);
        }
        assertTrue(err / norm < 0.01, "relative squared error of nuq4-1% is " + err / norm);
        assertTrue(err > 0, "nothing was quantized");
    }
}
