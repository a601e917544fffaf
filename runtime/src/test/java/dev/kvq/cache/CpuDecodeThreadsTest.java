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
import dev.kvq.layout.ChannelPlan;
import dev.kvq.quant.Activations;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.Calibrator;
import dev.kvq.quant.Provenance;
import dev.kvq.quant.WeightedKMeans;
import dev.kvq.quant.QuantSpec;
import dev.kvq.quant.SyntheticActivations;
import java.util.BitSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The CPU decode step split across threads: every kernel family (MHA pair tables at 2 and 3 bits, the
 * rotate-once kernels of GQA and 4 bits, both RoPE pairings (adjacent pair codes in page format v2),
 * fixed and sparse outliers, per-channel key codebooks, the recent-token window read from the side
 * buffer, mixed widths from a bit allocation on the per-pair-width kernels with two layers of different
 * layouts, the fp16/fp32 baselines) gives the same bits on 1, 2 and 3 threads, stays within 1e-4 of
 * attention over the decoded cache, and agrees with the scalar path. The cache has several splits
 * (32-token pages, 16 pages per split) plus the sinks (and the window), and a last page that is only
 * partly filled.
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
                Arguments.of(64, 4, 4, RopePairing.ROTATE_HALF, "nuq3-1%-r32"),
                Arguments.of(32, 8, 2, RopePairing.INTERLEAVED, "nuq2-1%-r16-s4"),
                Arguments.of(64, 4, 4, RopePairing.ROTATE_HALF, "nuq3-1%-ccb"),
                Arguments.of(64, 4, 4, RopePairing.INTERLEAVED, "nuqa3-1%-r32"),
                Arguments.of(64, 4, 4, RopePairing.ROTATE_HALF, "nuqa3-ccb"),
                Arguments.of(32, 8, 2, RopePairing.ROTATE_HALF, "nuqa2-1%-sparse-r16"),
                Arguments.of(64, 8, 2, RopePairing.INTERLEAVED, "fp16"),
                Arguments.of(64, 4, 4, RopePairing.INTERLEAVED, "fp16"),
                Arguments.of(32, 8, 2, RopePairing.ROTATE_HALF, "fp32"));
    }

    /**
     * attend, keyScores and valueMatvec of every layer of one cache, concatenated per layer (layer l's attend
     * output first at {@code l·size}); the layers get the same tokens, and attend in turn, so a step binds a
     * layer after another of a different layout.
     */
    private static float[] outputs(AttentionShape shape, QuantSpec spec, Calibration cal, float[] keys, float[] values,
                                   float[] query, int threads, float[][] decoded) {
        try (KvCache cache = KvCache.open(shape, spec, cal, Backend.cpu().withThreads(threads), 32)) {
            assertEquals(threads, cache.backend().cpuThreads());
            int hq = shape.queryHeads();
            int d = shape.headDim();
            int size = hq * d * 2 + hq * TOKENS;
            float[] all = new float[size * shape.layers()];
            for (int layer = 0; layer < shape.layers(); layer++) {
                cache.append(layer, keys, values);
            }
            for (int layer = 0; layer < shape.layers(); layer++) {
                int at = layer * size;
                float[] out = new float[hq * d];
                cache.attend(layer, query, out);
                System.arraycopy(out, 0, all, at, out.length);
                float[] scores = new float[hq * TOKENS];
                cache.keyScores(layer, query, scores);
                System.arraycopy(scores, 0, all, at + 2 * hq * d, scores.length);
                for (int i = 0; i < scores.length; i++) {   // weights that are not a softmax: any matvec must hold
                    scores[i] = (float) Math.sin(i * 0.37) / TOKENS;
                }
                cache.valueMatvec(layer, scores, out);
                System.arraycopy(out, 0, all, at + hq * d, out.length);
                if (decoded != null) {
                    decoded[2 * layer] = cache.decodeKeys(layer);
                    decoded[2 * layer + 1] = cache.decodeValues(layer);
                }
            }
            return all;
        }
    }

    /**
     * A calibration with the Fisher bit allocation across the layers (widths 0–6 per RoPE pair and value
     * channel); checks that its keys have mixed widths, and prints them (which kernels a run reaches).
     */
    private static Calibration allocated(AttentionShape shape, QuantSpec spec) {
        Activations[][] a = SyntheticActivations.perLayer(shape.layers(), 2048, shape.kvChannels(), 10);
        Calibration cal = new Calibration(shape, spec, Provenance.unknown(), Calibrator.fit(shape, spec, a[0], a[1],
                WeightedKMeans.Options.defaults()));
        for (int l = 0; l < shape.layers(); l++) {
            BitSet keyWidths = new BitSet();
            BitSet valueWidths = new BitSet();
            ChannelPlan plan = ChannelPlan.of(shape, cal.layer(l));
            for (int c = 0; c < shape.kvChannels(); c++) {
                keyWidths.set(plan.keyWidth(c));
                valueWidths.set(plan.valueWidth(c));
            }
            System.out.println(spec.name() + " layer " + l + ": key widths " + keyWidths + ", value widths " + valueWidths);
            assertTrue(keyWidths.cardinality() >= 2, spec.name() + ": mixed key widths " + keyWidths);
        }
        return cal;
    }

    @ParameterizedTest(name = "d={0} Hq={1} Hkv={2} {3} {4}")
    @MethodSource("configurations")
    void anyThreadCountGivesTheSameBitsAndScalarAgrees(int headDim, int queryHeads, int kvHeads, RopePairing pairing,
                                                       String mode) {
        QuantSpec spec = QuantSpec.parse(mode);
        int layers = spec.allocated() ? 2 : 1;   // a bit allocation gives each layer its own layout
        AttentionShape shape = new AttentionShape(layers, queryHeads, kvHeads, headDim, Rope.of(10000, pairing, headDim));
        Calibration cal = !spec.quantized() ? null : spec.allocated() ? allocated(shape, spec) : calibration(shape, spec, 5);
        int d = shape.kvChannels();
        float[] keys = SyntheticActivations.keys(11, TOKENS, d);
        float[] values = SyntheticActivations.values(12, TOKENS, d);
        float[] query = randomQuery(shape, 13);
        int n = queryHeads * headDim;
        float[][] decoded = new float[2 * layers][];
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
        int size = bySimd[0].length / layers;
        for (int layer = 0; layer < layers; layer++) {
            float[] expected = reference(shape, query, decoded[2 * layer], decoded[2 * layer + 1], TOKENS);
            for (float[] got : bySimd) {
                float[] attended = java.util.Arrays.copyOfRange(got, layer * size, layer * size + n);
                assertTrue(relativeError(attended, expected) < 1e-4,
                        "layer " + layer + " vs reference: " + relativeError(attended, expected));
            }
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
