package dev.kvq.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class CodebookTest {

    /** Linear scan with a strict '<' on the absolute difference: ties go to the lower index. */
    private static int linearNearest(float[] centroids, float x) {
        int best = 0;
        for (int i = 1; i < centroids.length; i++) {
            if (Math.abs(x - centroids[i]) < Math.abs(x - centroids[best])) {
                best = i;
            }
        }
        return best;
    }

    @Test
    void nearestBreaksTiesTowardTheLowerIndex() {
        Codebook c = Codebook.nonUniform(new float[] {-1f, -0.5f, 0.5f, 1f});
        assertEquals(1, c.nearest(0f));        // exactly between -0.5 and 0.5
        assertEquals(0, c.nearest(-0.75f));    // exactly between -1 and -0.5
        assertEquals(2, c.nearest(0.75f - Math.ulp(0.75f)));
        assertEquals(2, c.nearest(0.75f));
        assertEquals(3, c.nearest(Math.nextUp(0.75f)));
        assertEquals(0, c.nearest(-100f));
        assertEquals(3, c.nearest(Float.POSITIVE_INFINITY));
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 3, 4})
    void binarySearchAgreesWithALinearScan(int bits) {
        SplittableRandom random = new SplittableRandom(bits);
        float[] sorted = new float[1 << bits];
        for (int i = 0; i < sorted.length; i++) {
            sorted[i] = (float) random.nextDouble(-1, 1);
        }
        java.util.Arrays.sort(sorted);
        Codebook c = Codebook.nonUniform(sorted);
        for (int i = 0; i < 20000; i++) {
            float x = (float) random.nextDouble(-1.5, 1.5);
            assertEquals(linearNearest(sorted, x), c.nearest(x), "x = " + x);
        }
        // On a stored midpoint both neighbours are equally near up to the midpoint's own rounding;
        // the rule takes the lower one, the scan may take either.
        float[] mids = c.midpoints();
        for (int i = 0; i < mids.length; i++) {
            float m = mids[i];
            assertEquals(i, c.nearest(m), "midpoint " + i + " goes to the lower centroid");
            assertEquals(Math.abs(m - sorted[i]), Math.abs(sorted[i + 1] - m), 2 * Math.ulp(m) + 1e-7f);
        }
    }

    @Test
    void nearestCountsTheMidpointsBelowAtEverySize() {
        SplittableRandom random = new SplittableRandom(17);
        for (int size = 1; size <= 64; size *= 2) {
            float[] centroids = new float[size];
            for (int i = 0; i < size; i++) {
                centroids[i] = (float) (random.nextDouble() * 2 - 1);
            }
            java.util.Arrays.sort(centroids);
            Codebook book = Codebook.nonUniform(centroids);
            float[] mid = book.midpoints();
            float[] probes = new float[4 * size + 3];
            for (int i = 0; i < mid.length; i++) {
                probes[i] = mid[i];                                 // exactly on a midpoint: the lower code
                probes[mid.length + i] = Math.nextUp(mid[i]);
            }
            for (int i = 2 * mid.length; i < probes.length; i++) {
                probes[i] = (float) (random.nextDouble() * 2.4 - 1.2);
            }
            for (float x : probes) {
                int below = 0;
                for (float m : mid) {
                    below += m < x ? 1 : 0;
                }
                assertEquals(below, book.nearest(x), "size " + size + ", x " + x);
            }
        }
    }

    @Test
    void uniformCodebookHasEvenLevelsFromMinusOneToOne() {
        assertArrayEquals(new float[] {-1f, -1f / 3, 1f / 3, 1f}, Codebook.uniform(2).centroids(), 1e-7f);
        float[] four = Codebook.uniform(4).centroids();
        assertEquals(16, four.length);
        for (int i = 0; i < 16; i++) {
            assertEquals(-1 + 2.0 * i / 15, four[i], 1e-7);
        }
        assertEquals(Codebook.Kind.UNIFORM, Codebook.uniform(3).kind());
    }

    @Test
    void normalFloat4MatchesTheQLoRATable() {
        // NF4 as published with QLoRA (bitsandbytes), which uses the same construction and offset.
        float[] nf4 = {-1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
            -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f,
            0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f,
            0.5626170039176941f, 0.7229568362236023f, 1.0f};
        assertArrayEquals(nf4, Codebook.normalFloat(4).centroids(), 2e-6f);
    }

    @Test
    void normalFloatHasTheAsymmetricShapeAtEveryWidth() {
        for (int bits = 2; bits <= 4; bits++) {
            float[] c = Codebook.normalFloat(bits).centroids();
            assertEquals(1 << bits, c.length);
            assertEquals(-1f, c[0]);
            assertEquals(1f, c[c.length - 1]);
            assertEquals(0f, c[(1 << (bits - 1)) - 1], "zero sits at the middle code");
            for (int i = 1; i < c.length; i++) {
                assertTrue(c[i] > c[i - 1]);
            }
        }
        // nf2 = {-1, 0, ppf(p)/ppf(offset), 1} with p halfway between the offset and ½
        double offset = 0.5 * (1.0 / 32 + 1.0 / 30);
        double expected = NormalQuantiles.ppf((offset + 0.5) / 2) / NormalQuantiles.ppf(offset);
        assertEquals(expected, Codebook.normalFloat(2).centroid(2), 1e-7);
    }

    @Test
    void normalQuantilesAreAccurate() {
        assertEquals(1.959963984540054, NormalQuantiles.ppf(0.975), 1e-9);
        assertEquals(-2.3263478740408408, NormalQuantiles.ppf(0.01), 1e-9);
        assertEquals(0.8413447460685429, NormalQuantiles.cdf(1.0), 1e-12);
    }

    @Test
    void qNormChangesReconstructionButNotTheSearch() {
        Codebook base = Codebook.nonUniform(new float[] {-0.9f, -0.3f, 0.2f, 0.8f});
        Codebook q = base.withQNorm(1.1f, 0.05f);
        assertTrue(q.hasQNorm());
        assertArrayEquals(base.centroids(), q.centroids());
        for (int i = 0; i < 4; i++) {
            assertEquals(base.centroid(i) * 1.1f + 0.05f, q.dequant(i), 1e-7f);
            assertEquals(base.centroid(i), base.dequant(i));
        }
        for (float x = -1.2f; x < 1.2f; x += 0.01f) {
            assertEquals(base.nearest(x), q.nearest(x));
        }
    }

    @Test
    void qNormFitMatchesMeanAndSpreadOfTheData() {
        SplittableRandom random = new SplittableRandom(3);
        float[] data = new float[5000];
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) Math.tanh(random.nextGaussian() * 0.6 + 0.1);
        }
        Codebook q = Codebook.uniform(2).fitQNorm(data, data.length);
        double m1 = 0;
        double m2 = 0;
        for (float x : data) {
            m1 += x;
            m2 += q.dequant(q.nearest(x));
        }
        m1 /= data.length;
        m2 /= data.length;
        double v1 = 0;
        double v2 = 0;
        for (float x : data) {
            v1 += (x - m1) * (x - m1);
            double r = q.dequant(q.nearest(x));
            v2 += (r - m2) * (r - m2);
        }
        assertEquals(m1, m2, 1e-5, "reconstructed mean");
        assertEquals(Math.sqrt(v1), Math.sqrt(v2), 1e-3 * Math.sqrt(v1), "reconstructed spread");
    }

    @Test
    void rejectsMalformedCodebooks() {
        assertEquals("codebook centroids must be sorted ascending, but centroid 2 (0.1) < centroid 1 (0.5)",
                assertThrows(IllegalArgumentException.class,
                        () -> Codebook.nonUniform(new float[] {0f, 0.5f, 0.1f, 1f})).getMessage());
        assertThrows(IllegalArgumentException.class, () -> Codebook.nonUniform(new float[] {0f, 1f, 2f}));
        assertThrows(IllegalArgumentException.class, () -> Codebook.nonUniform(new float[] {0f, Float.NaN, 1f, 2f}));
        assertEquals("bit width must be 2, 3 or 4, got 5",
                assertThrows(IllegalArgumentException.class, () -> Codebook.uniform(5)).getMessage());
        assertThrows(IllegalArgumentException.class, () -> Codebook.normalFloat(1));
        assertThrows(IllegalArgumentException.class, () -> Codebook.uniform(2).withQNorm(Float.NaN, 0f));
    }

    @Test
    void vectorSearchGivesTheScalarSearchCodes() {
        SplittableRandom random = new SplittableRandom(17);
        for (int bits = 1; bits <= 6; bits++) {
            float[] centroids = new float[1 << bits];
            float at = -1f;
            for (int k = 0; k < centroids.length; k++) {
                at += 0.01f + (float) random.nextDouble();
                centroids[k] = at;
            }
            Codebook book = Codebook.nonUniform(centroids);
            float[] midpoints = book.midpoints();
            // n not a multiple of any vector length, an offset into both arrays, ties at every midpoint
            int n = 203;
            float[] values = new float[n + 5];
            for (int i = 0; i < values.length; i++) {
                values[i] = i % 3 == 0 ? midpoints[i % midpoints.length]
                        : (float) (random.nextDouble() * (at + 3) - 2);
            }
            values[7] = Float.POSITIVE_INFINITY;
            values[8] = Float.NEGATIVE_INFINITY;
            int[] codes = new int[n + 9];
            codes[0] = -7;
            codes[n + 8] = -9;
            book.nearestAll(values, 5, n, codes, 8);
            for (int i = 0; i < n; i++) {
                assertEquals(book.nearest(values[5 + i]), codes[8 + i], "value " + values[5 + i] + " at " + i);
            }
            assertEquals(-7, codes[0]);
            assertEquals(-9, codes[n + 8]);
        }
    }
}
