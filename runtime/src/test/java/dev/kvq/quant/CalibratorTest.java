package dev.kvq.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.Rope;
import dev.kvq.geometry.RopePairing;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Fisher bit allocation: budget, word alignment, RoPE pairs, granularity, and that it beats uniform widths. */
class CalibratorTest {
    private static final int TOKENS = 256;

    private static Activations[][] activations(AttentionShape shape) {
        return SyntheticActivations.perLayer(shape.layers(), TOKENS, shape.kvChannels(), 0);
    }

    private static List<LayerCalibration> fit(AttentionShape shape, String spec) {
        Activations[][] a = activations(shape);
        return Calibrator.fit(shape, QuantSpec.parse(spec), a[0], a[1], WeightedKMeans.Options.defaults());
    }

    @Test
    void spendsTheWholeBudgetInWholeWordsPerTokenAndTensorWithPairsSharingAWidth() {
        for (RopePairing pairing : RopePairing.values()) {
            AttentionShape shape = new AttentionShape(3, 8, 4, 8, Rope.of(10000, pairing, 8));
            for (int budget = 1; budget <= 5; budget++) {
                List<LayerCalibration> layers = fit(shape, "nuqa" + budget);
                long bits = 0;
                for (LayerCalibration l : layers) {
                    assertEquals(0, l.keyCodeBits() % 32, pairing + " B=" + budget);
                    assertEquals(0, l.valueCodeBits() % 32, pairing + " B=" + budget);
                    bits += l.keyCodeBits() + l.valueCodeBits();
                    for (int c = 0; c < shape.kvChannels(); c++) {
                        int j = c % 8;
                        int partner = c - j + pairing.partner(j, 8);
                        assertEquals(l.keys().width(c), l.keys().width(partner), "RoPE pair " + c + "/" + partner);
                        assertTrue(l.keys().width(c) <= Checks.MAX_ALLOCATED_BITS && l.valueWidth(c) >= 0);
                    }
                }
                assertEquals((long) budget * 2 * shape.layers() * shape.kvChannels(), bits, pairing + " B=" + budget);
            }
        }
    }

    @Test
    void valuesAlongTokensFreesOnlyTheValueRows() {
        AttentionShape shape = new AttentionShape(3, 8, 4, 8, Rope.of(10000, RopePairing.INTERLEAVED, 8));
        List<LayerCalibration> layers = fit(shape, "nuqa3-vtok");
        long bits = 0;
        boolean unaligned = false;
        for (LayerCalibration l : layers) {
            assertEquals(0, l.keyCodeBits() % 32);
            unaligned |= l.valueCodeBits() % 32 != 0;
            bits += l.keyCodeBits() + l.valueCodeBits();
        }
        assertEquals(3L * 2 * 3 * 32, bits);
        assertTrue(unaligned, "on this data some layer's values take a width sum between words");
    }

    @Test
    void coarserGranularitiesShareOneWidthPerHeadOrPerTensor() {
        AttentionShape shape = new AttentionShape(2, 8, 4, 8, Rope.of(10000, RopePairing.INTERLEAVED, 8));
        for (LayerCalibration l : fit(shape, "nuqa3-head")) {
            for (int c = 0; c < 32; c++) {
                assertEquals(l.keys().width(c - c % 8), l.keys().width(c));
                assertEquals(l.valueWidth(c - c % 8), l.valueWidth(c));
            }
        }
        for (LayerCalibration l : fit(shape, "nuqa2-tensor")) {
            for (int c = 0; c < 32; c++) {
                assertEquals(l.keys().width(0), l.keys().width(c));
                assertEquals(l.valueWidth(0), l.valueWidth(c));
            }
        }
    }

    @Test
    void theAllocationHasLessFisherWeightedErrorThanUniformWidthsAndFavoursSensitiveChannels() {
        AttentionShape shape = new AttentionShape(2, 8, 4, 8, Rope.of(10000, RopePairing.INTERLEAVED, 8));
        Activations[][] a = activations(shape);
        // channel 5 of layer 0's keys matters 100 times more than the others
        float[] f = a[0][0].fisher().clone();
        for (int t = 0; t < TOKENS; t++) {
            f[t * 32 + 4] *= 100;
            f[t * 32 + 5] *= 100;
        }
        a[0][0] = new Activations(a[0][0].values(), f, TOKENS, 32, 64);
        QuantSpec allocated = QuantSpec.parse("nuqa3");
        List<LayerCalibration> widths = Calibrator.fit(shape, allocated, a[0], a[1], WeightedKMeans.Options.defaults());
        List<LayerCalibration> uniform = Calibrator.fit(shape, QuantSpec.nuq(3), a[0], a[1], WeightedKMeans.Options.defaults());
        double allocatedError = 0;
        double uniformError = 0;
        for (int l = 0; l < 2; l++) {
            allocatedError += keyError(widths.get(l).keys(), a[0][l], allocated);
            uniformError += keyError(uniform.get(l).keys(), a[0][l], QuantSpec.nuq(3));
        }
        assertTrue(allocatedError < uniformError, allocatedError + " vs uniform " + uniformError);
        int widest = 0;
        for (int c = 0; c < 32; c++) {
            widest = Math.max(widest, widths.get(0).keys().width(c));
        }
        assertEquals(widest, widths.get(0).keys().width(5), "the sensitive pair gets the widest codes of its row");
    }

    private static double keyError(KeyQuantizer kq, Activations keys, QuantSpec spec) {
        QuantizedToken tok = new QuantizedToken(32);
        double e = 0;
        for (int t = 0; t < TOKENS; t++) {
            if (keys.isSink(t, spec.sinkTokens())) {
                continue;
            }
            kq.quantize(keys.values(), t * 32, tok, 0);
            for (int c = 0; c < 32; c++) {
                double d = keys.values()[t * 32 + c] - kq.dequantize(c, tok.codes[c]);
                e += keys.fisher()[t * 32 + c] * d * d;
            }
        }
        return e;
    }

    @Test
    void theDynamicProgrammeFindsTheBestWordAlignedSplitOfSmallProblems() {
        SplittableRandom r = new SplittableRandom(5);
        for (int trial = 0; trial < 50; trial++) {
            // two rows of two one-channel units each, convex error curves: greedy is exact inside a row
            List<BitAllocation.Row> rows = new ArrayList<>();
            for (int row = 0; row < 2; row++) {
                double[][] error = new double[2][Checks.MAX_ALLOCATED_BITS + 1];
                for (int c = 0; c < 2; c++) {
                    double scale = 0.1 + r.nextDouble() * 10;
                    double base = 0.2 + r.nextDouble() * 0.3;
                    for (int w = 0; w <= Checks.MAX_ALLOCATED_BITS; w++) {
                        error[c][w] = scale * Math.pow(base, w);
                    }
                }
                rows.add(new BitAllocation.Row(error, new int[][] {{0}, {1}}, true));
            }
            int word = 4;
            long budget = 4L * (1 + r.nextInt(5));
            int[][] got = BitAllocation.allocate(rows, budget, word);
            double best = Double.POSITIVE_INFINITY;
            for (int a = 0; a <= 6; a++) {
                for (int b = 0; b <= 6; b++) {
                    for (int c = 0; c <= 6; c++) {
                        for (int d = 0; d <= 6; d++) {
                            if ((a + b) % word != 0 || (c + d) % word != 0 || a + b + c + d > budget) {
                                continue;
                            }
                            best = Math.min(best, rows.get(0).error()[0][a] + rows.get(0).error()[1][b]
                                    + rows.get(1).error()[0][c] + rows.get(1).error()[1][d]);
                        }
                    }
                }
            }
            double e = rows.get(0).error()[0][got[0][0]] + rows.get(0).error()[1][got[0][1]]
                    + rows.get(1).error()[0][got[1][0]] + rows.get(1).error()[1][got[1][1]];
            assertEquals(0, (got[0][0] + got[0][1]) % word);
            assertEquals(0, (got[1][0] + got[1][1]) % word);
            assertTrue(got[0][0] + got[0][1] + got[1][0] + got[1][1] <= budget);
            assertEquals(best, e, 1e-12 * best, "trial " + trial);
        }
    }
}
