package dev.kvq.quant;

/**
 * Per-token quantizer for values (spec §4, §5.1, §5.3), computed online for every token over the
 * whole {@code D = H_kv·d} vector.
 *
 * <p>With outliers, the top-k rule of the deployment: {@code n_v = ⌊τD⌋ + 2}; {@code hi} is the
 * {@code n_v}-th largest element and {@code lo} the {@code n_v}-th smallest; the {@code n_v − 1}
 * elements beyond each are the outliers, chosen by index-stable order (value, then channel) so that
 * ties never double-count. Outlier positions hold the middle code {@code m = 2^(b−1) − 1} and an fp16
 * residual {@code v − dequant(m)}. Without outliers {@code lo}/{@code hi} are the min/max.
 * {@code z = (hi+lo)/2} and {@code s = (hi−lo)/2} are rounded to fp16 (their storage) before use.
 *
 * <p>Under a Fisher bit allocation the channels have codebooks of different widths (0–6 bits); the
 * normalization and the outlier set do not depend on them, and an outlier's middle code is its own
 * channel's ({@code 0} at width 0).
 */
public final class ValueQuantizer {
    private final Codebook codebook;      // the one codebook of every channel, or null when they differ
    private final Codebook[] codebooks;   // [channels]
    private final CodebookGroups groups;  // the channels by codebook: the nearest-code search
    private final int[] middleCodes;      // [channels]
    private final QuantSpec spec;
    private final int channels;
    private final int topK;         // n_v, 0 without outliers
    private final int middleCode;   // of the shared codebook; -1 when the channels differ
    private final long[] top;       // scratch [n_v] ascending (value, channel) keys
    private final long[] bottom;    // scratch [n_v] ascending keys of the negated order
    private final boolean[] outlier;

    /**
     * A quantizer of value tokens with {@code codebook} (the layer's V codebook).
     *
     * @param codebook the V codebook, of the spec's bit width
     * @param spec a nuq spec
     * @param channels {@code kvHeads·headDim}
     */
    public ValueQuantizer(Codebook codebook, QuantSpec spec, int channels) {
        this(perChannel(codebook, spec, channels), spec, channels);
        if (!spec.allocated() && codebook.bits() != spec.bits()) {
            throw new IllegalArgumentException("value codebook has " + codebook.bits() + " bits, spec " + spec.name()
                    + " needs " + spec.bits());
        }
    }

    private static Codebook[] perChannel(Codebook codebook, QuantSpec spec, int channels) {
        if (codebook == null || spec == null) {
            throw new IllegalArgumentException("value codebook and spec must not be null");
        }
        Checks.requirePositive("channel count", channels);
        Codebook[] all = new Codebook[channels];
        java.util.Arrays.fill(all, codebook);
        return all;
    }

    /**
     * A quantizer of value tokens whose channels have codebooks of their own (a bit allocation).
     *
     * @param codebooks {@code [channels]} the codebook of each channel
     * @param spec a nuq spec
     * @param channels {@code kvHeads·headDim}
     */
    public ValueQuantizer(Codebook[] codebooks, QuantSpec spec, int channels) {
        if (codebooks == null || spec == null) {
            throw new IllegalArgumentException("value codebooks and spec must not be null");
        }
        KeyQuantizer.requireNuq(spec);
        spec.requireCompatible(channels);
        if (codebooks.length != channels) {
            throw new IllegalArgumentException(codebooks.length + " value codebooks for " + channels + " channels");
        }
        this.codebooks = codebooks.clone();
        this.groups = new CodebookGroups(this.codebooks);
        this.middleCodes = new int[channels];
        for (int c = 0; c < channels; c++) {
            if (codebooks[c] == null) {
                throw new IllegalArgumentException("value channel " + c + " has no codebook");
            }
            middleCodes[c] = middleCode(codebooks[c].bits());
        }
        this.codebook = KeyQuantizer.sharedOf(this.codebooks);
        this.spec = spec;
        this.channels = channels;
        this.topK = spec.valueTopK(channels);
        this.middleCode = codebook == null ? -1 : middleCode(codebook.bits());
        this.top = new long[Math.max(topK, 1)];
        this.bottom = new long[Math.max(topK, 1)];
        this.outlier = new boolean[channels];
    }

    /** The code an outlier's dense part holds at {@code bits}: the middle one, {@code 2^(b−1) − 1}. */
    private static int middleCode(int bits) {
        return bits == 0 ? 0 : (1 << (bits - 1)) - 1;
    }

    /**
     * Calibrates the value codebook (spec §1.2): every non-sink token is normalized with the online
     * rule; the in-range normalized elements, weighted per the spec, go into weighted k-means.
     *
     * @param values the layer's value activations
     * @param spec the quantization to calibrate for
     * @param options k-means settings
     * @return the V codebook
     */
    public static Codebook calibrate(Activations values, QuantSpec spec, WeightedKMeans.Options options) {
        KeyQuantizer.Samples all = samples(values, spec, null);
        return KeyQuantizer.fitCodebook(all.normalized(), all.weights(), all.count(), spec.bits(), spec, options);
    }

    /**
     * The calibration elements a value codebook of {@code channels} (null: every channel) is fitted on:
     * each non-sink token normalized with the online rule, its in-range elements with their weights.
     */
    static KeyQuantizer.Samples samples(Activations values, QuantSpec spec, boolean[] channels) {
        KeyQuantizer.requireNuq(spec);
        KeyQuantizer.requireFisher(values, spec.weighting());
        int d = values.channels();
        int n = values.calibrationTokens(spec.sinkTokens());
        if (n == 0) {
            throw new IllegalArgumentException("no value calibration tokens remain after excluding "
                    + spec.sinkTokens() + " sink token(s) per sequence of " + values.sequenceLength());
        }
        // The codebook does not influence z, s or the outlier set, so any codebook serves here.
        Codebook[] any = new Codebook[d];
        java.util.Arrays.fill(any, Codebook.nonUniform(new float[] {0f}));
        ValueQuantizer rule = new ValueQuantizer(any, spec, d);
        QuantizedToken token = new QuantizedToken(d);
        float[] normalized = new float[n * d];
        float[] weights = new float[n * d];
        float[] data = values.values();
        float[] fisher = values.fisher();
        int m = 0;
        for (int t = 0; t < values.tokens(); t++) {
            if (values.isSink(t, spec.sinkTokens())) {
                continue;
            }
            rule.quantize(data, t * d, token);
            for (int c = 0; c < d; c++) {
                if (rule.outlier[c] || (channels != null && !channels[c])) {
                    continue;
                }
                normalized[m] = normalize(data[t * d + c], token.zero, token.scale);
                float f = fisher == null ? 1f : fisher[t * d + c];
                weights[m] = spec.weighting().weight(f, token.scale);
                m++;
            }
        }
        return new KeyQuantizer.Samples(normalized, weights, m);
    }

    private static float normalize(float x, float z, float s) {
        return s > 0 ? (x - z) / s : 0f;
    }

    /**
     * Quantizes {@code v[offset, offset+D)} into {@code out} (codes, zero, scale, outliers).
     *
     * @param v value vectors
     * @param offset index of the token's first element in {@code v}
     * @param out receives codes, zero point, scale and outliers
     */
    public void quantize(float[] v, int offset, QuantizedToken out) {
        if (out.channels() != channels) {
            throw new IllegalArgumentException("output token has " + out.channels() + " channels, values have " + channels);
        }
        if (offset < 0 || offset + channels > v.length) {
            throw new IllegalArgumentException("value vector [" + offset + ", " + (offset + channels)
                    + ") is outside an array of " + v.length);
        }
        Checks.requireFp16Range("value vector", v, offset, channels);
        out.clearOutliers();
        float lo;
        float hi;
        if (topK > 0) {
            selectExtremes(v, offset);
            hi = v[offset + (int) top[0]];         // the n_v-th largest
            lo = v[offset + (int) bottom[0]];      // the n_v-th smallest
            java.util.Arrays.fill(outlier, false);
            for (int i = 1; i < topK; i++) {
                outlier[(int) top[i]] = true;
                outlier[(int) bottom[i]] = true;
            }
        } else {
            lo = Float.POSITIVE_INFINITY;
            hi = Float.NEGATIVE_INFINITY;
            for (int c = 0; c < channels; c++) {
                lo = Math.min(lo, v[offset + c]);
                hi = Math.max(hi, v[offset + c]);
            }
        }
        float z = Fp16.round((hi + lo) * 0.5f);
        float s = Fp16.round((hi - lo) * 0.5f);
        out.zero = z;
        out.scale = s;
        float[] u = out.normalized;
        for (int c = 0; c < channels; c++) {
            u[c] = normalize(v[offset + c], z, s);
        }
        groups.nearest(u, out.codes, out.gathered, out.found);
        if (topK > 0) {
            for (int c = 0; c < channels; c++) {
                if (outlier[c]) {
                    out.codes[c] = middleCodes[c];
                    float middle = z + s * codebooks[c].dequant(middleCodes[c]);
                    out.addOutlier(c, v[offset + c] - middle);   // channels arrive in ascending order
                }
            }
        }
    }

    /**
     * Finds the n_v largest and n_v smallest elements under the total order (value, channel), leaving
     * {@code top} sorted so that top[0] is the n_v-th largest and top[i] (i ≥ 1) more extreme ones,
     * and {@code bottom} likewise from below. Low bits hold the channel.
     */
    private void selectExtremes(float[] v, int offset) {
        int k = topK;
        int filled = 0;
        for (int c = 0; c < channels; c++) {
            long key = ((long) WeightedKMeans.orderedBits(v[offset + c]) << 32) | c;
            if (filled < k) {
                insertAscending(top, filled, key);
                insertAscending(bottom, filled, ~key);
                filled++;
                continue;
            }
            if (key > top[0]) {
                replaceSmallest(top, k, key);
            }
            if (~key > bottom[0]) {
                replaceSmallest(bottom, k, ~key);
            }
        }
        // strip the inversion so the low 32 bits of bottom[] are channels again
        for (int i = 0; i < k; i++) {
            bottom[i] = ~bottom[i] & 0xffffffffL;
            top[i] = top[i] & 0xffffffffL;
        }
    }

    private static void insertAscending(long[] a, int size, long key) {
        int j = size - 1;
        while (j >= 0 && a[j] > key) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = key;
    }

    /** Drops a[0] (the smallest) and inserts {@code key} keeping a[0, k) ascending. */
    private static void replaceSmallest(long[] a, int k, long key) {
        int j = 1;
        while (j < k && a[j] < key) {
            a[j - 1] = a[j];
            j++;
        }
        a[j - 1] = key;
    }

    /**
     * {@code z + s·c'[code]} for one element.
     *
     * @param token a quantized token (for its zero point and scale)
     * @param code a code of the codebook
     * @return the value element the code stands for
     */
    public float dequantize(QuantizedToken token, int code) {
        return token.zero + token.scale * codebook().dequant(code);
    }

    /**
     * {@code z + s·c'_channel[code]} for one element of one channel.
     *
     * @param token a quantized token (for its zero point and scale)
     * @param channel the value channel, {@code [0, channels)}
     * @param code a code of that channel's codebook
     * @return the value element the code stands for
     */
    public float dequantize(QuantizedToken token, int channel, int code) {
        return token.zero + token.scale * codebooks[channel].dequant(code);
    }

    /**
     * The V codebook shared by every channel.
     *
     * @return the codebook
     * @throws IllegalStateException when the channels have codebooks of different widths
     */
    public Codebook codebook() {
        if (codebook == null) {
            throw new IllegalStateException("this layer's value channels have codebooks of their own; use codebook(channel)");
        }
        return codebook;
    }

    /**
     * The codebook of one value channel.
     *
     * @param channel the value channel, {@code [0, channels)}
     * @return its codebook
     */
    public Codebook codebook(int channel) {
        return codebooks[channel];
    }

    /**
     * The spec this quantizer follows.
     *
     * @return the nuq spec
     */
    public QuantSpec spec() {
        return spec;
    }

    /**
     * The number of channels per token.
     *
     * @return {@code kvHeads·headDim}
     */
    public int channels() {
        return channels;
    }

    /**
     * The code outlier elements carry in the dense part: their residual is taken against it.
     *
     * @return {@code 2^(bits−1) − 1}
     * @throws IllegalStateException when the channels have codebooks of different widths
     */
    public int middleCode() {
        codebook();
        return middleCode;
    }
}
