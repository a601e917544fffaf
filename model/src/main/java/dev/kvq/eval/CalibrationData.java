package dev.kvq.eval;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.model.FisherGradients;
import dev.kvq.model.Llama;
import dev.kvq.model.LlamaConfig;
import dev.kvq.model.ModelShapes;
import dev.kvq.quant.Activations;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.Calibrator;
import dev.kvq.quant.LayerCalibration;
import dev.kvq.quant.Provenance;
import dev.kvq.quant.QuantSpec;
import dev.kvq.quant.WeightedKMeans;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;

/**
 * Calibration activations of every layer (spec §1 steps 1–2): {@code windows} windows of
 * {@code length} tokens, evenly spaced over a token stream, run through the fp32 model; for each the
 * pre-RoPE keys and values and their Fisher weights {@code g²} from {@link FisherGradients}. Windows
 * run in parallel and are stored in window order, so the result (and every calibration fitted on it)
 * is deterministic.
 */
public final class CalibrationData {
    /** Calibration windows when none are given (the paper uses 16 sequences). */
    public static final int DEFAULT_WINDOWS = 16;
    /** Tokens per calibration window when none are given. */
    public static final int DEFAULT_LENGTH = 512;

    private final LlamaConfig config;
    private final Activations[] keys;
    private final Activations[] values;
    private final int windows;
    private final int length;
    private final String model;
    private final String data;

    private CalibrationData(LlamaConfig config, Activations[] keys, Activations[] values, int windows, int length,
                            String model, String data) {
        this.config = config;
        this.keys = keys;
        this.values = values;
        this.windows = windows;
        this.length = length;
        this.model = model;
        this.data = data;
    }

    /** Window starts: evenly spaced, the first at 0 and the last ending at the stream's end. */
    static int[] windowStarts(int tokens, int windows, int length) {
        if (windows <= 0 || length <= 1) {
            throw new IllegalArgumentException("need at least one window of at least 2 tokens, got " + windows + " × " + length);
        }
        if ((long) windows * length > tokens) {
            throw new IllegalArgumentException("the calibration text has " + tokens + " tokens, fewer than " + windows
                    + " windows × " + length);
        }
        int[] starts = new int[windows];
        long span = tokens - length;
        for (int w = 0; w < windows; w++) {
            starts[w] = windows == 1 ? 0 : (int) (span * w / (windows - 1));
        }
        return starts;
    }

    /**
     * Runs the windows through {@code m}, collecting pre-RoPE keys and values with their Fisher weights.
     *
     * @param m the fp32 model
     * @param tokens the calibration token stream
     * @param windows number of windows, at least 1
     * @param length tokens per window, at least 2
     * @param modelName the model's name, recorded in the calibration's provenance
     * @param dataName the data's name, recorded in the calibration's provenance
     * @return the activations of every layer
     * @throws IllegalArgumentException when the stream is shorter than {@code windows × length}
     */
    public static CalibrationData collect(Llama m, int[] tokens, int windows, int length, String modelName,
                                          String dataName) {
        LlamaConfig c = m.config();
        int[] starts = windowStarts(tokens.length, windows, length);
        FisherGradients.Result[] r = new FisherGradients.Result[windows];
        IntStream.range(0, windows).parallel().forEach(w -> r[w] = FisherGradients.compute(m, tokens, starts[w], length));
        int kv = c.kvDim();
        int rows = windows * length;
        Activations[] keys = new Activations[c.layers()];
        Activations[] values = new Activations[c.layers()];
        for (int l = 0; l < c.layers(); l++) {
            float[] k = new float[rows * kv];
            float[] v = new float[rows * kv];
            float[] fk = new float[rows * kv];
            float[] fv = new float[rows * kv];
            for (int w = 0; w < windows; w++) {
                int o = w * length * kv;
                System.arraycopy(r[w].keyActivations()[l], 0, k, o, length * kv);
                System.arraycopy(r[w].valueActivations()[l], 0, v, o, length * kv);
                square(r[w].keys()[l], fk, o);
                square(r[w].values()[l], fv, o);
            }
            keys[l] = new Activations(k, fk, rows, kv, length);
            values[l] = new Activations(v, fv, rows, kv, length);
        }
        return new CalibrationData(c, keys, values, windows, length, modelName, dataName);
    }

    private static void square(float[] g, float[] out, int offset) {
        for (int i = 0; i < g.length; i++) {
            out[offset + i] = g[i] * g[i];
        }
    }

    /**
     * The key activations of one layer, Fisher weights included.
     *
     * @param layer layer index
     * @return the pre-RoPE keys, {@code [windows·length][kvDim]}
     */
    public Activations keys(int layer) {
        return keys[layer];
    }

    /**
     * The value activations of one layer, Fisher weights included.
     *
     * @param layer layer index
     * @return the values, {@code [windows·length][kvDim]}
     */
    public Activations values(int layer) {
        return values[layer];
    }

    /**
     * The number of calibration windows.
     *
     * @return the window count
     */
    public int windows() {
        return windows;
    }

    /**
     * Tokens per calibration window.
     *
     * @return the window length
     */
    public int length() {
        return length;
    }

    /**
     * The model's attention geometry, for the calibrations fitted on this data.
     *
     * @return the attention shape
     */
    public AttentionShape shape() {
        return ModelShapes.attentionShape(config);
    }

    /**
     * Fits every layer's key thresholds and K/V codebooks for {@code spec} (and its bit allocation).
     *
     * @param spec a nuq spec
     * @param createdBy the tool and version recorded in the provenance
     * @return the calibration
     */
    public Calibration calibrate(QuantSpec spec, String createdBy) {
        List<LayerCalibration> layers = Calibrator.fit(shape(), spec, keys, values, WeightedKMeans.Options.defaults());
        Provenance p = new Provenance(model, data, windows, length, createdBy,
                Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
        return new Calibration(shape(), spec, p, layers);
    }

    /**
     * Per-channel min/max of the calibration keys of {@code layer} (non-sink tokens included: the
     * int per-channel ablation has no sinks), pre-RoPE or rotated to each token's position.
     * Returns {lo[D], hi[D]}.
     *
     * @param layer layer index
     * @param postRope true for the ranges after RoPE, false for pre-RoPE
     * @param rope the model's RoPE (used when {@code postRope})
     * @return {@code {lo[kvDim], hi[kvDim]}}
     */
    public float[][] keyRange(int layer, boolean postRope, dev.kvq.model.LlamaRope rope) {
        Activations a = keys[layer];
        int d = a.channels();
        float[] lo = new float[d];
        float[] hi = new float[d];
        java.util.Arrays.fill(lo, Float.POSITIVE_INFINITY);
        java.util.Arrays.fill(hi, Float.NEGATIVE_INFINITY);
        float[] row = new float[d];
        for (int t = 0; t < a.tokens(); t++) {
            System.arraycopy(a.values(), t * d, row, 0, d);
            if (postRope) {
                rope.rotate(row, 0, config.kvHeads(), t % length);
            }
            for (int c = 0; c < d; c++) {
                lo[c] = Math.min(lo[c], row[c]);
                hi[c] = Math.max(hi[c], row[c]);
            }
        }
        return new float[][] {lo, hi};
    }
}
