package dev.kvq.cache;

import static dev.kvq.cache.CacheFixtures.calibration;
import static dev.kvq.cache.CacheFixtures.randomQuery;
import static dev.kvq.cache.CacheFixtures.reference;
import static dev.kvq.cache.CacheFixtures.relativeError;
import static dev.kvq.cache.CacheFixtures.withSimd;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.Rope;
import dev.kvq.geometry.RopePairing;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.QuantSpec;
import dev.kvq.quant.SyntheticActivations;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The CPU decode step split across threads: every kernel family (MHA pair tables at 2 and 3 bits, the
 * rotate-once kernels of GQA and 4 bits, each with adjacent pair codes (interleaved) and with the
 * partner's code read apart (rotate-half in page format v1), fixed and sparse outliers, the
 * fp16/fp32 baselines) gives the same bits on 1, 2 and 3 threads, stays within 1e-4 of attention over
 * the decoded cache, and agrees with the scalar path. The cache has several splits (32-token pages,
 * 16 pages per split) plus the sinks, and a last page that is only partly filled.
 */
class CpuDecodeThreadsTest {
    private static final int TOKENS = 1700;

    static Stream<Arguments> configurations() {
        return Stream.of(
                // headDim, queryHeads, kvHeads, pairing, spec
                Arguments.of(64, 4, 4, RopePairing.INTERLEAVED, "nuq3-1%"),
                Arguments.of(64, 4, 4, RopePairing.INTERLEAVED, "nuq2-1%"),
                Arguments.of(64, 4, 4, RopePairing.INTERLEAVED, "nuq4-1%"),
                Arguments.of(64, 4, 4, RopePairing.INTERLEAVED, "nuq3"),
                Arguments.of(32, 8, 2, RopePairing.INTERLEAVED, "nuq3-1%"),
                Arguments.of(32, 6, 2, RopePairing.INTERLEAVED, "nuq2-1%"),
                Arguments.of(32, 8, 2, RopePairing.INTERLEAVED, "nuq3-1%-sparse"),
                Arguments.of(64, 4, 4, RopePairing.ROTATE_HALF, "nuq3-1%"),
                Arguments.of(64, 4, 4, RopePairing.ROTATE_HALF, "nuq2-1%"),
                Arguments.of(32, 8, 2, RopePairing.ROTATE_HALF, "nuq4-1%"),
                Arguments.of(64, 8, 2, RopePairing.INTERLEAVED, "fp16"),
                Arguments.of(64, 4, 4, RopePairing.INTERLEAVED, "fp16"),
                Arguments.of(32, 8, 2, RopePairing.ROTATE_HALF, "fp32"));
    }

    /** attend, keyScores and valueMatvec of one cache, concatenated. */
    private static float[] outputs(AttentionShape shape, QuantSpec spec, Calibration cal, float[] keys, float[] values,
                                   float[] query, int threads, float[][] decoded) {
        try (KvCache cache = KvCache.open(shape, spec, cal, Backend.cpu().withThreads(threads), 32)) {
            assertEquals(threads, cache.backend().cpuThreads());
            cache.append(0, keys, values);
            int hq = shape.queryHeads();
            int d = shape.headDim();
            float[] all = new float[hq * d * 2 + hq * TOKENS];
            float[] out = new float[hq * d];
            cache.attend(0, query, out);
            System.arraycopy(out, 0, all, 0, out.length);
            float[] scores = new float[hq * TOKENS];
            cache.keyScores(0, query, scores);
            System.arraycopy(scores, 0, all, 2 * hq * d, scores.length);
            for (int i = 0; i < scores.length; i++) {   // weights that are not a softmax: any matvec must hold
                scores[i] = (float) Math.sin(i * 0.37) / TOKENS;
            }
            cache.valueMatvec(0, scores, out);
            System.arraycopy(out, 0, all, hq * d, out.length);
            if (decoded != null) {
                decoded[0] = cache.decodeKeys(0);
                decoded[1] = cache.decodeValues(0);
            }
            return all;
        }
    }

    @ParameterizedTest(name = "d={0} Hq={1} Hkv={2} {3} {4}")
    @MethodSource("configurations")
    void anyThreadCountGivesTheSameBitsAndScalarAgrees(int headDim, int queryHeads, int kvHeads, RopePairing pairing,
                                                       String mode) {
        AttentionShape shape = new AttentionShape(1, queryHeads, kvHeads, headDim, Rope.of(10000, pairing, headDim));
        QuantSpec spec = QuantSpec.parse(mode);
        Calibration cal = spec.quantized() ? calibration(shape, spec, 5) : null;
        int d = shape.kvChannels();
        float[] keys = SyntheticActivations.keys(11, TOKENS, d);
        float[] values = SyntheticActivations.values(12, TOKENS, d);
        float[] query = randomQuery(shape, 13);
        int n = queryHeads * headDim;
        float[][] decoded = new float[2][];
        float[][] bySimd = new float[2][];
        String[] lanes = {null, "0"};
        for (int s = 0; s < lanes.length; s++) {
            float[][] dec = s == 0 ? decoded : null;
            String simd = lanes[s];
            bySimd[s] = withSimd(simd, () -> {
                float[] one = outputs(shape, spec, cal, keys, values, query, 1, dec);
                for (int threads = 2; threads <= 3; threads++) {
                    float[] many = outputs(shape, spec, cal, keys, values, query, threads, null);
                    assertArrayEquals(one, many, threads + " threads vs 1, simd=" + simd);
                }
                return one;
            });
        }
        float[] expected = reference(shape, query, decoded[0], decoded[1], TOKENS);
        for (float[] got : bySimd) {
            float[] attended = java.util.Arrays.copyOf(got, n);
            assertTrue(relativeError(attended, expected) < 1e-4, "vs reference: " + relativeError(attended, expected));
        }
        assertTrue(relativeError(bySimd[0], bySimd[1]) < 1e-5, "scalar vs SIMD: " + relativeError(bySimd[0], bySimd[1]));
    }

    @Test
    void threadCountsOutOfRangeAreRefusedWithTheRange() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Backend.cpu().withThreads(-1));
        assertTrue(e.getMessage().contains("[1, " + Backend.MAX_THREADS + "]"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Backend.cpu().withThreads(Backend.MAX_THREADS + 1));
        String old = System.getProperty(Backend.THREADS_PROPERTY);
        try {
            System.setProperty(Backend.THREADS_PROPERTY, "many");
            e = assertThrows(IllegalArgumentException.class, () -> Backend.cpu().cpuThreads());
            assertTrue(e.getMessage().contains(Backend.THREADS_PROPERTY), e.getMessage());
            System.setProperty(Backend.THREADS_PROPERTY, "3");
            assertEquals(3, Backend.cpu().cpuThreads());
            assertEquals(2, Backend.cpu().withThreads(2).cpuThreads());
        } finally {
            if (old == null) {
                System.clearProperty(Backend.THREADS_PROPERTY);
            } else {
                System.setProperty(Backend.THREADS_PROPERTY, old);
            }
        }
        assertEquals(Runtime.getRuntime().availableProcessors(), Backend.cpu().cpuThreads());
    }
}
