package dev.kvq.quant;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a cache stores: nuq codes at 2–4 bits with optional dense-and-sparse outliers, attention-sink
 * tokens and Q-Norm, or the unquantized fp16/fp32 baselines.
 *
 * <p>{@code outlierFraction} is the paper's {@code 1 − ρ} (0.01 for "-1%"); the one-sided tail is
 * {@code τ = outlierFraction/2}. Keys keep at most {@code ⌊τD⌋ + 1} outliers per side and token,
 * values exactly {@code ⌊τD⌋ + 1} per side (top-k rule with {@code n_v = ⌊τD⌋ + 2}); with fraction 0
 * there are none (min/max ranges).
 *
 * @param sinkTokens the first tokens of a sequence kept in fp16 (keys post-RoPE), spec §6
 * @param mode nuq codes or an unquantized baseline
 * @param bits code width: 2–4 for nuq, 16 or 32 for the baselines
 * @param outlierFraction the fraction of elements kept as sparse outliers, {@code [0, 0.5)}; 0 for the
 *         baselines
 * @param qNorm whether value reconstruction uses Q-Norm corrected centroids (nuq only)
 * @param outlierForm how outliers are stored
 * @param weighting the k-means sample weights used at calibration
 */
public record QuantSpec(Mode mode, int bits, double outlierFraction, int sinkTokens, boolean qNorm,
                        OutlierForm outlierForm, FisherWeighting weighting) {

    /** Storage mode. */
    public enum Mode {
        /** Non-uniform codes from a calibrated codebook. */
        NUQ,
        /** Unquantized half precision. */
        FP16,
        /** Unquantized single precision. */
        FP32
    }

    /** How outliers are stored (spec §5.4); both feed the same attention code. */
    public enum OutlierForm {
        /** A fixed number of slots per token (keys capped at run time), fp16 residual + channel index. */
        FIXED_SLOTS,
        /** Token-major compressed sparse rows: a pointer per token and a variable count (keys uncapped). */
        TOKEN_MAJOR_SPARSE
    }

    /** The sink-token count of the paper's main results (Table 1). */
    public static final int DEFAULT_SINK_TOKENS = 1;

    private static final int MAX_SINK_TOKENS = 1 << 16;

    /** Checks the combination; e.g. the baselines take no outliers or Q-Norm. */
    public QuantSpec {
        if (mode == null || outlierForm == null || weighting == null) {
            throw new IllegalArgumentException("mode, outlier form and weighting must not be null");
        }
        Checks.requireNonNegative("sink token count", sinkTokens);
        if (sinkTokens > MAX_SINK_TOKENS) {
            throw new IllegalArgumentException("sink token count " + sinkTokens + " exceeds " + MAX_SINK_TOKENS);
        }
        switch (mode) {
            case NUQ -> {
                Checks.requireBits(bits);
                Checks.requireOutlierFraction(outlierFraction);
            }
            case FP16 -> requireBaseline(bits == 16, outlierFraction, qNorm, "fp16");
            case FP32 -> requireBaseline(bits == 32, outlierFraction, qNorm, "fp32");
        }
    }

    private static void requireBaseline(boolean bitsOk, double fraction, boolean qNorm, String name) {
        if (!bitsOk || fraction != 0 || qNorm) {
            throw new IllegalArgumentException(name + " stores values unquantized: no bit width, outliers or Q-Norm apply");
        }
    }

    /**
     * Dense nuq at {@code bits} (2, 3 or 4) with {@value #DEFAULT_SINK_TOKENS} sink token, no outliers.
     *
     * @param bits code width: 2, 3 or 4
     * @return the spec, with Fisher-scaled calibration weights
     */
    public static QuantSpec nuq(int bits) {
        return new QuantSpec(Mode.NUQ, bits, 0.0, DEFAULT_SINK_TOKENS, false, OutlierForm.FIXED_SLOTS,
                FisherWeighting.FISHER_SCALED);
    }

    /**
     * The fp16 baseline: keys and values stored unquantized in fp16.
     *
     * @return the spec; it needs no calibration
     */
    public static QuantSpec fp16() {
        return new QuantSpec(Mode.FP16, 16, 0.0, 0, false, OutlierForm.FIXED_SLOTS, FisherWeighting.FISHER_SCALED);
    }

    /**
     * The fp32 baseline: keys and values stored unquantized in fp32 (the exact reference).
     *
     * @return the spec; it needs no calibration
     */
    public static QuantSpec fp32() {
        return new QuantSpec(Mode.FP32, 32, 0.0, 0, false, OutlierForm.FIXED_SLOTS, FisherWeighting.FISHER_SCALED);
    }

    /**
     * This spec with dense-and-sparse outliers.
     *
     * @param fraction the outlier fraction, e.g. 0.01 for "-1%"
     * @return a new spec
     * @throws IllegalArgumentException for the fp16/fp32 baselines
     */
    public QuantSpec outliers(double fraction) {
        requireNuq("outliers");
        return new QuantSpec(mode, bits, fraction, sinkTokens, qNorm, outlierForm, weighting);
    }

    /**
     * This spec with another number of sink tokens.
     *
     * @param count the first tokens of a sequence kept in fp16
     * @return a new spec
     */
    public QuantSpec sinkTokens(int count) {
        return new QuantSpec(mode, bits, outlierFraction, count, qNorm, outlierForm, weighting);
    }

    /**
     * This spec with Q-Norm on or off.
     *
     * @param on whether value reconstruction uses Q-Norm
     * @return a new spec
     * @throws IllegalArgumentException when turning Q-Norm on for a baseline
     */
    public QuantSpec qNorm(boolean on) {
        if (on) {
            requireNuq("Q-Norm");
        }
        return new QuantSpec(mode, bits, outlierFraction, sinkTokens, on, outlierForm, weighting);
    }

    /**
     * This spec with another outlier storage form.
     *
     * @param form the storage form
     * @return a new spec
     */
    public QuantSpec outlierForm(OutlierForm form) {
        return new QuantSpec(mode, bits, outlierFraction, sinkTokens, qNorm, form, weighting);
    }

    /**
     * This spec with other k-means sample weights.
     *
     * @param w the weighting; {@code UNWEIGHTED} when no Fisher information is available
     * @return a new spec
     */
    public QuantSpec weighting(FisherWeighting w) {
        return new QuantSpec(mode, bits, outlierFraction, sinkTokens, qNorm, outlierForm, w);
    }

    private void requireNuq(String what) {
        if (mode != Mode.NUQ) {
            throw new IllegalArgumentException(what + " only apply to nuq modes, not " + mode);
        }
    }

    /**
     * Whether the cache stores codes (nuq) rather than fp16/fp32.
     *
     * @return true for nuq; such a cache needs a {@link Calibration}
     */
    public boolean quantized() {
        return mode == Mode.NUQ;
    }

    /**
     * Whether some elements are stored as sparse outliers.
     *
     * @return true for nuq with an outlier fraction above 0
     */
    public boolean hasOutliers() {
        return mode == Mode.NUQ && outlierFraction > 0;
    }

    /**
     * One-sided tail fraction τ.
     *
     * @return {@code outlierFraction/2}
     */
    public double tail() {
        return outlierFraction / 2;
    }

    /**
     * Key outliers kept per side and token, {@code ⌊τD⌋ + 1}; 0 without outliers.
     *
     * @param channels {@code kvHeads·headDim}
     * @return the cap per side
     */
    public int keyOutlierCap(int channels) {
        return hasOutliers() ? floorTailCount(channels) + 1 : 0;
    }

    /**
     * Value top-k size {@code n_v = ⌊τD⌋ + 2}; the outliers are the other {@code n_v − 1} per side.
     *
     * @param channels {@code kvHeads·headDim}
     * @return {@code n_v}; 0 without outliers
     */
    public int valueTopK(int channels) {
        return hasOutliers() ? floorTailCount(channels) + 2 : 0;
    }

    /**
     * Value outliers per token, exactly {@code 2(n_v − 1)}.
     *
     * @param channels {@code kvHeads·headDim}
     * @return the outlier count per value token
     */
    public int valueOutliersPerToken(int channels) {
        return hasOutliers() ? 2 * (valueTopK(channels) - 1) : 0;
    }

    private int floorTailCount(int channels) {
        // the epsilon keeps exact products such as 0.01/2·200 = 1 from flooring to 0 after rounding
        return (int) Math.floor(tail() * channels + 1e-9);
    }

    /**
     * Checks that this spec can quantize vectors of {@code channels} elements (the outlier sets must not
     * overlap).
     *
     * @param channels {@code kvHeads·headDim}
     * @throws IllegalArgumentException when the upper and lower outlier sets could overlap
     */
    public void requireCompatible(int channels) {
        Checks.requirePositive("channel count", channels);
        if (hasOutliers() && 2 * valueTopK(channels) > channels) {
            throw new IllegalArgumentException("outlier fraction " + outlierFraction + " is too large for "
                    + channels + " channels per token: the value top-k needs 2·" + valueTopK(channels)
                    + " <= " + channels);
        }
    }

    private static final Pattern NAME = Pattern.compile("nuq([234])(?:-(\\d+(?:\\.\\d+)?)%)?");

    /**
     * Parses the names the CLI and the docs use: {@code fp16}, {@code fp32}, {@code nuq4}, {@code nuq3-1%},
     * {@code nuq2-0.5%} (nuq modes get {@value #DEFAULT_SINK_TOKENS} sink token).
     *
     * @param name a spec name
     * @return the spec
     * @throws IllegalArgumentException for an unknown name, listing the accepted forms
     */
    public static QuantSpec parse(String name) {
        String n = name == null ? "" : name.trim().toLowerCase(Locale.ROOT);
        if (n.equals("fp16")) {
            return fp16();
        }
        if (n.equals("fp32")) {
            return fp32();
        }
        Matcher m = NAME.matcher(n);
        if (!m.matches()) {
            throw new IllegalArgumentException("unknown KV mode '" + name + "' (expected fp32, fp16, nuq4|3|2 or nuq4|3|2-P%)");
        }
        QuantSpec spec = nuq(Integer.parseInt(m.group(1)));
        if (m.group(2) != null) {
            spec = spec.outliers(Double.parseDouble(m.group(2)) / 100.0);
        }
        return spec;
    }

    /**
     * The short name: fp16, fp32, nuq3, nuq3-1%.
     *
     * @return the name {@link #parse} reads back
     */
    public String name() {
        return switch (mode) {
            case FP16 -> "fp16";
            case FP32 -> "fp32";
            case NUQ -> "nuq" + bits + (hasOutliers() ? "-" + trimPercent(outlierFraction * 100) + "%" : "");
        };
    }

    private static String trimPercent(double p) {
        String s = String.format(Locale.ROOT, "%.4f", p);
        s = s.replaceAll("0+$", "");
        return s.endsWith(".") ? s.substring(0, s.length() - 1) : s;
    }

    @Override
    public String toString() {
        return name() + " (sinks " + sinkTokens + (qNorm ? ", Q-Norm" : "")
                + (mode == Mode.NUQ ? ", " + outlierForm + ", " + weighting : "") + ")";
    }
}
