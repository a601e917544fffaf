package dev.kvq.quant;

import java.util.Arrays;

/** Percentiles with NumPy's default ("linear") interpolation, computed in double. */
public final class Percentiles {
    private Percentiles() {}

    /**
     * The {@code q}-th percentile (0 ≤ q ≤ 100) of an ascending array, as {@code numpy.percentile}
     * with {@code method="linear"}: virtual index {@code q/100·(n−1)} and NumPy's two-sided lerp.
     *
     * @param sorted ascending values
     * @param n how many of {@code sorted} to use, from the start
     * @param q the percentile, {@code [0, 100]}
     * @return the interpolated percentile
     */
    public static double ofSorted(double[] sorted, int n, double q) {
        if (n <= 0) {
            throw new IllegalArgumentException("percentile of an empty set");
        }
        if (sorted == null || n > sorted.length) {
            throw new IllegalArgumentException(n + " values requested from an array of "
                    + (sorted == null ? "none" : sorted.length));
        }
        if (!(q >= 0 && q <= 100)) {
            throw new IllegalArgumentException("percentile must be in [0, 100], got " + q);
        }
        double index = q / 100.0 * (n - 1);
        int below = (int) Math.floor(index);
        if (below >= n - 1) {
            return sorted[n - 1];
        }
        double t = index - below;
        double a = sorted[below];
        double b = sorted[below + 1];
        double diff = b - a;
        // NumPy's _lerp: from the nearer end, so t = 1 gives exactly b
        return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
    }

    /**
     * The {@code q}-th percentile of unsorted values (copied, then sorted).
     *
     * @param values the values, left unchanged
     * @param q the percentile, {@code [0, 100]}
     * @return the interpolated percentile
     */
    public static double of(float[] values, double q) {
        if (values == null) {
            throw new IllegalArgumentException("percentile input is null");
        }
        double[] sorted = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            // NaN sorts last and would silently turn the upper percentiles into NaN
            if (Float.isNaN(values[i])) {
                throw new IllegalArgumentException("percentile input holds NaN at index " + i);
            }
            sorted[i] = values[i];
        }
        Arrays.sort(sorted);
        return ofSorted(sorted, sorted.length, q);
    }
}
