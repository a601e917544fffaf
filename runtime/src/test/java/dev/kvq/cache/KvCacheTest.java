package dev.kvq.cache;

import static dev.kvq.cache.CacheFixtures.calibration;
import static dev.kvq.cache.CacheFixtures.randomQuery;
import static dev.kvq.cache.CacheFixtures.reference;
import static dev.kvq.cache.CacheFixtures.relativeError;
import static dev.kvq.cache.CacheFixtures.rotate;
import static dev.kvq.cache.CacheFixtures.withSimd;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.Rope;
import dev.kvq.geometry.RopePairing;
import dev.kvq.layout.MemoryReport;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.Fp16;
import dev.kvq.quant.QuantSpec;
import dev.kvq.quant.SyntheticActivations;
import java.lang.foreign.ValueLayout;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class KvCacheTest {

    static Stream<Arguments> configurations() {
        return Stream.of(
                // headDim, queryHeads, kvHeads, pairing, spec, simd
                Arguments.of(8, 8, 4, RopePairing.INTERLEAVED, "nuq3-1%", "0"),
                Arguments.of(8, 8, 4, RopePairing.INTERLEAVED, "nuq3-1%", null),
                Arguments.of(64, 4, 4, RopePairing.ROTATE_HALF, "nuq4-1%", null),
                Arguments.of(64, 4, 4, RopePairing.ROTATE_HALF, "nuq4-1%", "0"),
                Arguments.of(64, 8, 4, RopePairing.INTERLEAVED, "nuq2-1%", null),
                Arguments.of(128, 8, 2, RopePairing.ROTATE_HALF, "nuq3-1%", null),
                Arguments.of(128, 8, 2, RopePairing.ROTATE_HALF, "nuq3-1%", "8"),
                Arguments.of(128, 4, 4, RopePairing.ROTATE_HALF, "nuq2", null),
                Arguments.of(16, 12, 3, RopePairing.ROTATE_HALF, "nuq4", "0"),
                Arguments.of(64, 4, 1, RopePairing.INTERLEAVED, "fp16", null),
                Arguments.of(64, 4, 1, RopePairing.INTERLEAVED, "fp16", "0"),
                Arguments.of(32, 8, 8, RopePairing.ROTATE_HALF, "fp32", null));
    }

    @ParameterizedTest(name = "d={0} Hq={1} Hkv={2} {3} {4} simd={5}")
    @MethodSource("configurations")
    void attentionMatchesTheReferenceOverTheDecodedCache(int headDim, int queryHeads, int kvHeads,
                                                         RopePairing pairing, String mode, String simd) {
        AttentionShape shape = new AttentionShape(2, queryHeads, kvHeads, headDim, Rope.of(10000, pairing, headDim));
        QuantSpec spec = QuantSpec.parse(mode);
        Calibration cal = spec.quantized() ? calibration(shape, spec, 1) : null;
        int d = shape.kvChannels();
        int prefill = 300;
        float[] keys = SyntheticActivations.keys(7, prefill + 5, d);
        float[] values = SyntheticActivations.values(8, prefill + 5, d);
        withSimd(simd, () -> {
            try (KvCache cache = KvCache.open(shape, spec, cal, Backend.cpu(), 64)) {
                cache.append(1, java.util.Arrays.copyOf(keys, prefill * d), java.util.Arrays.copyOf(values, prefill * d));
                for (int t = prefill; t < prefill + 5; t++) {   // decode steps, one token each
                    cache.append(1, java.util.Arrays.copyOfRange(keys, t * d, (t + 1) * d),
                            java.util.Arrays.copyOfRange(values, t * d, (t + 1) * d));
                    float[] query = randomQuery(shape, t);
                    float[] out = new float[query.length];
                    cache.attend(1, query, out);
                    float[] expected = reference(shape, query, cache.decodeKeys(1), cache.decodeValues(1), t + 1);
                    double err = relativeError(out, expected);
                    assertTrue(err < 1e-4, "relative error " + err + " at step " + t);
                }
                assertEquals(prefill + 5, cache.length(1));
                assertEquals(0, cache.length(0));
            }
            return null;
        });
    }

    @ParameterizedTest
    @MethodSource("specs")
    void scalarAndSimdPathsAgree(String mode) {
        AttentionShape shape = new AttentionShape(1, 8, 4, 64);
        QuantSpec spec = QuantSpec.parse(mode);
        Calibration cal = spec.quantized() ? calibration(shape, spec, 2) : null;
        int d = shape.kvChannels();
        float[] keys = SyntheticActivations.keys(3, 700, d);
        float[] values = SyntheticActivations.values(4, 700, d);
        float[] query = randomQuery(shape, 5);
        float[] scalar = withSimd("0", () -> run(shape, spec, cal, keys, values, query));
        float[] simd = withSimd(null, () -> run(shape, spec, cal, keys, values, query));
        assertTrue(relativeError(simd, scalar) < 2e-6, "scalar vs SIMD: " + relativeError(simd, scalar));
    }

    static Stream<String> specs() {
        return Stream.of("nuq2-1%", "nuq3-1%", "nuq4-1%", "nuq3", "fp16", "fp32");
    }

    private static float[] run(AttentionShape shape, QuantSpec spec, Calibration cal, float[] keys, float[] values,
                               float[] query) {
        try (KvCache cache = KvCache.open(shape, spec, cal, Backend.cpu())) {
            cache.append(0, keys, values);
            float[] out = new float[query.length];
            cache.attend(0, query, out);
            return out;
        }
    }

    @Test
    void ropeIsExactAtPositionsUpToTenMillion() {
        for (double theta : new double[] {1e4, 5e5}) {
            for (RopePairing pairing : RopePairing.values()) {
                for (long first : new long[] {0, 123_456, 10_000_000 - 200}) {
                    AttentionShape shape = new AttentionShape(1, 4, 2, 64, Rope.of(theta, pairing, 64));
                    QuantSpec spec = QuantSpec.parse("nuq4-1%");
                    Calibration cal = calibration(shape, spec, 9);
                    int d = shape.kvChannels();
                    float[] keys = SyntheticActivations.keys(10, 150, d);
                    float[] values = SyntheticActivations.values(11, 150, d);
                    try (KvCache cache = KvCache.open(shape, spec, cal, Backend.cpu(), 64, first)) {
                        cache.append(0, keys, values);
                        float[] query = randomQuery(shape, 12);
                        float[] out = new float[query.length];
                        cache.attend(0, query, out);
                        float[] expected = reference(shape, query, cache.decodeKeys(0), cache.decodeValues(0), 150);
                        double err = relativeError(out, expected);
                        assertTrue(err < 1e-4, "θ=" + theta + " " + pairing + " first=" + first + ": " + err);
                    }
                }
            }
        }
    }

    @Test
    void scoresThenValuesIsAttention() {
        AttentionShape shape = new AttentionShape(1, 8, 4, 64);
        QuantSpec spec = QuantSpec.parse("nuq3-1%");
        Calibration cal = calibration(shape, spec, 13);
        int d = shape.kvChannels();
        try (KvCache cache = KvCache.open(shape, spec, cal, Backend.cpu())) {
            cache.append(0, SyntheticActivations.keys(14, 333, d), SyntheticActivations.values(15, 333, d));
            float[] q = randomQuery(shape, 16);
            float[] scores = new float[8 * 333];
            cache.keyScores(0, q, scores);
            float[] decoded = cache.decodeKeys(0);
            for (int h = 0; h < 8; h++) {
                for (int t = 0; t < 333; t += 41) {
                    double expected = 0;
                    for (int j = 0; j < 64; j++) {
                        expected += q[h * 64 + j] * decoded[t * d + (h / 2) * 64 + j];
                    }
                    assertEquals(expected / 8, scores[h * 333 + t], 1e-4 * Math.max(1, Math.abs(expected / 8)));
                }
            }
            for (int h = 0; h < 8; h++) {
                double max = Double.NEGATIVE_INFINITY;
                for (int t = 0; t < 333; t++) {
                    max = Math.max(max, scores[h * 333 + t]);
                }
                double sum = 0;
                for (int t = 0; t < 333; t++) {
                    sum += Math.exp(scores[h * 333 + t] - max);
                }
                for (int t = 0; t < 333; t++) {
                    scores[h * 333 + t] = (float) (Math.exp(scores[h * 333 + t] - max) / sum);
                }
            }
            float[] split = new float[q.length];
            cache.valueMatvec(0, scores, split);
            float[] whole = new float[q.length];
            cache.attend(0, q, whole);
            assertTrue(relativeError(split, whole) < 1e-5, "split vs attend: " + relativeError(split, whole));
            assertThrows(IllegalArgumentException.class, () -> cache.keyScores(0, q, new float[10]));
        }
    }

    @Test
    void fp32BaselineEqualsExactAttention() {
        AttentionShape shape = new AttentionShape(1, 8, 2, 32);
        int d = shape.kvChannels();
        float[] keys = SyntheticActivations.keys(20, 200, d);
        float[] values = SyntheticActivations.values(21, 200, d);
        float[] query = randomQuery(shape, 22);
        float[] out = run(shape, QuantSpec.fp32(), null, keys, values, query);
        float[] expected = reference(shape, query, rotate(shape, keys, 200, 0), values, 200);
        assertTrue(relativeError(out, expected) < 1e-5, "fp32: " + relativeError(out, expected));
    }

    @Test
    void quantizedOutputStaysCloseToTheOriginal() {
        AttentionShape shape = new AttentionShape(1, 8, 4, 64);
        int d = shape.kvChannels();
        float[] keys = SyntheticActivations.keys(30, 1000, d);
        float[] values = SyntheticActivations.values(31, 1000, d);
        float[] query = randomQuery(shape, 32);
        float[] exact = reference(shape, query, rotate(shape, keys, 1000, 0), values, 1000);
        double[] errors = new double[3];
        String[] modes = {"nuq4-1%", "nuq3-1%", "nuq2-1%"};
        for (int i = 0; i < modes.length; i++) {
            QuantSpec spec = QuantSpec.parse(modes[i]);
            float[] out = run(shape, spec, calibration(shape, spec, 33), keys, values, query);
            errors[i] = relativeError(out, exact);
            System.out.printf("attention output error vs fp32 K/V, %s: %.4f%n", modes[i], errors[i]);
        }
        // The synthetic attention is peaky (score spread ~3), so small score errors move the output;
        // what must hold is the order of the bit widths and a usable 4-bit result.
        assertTrue(errors[0] < errors[1] && errors[1] < errors[2], java.util.Arrays.toString(errors));
        assertTrue(errors[0] < 0.2, "nuq4-1%: " + errors[0]);
    }

    @Test
    void oneTokenAtATimeEqualsOnePrefillBitForBit() {
        AttentionShape shape = new AttentionShape(1, 4, 2, 64);
        QuantSpec spec = QuantSpec.parse("nuq3-1%");
        Calibration cal = calibration(shape, spec, 40);
        int d = shape.kvChannels();
        int n = 100;
        float[] keys = SyntheticActivations.keys(41, n, d);
        float[] values = SyntheticActivations.values(42, n, d);
        try (KvCache bulk = KvCache.open(shape, spec, cal, Backend.cpu(), 32);
             KvCache single = KvCache.open(shape, spec, cal, Backend.cpu(), 32)) {
            bulk.append(0, keys, values);
            for (int t = 0; t < n; t++) {
                single.append(0, java.util.Arrays.copyOfRange(keys, t * d, (t + 1) * d),
                        java.util.Arrays.copyOfRange(values, t * d, (t + 1) * d));
            }
            for (int pg = 0; pg < 4; pg++) {
                assertArrayEquals(bulk.pageBytes(0, pg).toArray(ValueLayout.JAVA_BYTE),
                        single.pageBytes(0, pg).toArray(ValueLayout.JAVA_BYTE), "page " + pg);
            }
            float[] q = randomQuery(shape, 43);
            float[] a = new float[q.length];
            float[] b = new float[q.length];
            bulk.attend(0, q, a);
            single.attend(0, q, b);
            assertArrayEquals(a, b);
        }
    }

    @Test
    void aSequenceThatIsAllSinkIsExactInFp16() {
        AttentionShape shape = new AttentionShape(1, 4, 2, 16);
        QuantSpec spec = QuantSpec.parse("nuq2-1%").sinkTokens(4);
        Calibration cal = calibration(shape, spec, 50);
        int d = shape.kvChannels();
        float[] keys = SyntheticActivations.keys(51, 3, d);
        float[] values = SyntheticActivations.values(52, 3, d);
        try (KvCache cache = KvCache.open(shape, spec, cal, Backend.cpu())) {
            cache.append(0, keys, values);
            float[] rotated = rotate(shape, keys, 3, 0);
            float[] decodedKeys = cache.decodeKeys(0);
            float[] decodedValues = cache.decodeValues(0);
            for (int i = 0; i < rotated.length; i++) {
                assertEquals(Fp16.round(rotated[i]), decodedKeys[i], "sink keys are fp16 of the post-RoPE key");
                assertEquals(Fp16.round(values[i]), decodedValues[i]);
            }
            assertEquals(0, cache.memory().codes(), "no page was needed");
            float[] q = randomQuery(shape, 53);
            float[] out = new float[q.length];
            cache.attend(0, q, out);
            assertTrue(relativeError(out, reference(shape, q, decodedKeys, decodedValues, 3)) < 1e-5);
        }
    }

    @Test
    void manyPagesAndBothOutlierFormsAgreeWithTheirOwnDecoding() {
        AttentionShape shape = new AttentionShape(1, 8, 4, 32);
        int d = shape.kvChannels();
        float[] keys = SyntheticActivations.keys(60, 2000, d);
        float[] values = SyntheticActivations.values(61, 2000, d);
        for (QuantSpec.OutlierForm form : QuantSpec.OutlierForm.values()) {
            QuantSpec spec = QuantSpec.parse("nuq3-1%").outlierForm(form);
            Calibration cal = calibration(shape, spec.outlierForm(QuantSpec.OutlierForm.FIXED_SLOTS), 62);
            try (KvCache cache = KvCache.open(shape, spec, cal, Backend.cpu(), 32)) {
                for (int from = 0; from < 2000; from += 137) {
                    int to = Math.min(2000, from + 137);
                    cache.append(0, java.util.Arrays.copyOfRange(keys, from * d, to * d),
                            java.util.Arrays.copyOfRange(values, from * d, to * d));
                }
                float[] q = randomQuery(shape, 63);
                float[] out = new float[q.length];
                cache.attend(0, q, out);
                float[] expected = reference(shape, q, cache.decodeKeys(0), cache.decodeValues(0), 2000);
                assertTrue(relativeError(out, expected) < 1e-4, form + ": " + relativeError(out, expected));
                assertTrue(cache.memory().outliers() > 0, form + " stores outliers");
            }
        }
    }

    @Test
    void rejectedAppendsLeaveTheCacheExactlyAsItWas() {
        AttentionShape shape = new AttentionShape(2, 4, 2, 16);
        QuantSpec spec = QuantSpec.parse("nuq3-1%");
        Calibration cal = calibration(shape, spec, 70);
        int d = shape.kvChannels();
        float[] keys = SyntheticActivations.keys(71, 40, d);
        float[] values = SyntheticActivations.values(72, 40, d);
        try (KvCache cache = KvCache.open(shape, spec, cal, Backend.cpu(), 32)) {
            cache.append(0, keys, values);
            MemoryReport before = cache.memory();
            byte[] page = cache.pageBytes(0, 1).toArray(ValueLayout.JAVA_BYTE);
            float[] q = randomQuery(shape, 73);
            float[] out = new float[q.length];
            cache.attend(0, q, out);

            float[] bad = SyntheticActivations.keys(74, 30, d);
            bad[29 * d + 3] = Float.NaN;       // the very last token is bad
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> cache.append(0, bad, SyntheticActivations.values(75, 30, d)));
            assertEquals("keys holds NaN at index " + (29 * d + 3), e.getMessage());
            float[] inf = values.clone();
            inf[5] = Float.POSITIVE_INFINITY;
            assertThrows(IllegalArgumentException.class, () -> cache.append(0, keys, inf));
            assertThrows(IllegalArgumentException.class, () -> cache.append(0, new float[d + 1], new float[d + 1]));
            assertThrows(IllegalArgumentException.class, () -> cache.append(0, new float[d], new float[2 * d]));
            assertThrows(IllegalArgumentException.class, () -> cache.append(0, new float[0], new float[0]));
            assertEquals("layer 2 is out of range [0, 2)", assertThrows(IllegalArgumentException.class,
                    () -> cache.append(2, new float[d], new float[d])).getMessage());
            assertThrows(IllegalArgumentException.class, () -> cache.append(-1, new float[d], new float[d]));

            assertEquals(40, cache.length(0));
            assertEquals(before, cache.memory());
            assertArrayEquals(page, cache.pageBytes(0, 1).toArray(ValueLayout.JAVA_BYTE));
            float[] again = new float[q.length];
            cache.attend(0, q, again);
            assertArrayEquals(out, again);
            assertThrows(IllegalStateException.class, () -> cache.attend(1, q, again), "empty layer");
            assertThrows(IllegalArgumentException.class, () -> cache.attend(0, new float[3], again));
            float[] nanQuery = q.clone();
            nanQuery[0] = Float.NaN;
            assertThrows(IllegalArgumentException.class, () -> cache.attend(0, nanQuery, again));
        }
    }

    @Test
    void aClosedCacheThrowsAndClosingTwiceIsHarmless() {
        AttentionShape shape = new AttentionShape(1, 2, 2, 8);
        KvCache cache = KvCache.open(shape, QuantSpec.fp16(), null, Backend.cpu());
        cache.append(0, new float[16], new float[16]);
        cache.close();
        cache.close();
        assertTrue(cache.isClosed());
        assertEquals("the KV cache is closed", assertThrows(IllegalStateException.class,
                () -> cache.append(0, new float[16], new float[16])).getMessage());
        assertThrows(IllegalStateException.class, () -> cache.attend(0, new float[16], new float[16]));
        assertThrows(IllegalStateException.class, cache::memory);
        assertThrows(IllegalStateException.class, () -> cache.length(0));
    }

    @Test
    void openingChecksTheCalibrationAndBackend() {
        AttentionShape shape = new AttentionShape(1, 4, 2, 16);
        QuantSpec spec = QuantSpec.parse("nuq3-1%");
        assertThrows(IllegalArgumentException.class, () -> KvCache.open(shape, spec, null, Backend.cpu()));
        Calibration cal = calibration(shape, spec, 80);
        assertThrows(IllegalArgumentException.class,
                () -> KvCache.open(shape, QuantSpec.parse("nuq4-1%"), cal, Backend.cpu()));
        assertThrows(IllegalArgumentException.class,
                () -> KvCache.open(new AttentionShape(1, 4, 4, 16), spec, cal, Backend.cpu()));
        assertThrows(IllegalArgumentException.class, () -> KvCache.open(shape, spec, cal, Backend.cpu(), 48));
        // a CUDA backend that cannot start here falls back to the CPU (DeviceDelegationTest has the details)
        if (!dev.kvq.driver.CudaDriver.probe().available()) {
            try (KvCache c = KvCache.open(shape, spec, cal, new Backend(Backend.Kind.CUDA, "test"))) {
                assertEquals(Backend.Kind.CPU, c.backend().kind());
            }
        }
    }

    @Test
    void memoryReportCountsWhatIsAllocatedAndNuq3FitsInAFifthOfFp16() {
        AttentionShape shape = new AttentionShape(1, 32, 32, 128);
        int d = shape.kvChannels();
        int n = 1024;
        float[] keys = SyntheticActivations.keys(90, n, d);
        float[] values = SyntheticActivations.values(91, n, d);
        QuantSpec nuq3 = QuantSpec.parse("nuq3-1%");
        long fp16Bytes;
        try (KvCache fp16 = KvCache.open(shape, QuantSpec.fp16(), null, Backend.cpu())) {
            fp16.append(0, keys, values);
            MemoryReport m = fp16.memory();
            assertEquals(2L * n * d * 2, m.codes());
            assertEquals(0, m.pageSlack());
            assertEquals(16.0, m.effectiveBits(), 1e-9);
            fp16Bytes = m.totalBytes();
        }
        try (KvCache q = KvCache.open(shape, nuq3, calibration(shape, nuq3, 92), Backend.cpu())) {
            q.append(0, keys, values);
            MemoryReport m = q.memory();
            long pages = 4;   // 1023 packed tokens in 256-token pages
            assertEquals(pages * q.pageLayout().pageBytes() + m.sinks(), m.totalBytes() - m.sideData());
            double ratio = (double) fp16Bytes / (m.totalBytes() - m.sideData());
            System.out.printf("nuq3-1%% at D=4096: %.3f bits/element, fp16/nuq3 bytes = %.2f%n", m.tokenBits(), ratio);
            assertTrue(ratio >= 4.5, "nuq3-1% must use at most 1/4.5 of fp16: " + ratio);
            // 42 key and 42 value slots of 32 bits, scale and zero, 32 uint8 head ends per list (v2), the sink
            assertEquals(3 + 42 * 32.0 / 4096 + 16.0 / 4096 + 32 * 8.0 / 4096, m.tokenBits(), 0.02);
        }
    }
}
