package dev.kvq.quant;

import java.util.Arrays;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

/**
 * Deterministic weighted 1-D k-means (Lloyd's algorithm) for codebook fitting (spec §3.3).
 *
 * <p>The samples are sorted once and merged into distinct values with prefix sums of {@code w},
 * {@code w·x} and {@code w·x²}. In 1-D the clusters of sorted centroids are contiguous ranges split at
 * the midpoints, so one iteration is C binary searches plus C range sums: O(C log N).
 * Initialisation takes the weighted quantiles at {@code (i + ½)/C}; an empty cluster is re-seeded at
 * the sample that currently costs the most, which never increases the objective.
 */
public final class WeightedKMeans {
    private static final Logger LOG = LogManager.getLogger(WeightedKMeans.class);

    /**
     * Solver settings; the defaults run up to 100 iterations (the reference runs 50) with tolerance 1e-6.
     *
     * @param maxIterations Lloyd iterations at most, at least 1
     * @param tolerance stop when no centroid moves more than this
     */
    public record Options(int maxIterations, double tolerance) {
        /** Rejects fewer than one iteration and negative or NaN tolerances. */
        public Options {
            if (maxIterations < 1) {
                throw new IllegalArgumentException("k-means needs at least one iteration, got " + maxIterations);
            }
            if (!(tolerance >= 0)) {
                throw new IllegalArgumentException("k-means tolerance must be >= 0, got " + tolerance);
            }
        }

        /**
         * The settings used when none are given.
         *
         * @return 100 iterations, tolerance 1e-6
         */
        public static Options defaults() {
            return new Options(100, 1e-6);
        }
    }

    /**
     * The fitted centroids (ascending) and how the fit went.
     *
     * @param objective the weighted squared error after every iteration, index 0 = after initialisation
     * @param weighted  false when the weights were absent or summed to zero and plain k-means ran instead
     * @param centroids the fitted centroids, ascending
     * @param iterations the iterations run
     * @param converged whether the centroids settled within the tolerance
     */
    public record Result(float[] centroids, int iterations, boolean converged, double[] objective, boolean weighted) {
        /**
         * The objective after the last iteration.
         *
         * @return the last entry of {@code objective}
         */
        public double finalObjective() {
            return objective[objective.length - 1];
        }
    }

    private WeightedKMeans() {}

    /**
     * Fits {@code clusters} centroids to {@code values[0, count)} with optional sample {@code weights}
     * (null for unweighted). Weights must be finite and non-negative.
     *
     * @param values the samples
     * @param weights per-sample weights, or null
     * @param count how many of {@code values} (and {@code weights}) to use, from the start
     * @param clusters the number of centroids
     * @param options solver settings
     * @return the centroids and the fit's history
     */
    public static Result fit(float[] values, float[] weights, int count, int clusters, Options options) {
        Checks.requirePositive("cluster count", clusters);
        if (values == null) {
            throw new IllegalArgumentException("k-means values is null");
        }
        if (count <= 0) {
            throw new IllegalArgumentException("k-means needs at least one value, got " + count);
        }
        if (values.length < count || (weights != null && weights.length < count)) {
            throw new IllegalArgumentException("k-means count " + count + " exceeds the arrays (values "
                    + values.length + (weights == null ? "" : ", weights " + weights.length) + ")");
        }
        Checks.requireFinite("k-means values", values, 0, count);
        boolean weighted = weights != null;
        if (weighted) {
            double total = 0;
            for (int i = 0; i < count; i++) {
                float w = weights[i];
                if (!Float.isFinite(w) || w < 0) {
                    throw new IllegalArgumentException("k-means weight " + i + " is " + w + " (must be finite and >= 0)");
                }
                total += w;
            }
            if (total <= 0) {
                LOG.warn("k-means weights of {} values sum to zero; fitting unweighted instead", count);
                weighted = false;
            }
        }
        Samples s = Samples.of(values, weighted ? weights : null, count);
        return new Solver(s, clusters, options, weighted).run();
    }

    /**
     * {@link #fit(float[], float[], int, int, Options)} over all of {@code values} with the default options.
     *
     * @param values the samples
     * @param weights per-sample weights, or null
     * @param clusters the number of centroids
     * @return the centroids and the fit's history
     */
    public static Result fit(float[] values, float[] weights, int clusters) {
        return fit(values, weights, values == null ? 0 : values.length, clusters, Options.defaults());
    }

    /** Distinct sorted sample values with prefix sums, centred on the weighted mean for accuracy. */
    private static final class Samples {
        final double[] x;     // [m] distinct values, ascending
        final double[] w;     // [m+1] prefix sums of weight
        final double[] wx;    // [m+1] prefix sums of weight·(x − centre)
        final double[] wxx;   // [m+1] prefix sums of weight·(x − centre)²
        final double centre;
        final int m;

        private Samples(double[] x, double[] weight, int m) {
            this.m = m;
            this.x = x;
            double tw = 0;
            double twx = 0;
            for (int i = 0; i < m; i++) {
                tw += weight[i];
                twx += weight[i] * x[i];
            }
            centre = twx / tw;
            w = new double[m + 1];
            wx = new double[m + 1];
            wxx = new double[m + 1];
            for (int i = 0; i < m; i++) {
                double d = x[i] - centre;
                w[i + 1] = w[i] + weight[i];
                wx[i + 1] = wx[i] + weight[i] * d;
                wxx[i + 1] = wxx[i] + weight[i] * d * d;
            }
        }

        static Samples of(float[] values, float[] weights, int count) {
            // Sort by value with one primitive sort of (ordered float bits, index) pairs.
            long[] keys = new long[count];
            for (int i = 0; i < count; i++) {
                keys[i] = ((long) orderedBits(values[i]) << 32) | i;
            }
            Arrays.sort(keys);
            double[] x = new double[count];
            double[] weight = new double[count];
            int m = 0;
            float previous = Float.NaN;
            for (int k = 0; k < count; k++) {
                int i = (int) keys[k];
                float v = values[i];
                double wi = weights == null ? 1.0 : weights[i];
                if (m > 0 && v == previous) {
                    weight[m - 1] += wi;
                } else {
                    x[m] = v;
                    weight[m] = wi;
                    m++;
                    previous = v;
                }
            }
            return new Samples(Arrays.copyOf(x, m), weight, m);
        }

        /** Index of the first distinct value greater than {@code bound} (ties stay below, with the lower cluster). */
        int upperBound(double bound) {
            int lo = 0;
            int hi = m;
            while (lo < hi) {
                int mid = (lo + hi) >>> 1;
                if (x[mid] <= bound) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            return lo;
        }

        /** Σ w·(x − c)² over distinct values [from, to). */
        double cost(int from, int to, double c) {
            double cc = c - centre;
            double sw = w[to] - w[from];
            double swx = wx[to] - wx[from];
            double swxx = wxx[to] - wxx[from];
            return Math.max(0.0, swxx - 2 * cc * swx + cc * cc * sw);
        }
    }

    /** Maps a float to an int whose signed order is the float's numeric order. */
    static int orderedBits(float v) {
        int b = Float.floatToIntBits(v == 0f ? 0f : v);  // −0 and +0 are the same value
        return b >= 0 ? b : b ^ 0x7fffffff;
    }

    private static final class Solver {
        final Samples s;
        final int k;
        final Options options;
        final boolean weighted;
        final double[] c;
        final int[] end;  // cluster i owns distinct values [end[i-1], end[i])

        Solver(Samples s, int k, Options options, boolean weighted) {
            this.s = s;
            this.k = k;
            this.options = options;
            this.weighted = weighted;
            this.c = new double[k];
            this.end = new int[k];
        }

        Result run() {
            if (s.m <= k) {
                return exact();
            }
            initFromQuantiles();
            double[] history = new double[options.maxIterations() + 1];
            assign();
            history[0] = objective();
            int it = 0;
            boolean converged = false;
            while (it < options.maxIterations()) {
                double moved = update();
                assign();
                it++;
                history[it] = objective();
                if (moved <= options.tolerance()) {
                    converged = true;
                    break;
                }
            }
            return new Result(toFloats(), it, converged, Arrays.copyOf(history, it + 1), weighted);
        }

        /** Fewer distinct values than centroids: every value is its own centroid, the rest repeat the largest. */
        private Result exact() {
            for (int i = 0; i < k; i++) {
                c[i] = s.x[Math.min(i, s.m - 1)];
            }
            return new Result(toFloats(), 0, true, new double[] {0.0}, weighted);
        }

        private void initFromQuantiles() {
            double total = s.w[s.m];
            for (int i = 0; i < k; i++) {
                double target = total * (i + 0.5) / k;
                // first distinct value whose cumulative weight reaches the target
                int lo = 0;
                int hi = s.m - 1;
                while (lo < hi) {
                    int mid = (lo + hi) >>> 1;
                    if (s.w[mid + 1] < target) {
                        lo = mid + 1;
                    } else {
                        hi = mid;
                    }
                }
                c[i] = s.x[lo];
            }
            // Seeds that coincide (weight piled on one value) leave clusters empty; update() re-seeds them.
            Arrays.sort(c);
        }

        private void assign() {
            for (int i = 0; i < k - 1; i++) {
                end[i] = s.upperBound((c[i] + c[i + 1]) * 0.5);
            }
            end[k - 1] = s.m;
        }

        private double objective() {
            double total = 0;
            int from = 0;
            for (int i = 0; i < k; i++) {
                total += s.cost(from, end[i], c[i]);
                from = end[i];
            }
            return total;
        }

        /** Moves every centroid to its cluster's weighted mean; returns the largest move. */
        private double update() {
            double moved = 0;
            int from = 0;
            boolean empty = false;
            for (int i = 0; i < k; i++) {
                int to = end[i];
                double sw = s.w[to] - s.w[from];
                if (to > from && sw > 0) {
                    double mean = s.centre + (s.wx[to] - s.wx[from]) / sw;
                    // keep the mean inside its range: rounding must not reorder the centroids
                    mean = Math.min(Math.max(mean, s.x[from]), s.x[to - 1]);
                    moved = Math.max(moved, Math.abs(mean - c[i]));
                    c[i] = mean;
                } else if (to == from) {
                    empty = true;
                }
                from = to;
            }
            if (empty) {
                moved = Math.max(moved, reseedEmpty());
            }
            return moved;
        }

        /** Puts each empty cluster's centroid on the sample with the largest weighted error. */
        private double reseedEmpty() {
            double moved = 0;
            for (int pass = 0; pass < k; pass++) {
                int from = 0;
                int emptyCluster = -1;
                for (int i = 0; i < k; i++) {
                    if (end[i] == from) {
                        emptyCluster = i;
                        break;
                    }
                    from = end[i];
                }
                if (emptyCluster < 0) {
                    break;
                }
                int worst = -1;
                double worstCost = 0;
                from = 0;
                for (int i = 0; i < k; i++) {
                    for (int j = from; j < end[i]; j++) {
                        double wj = s.w[j + 1] - s.w[j];
                        double d = s.x[j] - c[i];
                        double cost = wj * d * d;
                        if (cost > worstCost) {
                            worstCost = cost;
                            worst = j;
                        }
                    }
                    from = end[i];
                }
                if (worst < 0) {
                    break;  // every sample already sits on a centroid
                }
                moved = Math.max(moved, Math.abs(c[emptyCluster] - s.x[worst]));
                c[emptyCluster] = s.x[worst];
                Arrays.sort(c);
                assign();
            }
            return moved;
        }

        private float[] toFloats() {
            float[] out = new float[k];
            for (int i = 0; i < k; i++) {
                out[i] = (float) c[i];
            }
            Arrays.sort(out);
            return out;
        }
    }
}
