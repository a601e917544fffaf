package dev.kvq.eval;

import dev.kvq.layout.MemoryReport;
import dev.kvq.model.KvStore;
import dev.kvq.model.Llama;
import dev.kvq.model.PackedDecodeCache;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.QuantSpec;
import java.util.function.Supplier;
import java.util.stream.IntStream;

/**
 * How closely a KV mode follows the fp32 model, measured without a corpus: teacher forcing on a token
 * stream (usually {@link GeneratedText}), comparing each mode's next-token distribution with fp32's at
 * every position. Per mode: the mean KL divergence {@code KL(p_fp32 ‖ p_mode)} in nats, the share of
 * positions where both pick the same top-1 token, and the perplexity of the stream. Windows are scored as
 * in {@link Perplexity} (each its own sequence from position 0); the fp32 distributions are computed once.
 *
 * <p>Simulated modes run the window forward pass through their store; {@code -packed} modes (and
 * {@link #packed}) decode token by token through the runtime's packed cache, BOS or the window's first
 * token being the only prompt, and report what that cache stores. nuq calibrations come from the
 * {@link Evaluator} underneath: given ones when they match, else fitted on the calibration data.
 */
public final class Fidelity {
    private final Llama model;
    private final int[] tokens;
    private final int windowLength;
    private final int windows;
    private final Evaluator evaluator;
    private final float[][] referenceLogits;   // [window][position·vocab], fp32 KV
    private final double[][] referenceLogSum;  // [window][position]: log Σ exp(logit)

    /**
     * One mode's scores.
     *
     * @param mode the mode's name
     * @param bits bits per stored K/V element: as the runtime cache stored them for packed rows, else the
     *             mode's accounting ({@link EffectiveBits})
     * @param klDivergence mean {@code KL(p_fp32 ‖ p_mode)} per prediction, in nats
     * @param top1Agreement share of predictions whose most likely token equals fp32's, in [0, 1]
     * @param perplexity exp of the mean NLL of the stream's next tokens under the mode
     * @param predictions predictions scored
     * @param memory what the packed caches stored, summed over windows; null for simulated modes
     * @param seconds wall time of the row
     */
    public record Row(String mode, double bits, double klDivergence, double top1Agreement, double perplexity,
                      long predictions, MemoryReport memory, double seconds) {}

    /** One window's sums. */
    private record WindowScore(double kl, long agreeing, double nll, MemoryReport memory) {}

    /**
     * Computes the fp32 reference distributions of {@code windows} windows of {@code windowLength} tokens.
     *
     * @param model the model
     * @param tokens the token stream
     * @param windowLength tokens per window, at least 2
     * @param windows number of windows
     * @param calibrationData collects calibration activations the first time a nuq mode needs a calibration
     * @throws IllegalArgumentException when the stream has fewer windows
     */
    public Fidelity(Llama model, int[] tokens, int windowLength, int windows, Supplier<CalibrationData> calibrationData) {
        int available = Perplexity.windows(tokens, windowLength);
        if (windowLength < 2 || windows <= 0 || windows > available) {
            throw new IllegalArgumentException(windows + " windows of " + windowLength + " tokens requested; the stream has "
                    + available + " (" + tokens.length + " tokens)");
        }
        this.model = model;
        this.tokens = tokens;
        this.windowLength = windowLength;
        this.windows = windows;
        this.evaluator = new Evaluator(model, tokens, windowLength, windows, calibrationData);
        int v = model.config().vocabSize();
        referenceLogits = new float[windows][];
        referenceLogSum = new double[windows][windowLength - 1];
        IntStream.range(0, windows).parallel().forEach(w -> {
            referenceLogits[w] = model.forward(tokens, w * windowLength, windowLength, KvStore.FP32);
            for (int t = 0; t + 1 < windowLength; t++) {
                referenceLogSum[w][t] = logSumExp(referenceLogits[w], t * v, v);
            }
        });
    }

    /**
     * Uses {@code c} for every nuq mode it matches (bits, outliers, weighting, sinks).
     *
     * @param c a calibration of the model
     * @return this
     */
    public Fidelity with(Calibration c) {
        evaluator.with(c);
        return this;
    }

    /**
     * The calibration a nuq spec is scored with (a matching given one, else fitted once).
     *
     * @param spec a nuq spec
     * @return the calibration
     */
    public Calibration calibration(QuantSpec spec) {
        return evaluator.calibration(spec);
    }

    /**
     * Scores one mode.
     *
     * @param mode the KV mode
     * @return its row
     */
    public Row evaluate(KvMode mode) {
        if (mode.kind() == KvMode.Kind.NUQ_PACKED) {
            return score(mode.name(), mode.spec(), evaluator.calibration(mode.spec()));
        }
        long t0 = System.nanoTime();
        KvStore store = evaluator.store(mode);
        WindowScore[] scores = new WindowScore[windows];
        IntStream.range(0, windows).parallel().forEach(w ->
                scores[w] = compare(w, model.forward(tokens, w * windowLength, windowLength, store), null));
        return row(mode.name(), EffectiveBits.of(mode, model.config().kvDim(), model.config().kvHeads(), windowLength), null,
                scores, t0);
    }

    /**
     * Scores the runtime's packed cache with {@code spec} (fp32 and fp16 included: the runtime's own
     * float caches), reporting the bits it stores.
     *
     * @param spec the cache's quantization
     * @return its row, with the summed memory report of the windows' caches
     */
    public Row packed(QuantSpec spec) {
        return score(spec.name(), spec, spec.quantized() ? evaluator.calibration(spec) : null);
    }

    private Row score(String name, QuantSpec spec, Calibration c) {
        long t0 = System.nanoTime();
        int v = model.config().vocabSize();
        WindowScore[] scores = new WindowScore[windows];
        IntStream.range(0, windows).parallel().forEach(w -> {
            int from = w * windowLength;
            float[] logits = new float[windowLength * v];
            try (PackedDecodeCache cache = new PackedDecodeCache(model, spec, c)) {
                for (int t = 0; t + 1 < windowLength; t++) {
                    System.arraycopy(model.step(tokens[from + t], t, cache), 0, logits, t * v, v);
                }
                scores[w] = compare(w, logits, cache.cache().memory());
            }
        });
        MemoryReport memory = scores[0].memory();
        for (int i = 1; i < scores.length; i++) {
            memory = memory.plus(scores[i].memory());
        }
        return row(name, memory.effectiveBits(), memory, scores, t0);
    }

    /** KL, top-1 agreements and NLL of one window's logits {@code [windowLength][vocab]} against fp32's. */
    private WindowScore compare(int w, float[] logits, MemoryReport memory) {
        int v = model.config().vocabSize();
        float[] ref = referenceLogits[w];
        double kl = 0;
        double nll = 0;
        long agreeing = 0;
        for (int t = 0; t + 1 < windowLength; t++) {
            int o = t * v;
            double refLogSum = referenceLogSum[w][t];
            double logSum = logSumExp(logits, o, v);
            int refBest = o;
            int best = o;
            double rowKl = 0;
            for (int i = o; i < o + v; i++) {
                double lp = ref[i] - refLogSum;
                rowKl += Math.exp(lp) * (lp - (logits[i] - logSum));
                if (ref[i] > ref[refBest]) {
                    refBest = i;
                }
                if (logits[i] > logits[best]) {
                    best = i;
                }
            }
            kl += Math.max(0, rowKl);   // ≥ 0 in exact arithmetic; rounding can leave −1e-12
            agreeing += refBest == best ? 1 : 0;
            nll -= logits[o + tokens[w * windowLength + t + 1]] - logSum;
        }
        return new WindowScore(kl, agreeing, nll, memory);
    }

    private Row row(String name, double bits, MemoryReport memory, WindowScore[] scores, long t0) {
        double kl = 0;
        double nll = 0;
        long agreeing = 0;
        for (WindowScore s : scores) {   // window order: deterministic sums
            kl += s.kl();
            nll += s.nll();
            agreeing += s.agreeing();
        }
        long predictions = (long) windows * (windowLength - 1);
        return new Row(name, bits, kl / predictions, (double) agreeing / predictions, Math.exp(nll / predictions),
                predictions, memory, (System.nanoTime() - t0) / 1e9);
    }

    private static double logSumExp(float[] logits, int offset, int n) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = offset; i < offset + n; i++) {
            max = Math.max(max, logits[i]);
        }
        double sum = 0;
        for (int i = offset; i < offset + n; i++) {
            sum += Math.exp(logits[i] - max);
        }
        return max + Math.log(sum);
    }

    /**
     * Tokens per scored window.
     *
     * @return the window length
     */
    public int windowLength() {
        return windowLength;
    }

    /**
     * Windows scored.
     *
     * @return the window count
     */
    public int windows() {
        return windows;
    }
}
