package dev.kvq.quant;

import java.util.Arrays;

/**
 * Per-channel quantizer for one layer's pre-RoPE keys (spec §2, §5.1–§5.3).
 *
 * <p>Each channel {@code c} has offline thresholds {@code lo_c ≤ hi_c} (0.5/99.5 percentiles at 1%
 * outliers), giving {@code z_c = (hi+lo)/2} and {@code s_c = (hi−lo)/2}. An element is stored as the
 * nearest code of {@code u = (k − z)/s} in its channel's codebook; elements strictly outside
 * {@code [lo, hi]} are outliers, of which at most {@code cap} per side (largest {@code |u|} first) also
 * keep an fp16 residual {@code k − dequant(code)}; the rest are clamped to the extreme code.
 *
 * <p>The layer's channels share one codebook (the paper's per-layer datatype), or each channel has its
 * own (per-channel codebooks, and the widths of a Fisher bit allocation: a channel's code width is its
 * codebook's).
 */
public final class KeyQuantizer {
    private final float[] lo;     // [D]
    private final float[] hi;     // [D]
    private final float[] zero;   // [D]
    private final float[] scale;  // [D], 0 for a channel that was constant during calibration
    private final Codebook[] codebooks;  // [D]
    private final Codebook shared;       // the one codebook of every channel, or null when they differ
    private final CodebookGroups groups; // the channels by codebook: the nearest-code search

    /**
     * Key thresholds and one codebook for every channel; {@code lo} and {@code hi} are per channel.
     *
     * @param lo per-channel lower thresholds (the {@code 100τ} percentile), finite
     * @param hi per-channel upper thresholds, at least {@code lo}
     * @param codebook the K codebook, in normalized space
     */
    public KeyQuantizer(float[] lo, float[] hi, Codebook codebook) {
        this(lo, hi, fill(lo, codebook));
    }

    /**
     * Key thresholds and a codebook per channel (their widths may differ).
     *
     * @param lo per-channel lower thresholds (the {@code 100τ} percentile), finite
     * @param hi per-channel upper thresholds, at least {@code lo}
     * @param codebooks {@code [channels]} the codebook of each channel, in normalized space
     */
    public KeyQuantizer(float[] lo, float[] hi, Codebook[] codebooks) {
        if (lo == null || hi == null || codebooks == null) {
            throw new IllegalArgumentException("key thresholds and codebooks must not be null");
        }
        Checks.requireLength("upper key thresholds", hi, lo.length);
        Checks.requirePositive("key channel count", lo.length);
        Checks.requireFinite("lower key thresholds", lo);
        Checks.requireFinite("upper key thresholds", hi);
        if (codebooks.length != lo.length) {
            throw new IllegalArgumentException(codebooks.length + " key codebooks for " + lo.length + " channels");
        }
        this.lo = lo.clone();
        this.hi = hi.clone();
        this.zero = new float[lo.length];
        this.scale = new float[lo.length];
        for (int c = 0; c < lo.length; c++) {
            if (hi[c] < lo[c]) {
                throw new IllegalArgumentException("key channel " + c + " has upper threshold " + hi[c]
                        + " below its lower threshold " + lo[c]);
            }
            if (codebooks[c] == null) {
                throw new IllegalArgumentException("key channel " + c + " has no codebook");
            }
            zero[c] = (hi[c] + lo[c]) * 0.5f;
            scale[c] = (hi[c] - lo[c]) * 0.5f;
        }
        this.codebooks = codebooks.clone();
        this.shared = sharedOf(this.codebooks);
        this.groups = new CodebookGroups(this.codebooks);
    }

    private static Codebook[] fill(float[] lo, Codebook codebook) {
        if (lo == null || codebook == null) {
            throw new IllegalArgumentException("key thresholds and codebook must not be null");
        }
        Codebook[] all = new Codebook[lo.length];
        Arrays.fill(all, codebook);
        return all;
    }

    /** The codebook every entry equals, or null. */
    static Codebook sharedOf(Codebook[] codebooks) {
        for (Codebook c : codebooks) {
            if (!codebooks[0].equals(c)) {
                return null;
            }
        }
        return codebooks[0];
    }

    /**
     * Per-channel thresholds over the non-sink tokens (spec §5.1): the {@code 100τ} and {@code 100(1−τ)}
     * percentiles, min/max without outliers.
     *
     * @param keys pre-RoPE key activations of one layer
     * @param spec the quantization (outlier fraction and sinks)
     * @return {@code {lo[D], hi[D]}}
     */
    public static float[][] thresholds(Activations keys, QuantSpec spec) {
        int d = keys.channels();
        int sinks = spec.sinkTokens();
        int n = keys.calibrationTokens(sinks);
        if (n == 0) {
            throw new IllegalArgumentException("no key calibration tokens remain after excluding " + sinks
                    + " sink token(s) per sequence of " + keys.sequenceLength());
        }
        double tail = spec.tail();
        float[] lo = new float[d];
        float[] hi = new float[d];
        double[] column = new double[n];
        float[] data = keys.values();
        for (int c = 0; c < d; c++) {
            int k = 0;
            for (int t = 0; t < keys.tokens(); t++) {
                if (!keys.isSink(t, sinks)) {
                    column[k++] = data[t * d + c];
                }
            }
            Arrays.sort(column, 0, n);
            lo[c] = (float) Percentiles.ofSorted(column, n, 100.0 * tail);
            hi[c] = (float) Percentiles.ofSorted(column, n, 100.0 * (1.0 - tail));
        }
        return new float[][] {lo, hi};
    }

    /**
     * Calibrates one layer with one codebook for all channels (spec §5.1, §3.3): per-channel thresholds
     * ({@link #thresholds}), then the codebook by weighted k-means over the normalized non-outlier elements
     * of every channel, Q-Normed when the spec asks for it.
     *
     * @param keys pre-RoPE key activations of one layer
     * @param spec the quantization to calibrate for (bits, outlier fraction, sinks, weighting)
     * @param options k-means settings
     * @return the layer's key quantizer
     */
    public static KeyQuantizer calibrate(Activations keys, QuantSpec spec, WeightedKMeans.Options options) {
        requireNuq(spec);
        requireFisher(keys, spec.weighting());
        spec.requireCompatible(keys.channels());
        float[][] t = thresholds(keys, spec);
        KeyQuantizer ranges = new KeyQuantizer(t[0], t[1], Codebook.nonUniform(new float[] {0f}));
        Samples all = ranges.samples(keys, spec, null);
        return new KeyQuantizer(t[0], t[1], fitCodebook(all.normalized(), all.weights(), all.count(), spec.bits(), spec,
                options));
    }

    /**
     * The normalized in-range elements of the non-sink tokens, with their k-means weights.
     *
     * @param normalized the elements in codebook space, {@code [count]} used
     * @param weights their weights, {@code [count]} used
     * @param count valid entries
     */
    record Samples(float[] normalized, float[] weights, int count) {}

    /**
     * The calibration elements the codebook of {@code channels} (null: every channel) is fitted on: the
     * normalized in-range elements of the non-sink tokens, with the spec's k-means weights.
     */
    Samples samples(Activations keys, QuantSpec spec, boolean[] channels) {
        int d = channels();
        int sinks = spec.sinkTokens();
        int n = keys.calibrationTokens(sinks);
        float[] normalized = new float[n * d];
        float[] weights = new float[n * d];
        float[] data = keys.values();
        float[] fisher = keys.fisher();
        int m = 0;
        for (int t = 0; t < keys.tokens(); t++) {
            if (keys.isSink(t, sinks)) {
                continue;
            }
            for (int c = 0; c < d; c++) {
                float x = data[t * d + c];
                if ((channels != null && !channels[c]) || x < lo[c] || x > hi[c]) {
                    continue;
                }
                normalized[m] = normalize(c, x);
                float f = fisher == null ? 1f : fisher[t * d + c];
                weights[m] = spec.weighting().weight(f, scale[c]);
                m++;
            }
        }
        return new Samples(normalized, weights, m);
    }

    static void requireNuq(QuantSpec spec) {
        if (!spec.quantized()) {
            throw new IllegalArgumentException("calibration needs a nuq spec, got " + spec.name());
        }
    }

    static void requireFisher(Activations a, FisherWeighting weighting) {
        if (weighting != FisherWeighting.UNWEIGHTED && a.fisher() == null) {
            throw new IllegalArgumentException("weighting " + weighting
                    + " needs Fisher weights; pass them or calibrate with UNWEIGHTED");
        }
    }

    static Codebook fitCodebook(float[] normalized, float[] weights, int count, int bits, QuantSpec spec,
                                WeightedKMeans.Options options) {
        if (count == 0) {
            throw new IllegalArgumentException("no in-range calibration elements to fit the codebook on");
        }
        float[] w = spec.weighting() == FisherWeighting.UNWEIGHTED ? null : weights;
        WeightedKMeans.Result fit = WeightedKMeans.fit(normalized, w, count, 1 << bits, options);
        Codebook codebook = Codebook.nonUniform(fit.centroids());
        return spec.qNorm() ? codebook.fitQNorm(normalized, count) : codebook;
    }

    /**
     * {@code (x − z_c)/s_c}, or 0 for a constant channel whose only calibration value was {@code z_c}.
     *
     * @param channel key channel, {@code [0, channels)}
     * @param x a pre-RoPE key element
     * @return the element in the codebook's normalized space
     */
    public float normalize(int channel, float x) {
        float s = scale[channel];
        float d = x - zero[channel];
        if (s > 0) {
            return d / s;
        }
        return d == 0 ? 0f : (d > 0 ? Float.POSITIVE_INFINITY : Float.NEGATIVE_INFINITY);
    }

    /**
     * {@code z_c + s_c·c'[code]}.
     *
     * @param channel key channel, {@code [0, channels)}
     * @param code a code of the codebook
     * @return the pre-RoPE key element the code stands for
     */
    public float dequantize(int channel, int code) {
        return zero[channel] + scale[channel] * codebooks[channel].dequant(code);
    }

    /**
     * Quantizes one token's key vector {@code k[offset, offset+D)} into {@code out}, keeping at most
     * {@code capPerSide} outlier residuals above and below ({@link Integer#MAX_VALUE} = uncapped).
     *
     * @param k pre-RoPE key vectors
     * @param offset index of the token's first element in {@code k}
     * @param out receives codes and outliers (sized for {@link #channels()})
     * @param capPerSide the most outliers kept above and below the thresholds
     */
    public void quantize(float[] k, int offset, QuantizedToken out, int capPerSide) {
        int d = channels();
        if (out.channels() != d) {
            throw new IllegalArgumentException("output token has " + out.channels() + " channels, keys have " + d);
        }
        if (offset < 0 || offset + d > k.length) {
            throw new IllegalArgumentException("key vector [" + offset + ", " + (offset + d) + ") is outside an array of "
                    + k.length);
        }
        Checks.requireFp16Range("key vector", k, offset, d);
        out.clearOutliers();
        int upper = 0;
        int lower = 0;
        float[] u = out.normalized;
        for (int c = 0; c < d; c++) {
            float x = k[offset + c];
            u[c] = normalize(c, x);
            if (x > hi[c]) {
                upper++;
            } else if (x < lo[c]) {
                lower++;
            }
        }
        groups.nearest(u, out.codes, out.gathered, out.found);
        if (upper + lower == 0 || capPerSide == 0) {
            return;
        }
        // Rank each side's candidates by normalized distance (ties: lower channel first), keep the cap.
        long[] up = new long[upper];
        long[] down = new long[lower];
        int iu = 0;
        int id = 0;
        for (int c = 0; c < d; c++) {
            float x = k[offset + c];
            if (x > hi[c]) {
                up[iu++] = rankKey(normalize(c, x), c);
            } else if (x < lo[c]) {
                down[id++] = rankKey(-normalize(c, x), c);
            }
        }
        keep(up, capPerSide, k, offset, out);
        keep(down, capPerSide, k, offset, out);
        out.sortOutliers();
    }

    /** Sort key: larger distance first, then lower channel; distances are positive here. */
    private static long rankKey(float distance, int channel) {
        int ordered = WeightedKMeans.orderedBits(distance);
        return ((long) ~ordered << 32) | channel;
    }

    private void keep(long[] candidates, int cap, float[] k, int offset, QuantizedToken out) {
        if (candidates.length > cap) {
            Arrays.sort(candidates);
        }
        int n = Math.min(cap, candidates.length);
        for (int i = 0; i < n; i++) {
            int c = (int) candidates[i];
            out.addOutlier(c, k[offset + c] - dequantize(c, out.codes[c]));
        }
    }

    /**
     * The number of key channels, {@code kvHeads·headDim}.
     *
     * @return the channel count
     */
    public int channels() {
        return lo.length;
    }

    /**
     * The K codebook shared by every channel.
     *
     * @return the codebook
     * @throws IllegalStateException when the channels have codebooks of their own ({@link #codebook(int)})
     */
    public Codebook codebook() {
        if (shared == null) {
            throw new IllegalStateException("this layer's key channels have codebooks of their own; use codebook(channel)");
        }
        return shared;
    }

    /**
     * The codebook of one channel.
     *
     * @param channel key channel, {@code [0, channels)}
     * @return its codebook
     */
    public Codebook codebook(int channel) {
        return codebooks[channel];
    }

    /**
     * Whether every channel uses the same codebook (the paper's per-layer datatype).
     *
     * @return true when {@link #codebook()} answers
     */
    public boolean sharedCodebook() {
        return shared != null;
    }

    /**
     * The code width of one channel.
     *
     * @param channel key channel, {@code [0, channels)}
     * @return its codebook's bits, 0–6
     */
    public int width(int channel) {
        return codebooks[channel].bits();
    }

    /**
     * The per-channel lower thresholds.
     *
     * @return a copy, {@code [channels]}
     */
    public float[] lowerThresholds() {
        return lo.clone();
    }

    /**
     * The per-channel upper thresholds.
     *
     * @return a copy, {@code [channels]}
     */
    public float[] upperThresholds() {
        return hi.clone();
    }

    /**
     * The per-channel zero points {@code z_c = (hi+lo)/2}.
     *
     * @return a copy, {@code [channels]}
     */
    public float[] zeroPoints() {
        return zero.clone();
    }

    /**
     * The per-channel scales {@code s_c = (hi−lo)/2}.
     *
     * @return a copy, {@code [channels]}
     */
    public float[] scales() {
        return scale.clone();
    }

    /**
     * The zero point of one channel.
     *
     * @param channel key channel, {@code [0, channels)}
     * @return {@code z_c}
     */
    public float zero(int channel) {
        return zero[channel];
    }

    /**
     * The scale of one channel.
     *
     * @param channel key channel, {@code [0, channels)}
     * @return {@code s_c}
     */
    public float scale(int channel) {
        return scale[channel];
    }

    /**
     * The lower threshold of one channel: smaller elements become outliers.
     *
     * @param channel key channel, {@code [0, channels)}
     * @return the threshold
     */
    public float lower(int channel) {
        return lo[channel];
    }

    /**
     * The upper threshold of one channel: larger elements become outliers.
     *
     * @param channel key channel, {@code [0, channels)}
     * @return the threshold
     */
    public float upper(int channel) {
        return hi[channel];
    }

    /**
     * The same thresholds with another codebook for every channel (for example after Q-Norm or an import).
     *
     * @param other a codebook of the same bit width
     * @return a new quantizer; this one is unchanged
     */
    public KeyQuantizer withCodebook(Codebook other) {
        return new KeyQuantizer(lo, hi, other);
    }

    /**
     * The same thresholds with a codebook per channel.
     *
     * @param perChannel {@code [channels]} codebooks
     * @return a new quantizer; this one is unchanged
     */
    public KeyQuantizer withCodebooks(Codebook[] perChannel) {
        return new KeyQuantizer(lo, hi, perChannel);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof KeyQuantizer q && Arrays.equals(lo, q.lo) && Arrays.equals(hi, q.hi)
                && Arrays.equals(codebooks, q.codebooks);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(lo) * 31 + Arrays.hashCode(hi);
    }
}
