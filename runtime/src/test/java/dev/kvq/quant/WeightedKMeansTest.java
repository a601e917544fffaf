package dev.kvq.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class WeightedKMeansTest {

    private static float[] heavyTailed(SplittableRandom random, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            double g = random.nextGaussian();
            x[i] = (float) Math.max(-1, Math.min(1, 0.3 * g + (random.nextInt(20) == 0 ? 0.5 * g * g * g : 0)));
        }
        return x;
    }

    private static float[] weights(SplittableRandom random, int n) {
        float[] w = new float[n];
        for (int i = 0; i < n; i++) {
            double g = random.nextGaussian();
            w[i] = (float) (g * g);  // squared gradients: non-negative, heavy-tailed
        }
        return w;
    }

    /** Σ w·(x − nearest centroid)², by brute force. */
    private static double objective(float[] x, float[] w, float[] centroids) {
        Codebook c = Codebook.nonUniform(centroids);
        double total = 0;
        for (int i = 0; i < x.length; i++) {
            double d = x[i] - centroids[c.nearest(x[i])];
            total += (w == null ? 1 : w[i]) * d * d;
        }
        return total;
    }

    @ParameterizedTest
    @ValueSource(ints = {4, 8, 16})
    void objectiveNeverIncreasesAndCentroidsAreSorted(int clusters) {
        SplittableRandom random = new SplittableRandom(clusters);
        float[] x = heavyTailed(random, 20000);
        float[] w = weights(random, x.length);
        WeightedKMeans.Result r = WeightedKMeans.fit(x, w, clusters);
        double[] history = r.objective();
        assertTrue(history.length >= 2, "at least one iteration ran");
        for (int i = 1; i < history.length; i++) {
            assertTrue(history[i] <= history[i - 1] * (1 + 1e-12) + 1e-12,
                    "objective rose at iteration " + i + ": " + history[i - 1] + " -> " + history[i]);
        }
        float[] c = r.centroids();
        assertEquals(clusters, c.length);
        for (int i = 1; i < c.length; i++) {
            assertTrue(c[i] > c[i - 1], "centroids strictly ascending");
        }
        assertTrue(r.weighted());
        // the prefix-sum objective agrees with brute force
        assertEquals(objective(x, w, c), r.finalObjective(), 1e-4 * r.finalObjective());
    }

    @Test
    void convergedCentroidsAreTheWeightedMeansOfTheirClusters() {
        SplittableRandom random = new SplittableRandom(11);
        float[] x = heavyTailed(random, 5000);
        float[] w = weights(random, x.length);
        WeightedKMeans.Result r = WeightedKMeans.fit(x, w, x.length, 8, new WeightedKMeans.Options(1000, 1e-9));
        assertTrue(r.converged());
        Codebook c = Codebook.nonUniform(r.centroids());
        double[] sw = new double[8];
        double[] swx = new double[8];
        for (int i = 0; i < x.length; i++) {
            int k = c.nearest(x[i]);
            sw[k] += w[i];
            swx[k] += w[i] * x[i];
        }
        for (int k = 0; k < 8; k++) {
            assertEquals(swx[k] / sw[k], c.centroid(k), 1e-5, "centroid " + k);
        }
    }

    @Test
    void isDeterministic() {
        float[] x = heavyTailed(new SplittableRandom(5), 30000);
        float[] w = weights(new SplittableRandom(6), x.length);
        float[] a = WeightedKMeans.fit(x, w, 8).centroids();
        float[] b = WeightedKMeans.fit(x.clone(), w.clone(), 8).centroids();
        assertArrayEquals(a, b);
        // the input order does not matter either
        float[] xr = new float[x.length];
        float[] wr = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            xr[i] = x[x.length - 1 - i];
            wr[i] = w[x.length - 1 - i];
        }
        assertArrayEquals(a, WeightedKMeans.fit(xr, wr, 8).centroids());
    }

    @Test
    void weightsPullCentroidsTowardImportantValues() {
        SplittableRandom random = new SplittableRandom(9);
        float[] x = new float[10000];
        float[] w = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) random.nextDouble(-1, 1);
            w[i] = x[i] > 0.5 ? 100f : 1f;
        }
        float[] weighted = WeightedKMeans.fit(x, w, 4).centroids();
        float[] plain = WeightedKMeans.fit(x, null, 4).centroids();
        int above = 0;
        int abovePlain = 0;
        for (int i = 0; i < 4; i++) {
            above += weighted[i] > 0.5 ? 1 : 0;
            abovePlain += plain[i] > 0.5 ? 1 : 0;
        }
        assertTrue(above > abovePlain, "more centroids where the weight is: " + above + " vs " + abovePlain);
        assertTrue(objective(x, w, weighted) < objective(x, w, plain));
    }

    @Test
    void allEqualValuesGiveThatValueEverywhere() {
        float[] x = new float[100];
        java.util.Arrays.fill(x, 0.25f);
        WeightedKMeans.Result r = WeightedKMeans.fit(x, null, 8);
        for (float c : r.centroids()) {
            assertEquals(0.25f, c);
        }
        assertEquals(0.0, r.finalObjective());
        assertEquals(3, Codebook.nonUniform(r.centroids()).bits());
    }

    @Test
    void fewerDistinctValuesThanCentroidsAreRepresentedExactly() {
        float[] x = {0.5f, -0.5f, 0.5f, 0.1f, -0.5f};
        float[] c = WeightedKMeans.fit(x, null, 8).centroids();
        assertArrayEquals(new float[] {-0.5f, 0.1f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f}, c);
        Codebook book = Codebook.nonUniform(c);
        for (float v : x) {
            assertEquals(v, book.centroid(book.nearest(v)));
        }
    }

    @Test
    void zeroTotalWeightFallsBackToUnweighted() {
        SplittableRandom random = new SplittableRandom(1);
        float[] x = heavyTailed(random, 2000);
        WeightedKMeans.Result r = WeightedKMeans.fit(x, new float[x.length], 4);
        assertFalse(r.weighted());
        assertArrayEquals(WeightedKMeans.fit(x, null, 4).centroids(), r.centroids());
    }

    @Test
    void weightPiledOnOneValueStillUsesEveryCentroid() {
        SplittableRandom random = new SplittableRandom(2);
        float[] x = heavyTailed(random, 1000);
        float[] w = new float[x.length];
        java.util.Arrays.fill(w, 1e-6f);
        w[17] = 1e6f;
        float[] c = WeightedKMeans.fit(x, w, 8).centroids();
        for (int i = 1; i < c.length; i++) {
            assertTrue(c[i] > c[i - 1], "no duplicate centroids: " + java.util.Arrays.toString(c));
        }
    }

    @Test
    void rejectsBadInput() {
        assertEquals("k-means values holds NaN at index 1", assertThrows(IllegalArgumentException.class,
                () -> WeightedKMeans.fit(new float[] {0f, Float.NaN}, null, 4)).getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> WeightedKMeans.fit(new float[] {0f, 1f}, new float[] {1f, -1f}, 4));
        assertThrows(IllegalArgumentException.class,
                () -> WeightedKMeans.fit(new float[] {0f, 1f}, new float[] {1f, Float.POSITIVE_INFINITY}, 4));
        assertThrows(IllegalArgumentException.class, () -> WeightedKMeans.fit(new float[0], null, 4));
        assertThrows(IllegalArgumentException.class, () -> WeightedKMeans.fit(new float[] {1f}, null, 0));
        assertThrows(IllegalArgumentException.class, () -> new WeightedKMeans.Options(0, 1e-6));
    }
}
