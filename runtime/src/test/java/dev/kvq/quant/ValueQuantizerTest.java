package dev.kvq.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ValueQuantizerTest {

    @ParameterizedTest
    @CsvSource({"4096, 4, 42", "4096, 3, 42", "4096, 2, 42", "1024, 3, 12", "32, 3, 2", "256, 2, 4"})
    void exactlyTwoTimesNvMinusOneOutliersPerToken(int d, int bits, int expected) {
        QuantSpec spec = QuantSpec.nuq(bits).outliers(0.01);
        assertEquals(expected, spec.valueOutliersPerToken(d));
        ValueQuantizer q = new ValueQuantizer(Codebook.normalFloat(bits), spec, d);
        float[] v = SyntheticActivations.values(d + bits, 40, d);
        QuantizedToken token = new QuantizedToken(d);
        for (int t = 0; t < 40; t++) {
            q.quantize(v, t * d, token);
            assertEquals(expected, token.outlierCount, "token " + t);
            // the outliers are the most extreme elements: none of the others lies beyond them
            float[] sorted = Arrays.copyOfRange(v, t * d, (t + 1) * d);
            Arrays.sort(sorted);
            int side = expected / 2;
            float lowCut = sorted[side];             // the n_v-th smallest = lo
            float highCut = sorted[d - 1 - side];    // the n_v-th largest = hi
            for (int i = 0; i < token.outlierCount; i++) {
                float x = v[t * d + token.outlierChannels[i]];
                assertTrue(x <= lowCut || x >= highCut, "outlier " + x + " inside [" + lowCut + ", " + highCut + "]");
                assertEquals(q.middleCode(), token.codes[token.outlierChannels[i]], "outliers hold the middle code");
                float dense = q.dequantize(token, q.middleCode());
                assertEquals(Fp16.round(x - dense), token.residual(i));
            }
            assertEquals(Fp16.round((highCut + lowCut) / 2), token.zero);
            assertEquals(Fp16.round((highCut - lowCut) / 2), token.scale);
        }
    }

    @Test
    void tiesAreSplitByChannelSoNothingIsCountedTwice() {
        int d = 64;
        QuantSpec spec = QuantSpec.nuq(3).outliers(0.1);   // n_v = ⌊0.05·64⌋ + 2 = 5, 8 outliers
        ValueQuantizer q = new ValueQuantizer(Codebook.uniform(3), spec, d);
        QuantizedToken token = new QuantizedToken(d);
        float[] flat = new float[d];
        Arrays.fill(flat, 0.75f);
        q.quantize(flat, 0, token);
        assertEquals(8, token.outlierCount);
        for (int i = 1; i < token.outlierCount; i++) {
            assertTrue(token.outlierChannels[i] > token.outlierChannels[i - 1], "distinct, ascending channels");
        }
        for (int c = 0; c < d; c++) {
            float r = q.dequantize(token, token.codes[c]);
            int slot = Arrays.binarySearch(token.outlierChannels, 0, token.outlierCount, c);
            float full = slot >= 0 ? r + token.residual(slot) : r;
            assertEquals(0.75f, full, 1e-6f, "channel " + c);
        }
    }

    @Test
    void withoutOutliersTheRangeIsMinToMax() {
        int d = 16;
        ValueQuantizer q = new ValueQuantizer(Codebook.uniform(2), QuantSpec.nuq(2), d);
        float[] v = new float[d];
        for (int i = 0; i < d; i++) {
            v[i] = i - 3;      // -3 … 12
        }
        QuantizedToken token = new QuantizedToken(d);
        q.quantize(v, 0, token);
        assertEquals(0, token.outlierCount);
        assertEquals(4.5f, token.zero);
        assertEquals(7.5f, token.scale);
        assertEquals(0, token.codes[0]);
        assertEquals(3, token.codes[15]);
        assertEquals(-3f, q.dequantize(token, 0));
        assertEquals(12f, q.dequantize(token, 3));
    }

    @Test
    void nonOutliersStayWithinHalfTheLocalGap() {
        int d = 512;
        for (int bits = 2; bits <= 4; bits++) {
            Codebook book = Codebook.normalFloat(bits);   // extremes at ±1: every in-range value is bracketed
            ValueQuantizer q = new ValueQuantizer(book, QuantSpec.nuq(bits).outliers(0.01), d);
            float[] v = SyntheticActivations.values(77, 30, d);
            QuantizedToken token = new QuantizedToken(d);
            for (int t = 0; t < 30; t++) {
                q.quantize(v, t * d, token);
                for (int c = 0; c < d; c++) {
                    if (Arrays.binarySearch(token.outlierChannels, 0, token.outlierCount, c) >= 0) {
                        continue;
                    }
                    float u = (v[t * d + c] - token.zero) / token.scale;
                    int code = token.codes[c];
                    double gap;
                    if (u <= book.centroid(0) || u >= book.centroid(book.size() - 1)) {
                        gap = 0;   // beyond ±1 only through the fp16 rounding of z and s: the slack below
                    } else if (u >= book.centroid(code)) {
                        gap = book.centroid(code + 1) - book.centroid(code);
                    } else {
                        gap = book.centroid(code) - book.centroid(code - 1);
                    }
                    double slack = Math.abs(u) > 1 ? Math.abs(u) - 1 : 0;  // fp16 rounding of z and s
                    double err = Math.abs(v[t * d + c] - q.dequantize(token, code));
                    assertTrue(err <= (gap / 2 + slack) * token.scale * (1 + 1e-5) + 1e-6,
                            "bits " + bits + " token " + t + " channel " + c + ": " + err);
                }
            }
        }
    }

    @Test
    void calibratedCodebookDependsOnWeights() {
        int d = 128;
        int tokens = 256;
        float[] v = SyntheticActivations.values(5, tokens, d);
        float[] f = SyntheticActivations.fisher(6, tokens * d);
        Activations a = new Activations(v, f, tokens, d, 64);
        QuantSpec spec = QuantSpec.nuq(3).outliers(0.01);
        Codebook scaled = ValueQuantizer.calibrate(a, spec, WeightedKMeans.Options.defaults());
        Codebook plain = ValueQuantizer.calibrate(a, spec.weighting(FisherWeighting.UNWEIGHTED),
                WeightedKMeans.Options.defaults());
        assertEquals(8, scaled.size());
        assertNotEquals(scaled, plain);
        float[] c = scaled.centroids();
        assertTrue(c[0] >= -1.001f && c[7] <= 1.001f, "centroids live in normalized space");
    }

    @Test
    void rejectsBadInputNamingTheProblem() {
        int d = 32;
        ValueQuantizer q = new ValueQuantizer(Codebook.uniform(4), QuantSpec.nuq(4).outliers(0.01), d);
        QuantizedToken token = new QuantizedToken(d);
        float[] v = new float[d];
        v[3] = Float.POSITIVE_INFINITY;
        assertEquals("value vector holds Infinity at index 3",
                assertThrows(IllegalArgumentException.class, () -> q.quantize(v, 0, token)).getMessage());
        v[3] = -70000f;
        assertThrows(IllegalArgumentException.class, () -> q.quantize(v, 0, token));
        assertThrows(IllegalArgumentException.class, () -> q.quantize(new float[d], 1, token));
        assertThrows(IllegalArgumentException.class,
                () -> new ValueQuantizer(Codebook.uniform(3), QuantSpec.nuq(4), d));
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> new ValueQuantizer(Codebook.uniform(4), QuantSpec.nuq(4).outliers(0.4), 2))
                .getMessage().contains("too large for 2 channels"));
    }
}
