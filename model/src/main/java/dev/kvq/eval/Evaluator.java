package dev.kvq.eval;

import dev.kvq.layout.MemoryReport;
import dev.kvq.model.KvStore;
import dev.kvq.model.Llama;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.Codebook;
import dev.kvq.quant.MemoryMath;
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
     * @param bits effective bits per element at the evaluated context (the window length), as stored
     * @param bits32k effective bits per element at a {@value EffectiveBits#LONG_CONTEXT}-token context
     * @param perplexity exp(mean NLL)
     * @param meanNll mean negative log-likelihood per prediction
     * @param predictions tokens predicted
     * @param seconds wall time of the row
     */
    public record Row(String mode, double bits, double bits32k, double perplexity, double meanNll, long predictions,
                      double seconds) {}

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
        int d = model.config().kvDim();
        Perplexity.Result r;
        double bits;
        double bits32k;
        if (mode.kind() == KvMode.Kind.NUQ_PACKED) {
            PackedRun run = packed(mode.spec(), calibration(mode.spec()));
            r = run.result();
            int sinks = mode.spec().sinkTokens();
            int window = mode.spec().recentWindow();
            bits = MemoryMath.effectiveBits(run.packedToken(), d, sinks, window, windowLength);
            bits32k = MemoryMath.effectiveBits(run.packedToken(), d, sinks, window, EffectiveBits.LONG_CONTEXT);
        } else if (mode.isNuq()) {
            Calibration c = calibration(mode.spec());
            OutlierTally tally = new OutlierTally();
            r = evaluateStore(nuqStore(mode, c, tally));
            double rate = tally.keyOutliersPerToken();
            if (mode.kind() == KvMode.Kind.NUQ_VALUES_ONLY && mode.spec().hasOutliers()
                    && mode.spec().outlierForm() == QuantSpec.OutlierForm.TOKEN_MAJOR_SPARSE) {
                // keys were not quantized here; count their sparse entries as the full mode stores them
                OutlierTally keys = new OutlierTally();
                evaluateStore(SimulatedStores.nuq(mode.spec(), c, true, false, keys));
                rate = keys.keyOutliersPerToken();
            }
            bits = EffectiveBits.nuq(mode, c, rate, windowLength);
            bits32k = EffectiveBits.nuq(mode, c, rate, EffectiveBits.LONG_CONTEXT);
        } else {
            r = evaluateStore(store(mode));
            int kvHeads = model.config().kvHeads();
            bits = EffectiveBits.of(mode, d, kvHeads, windowLength);
            bits32k = EffectiveBits.of(mode, d, kvHeads, EffectiveBits.LONG_CONTEXT);
        }
        return new Row(mode.name(), bits, bits32k, r.perplexity(), r.meanNll(), r.predictions(),
                (System.nanoTime() - t0) / 1e9);
    }

    private KvStore nuqStore(KvMode mode, Calibration c, OutlierTally tally) {
        return switch (mode.kind()) {
            case NUQ -> SimulatedStores.nuq(mode.spec(), c, true, true, tally);
            case NUQ_KEYS_ONLY -> SimulatedStores.nuq(mode.spec(), c, true, false, tally);
            case NUQ_VALUES_ONLY -> SimulatedStores.nuq(mode.spec(), c, false, true, tally);
            default -> throw new IllegalStateException(mode.name() + " is not a simulated nuq mode");
        };
    }

    private Perplexity.Result evaluateStore(KvStore store) {
        return Perplexity.evaluate(model, tokens, windowLength, windows, w -> store);
    }

    /** A packed run: its perplexity, and what one packed token took in the caches (their memory reports). */
    private record PackedRun(Perplexity.Result result, MemoryMath.TokenBits packedToken) {}

    /**
     * Teacher-forced decoding of every window through the runtime's packed cache: BOS or the window's
     * first token is the only prompt, every later K/V is appended packed before it is attended to
     * (the deployment path; the simulation quantizes the same vectors in one batch). The bits come
     * from the caches' own {@link MemoryReport}s: codes, scales and outliers of the packed tokens (every
     * non-sink token is packed; the sinks and the window's fp16 copy are counted by the arithmetic).
     */
    private PackedRun packed(QuantSpec spec, Calibration c) {
        int available = Perplexity.windows(tokens, windowLength);
        if (windows <= 0 || windows > available) {
            throw new IllegalArgumentException(windows + " windows of " + windowLength + " tokens requested; the text has "
                    + available);
        }
        double[] nll = new double[windows];
        MemoryReport[] memory = new MemoryReport[windows];
        java.util.stream.IntStream.range(0, windows).parallel().forEach(w -> {
            int from = w * windowLength;
            double sum = 0;
            try (dev.kvq.model.PackedDecodeCache cache = new dev.kvq.model.PackedDecodeCache(model, spec, c)) {
                for (int t = 0; t + 1 < windowLength; t++) {
                    float[] logits = model.step(tokens[from + t], t, cache);
                    sum -= Perplexity.logSoftmax(logits, 0, logits.length, tokens[from + t + 1]);
                }
                memory[w] = cache.cache().memory();
            }
            nll[w] = sum;
        });
        double total = 0;
        for (double v : nll) {
            total += v;
        }
        long packedBytes = 0;
        long packedTokens = 0;
        int layers = model.config().layers();
        for (MemoryReport m : memory) {
            packedBytes += m.codes() + m.scales() + m.outliers();
            packedTokens += m.tokens() - (long) layers * Math.min(windowLength - 1, spec.sinkTokens());
        }
        double perToken = packedTokens == 0 ? 0 : packedBytes * 8.0 / packedTokens;
        long predictions = (long) windows * (windowLength - 1);
        // the reports do not split keys from values; the average over both is what the bits need
        return new PackedRun(new Perplexity.Result(total / predictions, predictions, windows),
                new MemoryMath.TokenBits(perToken / 2, perToken / 2));
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
            case NUQ, NUQ_KEYS_ONLY, NUQ_VALUES_ONLY -> nuqStore(mode, calibration(mode.spec()), null);
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
        QuantSpec key = calibrationKey(spec);
        for (Calibration c : given) {
            if (calibrationKey(c.spec()).equals(key)) {
                return c;
            }
        }
        return fitted.computeIfAbsent(key, s -> data().calibrate(spec, "kvq eval"));
    }

    /**
     * What a calibration depends on: not the recent window, and the outlier form only through the key cap
     * an allocation measures its errors with.
     */
    private static QuantSpec calibrationKey(QuantSpec spec) {
        QuantSpec k = spec.window(0);
        return k.allocated() ? k : k.outlierForm(QuantSpec.OutlierForm.FIXED_SLOTS);
    }

    private synchronized CalibrationData data() {
        if (data == null) {
            data = calibrationData.get();
        }
        return data;
    }
}
