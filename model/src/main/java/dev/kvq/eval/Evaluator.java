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

    /** One table row. */
    public record Row(String mode, double bits, double perplexity, double meanNll, long predictions, double seconds) {}

    public Evaluator(Llama model, int[] tokens, int windowLength, int windows, Supplier<CalibrationData> calibrationData) {
        this.model = model;
        this.tokens = tokens;
        this.windowLength = windowLength;
        this.windows = windows;
        this.calibrationData = calibrationData;
    }

    /** Uses {@code c} for every nuq mode with its bit width and outlier fraction. */
    public Evaluator with(Calibration c) {
        given.add(c);
        return this;
    }

    public Row evaluate(KvMode mode) {
        long t0 = System.nanoTime();
        KvStore store = store(mode);
        Perplexity.Result r = Perplexity.evaluate(model, tokens, windowLength, windows, w -> store);
        double bits = EffectiveBits.of(mode, model.config().kvDim(), windowLength);
        return new Row(mode.name(), bits, r.perplexity(), r.meanNll(), r.predictions(), (System.nanoTime() - t0) / 1e9);
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
        };
    }

    /** The calibration a nuq spec runs with: a matching given one, else fitted (once per spec). */
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
