package dev.kvq.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class PercentilesTest {
    private static final double[] Q = {0, 0.5, 25, 50, 99.5, 100, 33.3};

    private static void check(float[] values, double... expected) {
        for (int i = 0; i < Q.length; i++) {
            assertEquals(expected[i], Percentiles.of(values, Q[i]), 1e-12 * Math.max(1, Math.abs(expected[i])),
                    "q = " + Q[i]);
        }
    }

    // Expected values printed by numpy 2.4 np.percentile(x, q) (default method "linear").
    @Test
    void equalsNumPyOnFixedVectors() {
        check(new float[] {3f, 1f, 2f}, 1.0, 1.01, 1.5, 2.0, 2.99, 3.0, 1.666);
        check(new float[] {0.5f, -1.25f, 7f, 2f, 2f, 9.5f, -3f},
                -3.0, -2.9475, -0.375, 2.0, 9.424999999999999, 9.5, 0.4964999999999996);
        check(new float[] {1f}, 1, 1, 1, 1, 1, 1, 1);
        check(new float[] {10f, 20f}, 10.0, 10.05, 12.5, 15.0, 19.95, 20.0, 13.33);
    }

    @Test
    void equalsNumPyOnALongVector() {
        // x = arange(1000)**1.5/7 in float64; stored here as float, so compare at float precision
        float[] x = new float[1000];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (Math.pow(i, 1.5) / 7.0);
        }
        double[] expected = {0.0, 1.5949197411516365, 563.8462482610086, 1594.7968236742572, 4476.976495046665,
            4510.764899614237, 866.7959420932796};
        for (int i = 0; i < Q.length; i++) {
            assertEquals(expected[i], Percentiles.of(x, Q[i]), 1e-6 * Math.max(1, expected[i]), "q = " + Q[i]);
        }
    }

    @Test
    void rejectsEmptyInputAndBadPercentiles() {
        assertThrows(IllegalArgumentException.class, () -> Percentiles.of(new float[0], 50));
        assertThrows(IllegalArgumentException.class, () -> Percentiles.of(new float[] {1f}, 100.5));
        assertThrows(IllegalArgumentException.class, () -> Percentiles.of(new float[] {1f}, Double.NaN));
    }
}
