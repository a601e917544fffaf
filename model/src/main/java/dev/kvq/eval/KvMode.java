package dev.kvq.eval;

import dev.kvq.quant.QuantSpec;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A KV mode of the quality tables, parsed from its name:
 * <ul>
 * <li>{@code fp32}, {@code fp16}
 * <li>{@code intB}, {@code nfB} (B = 2–4): per-token keys (post-RoPE) and values, the paper's baselines
 * <li>{@code intB-kchan}: keys per channel post-RoPE (calibrated min/max), values per token — ablation step
 * <li>{@code intB-kchan-pre}: the same with pre-RoPE keys — ablation step
 * <li>{@code kiviB[-rR]}: KIVI-style (keys per channel in groups of 32 tokens, values per token in groups
 * of 32 channels, the most recent R tokens, default 128, in fp16; R = 0 or a multiple of 32)
 * <li>a kvq spec name ({@link QuantSpec#parse}: {@code nuqB} or {@code nuqaB} with {@code -P%}, {@code -rN},
 *     {@code -sN}, {@code -fisher|-unweighted}, {@code -sparse}, {@code -lcb|-ccb}, {@code -head|-tensor},
 *     or a preset), optionally followed by {@code -packed} (score through the packed {@code KvCache} token by
 *     token instead of simulating) or {@code -konly}/{@code -vonly} (quantize only the keys/values: an
 *     error split; bits then count the mode as if both were quantized)
 * </ul>
 *
 * @param name the mode's name, normalized to lower case
 * @param kind the family of the mode
 * @param bits code width (the average under a bit allocation), or 16/32 for the float modes
 * @param recentWindow the fp16 window of recent tokens (KIVI's, or a kvq mode's {@code -rN}); 0 for none
 * @param spec the runtime spec of nuq modes; fp16/fp32 specs for the float modes, null otherwise
 */
public record KvMode(String name, Kind kind, int bits, int recentWindow, QuantSpec spec) {
    /** The families of modes. */
    public enum Kind {
        /** fp32 reference. */
        FP32,
        /** fp16 storage. */
        FP16,
        /** Uniform intB per token. */
        INT,
        /** NormalFloat nfB per token. */
        NF,
        /** Uniform keys per channel after RoPE. */
        INT_KEY_CHANNEL,
        /** Uniform keys per channel before RoPE. */
        INT_KEY_CHANNEL_PRE_ROPE,
        /** KIVI-style groups with a full-precision window. */
        KIVI,
        /** kvq nuq, simulated. */
        NUQ,
        /** kvq nuq through the packed cache. */
        NUQ_PACKED,
        /** kvq nuq on the keys only. */
        NUQ_KEYS_ONLY,
        /** kvq nuq on the values only. */
        NUQ_VALUES_ONLY
    }

    /** Tokens (keys) or channels (values) per KIVI quantization group. */
    public static final int KIVI_GROUP = 32;
    /** KIVI's full-precision window when the name gives none. */
    public static final int KIVI_DEFAULT_WINDOW = 128;

    private static final Pattern BASELINE = Pattern.compile("(int|nf)([234])(-kchan(-pre)?)?");
    private static final Pattern KIVI = Pattern.compile("kivi([234])(?:-r(\\d+))?");
    private static final Pattern NUQ = Pattern.compile("(nuq.*?|kvq\\d.*?)(-packed|-konly|-vonly)?");

    /**
     * Parses a mode name (see the list above).
     *
     * @param text the name
     * @return the mode
     * @throws IllegalArgumentException for an unknown name, listing the accepted forms
     */
    public static KvMode parse(String text) {
        String n = text == null ? "" : text.trim().toLowerCase(Locale.ROOT);
        if (n.equals("fp32")) {
            return new KvMode(n, Kind.FP32, 32, 0, QuantSpec.fp32());
        }
        if (n.equals("fp16")) {
            return new KvMode(n, Kind.FP16, 16, 0, QuantSpec.fp16());
        }
        Matcher m = BASELINE.matcher(n);
        if (m.matches()) {
            int bits = Integer.parseInt(m.group(2));
            boolean nf = m.group(1).equals("nf");
            if (m.group(3) != null && nf) {
                throw new IllegalArgumentException("unknown KV mode '" + text + "': per-channel ablations exist for int only");
            }
            Kind kind = m.group(3) == null ? (nf ? Kind.NF : Kind.INT)
                    : m.group(4) == null ? Kind.INT_KEY_CHANNEL : Kind.INT_KEY_CHANNEL_PRE_ROPE;
            return new KvMode(n, kind, bits, 0, null);
        }
        m = KIVI.matcher(n);
        if (m.matches()) {
            int r = m.group(2) == null ? KIVI_DEFAULT_WINDOW : Integer.parseInt(m.group(2));
            if (r < 0 || r % KIVI_GROUP != 0) {
                throw new IllegalArgumentException("KIVI window " + r + " must be 0 or a positive multiple of the group size "
                        + KIVI_GROUP);
            }
            return new KvMode("kivi" + m.group(1) + "-r" + r, Kind.KIVI, Integer.parseInt(m.group(1)), r, null);
        }
        m = NUQ.matcher(n);
        if (m.matches()) {
            QuantSpec spec = QuantSpec.parse(m.group(1));
            Kind kind = m.group(2) == null ? Kind.NUQ : switch (m.group(2)) {
                case "-packed" -> Kind.NUQ_PACKED;       // the runtime's packed KvCache on the decode path
                case "-konly" -> Kind.NUQ_KEYS_ONLY;     // error split: values stay fp32
                default -> Kind.NUQ_VALUES_ONLY;         // error split: keys stay fp32
            };
            return new KvMode(n, kind, spec.bits(), spec.recentWindow(), spec);
        }
        throw new IllegalArgumentException("unknown KV mode '" + text + "' (expected fp32, fp16, int2-4, nf2-4, "
                + "int3-kchan[-pre], kivi2-4[-rR], or a kvq mode such as nuq3-1%, nuqa3-r32 or kvq3, optionally "
                + "-packed|-konly|-vonly)");
    }

    /**
     * Whether the mode quantizes with kvq's nuq codebooks (and needs a calibration).
     *
     * @return true for the nuq kinds
     */
    public boolean isNuq() {
        return kind == Kind.NUQ || kind == Kind.NUQ_PACKED || kind == Kind.NUQ_KEYS_ONLY || kind == Kind.NUQ_VALUES_ONLY;
    }

    /**
     * Whether a row of this mode is one of the baselines kvq must beat.
     *
     * @return true for int, nf and KIVI
     */
    public boolean isBaseline() {
        return kind == Kind.INT || kind == Kind.NF || kind == Kind.KIVI;
    }

    @Override
    public String toString() {
        return name;
    }
}
