package dev.kvq.quant;

import dev.kvq.geometry.AttentionShape;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;

/**
 * Fits the quantizers of every layer for one spec (spec §1 step 2): per-channel key thresholds, then the
 * codebooks by weighted k-means — one per layer and tensor, one per key channel, or, under a Fisher bit
 * allocation, one per width in use after the widths are chosen ({@link BitAllocation}).
 *
 * <p>Allocation: every candidate width {@code w ∈ [0, 6]} gets its codebooks (per layer and tensor, or
 * per key channel); every channel's error {@code Σ_t F_tc·(x_tc − x̂_tc(w))²} over the non-sink calibration
 * tokens is measured with the quantizers themselves (outliers, caps and value top-k included;
 * {@code F = 1} when the spec is unweighted); the widths minimise the summed error under the budget
 * {@code B·2·layers·D} bits per token, with key widths per RoPE pair (per head or per layer and tensor
 * at the coarser granularities) and every layer's key and value code bits per token a multiple of 32
 * when {@code D·B} is (values exempt with {@code -vtok}); finally the codebooks of each width are
 * refitted on the channels that got it.
 *
 * <p>Fisher weights: one window's squared gradient {@code g²} is a very noisy estimate of an element's
 * Fisher information — on stories260K the top 1% of key elements carry 46–71% of a layer's {@code Σ g²},
 * so a k-means weighted by it effectively fits a few hundred elements. Every element's weight is
 * therefore shrunk halfway to its channel's mean over the calibration tokens,
 * {@code F' = ½·g² + ½·mean_t(g²)}, which keeps the per-element ranking and the per-channel totals
 * (docs/QUALITY.md measures both).
 */
public final class Calibrator {
    /** The word the packed format fills with one token's codes of one tensor. */
    static final int WORD_BITS = 32;
    /** The share of an element's own {@code g²} in its Fisher weight; the rest is its channel's mean. */
    static final float FISHER_OWN_SHARE = 0.5f;

    private Calibrator() {}

    /**
     * Calibrates every layer.
     *
     * @param shape the attention geometry (RoPE pairs and heads group the key widths)
     * @param spec the nuq spec to calibrate for
     * @param keys per layer the pre-RoPE key activations, Fisher weights included unless unweighted
     * @param values per layer the value activations
     * @param options k-means settings
     * @return one calibration per layer
     */
    public static List<LayerCalibration> fit(AttentionShape shape, QuantSpec spec, Activations[] keys, Activations[] values,
                                             WeightedKMeans.Options options) {
        if (shape == null || spec == null || keys == null || values == null || options == null) {
            throw new IllegalArgumentException("calibration needs a shape, a spec, activations and k-means options");
        }
        KeyQuantizer.requireNuq(spec);
        if (keys.length != shape.layers() || values.length != shape.layers()) {
            throw new IllegalArgumentException(keys.length + " key and " + values.length + " value activations for "
                    + shape.layers() + " layers");
        }
        int d = shape.kvChannels();
        KeyQuantizer[] ranges = new KeyQuantizer[keys.length];
        for (int l = 0; l < keys.length; l++) {
            LayerCalibration.requireSameLayer(keys[l], values[l]);
            if (keys[l].channels() != d) {
                throw new IllegalArgumentException("layer " + l + " activations have " + keys[l].channels()
                        + " channels, the shape has " + d);
            }
            KeyQuantizer.requireFisher(keys[l], spec.weighting());
            KeyQuantizer.requireFisher(values[l], spec.weighting());
            spec.requireCompatible(d);
            float[][] t = KeyQuantizer.thresholds(keys[l], spec);
            ranges[l] = new KeyQuantizer(t[0], t[1], Codebook.nonUniform(new float[] {0f}));
        }
        keys = shrunkFisher(keys, spec);
        values = shrunkFisher(values, spec);
        int[][] keyWidths = new int[keys.length][d];
        int[][] valueWidths = new int[keys.length][d];
        if (spec.allocated()) {
            allocate(shape, spec, keys, values, ranges, options, keyWidths, valueWidths);
        } else {
            for (int[] w : keyWidths) {
                Arrays.fill(w, spec.bits());
            }
            for (int[] w : valueWidths) {
                Arrays.fill(w, spec.bits());
            }
        }
        // layers are independent: fit them in parallel, in a deterministic result order
        Activations[] k = keys;
        Activations[] v = values;
        LayerCalibration[] layers = new LayerCalibration[keys.length];
        IntStream.range(0, keys.length).parallel().forEach(l -> layers[l] = new LayerCalibration(
                ranges[l].withCodebooks(keyCodebooks(k[l], spec, ranges[l], keyWidths[l], options)),
                valueCodebooks(v[l], spec, valueWidths[l], options)));
        return List.of(layers);
    }

    /** The activations with every Fisher weight shrunk toward its channel's mean over the non-sink tokens. */
    static Activations[] shrunkFisher(Activations[] layers, QuantSpec spec) {
        Activations[] out = new Activations[layers.length];
        for (int l = 0; l < layers.length; l++) {
            Activations a = layers[l];
            float[] f = a.fisher();
            if (f == null || spec.weighting() == FisherWeighting.UNWEIGHTED) {
                out[l] = a;
                continue;
            }
            int d = a.channels();
            double[] mean = new double[d];
            int n = a.calibrationTokens(spec.sinkTokens());
            for (int t = 0; t < a.tokens(); t++) {
                if (!a.isSink(t, spec.sinkTokens())) {
                    for (int c = 0; c < d; c++) {
                        mean[c] += f[t * d + c];
                    }
                }
            }
            float[] shrunk = new float[f.length];
            for (int t = 0; t < a.tokens(); t++) {
                for (int c = 0; c < d; c++) {
                    shrunk[t * d + c] = FISHER_OWN_SHARE * f[t * d + c] + (1 - FISHER_OWN_SHARE) * (float) (mean[c] / Math.max(1, n));
                }
            }
            out[l] = new Activations(a.values(), shrunk, a.tokens(), d, a.sequenceLength());
        }
        return out;
    }

    /** The key codebook of every channel for the given widths: per channel, or one per width in use. */
    private static Codebook[] keyCodebooks(Activations keys, QuantSpec spec, KeyQuantizer ranges, int[] widths,
                                           WeightedKMeans.Options options) {
        int d = widths.length;
        Codebook[] out = new Codebook[d];
        if (spec.keyCodebooks() == QuantSpec.KeyCodebooks.PER_CHANNEL) {
            for (int c = 0; c < d; c++) {
                out[c] = fit(ranges.samples(keys, spec, only(d, c)), widths[c], spec, options);
            }
            return out;
        }
        return perWidth(widths, group -> ranges.samples(keys, spec, group), spec, options);
    }

    /** The value codebook of every channel: one per width in use, fitted on the channels of that width. */
    private static Codebook[] valueCodebooks(Activations values, QuantSpec spec, int[] widths,
                                             WeightedKMeans.Options options) {
        return perWidth(widths, group -> ValueQuantizer.samples(values, spec, group), spec, options);
    }

    /** One codebook per width in use, fitted on the samples of the channels of that width. */
    private static Codebook[] perWidth(int[] widths, java.util.function.Function<boolean[], KeyQuantizer.Samples> samples,
                                       QuantSpec spec, WeightedKMeans.Options options) {
        Codebook[] out = new Codebook[widths.length];
        for (int w = 0; w <= Checks.MAX_ALLOCATED_BITS; w++) {
            boolean[] group = withWidth(widths, w);
            if (group != null) {
                Codebook c = fit(samples.apply(group), w, spec, options);
                for (int ch = 0; ch < widths.length; ch++) {
                    if (group[ch]) {
                        out[ch] = c;
                    }
                }
            }
        }
        return out;
    }

    private static Codebook fit(KeyQuantizer.Samples s, int bits, QuantSpec spec, WeightedKMeans.Options options) {
        return KeyQuantizer.fitCodebook(s.normalized(), s.weights(), s.count(), bits, spec, options);
    }

    private static boolean[] only(int d, int channel) {
        boolean[] m = new boolean[d];
        m[channel] = true;
        return m;
    }

    /** The channels of width {@code w}, or null when there are none. */
    private static boolean[] withWidth(int[] widths, int w) {
        boolean[] m = new boolean[widths.length];
        boolean any = false;
        for (int c = 0; c < widths.length; c++) {
            m[c] = widths[c] == w;
            any |= m[c];
        }
        return any ? m : null;
    }

    // ------------------------------------------------------------------ allocation

    private static void allocate(AttentionShape shape, QuantSpec spec, Activations[] keys, Activations[] values,
                                 KeyQuantizer[] ranges, WeightedKMeans.Options options, int[][] keyWidths,
                                 int[][] valueWidths) {
        int d = shape.kvChannels();
        int max = Checks.MAX_ALLOCATED_BITS;
        int[][] keyUnits = units(shape, spec.allocation(), true);
        int[][] valueUnits = units(shape, spec.allocation(), false);
        BitAllocation.Row[] rows = new BitAllocation.Row[2 * keys.length];
        IntStream.range(0, keys.length).parallel().forEach(l -> {
            double[][] keyError = new double[d][max + 1];
            double[][] valueError = new double[d][max + 1];
            for (int w = 0; w <= max; w++) {
                int[] uniform = new int[d];
                Arrays.fill(uniform, w);
                KeyQuantizer kq = ranges[l].withCodebooks(keyCodebooks(keys[l], spec, ranges[l], uniform, options));
                keyErrors(kq, keys[l], spec, keyError, w);
                ValueQuantizer vq = new ValueQuantizer(valueCodebooks(values[l], spec, uniform, options), spec, d);
                valueErrors(vq, values[l], spec, valueError, w);
            }
            rows[2 * l] = new BitAllocation.Row(keyError, keyUnits, wordAligned(spec, d, true));
            rows[2 * l + 1] = new BitAllocation.Row(valueError, valueUnits, wordAligned(spec, d, false));
        });
        long budget = (long) spec.bits() * 2 * keys.length * d;
        int[][] widths = BitAllocation.allocate(List.of(rows), budget, WORD_BITS);
        for (int l = 0; l < keys.length; l++) {
            keyWidths[l] = widths[2 * l];
            valueWidths[l] = widths[2 * l + 1];
        }
    }

    /**
     * Whether an allocation must give every token of the tensor whole 32-bit words of codes: when the
     * format packs the tensor's codes per token and the budget allows ({@code D·B} a multiple of 32).
     *
     * @param spec an allocated spec
     * @param channels {@code kvHeads·headDim}
     * @param keys the key tensor (else the value tensor)
     * @return true when each layer's code bits per token of the tensor are a multiple of 32
     */
    public static boolean wordAligned(QuantSpec spec, int channels, boolean keys) {
        return spec.allocated() && ((long) channels * spec.bits()) % WORD_BITS == 0 && (keys || !spec.valuesAlongTokens());
    }

    /**
     * The channel sets that share a width: keys per RoPE pair (values per channel), per KV head, or the
     * whole row.
     */
    static int[][] units(AttentionShape shape, QuantSpec.Allocation allocation, boolean keys) {
        int d = shape.kvChannels();
        int headDim = shape.headDim();
        List<int[]> out = new ArrayList<>();
        switch (allocation) {
            case CHANNEL -> {
                for (int c = 0; c < d; c++) {
                    int j = c % headDim;
                    int partner = c - j + shape.rope().pairing().partner(j, headDim);
                    if (!keys) {
                        out.add(new int[] {c});
                    } else if (partner > c) {
                        out.add(new int[] {c, partner});
                    }
                }
            }
            case HEAD -> {
                for (int h = 0; h < shape.kvHeads(); h++) {
                    int[] u = new int[headDim];
                    for (int j = 0; j < headDim; j++) {
                        u[j] = h * headDim + j;
                    }
                    out.add(u);
                }
            }
            case TENSOR -> {
                int[] u = new int[d];
                for (int c = 0; c < d; c++) {
                    u[c] = c;
                }
                out.add(u);
            }
            case UNIFORM -> throw new IllegalArgumentException("a uniform spec has no allocation units");
        }
        return out.toArray(int[][]::new);
    }

    /** Adds every non-sink calibration token's Fisher-weighted squared key error per channel at width {@code w}. */
    private static void keyErrors(KeyQuantizer kq, Activations keys, QuantSpec spec, double[][] error, int w) {
        int d = kq.channels();
        int cap = keyCap(spec, d);
        QuantizedToken tok = new QuantizedToken(d);
        float[] x = keys.values();
        float[] rec = new float[d];
        for (int t = 0; t < keys.tokens(); t++) {
            if (keys.isSink(t, spec.sinkTokens())) {
                continue;
            }
            kq.quantize(x, t * d, tok, cap);
            for (int c = 0; c < d; c++) {
                rec[c] = kq.dequantize(c, tok.codes[c]);
            }
            addErrors(x, t * d, rec, tok, fisher(keys, spec), error, w);
        }
    }

    /** The same for values. */
    private static void valueErrors(ValueQuantizer vq, Activations values, QuantSpec spec, double[][] error, int w) {
        int d = vq.channels();
        QuantizedToken tok = new QuantizedToken(d);
        float[] x = values.values();
        float[] rec = new float[d];
        for (int t = 0; t < values.tokens(); t++) {
            if (values.isSink(t, spec.sinkTokens())) {
                continue;
            }
            vq.quantize(x, t * d, tok);
            for (int c = 0; c < d; c++) {
                rec[c] = vq.dequantize(tok, c, tok.codes[c]);
            }
            addErrors(x, t * d, rec, tok, fisher(values, spec), error, w);
        }
    }

    private static float[] fisher(Activations a, QuantSpec spec) {
        return spec.weighting() == FisherWeighting.UNWEIGHTED ? null : a.fisher();
    }

    private static void addErrors(float[] x, int offset, float[] rec, QuantizedToken tok, float[] fisher,
                                  double[][] error, int w) {
        for (int i = 0; i < tok.outlierCount; i++) {
            rec[tok.outlierChannels[i]] += tok.residual(i);
        }
        for (int c = 0; c < rec.length; c++) {
            double e = x[offset + c] - rec[c];
            error[c][w] += (fisher == null ? 1.0 : fisher[offset + c]) * e * e;
        }
    }

    /**
     * Key outliers kept per side and token: the spec's cap, uncapped in the token-major sparse form.
     *
     * @param spec a nuq spec
     * @param channels {@code kvHeads·headDim}
     * @return the cap, {@link Integer#MAX_VALUE} for uncapped
     */
    public static int keyCap(QuantSpec spec, int channels) {
        return spec.outlierForm() == QuantSpec.OutlierForm.TOKEN_MAJOR_SPARSE ? Integer.MAX_VALUE
                : spec.keyOutlierCap(channels);
    }
}
