package dev.kvq.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class KeyQuantizerTest {
    private static final int D = 256;
    private static final int SEQ = 128;
    private static final int TOKENS = 4 * SEQ;

    private static Activations keys(long seed) {
        return new Activations(SyntheticActivations.keys(seed, TOKENS, D),
                SyntheticActivations.fisher(seed + 1, TOKENS * D), TOKENS, D, SEQ);
    }

    private static KeyQuantizer calibrate(QuantSpec spec, long seed) {
        return KeyQuantizer.calibrate(keys(seed), spec, WeightedKMeans.Options.defaults());
    }

    @Test
    void thresholdsArePerChannelPercentilesWithoutSinkTokens() {
        Activations a = keys(1);
        QuantSpec spec = QuantSpec.nuq(3).outliers(0.01).sinkTokens(2);
        KeyQuantizer q = KeyQuantizer.calibrate(a, spec, WeightedKMeans.Options.defaults());
        for (int c = 0; c < D; c += 17) {
            float[] column = new float[a.calibrationTokens(2)];
            int k = 0;
            for (int t = 0; t < TOKENS; t++) {
                if (t % SEQ >= 2) {
                    column[k++] = a.values()[t * D + c];
                }
            }
            assertEquals(column.length, k);
            assertEquals((float) Percentiles.of(column, 0.5), q.lower(c), "channel " + c);
            assertEquals((float) Percentiles.of(column, 99.5), q.upper(c), "channel " + c);
            assertEquals((q.lower(c) + q.upper(c)) / 2, q.zero(c));
            assertEquals((q.upper(c) - q.lower(c)) / 2, q.scale(c));
        }
    }

    @Test
    void sinkTokensDoNotInfluenceCalibration() {
        Activations a = keys(2);
        float[] spiked = a.values().clone();
        for (int s = 0; s < TOKENS / SEQ; s++) {
            for (int c = 0; c < D; c++) {
                spiked[s * SEQ * D + c] = 1000f;   // token 0 of every sequence
            }
        }
        Activations b = new Activations(spiked, a.fisher(), TOKENS, D, SEQ);
        QuantSpec spec = QuantSpec.nuq(4).outliers(0.01).sinkTokens(1);
        KeyQuantizer qa = KeyQuantizer.calibrate(a, spec, WeightedKMeans.Options.defaults());
        KeyQuantizer qb = KeyQuantizer.calibrate(b, spec, WeightedKMeans.Options.defaults());
        assertEquals(qa, qb);
        KeyQuantizer qc = KeyQuantizer.calibrate(b, spec.sinkTokens(0), WeightedKMeans.Options.defaults());
        assertNotEquals(qa, qc, "without sink exclusion the spikes move the thresholds");
    }

    @Test
    void withoutOutliersTheThresholdsAreMinAndMax() {
        Activations a = keys(3);
        KeyQuantizer q = calibrate(QuantSpec.nuq(2).sinkTokens(0), 3);
        for (int c = 0; c < D; c += 31) {
            float min = Float.MAX_VALUE;
            float max = -Float.MAX_VALUE;
            for (int t = 0; t < TOKENS; t++) {
                min = Math.min(min, a.values()[t * D + c]);
                max = Math.max(max, a.values()[t * D + c]);
            }
            assertEquals(min, q.lower(c));
            assertEquals(max, q.upper(c));
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 3, 4})
    void outliersAreCappedAndReconstructToFp16AndOthersStayWithinHalfAGap(int bits) {
        QuantSpec spec = QuantSpec.nuq(bits).outliers(0.01);
        KeyQuantizer q = calibrate(spec, 10 + bits);
        Codebook book = q.codebook();
        int cap = spec.keyOutlierCap(D);
        assertEquals(2, cap);  // ⌊0.005·256⌋ + 1
        float[] fresh = SyntheticActivations.keys(99 + bits, 300, D);  // same distribution family, new draws
        QuantizedToken token = new QuantizedToken(D);
        int capped = 0;
        for (int t = 0; t < 300; t++) {
            q.quantize(fresh, t * D, token, cap);
            int up = 0;
            int down = 0;
            boolean[] isOutlier = new boolean[D];
            for (int i = 0; i < token.outlierCount; i++) {
                int c = token.outlierChannels[i];
                if (i > 0) {
                    assertTrue(c > token.outlierChannels[i - 1], "outliers sorted by channel");
                }
                isOutlier[c] = true;
                float x = fresh[t * D + c];
                assertTrue(x > q.upper(c) || x < q.lower(c), "only out-of-range elements are outliers");
                if (x > q.upper(c)) {
                    up++;
                } else {
                    down++;
                }
                // golden property (b): dense + fp16 residual reproduces x up to the residual's rounding
                float exact = x - q.dequantize(c, token.codes[c]);
                float reconstructed = q.dequantize(c, token.codes[c]) + token.residual(i);
                assertEquals(Fp16.round(exact), token.residual(i));
                assertEquals(x, reconstructed, fp16HalfUlp(exact) + Math.ulp(x) * 2);
            }
            assertTrue(up <= cap && down <= cap, "at most " + cap + " per side, got " + up + "/" + down);
            for (int c = 0; c < D; c++) {
                float x = fresh[t * D + c];
                boolean outOfRange = x > q.upper(c) || x < q.lower(c);
                if (outOfRange && !isOutlier[c]) {
                    capped++;
                    int extreme = x > q.upper(c) ? book.size() - 1 : 0;
                    assertEquals(extreme, token.codes[c], "capped outliers clamp to the extreme code");
                }
                if (!outOfRange) {
                    // golden property (a): within half the local gap, or the distance to the extreme centroid
                    float u = q.normalize(c, x);
                    int code = token.codes[c];
                    double bound;
                    if (u <= book.centroid(0) || u >= book.centroid(book.size() - 1)) {
                        bound = Math.abs(u - book.centroid(code));
                    } else {
                        int lower = u >= book.centroid(code) ? code : code - 1;
                        bound = (book.centroid(lower + 1) - book.centroid(lower)) / 2.0;
                    }
                    double err = Math.abs(x - q.dequantize(c, code));
                    assertTrue(err <= bound * q.scale(c) * (1 + 1e-5) + 1e-6,
                            "channel " + c + ": error " + err + " > " + bound * q.scale(c));
                }
            }
        }
        assertTrue(capped > 0, "the synthetic spikes exceed the cap somewhere");
    }

    /** Half the fp16 spacing at {@code x}: the most that storing x in fp16 can move it. */
    static float fp16HalfUlp(float x) {
        return Math.max(Math.ulp(Fp16.round(x)) * (1 << 13), 0x1p-24f) / 2 * 1.01f;
    }

    @Test
    void capKeepsTheLargestNormalizedDistances() {
        int d = 8;
        float[] lo = new float[d];
        float[] hi = new float[d];
        Arrays.fill(lo, -1f);
        Arrays.fill(hi, 1f);
        hi[5] = 3f;       // channel 5: z = 1, s = 2
        lo[5] = -1f;
        KeyQuantizer q = new KeyQuantizer(lo, hi, Codebook.uniform(2));
        float[] k = {2f, 5f, 0f, -4f, -1.5f, 5f, 1.5f, 0.5f};
        QuantizedToken token = new QuantizedToken(d);
        q.quantize(k, 0, token, 1);
        // upper candidates: ch0 u=2, ch1 u=5, ch6 u=1.5 (ch5: u=(5-1)/2=2); keep ch1. lower: ch3 u=-4, ch4 u=-1.5; keep ch3
        assertEquals(2, token.outlierCount);
        assertArrayEquals(new int[] {1, 3}, Arrays.copyOf(token.outlierChannels, 2));
        assertEquals(5f - 1f, token.residual(0));   // extreme code dequantizes to z + s·1 = 1
        assertEquals(-4f + 1f, token.residual(1));
        q.quantize(k, 0, token, Integer.MAX_VALUE);
        assertEquals(6, token.outlierCount, "uncapped: every out-of-range element");
        q.quantize(k, 0, token, 0);
        assertEquals(0, token.outlierCount);
    }

    @Test
    void constantChannelReconstructsExactly() {
        float[] lo = {0.5f, -1f};
        float[] hi = {0.5f, 1f};
        KeyQuantizer q = new KeyQuantizer(lo, hi, Codebook.uniform(3));
        QuantizedToken token = new QuantizedToken(2);
        q.quantize(new float[] {0.5f, 0.2f}, 0, token, 1);
        assertEquals(0.5f, q.dequantize(0, token.codes[0]));
        assertEquals(0, token.outlierCount);
        q.quantize(new float[] {0.75f, 0.2f}, 0, token, 1);
        assertEquals(1, token.outlierCount);
        assertEquals(0.75f, q.dequantize(0, token.codes[0]) + token.residual(0));
    }

    @Test
    void rejectsBadInputNamingTheProblem() {
        KeyQuantizer q = calibrate(QuantSpec.nuq(3).outliers(0.01).weighting(FisherWeighting.FISHER), 5);
        QuantizedToken token = new QuantizedToken(D);
        float[] k = new float[D];
        k[7] = Float.NaN;
        assertEquals("key vector holds NaN at index 7",
                assertThrows(IllegalArgumentException.class, () -> q.quantize(k, 0, token, 2)).getMessage());
        k[7] = Float.NEGATIVE_INFINITY;
        assertThrows(IllegalArgumentException.class, () -> q.quantize(k, 0, token, 2));
        k[7] = 1e6f;
        assertTrue(assertThrows(IllegalArgumentException.class, () -> q.quantize(k, 0, token, 2))
                .getMessage().contains("fp16 range"));
        assertThrows(IllegalArgumentException.class, () -> q.quantize(new float[D - 1], 0, token, 2));
        assertThrows(IllegalArgumentException.class, () -> q.quantize(new float[D], 0, new QuantizedToken(D + 1), 2));
        Activations noFisher = new Activations(new float[TOKENS * D], null, TOKENS, D, SEQ);
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> KeyQuantizer.calibrate(noFisher, QuantSpec.nuq(3), WeightedKMeans.Options.defaults()))
                .getMessage().contains("needs Fisher weights"));
        assertThrows(IllegalArgumentException.class,
                () -> KeyQuantizer.calibrate(noFisher, QuantSpec.fp16(), WeightedKMeans.Options.defaults()));
        Activations allSinks = new Activations(new float[4 * D], null, 4, D, 1);
        assertThrows(IllegalArgumentException.class, () -> KeyQuantizer.calibrate(allSinks,
                QuantSpec.nuq(3).weighting(FisherWeighting.UNWEIGHTED), WeightedKMeans.Options.defaults()));
        assertThrows(IllegalArgumentException.class, () -> new KeyQuantizer(new float[] {1f}, new float[] {0f},
                Codebook.uniform(2)));
    }

    @Test
    void weightingChangesTheCodebook() {
        Activations a = keys(21);
        WeightedKMeans.Options o = WeightedKMeans.Options.defaults();
        Codebook scaled = KeyQuantizer.calibrate(a, QuantSpec.nuq(3).outliers(0.01), o).codebook();
        Codebook fisher = KeyQuantizer.calibrate(a, QuantSpec.nuq(3).outliers(0.01)
                .weighting(FisherWeighting.FISHER), o).codebook();
        Codebook plain = KeyQuantizer.calibrate(a, QuantSpec.nuq(3).outliers(0.01)
                .weighting(FisherWeighting.UNWEIGHTED), o).codebook();
        assertNotEquals(scaled, fisher);
        assertNotEquals(fisher, plain);
        Codebook qn = KeyQuantizer.calibrate(a, QuantSpec.nuq(2).outliers(0.01).qNorm(true), o).codebook();
        assertTrue(qn.hasQNorm());
    }
}
