package dev.kvq.quant;

import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a cache stores: nuq codes at 2–4 bits (or a Fisher-allocated average of B bits, each channel 0–6
 * bits wide) with optional dense-and-sparse outliers, attention-sink tokens, a recent-token fp16 window
 * and Q-Norm, or the unquantized fp16/fp32 baselines.
 *
 * <p>{@code outlierFraction} is the paper's {@code 1 − ρ} (0.01 for "-1%"); the one-sided tail is
 * {@code τ = outlierFraction/2}. Keys keep at most {@code ⌊τD⌋ + 1} outliers per side and token,
 * values exactly {@code ⌊τD⌋ + 1} per side (top-k rule with {@code n_v = ⌊τD⌋ + 2}); with fraction 0
 * there are none (min/max ranges).
 *
 * @param sinkTokens the first tokens of a sequence kept in fp16 (keys post-RoPE), spec §6
 * @param mode nuq codes or an unquantized baseline
 * @param bits code width: 2–4 for nuq; the average width (1–5) under a bit allocation; 16 or 32 for the
 *         baselines
 * @param outlierFraction the fraction of elements kept as sparse outliers, {@code [0, 0.5)}; 0 for the
 *         baselines
 * @param qNorm whether value reconstruction uses Q-Norm corrected centroids (nuq only)
 * @param outlierForm how outliers are stored
 * @param weighting the k-means sample weights used at calibration
 * @param recentWindow the most recent tokens kept in fp16 (like the sinks) until they leave the window;
 *         0 for none
 * @param allocation how code widths are chosen: one width for everything, or Fisher-allocated per
 *         channel, head or layer-and-tensor
 * @param keyCodebooks one key codebook per layer, or one per layer and key channel
 * @param valuesAlongTokens under a bit allocation: value codes are packed along tokens (each value channel's
 *         codes of a group of 32 tokens fill its width in 32-bit words, as page format v1 packs values), so a
 *         value token's code bits need not fill whole words; false: both tensors pack each token's codes
 *         as one bitstream of whole 32-bit words ({@code -vtok} in the name when true)
 */
public record QuantSpec(Mode mode, int bits, double outlierFraction, int sinkTokens, boolean qNorm,
                        OutlierForm outlierForm, FisherWeighting weighting, int recentWindow, Allocation allocation,
                        KeyCodebooks keyCodebooks, boolean valuesAlongTokens) {

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

    /**
     * How code widths are chosen. An allocation gives whole widths 0–{@value Checks#MAX_ALLOCATED_BITS}
     * that minimise the Fisher-weighted squared error {@code Σ F·(x − x̂)²} on the calibration data under
     * the average budget {@link #bits()}; key widths come per RoPE pair (both channels of a pair share one).
     */
    public enum Allocation {
        /** Every channel of every layer has {@link #bits()} bits. */
        UNIFORM,
        /** A width per layer, tensor (K/V) and channel; keys per RoPE pair (name suffix none: {@code nuqaB}). */
        CHANNEL,
        /** A width per layer, tensor and KV head ({@code nuqaB-head}). */
        HEAD,
        /** A width per layer and tensor ({@code nuqaB-tensor}). */
        TENSOR
    }

    /** How many key codebooks a layer has. */
    public enum KeyCodebooks {
        /** One codebook shared by the layer's key channels, the paper's datatype ({@code -lcb}). */
        PER_LAYER,
        /** One codebook per layer and key channel ({@code -ccb}). */
        PER_CHANNEL
    }

    /** The sink-token count of the paper's main results (Table 1). */
    public static final int DEFAULT_SINK_TOKENS = 1;

    /** The key codebooks a nuq name means when it says neither {@code -lcb} nor {@code -ccb}. */
    public static final KeyCodebooks DEFAULT_KEY_CODEBOOKS = KeyCodebooks.PER_LAYER;

    private static final int MAX_SINK_TOKENS = 1 << 16;
    private static final int MAX_RECENT_WINDOW = 1 << 16;
    private static final int MIN_BUDGET = 1;
    private static final int MAX_BUDGET = Checks.MAX_ALLOCATED_BITS - 1;

    /** Checks the combination; e.g. the baselines take no outliers, window, allocation or Q-Norm. */
    public QuantSpec {
        if (mode == null || outlierForm == null || weighting == null || allocation == null || keyCodebooks == null) {
            throw new IllegalArgumentException("mode, outlier form, weighting, allocation and key codebooks must not be null");
        }
        Checks.requireNonNegative("sink token count", sinkTokens);
        if (sinkTokens > MAX_SINK_TOKENS) {
            throw new IllegalArgumentException("sink token count " + sinkTokens + " exceeds " + MAX_SINK_TOKENS);
        }
        Checks.requireNonNegative("recent-token window", recentWindow);
        if (recentWindow > MAX_RECENT_WINDOW) {
            throw new IllegalArgumentException("recent-token window " + recentWindow + " exceeds " + MAX_RECENT_WINDOW);
        }
        switch (mode) {
            case NUQ -> {
                if (allocation == Allocation.UNIFORM) {
                    Checks.requireBits(bits);
                } else if (bits < MIN_BUDGET || bits > MAX_BUDGET) {
                    throw new IllegalArgumentException("an allocated bit budget must be in [" + MIN_BUDGET + ", "
                            + MAX_BUDGET + "] bits per element on average, got " + bits);
                }
                if (valuesAlongTokens && allocation == Allocation.UNIFORM) {
                    throw new IllegalArgumentException("packing value codes along tokens is a choice of bit allocations"
                            + " (nuqaB); uniform widths always fill whole words");
                }
                Checks.requireOutlierFraction(outlierFraction);
            }
            case FP16 -> requireBaseline(bits == 16, outlierFraction, qNorm, recentWindow, allocation, keyCodebooks,
                    valuesAlongTokens, "fp16");
            case FP32 -> requireBaseline(bits == 32, outlierFraction, qNorm, recentWindow, allocation, keyCodebooks,
                    valuesAlongTokens, "fp32");
        }
    }

    /**
     * A spec without a recent-token window, bit allocation or per-channel key codebooks (the fields of
     * format version 1).
     *
     * @param mode nuq codes or an unquantized baseline
     * @param bits code width: 2–4 for nuq, 16 or 32 for the baselines
     * @param outlierFraction the fraction of elements kept as sparse outliers
     * @param sinkTokens the first tokens of a sequence kept in fp16
     * @param qNorm whether value reconstruction uses Q-Norm
     * @param outlierForm how outliers are stored
     * @param weighting the k-means sample weights used at calibration
     */
    public QuantSpec(Mode mode, int bits, double outlierFraction, int sinkTokens, boolean qNorm,
                     OutlierForm outlierForm, FisherWeighting weighting) {
        this(mode, bits, outlierFraction, sinkTokens, qNorm, outlierForm, weighting, 0, Allocation.UNIFORM,
                KeyCodebooks.PER_LAYER, false);
    }

    private static void requireBaseline(boolean bitsOk, double fraction, boolean qNorm, int window, Allocation allocation,
                                        KeyCodebooks keyCodebooks, boolean valuesAlongTokens, String name) {
        if (!bitsOk || fraction != 0 || qNorm || window != 0 || allocation != Allocation.UNIFORM
                || keyCodebooks != KeyCodebooks.PER_LAYER || valuesAlongTokens) {
            throw new IllegalArgumentException(name + " stores values unquantized: no bit width, outliers, window,"
                    + " allocation, codebooks or Q-Norm apply");
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
                FisherWeighting.FISHER_SCALED, 0, Allocation.UNIFORM, DEFAULT_KEY_CODEBOOKS, false);
    }

    /**
     * Fisher-allocated nuq ({@code nuqaB}): widths per layer, tensor and channel (keys per RoPE pair)
     * averaging {@code budget} bits, with {@value #DEFAULT_SINK_TOKENS} sink token, no outliers.
     *
     * @param budget the average code width, 1–5
     * @return the spec
     */
    public static QuantSpec allocated(int budget) {
        return new QuantSpec(Mode.NUQ, budget, 0.0, DEFAULT_SINK_TOKENS, false, OutlierForm.FIXED_SLOTS,
                FisherWeighting.FISHER_SCALED, 0, Allocation.CHANNEL, DEFAULT_KEY_CODEBOOKS, false);
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
        return new QuantSpec(mode, bits, fraction, sinkTokens, qNorm, outlierForm, weighting, recentWindow, allocation,
                keyCodebooks, valuesAlongTokens);
    }

    /**
     * This spec with another number of sink tokens.
     *
     * @param count the first tokens of a sequence kept in fp16
     * @return a new spec
     */
    public QuantSpec sinkTokens(int count) {
        return new QuantSpec(mode, bits, outlierFraction, count, qNorm, outlierForm, weighting, recentWindow, allocation,
                keyCodebooks, valuesAlongTokens);
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
        return new QuantSpec(mode, bits, outlierFraction, sinkTokens, on, outlierForm, weighting, recentWindow, allocation,
                keyCodebooks, valuesAlongTokens);
    }

    /**
     * This spec with another outlier storage form.
     *
     * @param form the storage form
     * @return a new spec
     */
    public QuantSpec outlierForm(OutlierForm form) {
        return new QuantSpec(mode, bits, outlierFraction, sinkTokens, qNorm, form, weighting, recentWindow, allocation,
                keyCodebooks, valuesAlongTokens);
    }

    /**
     * This spec with other k-means sample weights.
     *
     * @param w the weighting; {@code UNWEIGHTED} when no Fisher information is available
     * @return a new spec
     */
    public QuantSpec weighting(FisherWeighting w) {
        return new QuantSpec(mode, bits, outlierFraction, sinkTokens, qNorm, outlierForm, w, recentWindow, allocation,
                keyCodebooks, valuesAlongTokens);
    }

    /**
     * This spec with a recent-token fp16 window.
     *
     * @param tokens the most recent tokens kept in fp16; 0 for none
     * @return a new spec
     * @throws IllegalArgumentException for the fp16/fp32 baselines (unless 0)
     */
    public QuantSpec window(int tokens) {
        return new QuantSpec(mode, bits, outlierFraction, sinkTokens, qNorm, outlierForm, weighting, tokens, allocation,
                keyCodebooks, valuesAlongTokens);
    }

    /**
     * This spec with another way of choosing code widths; {@link #bits()} becomes the budget.
     *
     * @param a the allocation
     * @return a new spec
     */
    public QuantSpec allocation(Allocation a) {
        return new QuantSpec(mode, bits, outlierFraction, sinkTokens, qNorm, outlierForm, weighting, recentWindow, a,
                keyCodebooks, valuesAlongTokens);
    }

    /**
     * This spec with value codes packed along tokens (or as per-token bitstreams like the keys).
     *
     * @param on true to pack value codes along tokens (bit allocations only)
     * @return a new spec
     */
    public QuantSpec valuesAlongTokens(boolean on) {
        return new QuantSpec(mode, bits, outlierFraction, sinkTokens, qNorm, outlierForm, weighting, recentWindow,
                allocation, keyCodebooks, on);
    }

    /**
     * This spec with one key codebook per layer or per layer and channel.
     *
     * @param k the key codebooks
     * @return a new spec
     */
    public QuantSpec keyCodebooks(KeyCodebooks k) {
        return new QuantSpec(mode, bits, outlierFraction, sinkTokens, qNorm, outlierForm, weighting, recentWindow,
                allocation, k, valuesAlongTokens);
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
     * Whether the code widths come from a Fisher bit allocation (and may differ between channels).
     *
     * @return true unless {@link Allocation#UNIFORM}
     */
    public boolean allocated() {
        return allocation != Allocation.UNIFORM;
    }

    /**
     * Whether the spec uses a field format version 1 cannot hold: a recent-token window, a bit allocation or
     * per-channel key codebooks.
     *
     * @return true when {@link GeometryCodec} writes the extended form
     */
    public boolean extended() {
        return recentWindow != 0 || allocated() || keyCodebooks != KeyCodebooks.PER_LAYER || valuesAlongTokens;
    }

    /**
     * Tokens a full cache keeps in fp16 besides the packed ones: the sinks and the recent window.
     *
     * @return {@code sinkTokens + recentWindow} for nuq, 0 for the baselines
     */
    public int fp16Tokens() {
        return quantized() ? sinkTokens + recentWindow : 0;
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

    /**
     * The shipped presets: names for the modes that meet the quality goals on stories260K (docs/QUALITY.md:
     * at 32K tokens kvq4 ≈ 4.5 bits, kvq3 ≈ 3.5, kvq2 ≈ 2.5 per element as stored), each an alias of a
     * spelled-out mode. They need page format v2 in the packed cache; {@code kvq eval} runs them simulated.
     */
    public static final Map<String, String> PRESETS = Map.of("kvq4", "nuqa4-r16", "kvq3", "nuqa3-r32", "kvq2", "nuqa2-r32");

    private static final Pattern BASE = Pattern.compile("nuq(a?)(\\d{1,2})");
    private static final Pattern PERCENT = Pattern.compile("(\\d+(?:\\.\\d+)?)%");
    private static final Pattern COUNT = Pattern.compile("([rs])(\\d+)");
    private static final String FORMS = "fp32, fp16, a preset (" + String.join(", ", new java.util.TreeSet<>(PRESETS.keySet()))
            + "), nuq2|3|4 or nuqa1-5 followed by any of -P% (outliers), -rN (recent window), -sN (sinks), "
            + "-fisher|-unweighted, -sparse, -lcb|-ccb (key codebooks per layer|channel), -head|-tensor (nuqa granularity), -vtok (nuqa value codes along tokens)";

    /**
     * Parses the names the CLI and the docs use: {@code fp16}, {@code fp32}, the presets, and nuq modes
     * {@code nuqB} or {@code nuqaB} followed by suffixes in any order: {@code -P%} outliers, {@code -rN}
     * recent-token window, {@code -sN} sink tokens (default {@value #DEFAULT_SINK_TOKENS}), {@code -fisher}
     * (k-means weight F) or {@code -unweighted}, {@code -sparse} (token-major outliers), {@code -lcb} /
     * {@code -ccb} (key codebooks per layer / per layer and channel), {@code -head} / {@code -tensor}
     * (allocation per head / per layer and tensor instead of per channel), {@code -vtok} (allocated value codes
     * packed along tokens, so value tokens need not fill whole 32-bit words).
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
        if (PRESETS.containsKey(n)) {
            return parse(PRESETS.get(n));
        }
        String[] parts = n.split("-", -1);
        Matcher m = BASE.matcher(parts[0]);
        if (!m.matches()) {
            throw new IllegalArgumentException("unknown KV mode '" + name + "' (expected " + FORMS + ")");
        }
        boolean allocated = !m.group(1).isEmpty();
        int bits = Integer.parseInt(m.group(2));
        QuantSpec spec;
        try {
            spec = allocated ? allocated(bits) : nuq(bits);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown KV mode '" + name + "': " + e.getMessage(), e);
        }
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (int i = 1; i < parts.length; i++) {
            String p = parts[i];
            Matcher pm = PERCENT.matcher(p);
            Matcher cm = COUNT.matcher(p);
            String kind = pm.matches() ? "%" : cm.matches() ? cm.group(1)
                    : p.equals("fisher") || p.equals("unweighted") ? "weighting"
                    : p.equals("lcb") || p.equals("ccb") ? "codebooks"
                    : p.equals("head") || p.equals("tensor") ? "granularity" : p.equals("vtok") ? "vtok" : p;
            if (!seen.add(kind)) {
                throw new IllegalArgumentException("KV mode '" + name + "' sets '-" + p + "' twice");
            }
            switch (kind) {
                case "%" -> spec = spec.outliers(Double.parseDouble(pm.group(1)) / 100.0);
                case "r" -> spec = spec.window(parseCount(cm.group(2), name));
                case "s" -> spec = spec.sinkTokens(parseCount(cm.group(2), name));
                case "weighting" -> spec = spec.weighting(p.equals("fisher") ? FisherWeighting.FISHER : FisherWeighting.UNWEIGHTED);
                case "sparse" -> spec = spec.outlierForm(OutlierForm.TOKEN_MAJOR_SPARSE);
                case "codebooks" -> spec = spec.keyCodebooks(p.equals("ccb") ? KeyCodebooks.PER_CHANNEL : KeyCodebooks.PER_LAYER);
                case "granularity" -> {
                    if (!allocated) {
                        throw new IllegalArgumentException("KV mode '" + name + "': -" + p
                                + " chooses the granularity of a bit allocation, which only nuqaB modes have");
                    }
                    spec = spec.allocation(p.equals("head") ? Allocation.HEAD : Allocation.TENSOR);
                }
                case "vtok" -> {
                    if (!allocated) {
                        throw new IllegalArgumentException("KV mode '" + name + "': -vtok packs allocated value codes"
                                + " along tokens, which only nuqaB modes have");
                    }
                    spec = spec.valuesAlongTokens(true);
                }
                default -> throw new IllegalArgumentException("unknown KV mode '" + name + "': '-" + p
                        + "' is not a suffix (expected " + FORMS + ")");
            }
        }
        return spec;
    }

    private static int parseCount(String digits, String name) {
        try {
            return Integer.parseInt(digits);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("KV mode '" + name + "': " + digits + " is too large", e);
        }
    }

    /**
     * The short name: fp16, fp32, nuq3, nuq3-1%, nuqa3-1%-r32, nuqa2-r32-head, nuq3-ccb; sinks, weighting and
     * outlier form are not part of it.
     *
     * @return the name {@link #parse} reads back
     */
    public String name() {
        return switch (mode) {
            case FP16 -> "fp16";
            case FP32 -> "fp32";
            case NUQ -> (allocated() ? "nuqa" : "nuq") + bits
                    + (hasOutliers() ? "-" + trimPercent(outlierFraction * 100) + "%" : "")
                    + (recentWindow > 0 ? "-r" + recentWindow : "")
                    + switch (allocation) {
                        case HEAD -> "-head";
                        case TENSOR -> "-tensor";
                        default -> "";
                    }
                    + (keyCodebooks == DEFAULT_KEY_CODEBOOKS ? "" : keyCodebooks == KeyCodebooks.PER_CHANNEL ? "-ccb" : "-lcb")
                    + (valuesAlongTokens ? "-vtok" : "");
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
                + (mode == Mode.NUQ ? ", " + outlierForm + ", " + weighting + ", widths " + allocation
                        + ", key codebooks " + keyCodebooks : "") + ")";
    }
}
