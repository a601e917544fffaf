package dev.kvq.eval;

import dev.kvq.model.KvStore;
import dev.kvq.model.Llama;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.Codebook;
import dev.kvq.quant.QuantSpec;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Perplexity of a list of KV modes on one text with the simulated protocol. nuq modes use a given
 * calibration when it matches (bits and outlier fraction) and otherwise fit one on the calibration
 * data, which is collected once, on first need.
 */
public final class Evaluator {
    private final Llama model;
    private final int[] tokens;
    private final int windowLength;
    private final int windows;
    private final Supplier<CalibrationData> calibrationData;
    private final List<Calibration> given = new ArrayList<>();
    private final Map<QuantSpec, Calibration> fitted = new HashMap<>();
    private CalibrationData data;

    /**
     * One table row.
     *
     * @param mode the mode's name
     * @param bits effective bits per element
     * @param perplexity exp(mean NLL)
     * @param meanNll mean negative log-likelihood per prediction
     * @param predictions tokens predicted
     * @param seconds wall time of the row
     */
    public record Row(String mode, double bits, double perplexity, double meanNll, long predictions, double seconds) {}

    /**
     * An evaluator of {@code windows} windows of {@code windowLength} tokens of {@code tokens}.
     *
     * @param model the model
     * @param tokens the evaluation token stream
     * @param windowLength tokens per window
     * @param windows number of windows
     * @param calibrationData collects calibration activations the first time a nuq mode needs a calibration
     */
    public Evaluator(Llama model, int[] tokens, int windowLength, int windows, Supplier<CalibrationData> calibrationData) {
        this.model = model;
        this.tokens = tokens;
        this.windowLength = windowLength;
        this.windows = windows;
        this.calibrationData = calibrationData;
    }

    /**
     * Uses {@code c} for every nuq mode with its bit width and outlier fraction.
     *
     * @param c a calibration of the model
     * @return this evaluator
     */
    public Evaluator with(Calibration c) {
        given.add(c);
        return this;
    }

    /**
     * Evaluates one mode over the windows.
     *
     * @param mode the KV mode
     * @return the table row
     */
    public Row evaluate(KvMode mode) {
        long t0 = System.nanoTime();
        Perplexity.Result r = mode.kind() == KvMode.Kind.NUQ_PACKED
                ? packed(mode.spec(), calibration(mode.spec()))
                : evaluateStore(store(mode));
        double bits = EffectiveBits.of(mode, model.config().kvDim(), windowLength);
        return new Row(mode.name(), bits, r.perplexity(), r.meanNll(), r.predictions(), (System.nanoTime() - t0) / 1e9);
    }

    private Perplexity.Result evaluateStore(KvStore store) {
        return Perplexity.evaluate(model, tokens, windowLength, windows, w -> store);
    }

    /**
     * Teacher-forced decoding of every window through the runtime's packed cache: BOS or the window's
     * first token is the only prompt, every later K/V is appended packed before it is attended to
     * (the deployment path; the simulation quantizes the same vectors in one batch).
     */
    private Perplexity.Result packed(QuantSpec spec, Calibration c) {
        int available = Perplexity.windows(tokens, windowLength);
        if (windows <= 0 || windows > available) {
            throw new IllegalArgumentException(windows + " windows of " + windowLength + " tokens requested; the text has "
                    + available);
        }
        double[] nll = new double[windows];
        java.util.stream.IntStream.range(0, windows).parallel().forEach(w -> {
            int from = w * windowLength;
            double sum = 0;
            try (dev.kvq.model.PackedDecodeCache cache = new dev.kvq.model.PackedDecodeCache(model, spec, c)) {
                for (int t = 0; t + 1 < windowLength; t++) {
                    float[] logits = model.step(tokens[from + t], t, cache);
                    sum -= Perplexity.logSoftmax(logits, 0, logits.length, tokens[from + t + 1]);
                }
            }
            nll[w] = sum;
        });
        double total = 0;
        for (double v : nll) {
            total += v;
        }
        long predictions = (long) windows * (windowLength - 1);
        return new Perplexity.Result(total / predictions, predictions, windows);
    }

    KvStore store(KvMode mode) {
        return switch (mode.kind()) {
            case FP32 -> KvStore.FP32;
            case FP16 -> SimulatedStores.fp16();
            case INT -> SimulatedStores.perToken(Codebook.uniform(mode.bits()));
            case NF -> SimulatedStores.perToken(Codebook.normalFloat(mode.bits()));
            case KIVI -> SimulatedStores.kivi(mode.bits(), mode.recentWindow());
            case INT_KEY_CHANNEL, INT_KEY_CHANNEL_PRE_ROPE -> {
                boolean pre = mode.kind() == KvMode.Kind.INT_KEY_CHANNEL_PRE_ROPE;
                CalibrationData d = data();
                float[][][] ranges = new float[model.config().layers()][][];
                for (int l = 0; l < ranges.length; l++) {
                    ranges[l] = d.keyRange(l, !pre, model.rope());
                }
                yield SimulatedStores.keysPerChannel(mode.bits(), ranges, pre);
            }
            case NUQ -> SimulatedStores.nuq(mode.spec(), calibration(mode.spec()));
            case NUQ_KEYS_ONLY -> SimulatedStores.nuq(mode.spec(), calibration(mode.spec()), true, false);
            case NUQ_VALUES_ONLY -> SimulatedStores.nuq(mode.spec(), calibration(mode.spec()), false, true);
            case NUQ_PACKED -> throw new IllegalStateException(mode.name() + " runs through the packed cache, not a store");
        };
    }

    /**
     * The calibration a nuq spec runs with: a matching given one, else fitted (once per spec).
     *
     * @param spec a nuq spec
     * @return the calibration
     */
    public synchronized Calibration calibration(QuantSpec spec) {
        for (Calibration c : given) {
            QuantSpec s = c.spec();
            if (s.bits() == spec.bits() && s.outlierFraction() == spec.outlierFraction()
                    && s.weighting() == spec.weighting() && s.sinkTokens() == spec.sinkTokens() && s.qNorm() == spec.qNorm()) {
                return c;
            }
        }
        return fitted.computeIfAbsent(spec, s -> data().calibrate(s, "kvq eval"));
    }

    private synchronized CalibrationData data() {
        if (data == null) {
            data = calibrationData.get();
        }
        return data;
    }
}
