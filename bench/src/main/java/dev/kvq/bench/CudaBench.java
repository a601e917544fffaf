package dev.kvq.bench;

import dev.kvq.cache.Backend;
import dev.kvq.cache.KvCache;
import dev.kvq.driver.CudaException;
import dev.kvq.engine.cuda.profiling.CudaBatchProfiler;
import dev.kvq.engine.cuda.profiling.CudaProfiler;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.Rope;
import dev.kvq.geometry.RopePairing;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.Codebook;
import dev.kvq.quant.KeyQuantizer;
import dev.kvq.quant.LayerCalibration;
import dev.kvq.quant.Provenance;
import dev.kvq.quant.QuantSpec;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The GPU benchmark (issue 8): decode-attention kernels of one LLaMA-7B layer (32 query heads × head
 * dim 128, batch 1) per KV mode and context length, timed with CUDA events on the cache's stream:
 * key scores and the value matvec (partials + reduce) each, their speed-up over the fp16 baseline
 * kernels, and their effective bandwidth (bytes the kernel must read ÷ time) as a fraction of the
 * measured device-to-device copy bandwidth (bytes read + written ÷ time, as the driver test reports
 * it). Then one full decode step over every layer of a LLaMA-7B-shaped cache (32 layers) in one mode.
 *
 * <p>It runs on the CUDA engine's profiling hooks ({@link CudaProfiler}, exported to this module
 * only): each mode's sequence packs a real prefix (2048 tokens of synthetic LLaMA-like keys and
 * values, on the device, as a cache's appends do) and is then extended to the context length by
 * copying its pages on the device: the kernels' work does not depend on the codes' values, and
 * packing a million host tokens per mode would take longer than the whole measurement. Calibration is
 * synthetic too (per-channel thresholds at ±2.576σ, uniform codebooks): it fixes which bytes are read,
 * not how fast. Kernel times are medians of CUDA-event times ({@link Timing#median}).
 *
 * <pre>java -cp ... dev.kvq.bench.CudaBench [--tokens 2048,16384,131072,1048576]
 *     [--kv fp16,nuq4-1%,nuq3-1%,nuq2-1%] [--decode nuq2-1%@1048576x32] [--batch 32x32768]
 *     [--warmup 5] [--repeat 20]</pre>
 */
public final class CudaBench {
    private static final int PREFIX = 2048;

    /**
     * One row: a mode at a context length. Times in ms (medians); bandwidths in GB/s.
     *
     * @param tokens            context length
     * @param kv                KV mode, e.g. {@code nuq3-1%}
     * @param keyScoresMs       key-score kernel time
     * @param valuesMs          value matvec time (partials and reduction)
     * @param softmaxMs         softmax kernel time
     * @param stepMs            scores, softmax and values queued together
     * @param keyGBps           key bytes read ÷ key-score time
     * @param valueGBps         value bytes read ÷ value time
     * @param copyFraction      {@code keyGBps} as a fraction of the copy bandwidth
     * @param valueCopyFraction {@code valueGBps} as a fraction of the copy bandwidth
     * @param stepCopyFraction  the pages' key and value bytes ÷ {@code stepMs}, as a fraction of the copy bandwidth
     *                          (the fused decode reads each once; no weights)
     */
    public record Row(int tokens, String kv, double keyScoresMs, double valuesMs, double softmaxMs, double stepMs,
                      double keyGBps, double valueGBps, double copyFraction, double valueCopyFraction,
                      double stepCopyFraction)
            implements BenchRow {}

    /**
     * What was measured: copy bandwidth, the rows, and the full decode step (NaN when not run).
     *
     * @param device           the device's name
     * @param copyGBps         device-to-device copy bandwidth, bytes read + written ÷ time
     * @param rows             one per mode and context length
     * @param decodeMode       KV mode of the full decode step
     * @param decodeTokens     its context length
     * @param decodeLayers     its layers
     * @param decodeStepMs     GPU time of all layers' scores → softmax → values on one stream
     * @param decodeHostStepMs the same step through {@code attend()}, uploads and downloads included
     * @param batchMs          wall time of one batched step of a pool's sequences ({@link Options#batchSequences}
     *                         × {@link Options#batchTokens} tokens, nuq3-1%), host included; NaN when not run
     * @param batchSingleMs    wall time of one {@code attend()} of a single sequence of as many tokens in all
     */
    public record Result(String device, double copyGBps, List<Row> rows, String decodeMode, int decodeTokens,
                         int decodeLayers, double decodeStepMs, double decodeHostStepMs, double batchMs,
                         double batchSingleMs) {}

    /**
     * The benchmark's settings.
     *
     * @param tokens       context lengths to measure
     * @param modes        KV modes ({@code fp16} is the baseline of the ratios)
     * @param queryHeads   query heads of the layer
     * @param kvHeads      KV heads of the layer
     * @param headDim      channels per head
     * @param warmup       untimed repetitions
     * @param repeat       timed repetitions (the median is reported)
     * @param decodeMode   KV mode of the full decode step, or null for none
     * @param decodeTokens context length of the full decode step
     * @param decodeLayers layers of the full decode step
     * @param batchSequences sequences of the batched step (0: none)
     * @param batchTokens    tokens of each of them
     */
    public record Options(int[] tokens, List<String> modes, int queryHeads, int kvHeads, int headDim, int warmup,
                          int repeat, String decodeMode, int decodeTokens, int decodeLayers, int batchSequences,
                          int batchTokens) {
        /**
         * The issues' settings: 2K–1M tokens, fp16 and nuq4/3/2-1%, a 32-layer step at 1M in nuq2-1%, and a
         * batched step of 32 sequences × 32K tokens (issue 15).
         *
         * @return the default settings
         */
        public static Options defaults() {
            return new Options(new int[] {2048, 16384, 131072, 1 << 20}, List.of("fp16", "nuq4-1%", "nuq3-1%", "nuq2-1%"),
                    32, 32, 128, 5, 20, "nuq2-1%", 1 << 20, 32, 32, 32768);
        }

        /** The defaults' full decode step as {@code MODE@TOKENSxLAYERS}. */
        static String defaultDecode() {
            Options d = defaults();
            return d.decodeMode() + "@" + d.decodeTokens() + "x" + d.decodeLayers();
        }
    }

    /**
     * The full decode step of a run, as {@code --decode} gives it.
     *
     * @param mode   KV mode
     * @param tokens context length
     * @param layers layers
     */
    public record Decode(String mode, int tokens, int layers) {
        private static final Pattern FORM = Pattern.compile("(.+)@(\\d+)x(\\d+)");

        /**
         * Parses {@code MODE@TOKENSxLAYERS}, e.g. {@code nuq2-1%@1048576x32}, or {@code none}.
         *
         * @param text the option's value
         * @return the step, or null for {@code none}
         * @throws IllegalArgumentException naming the expected form
         */
        public static Decode parse(String text) {
            if (text.equals("none")) {
                return null;
            }
            Matcher m = FORM.matcher(text);
            if (!m.matches()) {
                throw new IllegalArgumentException("--decode must be MODE@TOKENSxLAYERS (e.g. nuq2-1%@1048576x32) or "
                        + "none, got " + text);
            }
            return new Decode(m.group(1), Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3)));
        }
    }

    /**
     * The batched step of a run, as {@code --batch} gives it.
     *
     * @param sequences sequences in the batch
     * @param tokens    tokens of each
     */
    public record Batch(int sequences, int tokens) {
        /** The KV mode of the batched step. */
        public static final String MODE = "nuq3-1%";
        private static final Pattern FORM = Pattern.compile("(\\d+)x(\\d+)");

        /**
         * Parses {@code SEQUENCESxTOKENS}, e.g. {@code 32x32768}, or {@code none}.
         *
         * @param text the option's value
         * @return the batch, or null for {@code none}
         * @throws IllegalArgumentException naming the expected form
         */
        public static Batch parse(String text) {
            if (text.equals("none")) {
                return null;
            }
            Matcher m = FORM.matcher(text);
            if (!m.matches() || Integer.parseInt(m.group(1)) < 1 || Integer.parseInt(m.group(2)) < 1) {
                throw new IllegalArgumentException("--batch must be SEQUENCESxTOKENS (e.g. 32x32768) or none, got "
                        + text);
            }
            return new Batch(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)));
        }
    }

    private CudaBench() {}

    /**
     * Runs the benchmark on the JVM's CUDA backend.
     *
     * @param o   the settings
     * @param log receives progress lines
     * @return the measurements
     * @throws IllegalStateException when CUDA is unavailable
     */
    public static synchronized Result run(Options o, PrintWriter log) {
        Backend.cuda();
        String device = CudaProfiler.device();
        CudaProfiler.CopyTimes copyTimes = CudaProfiler.deviceCopy(5);
        // read and write bytes over the median time, as the driver test reports copy bandwidth
        double copy = 2.0 * copyTimes.bytes() / (Timing.median(copyTimes.ms()) * 1e6);
        log.printf(Locale.ROOT, "device %s; device-to-device copy %.0f GB/s (read + write)%n", device, copy);
        log.flush();
        AttentionShape layer = new AttentionShape(1, o.queryHeads(), o.kvHeads(), o.headDim(),
                Rope.of(10000, RopePairing.ROTATE_HALF, o.headDim()));
        List<Row> rows = new ArrayList<>();
        for (int n : o.tokens()) {
            for (String mode : o.modes()) {
                QuantSpec spec = QuantSpec.parse(mode);
                try (CudaProfiler dev = CudaProfiler.open(layer, spec, calibration(layer, spec),
                        KvCache.DEFAULT_PAGE_TOKENS)) {
                    int stored = fill(dev, layer.kvChannels(), 0, n, 7);
                    float[] q = query(layer, 9);
                    double scoresMs = medianMs(dev, q, CudaProfiler.Launch.SCORES, o);
                    double valuesMs = medianMs(dev, q, CudaProfiler.Launch.VALUES, o);
                    // softmax of its own output costs the same (max, exp, sum over the same length)
                    double softmaxMs = medianMs(dev, q, CudaProfiler.Launch.SOFTMAX, o);
                    double stepMs = medianMs(dev, q, CudaProfiler.Launch.STEP, o);
                    double keyGBps = dev.keyBytes(0) / (scoresMs * 1e6);
                    double valueRead = dev.valueBytes(0) + 4.0 * layer.queryHeads() * stored;
                    double valueGBps = valueRead / (valuesMs * 1e6);
                    double pageGBps = (dev.keyBytes(0) + dev.valueBytes(0)) / (stepMs * 1e6);
                    Row r = new Row(stored, spec.name(), scoresMs, valuesMs, softmaxMs, stepMs, keyGBps, valueGBps,
                            keyGBps / copy, valueGBps / copy, pageGBps / copy);
                    rows.add(r);
                    log.printf(Locale.ROOT, "%8d %-8s scores %.4f ms (%.0f GB/s)  values %.4f ms (%.0f GB/s)%n", stored,
                            spec.name(), scoresMs, keyGBps, valuesMs, valueGBps);
                    log.flush();
                } catch (CudaProfiler.DeviceMemoryExhausted | CudaException | UnsupportedOperationException e) {
                    // UnsupportedOperationException: no kernels for this mode or geometry (fp32, too much
                    // shared memory), or sparse outliers beyond the real prefix (pages cannot be repeated)
                    log.printf(Locale.ROOT, "%8d %-8s skipped: %s%n", n, mode, e.getMessage());
                    log.flush();
                }
            }
        }
        double step = Double.NaN;
        double hostStep = Double.NaN;
        if (o.decodeLayers() > 0 && o.decodeMode() != null) {
            AttentionShape model = new AttentionShape(o.decodeLayers(), o.queryHeads(), o.kvHeads(), o.headDim(),
                    Rope.of(10000, RopePairing.ROTATE_HALF, o.headDim()));
            QuantSpec spec = QuantSpec.parse(o.decodeMode());
            try (CudaProfiler dev = CudaProfiler.open(model, spec, calibration(model, spec),
                    KvCache.DEFAULT_PAGE_TOKENS)) {
                int stored = 0;
                for (int l = 0; l < model.layers(); l++) {
                    stored = fill(dev, model.kvChannels(), l, o.decodeTokens(), 11);
                }
                float[] q = query(model, 13);
                int repeat = Math.max(3, o.repeat() / 4);
                step = Timing.median(dev.timeAllLayers(q, o.warmup(), repeat));
                // the same step through the engine's attend: each layer uploads its query and reads its output
                float[] out = new float[q.length];
                hostStep = Timing.medianWallMs(() -> {
                    for (int l = 0; l < model.layers(); l++) {
                        dev.attend(l, q, out);
                    }
                }, 1, repeat);
                log.printf(Locale.ROOT, "decode step, %d layers × %d tokens, %s: %.3f ms on the GPU (events), "
                        + "%.3f ms through attend() per layer%n", model.layers(), stored, spec.name(), step, hostStep);
                log.flush();
            } catch (CudaProfiler.DeviceMemoryExhausted | CudaException | UnsupportedOperationException e) {
                log.printf(Locale.ROOT, "decode step skipped: %s%n", e.getMessage());
                log.flush();
            }
        }
        double[] batch = o.batchSequences() > 0 ? batched(o, log) : new double[] {Double.NaN, Double.NaN};
        return new Result(device, copy, rows, o.decodeMode(), o.decodeTokens(), o.decodeLayers(), step, hostStep,
                batch[0], batch[1]);
    }

    /**
     * Issue 15's batched decode against one long sequence, both through the host path on the wall clock: one
     * step of B sequences × N tokens (a pool's shared pages, one launch for all) and one {@code attend()} of one
     * sequence of B·N tokens, nuq3-1%. Same bytes read, so their time ratio is the batch's bandwidth fraction.
     *
     * @return {batch ms, single ms}; NaN where skipped
     */
    private static double[] batched(Options o, PrintWriter log) {
        int count = o.batchSequences();
        int n = o.batchTokens();
        AttentionShape layer = new AttentionShape(1, o.queryHeads(), o.kvHeads(), o.headDim(),
                Rope.of(10000, RopePairing.ROTATE_HALF, o.headDim()));
        QuantSpec spec = QuantSpec.parse(Batch.MODE);
        Calibration cal = calibration(layer, spec);
        int d = layer.kvChannels();
        int repeat = Math.max(3, o.repeat() / 2);
        double single = Double.NaN;
        double batch = Double.NaN;
        try (CudaProfiler one = CudaProfiler.open(layer, spec, cal, KvCache.DEFAULT_PAGE_TOKENS)) {
            fill(d, count * n, 7, (k, v) -> one.append(0, k, v), t -> one.repeatPagesTo(0, t));
            float[] q = query(layer, 9);
            float[] out = new float[q.length];
            single = Timing.medianWallMs(() -> one.attend(0, q, out), o.warmup(), repeat);
        } catch (CudaProfiler.DeviceMemoryExhausted | CudaException | UnsupportedOperationException e) {
            log.printf(Locale.ROOT, "batched decode: the single sequence was skipped: %s%n", e.getMessage());
        }
        long pageBytes = new dev.kvq.layout.PageLayout(layer, spec, cal == null ? null
                : dev.kvq.layout.ChannelPlan.of(layer, cal.layer(0)), KvCache.DEFAULT_PAGE_TOKENS).pageBytes();
        long pagesEach = n / KvCache.DEFAULT_PAGE_TOKENS + 2;
        try (CudaBatchProfiler pool = CudaBatchProfiler.open(layer, spec, cal, KvCache.DEFAULT_PAGE_TOKENS, count,
                count * pagesEach * pageBytes)) {
            float[][] qs = new float[count][];
            float[][] outs = new float[count][];
            for (int i = 0; i < count; i++) {
                int seq = i;
                fill(d, n, 7, (k, v) -> pool.append(seq, 0, k, v), t -> pool.repeatPagesTo(seq, 0, t));
                qs[i] = query(layer, 20 + i);
                outs[i] = new float[qs[i].length];
            }
            batch = Timing.medianWallMs(() -> pool.attend(0, qs, outs), o.warmup(), repeat);
        } catch (CudaProfiler.DeviceMemoryExhausted | CudaException | UnsupportedOperationException
                 | IllegalStateException e) {
            log.printf(Locale.ROOT, "batched decode skipped: %s%n", e.getMessage());
        }
        log.printf(Locale.ROOT, "batched decode, %d × %d tokens, nuq3-1%%: %.3f ms; one sequence of %d: %.3f ms%n",
                count, n, batch, count * n, single);
        log.flush();
        return new double[] {batch, single};
    }

    private static double medianMs(CudaProfiler dev, float[] q, CudaProfiler.Launch what, Options o) {
        return Timing.median(dev.time(0, q, what, o.warmup(), o.repeat()));
    }

    /** Synthetic keys and values [PREFIX][d] of one seed. */
    private record Prefix(int d, long seed, float[] keys, float[] values) {}

    private static Prefix prefix;   // the last one made, reused: generating it costs more than packing it

    /** Packs a real prefix of layer {@code l}, then repeats its pages on the device up to {@code n} tokens. */
    private static int fill(CudaProfiler dev, int d, int l, int n, long seed) {
        return fill(d, n, seed, (k, v) -> dev.append(l, k, v), t -> dev.repeatPagesTo(l, t));
    }

    /** Appends a real prefix of up to {@value #PREFIX} tokens, then has the pages repeated up to {@code n}. */
    private static int fill(int d, int n, long seed, java.util.function.BiConsumer<float[], float[]> append,
                            java.util.function.IntConsumer repeatTo) {
        if (prefix == null || prefix.d() != d || prefix.seed() != seed) {
            float[][] kv = data(d, PREFIX, seed);
            prefix = new Prefix(d, seed, kv[0], kv[1]);
        }
        int m = Math.min(n, PREFIX);
        float[][] kv = m == PREFIX ? new float[][] {prefix.keys(), prefix.values()}
                : new float[][] {Arrays.copyOf(prefix.keys(), m * d), Arrays.copyOf(prefix.values(), m * d)};
        append.accept(kv[0], kv[1]);
        if (n > m) {
            repeatTo.accept(n);
        }
        return n;
    }

    /** Keys and values [n][D] with per-channel offsets and scales and rare large channels (LLaMA-like). */
    static float[][] data(int d, int n, long seed) {
        float[] offset = new float[d];
        float[] scale = new float[d];
        channelStats(offset, scale);
        SplittableRandom r = new SplittableRandom(seed);
        float[] k = new float[n * d];
        float[] v = new float[n * d];
        for (int i = 0; i < n * d; i++) {
            int c = i % d;
            k[i] = (float) (offset[c] + scale[c] * r.nextGaussian());
            v[i] = (float) r.nextGaussian();
        }
        return new float[][] {k, v};
    }

    /** Synthetic calibration: thresholds at ±2.576σ of {@link #data}'s channels (1% outside), uniform codebooks. */
    static Calibration calibration(AttentionShape shape, QuantSpec spec) {
        if (!spec.quantized()) {
            return null;
        }
        int d = shape.kvChannels();
        List<LayerCalibration> layers = new ArrayList<>();
        float[] offset = new float[d];
        float[] scale = new float[d];
        channelStats(offset, scale);
        for (int l = 0; l < shape.layers(); l++) {
            float[] lo = new float[d];
            float[] hi = new float[d];
            for (int c = 0; c < d; c++) {
                lo[c] = offset[c] - 2.576f * scale[c];
                hi[c] = offset[c] + 2.576f * scale[c];
            }
            layers.add(new LayerCalibration(new KeyQuantizer(lo, hi, Codebook.uniform(spec.bits())),
                    Codebook.uniform(spec.bits())));
        }
        return new Calibration(shape, spec, Provenance.unknown(), layers);
    }

    /** Per-channel offsets and scales of the synthetic keys (every 97th channel 6× larger). */
    private static void channelStats(float[] offset, float[] scale) {
        SplittableRandom r = new SplittableRandom(7);
        for (int c = 0; c < offset.length; c++) {
            offset[c] = (float) (r.nextGaussian() * 0.3);
            scale[c] = (float) (0.5 + r.nextDouble()) * (c % 97 == 0 ? 6f : 1f);
        }
    }

    static float[] query(AttentionShape shape, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] q = new float[shape.queryHeads() * shape.headDim()];
        for (int i = 0; i < q.length; i++) {
            q[i] = (float) r.nextGaussian();
        }
        return q;
    }

    /**
     * The result as a compact table (one line per row, speed-ups over fp16 at the same length).
     *
     * @param res the measurements
     * @param o   the settings they were made with
     * @param out where the table goes
     */
    public static void print(Result res, Options o, PrintWriter out) {
        out.printf(Locale.ROOT, "kvq GPU bench: %s; one layer %d/%d heads × %d, batch 1; CUDA events, medians of %d%n",
                res.device(), o.queryHeads(), o.kvHeads(), o.headDim(), o.repeat());
        out.printf(Locale.ROOT, "copy bandwidth (device to device, read + write): %.0f GB/s%n", res.copyGBps());
        out.printf(Locale.ROOT, "%8s %-8s %10s %6s %6s %10s %6s %6s %9s %9s%n", "tokens", "kv", "scores ms", "×fp16",
                "%copy", "values ms", "×fp16", "%copy", "softmax", "step ms");
        for (Row r : res.rows()) {
            Row base = BenchRow.fp16(res.rows(), r.tokens());
            out.printf(Locale.ROOT, "%8d %-8s %10.4f %6s %5.0f%% %10.4f %6s %5.0f%% %9.4f %9.4f%n", r.tokens(), r.kv(),
                    r.keyScoresMs(), base == null ? "-" : String.format(Locale.ROOT, "%.2f", base.keyScoresMs() / r.keyScoresMs()),
                    100 * r.copyFraction(), r.valuesMs(),
                    base == null ? "-" : String.format(Locale.ROOT, "%.2f", base.valuesMs() / r.valuesMs()),
                    100 * r.valueCopyFraction(), r.softmaxMs(), r.stepMs());
        }
        if (!Double.isNaN(res.decodeStepMs())) {
            out.printf(Locale.ROOT, "decode step, %d layers × %d tokens, %s: %.3f ms (GPU, one stream), %.3f ms via attend()%n",
                    res.decodeLayers(), res.decodeTokens(), res.decodeMode(), res.decodeStepMs(), res.decodeHostStepMs());
        }
        if (!Double.isNaN(res.batchMs()) && !Double.isNaN(res.batchSingleMs())) {
            double f = res.batchSingleMs() / res.batchMs();
            out.printf(Locale.ROOT, "batched decode (issue 15), %d sequences × %d tokens, nuq3-1%%: %.3f ms per step; one "
                            + "sequence of %d tokens: %.3f ms; the batch at %.0f%% of its bandwidth (goal ≥ 80%%: %s)%n",
                    o.batchSequences(), o.batchTokens(), res.batchMs(), o.batchSequences() * o.batchTokens(),
                    res.batchSingleMs(), 100 * f, f >= 0.8 ? "met" : "MISSED");
        }
        // issue 15's goals for the fused decode (step = the fused kernel and its merge), at every length ≥ 128K
        for (Row r : res.rows()) {
            if (r.kv().equals("nuq3-1%") && r.tokens() >= 131072) {
                Row base = BenchRow.fp16(res.rows(), r.tokens());
                if (base != null) {
                    double x = base.stepMs() / r.stepMs();
                    out.printf(Locale.ROOT, "goal (issue 15) at %d tokens: nuq3-1%% fused decode %.2f× fp16 (goal ≥ 2: %s, "
                                    + "stretch 3.5: %s), %.0f%% of copy bandwidth (goal ≥ 60%%: %s, stretch 75%%: %s)%n",
                            r.tokens(), x, x >= 2 ? "met" : "MISSED", x >= 3.5 ? "met" : "missed",
                            100 * r.stepCopyFraction(), r.stepCopyFraction() >= 0.6 ? "met" : "MISSED",
                            r.stepCopyFraction() >= 0.75 ? "met" : "missed");
                }
            }
        }
        // the older per-kernel goals (issue 11), at every length ≥ 128K that was measured
        for (Row r : res.rows()) {
            if (r.kv().equals("nuq3-1%") && r.tokens() >= 131072) {
                Row base = BenchRow.fp16(res.rows(), r.tokens());
                if (base != null) {
                    double ks = base.keyScoresMs() / r.keyScoresMs();
                    double vs = base.valuesMs() / r.valuesMs();
                    out.printf(Locale.ROOT, "goal at %d tokens: nuq3-1%% key scores %.2f× fp16 (goal ≥ 3.5: %s), values %.2f× "
                                    + "(goal ≥ 3: %s), key %.0f%% / value %.0f%% of copy bandwidth (goal ≥ 75%%: %s)%n",
                            r.tokens(), ks, ks >= 3.5 ? "met" : "MISSED", vs, vs >= 3 ? "met" : "MISSED",
                            100 * r.copyFraction(), 100 * r.valueCopyFraction(),
                            Math.min(r.copyFraction(), r.valueCopyFraction()) >= 0.75 ? "met" : "MISSED");
                }
            }
        }
        out.flush();
    }

    /**
     * Command line entry point for the device check script; see the class comment for the options.
     *
     * @param args the options
     */
    public static void main(String[] args) {
        Options d = Options.defaults();
        int[] tokens = d.tokens();
        List<String> modes = d.modes();
        String decode = Options.defaultDecode();
        int warmup = d.warmup();
        int repeat = d.repeat();
        int batchSequences = d.batchSequences();
        int batchTokens = d.batchTokens();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            String v = i + 1 < args.length ? args[i + 1] : null;
            if (v == null) {
                throw new IllegalArgumentException("option " + a + " needs a value");
            }
            switch (a) {
                case "--tokens" -> tokens = Arrays.stream(v.split(",")).mapToInt(Integer::parseInt).toArray();
                case "--kv" -> modes = List.of(v.split(","));
                case "--decode" -> decode = v;
                case "--warmup" -> warmup = Integer.parseInt(v);
                case "--repeat" -> repeat = Integer.parseInt(v);
                case "--batch" -> {
                    Batch b = Batch.parse(v);
                    batchSequences = b == null ? 0 : b.sequences();
                    batchTokens = b == null ? 0 : b.tokens();
                }
                default -> throw new IllegalArgumentException("unknown option " + a
                        + " (expected --tokens, --kv, --decode MODE@TOKENSxLAYERS or none, --batch SEQUENCESxTOKENS or "
                        + "none, --warmup, --repeat)");
            }
            i++;
        }
        Decode step = Decode.parse(decode);
        Options o = new Options(tokens, modes, d.queryHeads(), d.kvHeads(), d.headDim(), warmup, repeat,
                step == null ? null : step.mode(), step == null ? 0 : step.tokens(), step == null ? 0 : step.layers(),
                batchSequences, batchTokens);
        PrintWriter out = new PrintWriter(System.out, true);
        Result r = run(o, new PrintWriter(System.err, true));
        print(r, o, out);
    }
}
