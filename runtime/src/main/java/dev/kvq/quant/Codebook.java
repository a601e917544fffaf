package dev.kvq.quant;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * A scalar codebook of {@code 2^bits} sorted centroids in normalized space (spec §3.1): an element is
 * stored as the index of its nearest centroid and read back as {@code z + s·dequant[code]}. Uniform
 * specs use 2–4 bits; a Fisher bit allocation gives channels 0–6 bits, where a 0-bit codebook has one
 * centroid and stores nothing per element.
 *
 * <p>Nearest-code search compares against the midpoints of neighbouring centroids by binary search;
 * a value exactly on a midpoint takes the lower index, which is what a linear scan with a strict
 * {@code <} on the absolute difference gives. With Q-Norm (spec §3.6) the search still uses the
 * original centroids while reconstruction uses the affinely corrected ones.
 */
public final class Codebook {
    /** How the centroids were made; informational, the arithmetic is the same for all kinds. */
    public enum Kind {
        /** Centroids fitted by weighted k-means (nuq). */
        NON_UNIFORM,
        /** Evenly spaced levels over [−1, 1] (the intN baseline). */
        UNIFORM,
        /** Normal quantiles (the nf baseline). */
        NORMAL_FLOAT
    }

    private final Kind kind;
    private final int bits;
    private final float[] centroids;  // [C] ascending, used for the nearest-code search
    private final float[] midpoints;  // [C-1] (c_i + c_{i+1}) / 2
    private final float[] dequant;    // [C] centroids after Q-Norm (== centroids without it)
    private final float qNormScale;
    private final float qNormOffset;
    private final boolean qNorm;

    private Codebook(Kind kind, float[] centroids, boolean qNorm, float qNormScale, float qNormOffset) {
        int size = centroids.length;
        if (Integer.bitCount(size) != 1 || size > 1 << Checks.MAX_ALLOCATED_BITS) {
            throw new IllegalArgumentException("a codebook needs 2^b centroids, b in [0, " + Checks.MAX_ALLOCATED_BITS
                    + "], got " + size);
        }
        for (int i = 0; i < size; i++) {
            if (!Float.isFinite(centroids[i])) {
                throw new IllegalArgumentException("codebook centroid " + i + " is " + centroids[i]);
            }
            if (i > 0 && centroids[i] < centroids[i - 1]) {
                throw new IllegalArgumentException("codebook centroids must be sorted ascending, but centroid "
                        + i + " (" + centroids[i] + ") < centroid " + (i - 1) + " (" + centroids[i - 1] + ")");
            }
        }
        if (!Float.isFinite(qNormScale) || !Float.isFinite(qNormOffset)) {
            throw new IllegalArgumentException("Q-Norm parameters must be finite, got scale " + qNormScale
                    + ", offset " + qNormOffset);
        }
        this.kind = kind;
        this.bits = Integer.numberOfTrailingZeros(size);
        this.centroids = centroids.clone();
        this.midpoints = new float[size - 1];
        for (int i = 0; i < size - 1; i++) {
            midpoints[i] = (centroids[i] + centroids[i + 1]) * 0.5f;
        }
        this.qNorm = qNorm;
        this.qNormScale = qNorm ? qNormScale : 1f;
        this.qNormOffset = qNorm ? qNormOffset : 0f;
        this.dequant = new float[size];
        for (int i = 0; i < size; i++) {
            dequant[i] = qNorm ? centroids[i] * qNormScale + qNormOffset : centroids[i];
        }
    }

    /**
     * A non-uniform (nuq) codebook from sorted centroids, typically the output of {@link WeightedKMeans}.
     *
     * @param sortedCentroids {@code 2^bits} ascending finite centroids, {@code bits} in [0, 6]
     * @return the codebook, of kind {@code NON_UNIFORM}
     */
    public static Codebook nonUniform(float[] sortedCentroids) {
        return new Codebook(Kind.NON_UNIFORM, sortedCentroids, false, 1f, 0f);
    }

    /**
     * Uniform asymmetric intN: {@code 2^bits} evenly spaced levels over [−1, 1]; with the per-vector
     * {@code z = (hi+lo)/2}, {@code s = (hi−lo)/2} that is the usual min/max asymmetric quantizer.
     *
     * @param bits code width (2, 3 or 4)
     * @return the codebook, of kind {@code UNIFORM}
     */
    public static Codebook uniform(int bits) {
        Checks.requireBits(bits);
        int size = 1 << bits;
        float[] levels = new float[size];
        for (int i = 0; i < size; i++) {
            levels[i] = (float) (-1.0 + 2.0 * i / (size - 1));
        }
        return new Codebook(Kind.UNIFORM, levels, false, 1f, 0f);
    }

    /**
     * NormalFloat (spec §3.5): {@code 2^(b−1)} negative and {@code 2^(b−1)+1} positive normal quantiles
     * taken between the end offset {@code ½(1/32 + 1/30)} and ½, each half scaled to [−1, 0] and
     * [0, 1], the shared zero merged.
     *
     * @param bits code width (2, 3 or 4)
     * @return the codebook, of kind {@code NORMAL_FLOAT}
     */
    public static Codebook normalFloat(int bits) {
        Checks.requireBits(bits);
        double offset = 0.5 * (1.0 / 32 + 1.0 / 30);
        int half = 1 << (bits - 1);
        double[] negative = halfQuantiles(offset, half);      // half points, the last is 0
        double[] positive = halfQuantiles(offset, half + 1);  // half+1 points, the last is 0
        float[] levels = new float[2 * half];
        int k = 0;
        for (int i = 0; i < half; i++) {          // −1 … (largest negative), then 0 from the negative side
            levels[k++] = (float) (-negative[i] / negative[0]);
        }
        for (int i = half - 1; i >= 0; i--) {     // positive side without its zero
            levels[k++] = (float) (positive[i] / positive[0]);
        }
        return new Codebook(Kind.NORMAL_FLOAT, levels, false, 1f, 0f);
    }

    /** ppf at {@code count} points evenly spaced from {@code offset} down to 0.5 (inclusive). */
    private static double[] halfQuantiles(double offset, int count) {
        double[] q = new double[count];
        for (int i = 0; i < count; i++) {
            double p = offset + (0.5 - offset) * i / (count - 1);
            q[i] = i == count - 1 ? 0.0 : NormalQuantiles.ppf(p);
        }
        return q;
    }

    /**
     * The same search centroids with the Q-Norm affine correction {@code c' = c·scale + offset} for
     * reconstruction.
     *
     * @param scale the factor applied to each centroid
     * @param offset the shift added after scaling
     * @return a new codebook; this one is unchanged
     */
    public Codebook withQNorm(float scale, float offset) {
        return new Codebook(kind, centroids, true, scale, offset);
    }

    /**
     * Fits Q-Norm (spec §3.6) on normalized calibration values: matches the mean and standard deviation
     * of the reconstructed values to those of the data. A codebook that maps everything to one value
     * (zero spread) keeps scale 1 and only shifts the mean.
     *
     * @param normalizedValues calibration values after per-vector normalization
     * @param count how many of {@code normalizedValues} to use, from the start
     * @return a new codebook with the fitted correction
     */
    public Codebook fitQNorm(float[] normalizedValues, int count) {
        if (count <= 0) {
            throw new IllegalArgumentException("Q-Norm needs at least one calibration value, got " + count);
        }
        double sum1 = 0;
        double sum2 = 0;
        for (int i = 0; i < count; i++) {
            sum1 += normalizedValues[i];
            sum2 += centroids[nearest(normalizedValues[i])];
        }
        double m1 = sum1 / count;
        double m2 = sum2 / count;
        double var1 = 0;
        double var2 = 0;
        for (int i = 0; i < count; i++) {
            double d1 = normalizedValues[i] - m1;
            double d2 = centroids[nearest(normalizedValues[i])] - m2;
            var1 += d1 * d1;
            var2 += d2 * d2;
        }
        double sd1 = Math.sqrt(var1 / count);
        double sd2 = Math.sqrt(var2 / count);
        double scale = sd2 > 0 ? sd1 / sd2 : 1.0;
        double offset = m1 - m2 * scale;
        return withQNorm((float) scale, (float) offset);
    }

    /**
     * The index of the centroid nearest to {@code x} (ties to the lower index); {@code x} must not be NaN.
     *
     * @param x a normalized value
     * @return the code, {@code [0, 2^bits)}
     */
    public int nearest(float x) {
        // the number of midpoints strictly below x, by a binary search whose steps select instead of branch
        // (a conditional move): codes of real data are unpredictable, and a mispredicted branch per level
        // made this search most of an append's time under a bit allocation
        int n = midpoints.length;
        if (n == 0) {
            return 0;
        }
        int base = 0;
        while (n > 1) {
            int half = n >>> 1;
            base = midpoints[base + half] < x ? base + half : base;
            n -= half;
        }
        return midpoints[base] < x ? base + 1 : base;
    }

    /**
     * How the centroids were made.
     *
     * @return the kind
     */
    public Kind kind() { return kind; }

    /**
     * The code width.
     *
     * @return 2, 3 or 4 for the uniform specs; 0–6 under a bit allocation
     */
    public int bits() { return bits; }

    /**
     * The number of centroids.
     *
     * @return {@code 2^bits}
     */
    public int size() { return centroids.length; }

    /**
     * Search centroid {@code code}.
     *
     * @param code a code, {@code [0, 2^bits)}
     * @return the centroid the nearest-code search uses
     */
    public float centroid(int code) { return centroids[code]; }

    /**
     * Reconstruction value of {@code code} (the Q-Normed centroid when Q-Norm is on).
     *
     * @param code a code, {@code [0, 2^bits)}
     * @return the value the code decodes to (before scale and offset)
     */
    public float dequant(int code) { return dequant[code]; }

    /**
     * The search centroids.
     *
     * @return a copy, ascending
     */
    public float[] centroids() { return centroids.clone(); }

    /**
     * The reconstruction value of every code.
     *
     * @return a copy, indexed by code
     */
    public float[] dequantTable() { return dequant.clone(); }

    /**
     * The decision boundaries between neighbouring centroids.
     *
     * @return a copy, {@code 2^bits - 1} ascending midpoints
     */
    public float[] midpoints() { return midpoints.clone(); }

    /**
     * Whether reconstruction uses Q-Norm corrected centroids.
     *
     * @return true with Q-Norm
     */
    public boolean hasQNorm() { return qNorm; }

    /**
     * The Q-Norm factor.
     *
     * @return the scale; 1 without Q-Norm
     */
    public float qNormScale() { return qNormScale; }

    /**
     * The Q-Norm shift.
     *
     * @return the offset; 0 without Q-Norm
     */
    public float qNormOffset() { return qNormOffset; }

    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> COUNT_SPECIES = VectorSpecies.of(int.class, SPECIES.vectorShape());

    /**
     * {@link #nearest} for {@code n} values: {@code codes[to + i] = nearest(values[from + i])}. Counts the
     * midpoints strictly below each value with vector compares, which is the same rule as the binary
     * search, so both give identical codes.
     *
     * @param values normalized values
     * @param from index of the first value
     * @param n number of values
     * @param codes receives the codes
     * @param to index of the first code
     */
    public void nearestAll(float[] values, int from, int n, int[] codes, int to) {
        int whole = n - n % SPECIES.length();
        Arrays.fill(codes, to, to + whole, 0);
        // midpoints outer, values inner, the counts kept in the codes: no vector lives across an iteration. (A
        // per-vector count carried through the midpoint loop was left un-intrinsified by C2 in some compile
        // histories, which made appends 3-4× slower.)
        for (float m : midpoints) {
            for (int i = 0; i < whole; i += SPECIES.length()) {
                VectorMask<Integer> above = FloatVector.fromArray(SPECIES, values, from + i)
                        .compare(VectorOperators.GT, m).cast(COUNT_SPECIES);
                IntVector.fromArray(COUNT_SPECIES, codes, to + i).add(1, above).intoArray(codes, to + i);
            }
        }
        for (int i = whole; i < n; i++) {
            codes[to + i] = nearest(values[from + i]);
        }
    }

    /**
     * The largest gap between neighbouring search centroids.
     *
     * @return the largest {@code c_{i+1} - c_i}
     */
    public float maxGap() {
        float max = 0;
        for (int i = 1; i < centroids.length; i++) {
            max = Math.max(max, centroids[i] - centroids[i - 1]);
        }
        return max;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Codebook c && kind == c.kind && qNorm == c.qNorm
                && Arrays.equals(centroids, c.centroids)
                && Float.compare(qNormScale, c.qNormScale) == 0 && Float.compare(qNormOffset, c.qNormOffset) == 0;
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(centroids) * 31 + Boolean.hashCode(qNorm);
    }

    @Override
    public String toString() {
        return kind + " " + bits + "-bit " + Arrays.toString(centroids)
                + (qNorm ? " qnorm(" + qNormScale + ", " + qNormOffset + ")" : "");
    }
}
