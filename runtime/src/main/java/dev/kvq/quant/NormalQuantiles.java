package dev.kvq.quant;

/**
 * Standard normal CDF and its inverse, accurate to about 1e-12, for building NormalFloat codebooks.
 * Computed from first principles (composite Simpson integration of the density, then bisection) so
 * the codebooks are reproducible bit for bit on every JVM; speed does not matter here.
 */
final class NormalQuantiles {
    private NormalQuantiles() {}

    private static final double INV_SQRT_2PI = 1.0 / Math.sqrt(2.0 * Math.PI);

    /** P(Z ≤ x) for a standard normal Z. */
    static double cdf(double x) {
        if (x == 0.0) {
            return 0.5;
        }
        double a = Math.abs(x);
        if (a > 12.0) {
            return x > 0 ? 1.0 : 0.0;
        }
        // ∫_0^a φ(t) dt by composite Simpson; φ is smooth, 4096 panels give ~1e-15 absolute error.
        int n = 4096;
        double h = a / n;
        double sum = density(0) + density(a);
        for (int i = 1; i < n; i++) {
            sum += density(i * h) * ((i & 1) == 1 ? 4 : 2);
        }
        double half = sum * h / 3.0;
        return x > 0 ? 0.5 + half : 0.5 - half;
    }

    private static double density(double t) {
        return INV_SQRT_2PI * Math.exp(-0.5 * t * t);
    }

    /** The p-quantile of the standard normal distribution, for 0 &lt; p &lt; 1. */
    static double ppf(double p) {
        if (!(p > 0.0 && p < 1.0)) {
            throw new IllegalArgumentException("normal quantile needs 0 < p < 1, got " + p);
        }
        if (p == 0.5) {
            return 0.0;
        }
        double lo = -12.0;
        double hi = 12.0;
        for (int i = 0; i < 200 && hi - lo > 1e-14; i++) {
            double mid = 0.5 * (lo + hi);
            if (cdf(mid) < p) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        return 0.5 * (lo + hi);
    }
}
