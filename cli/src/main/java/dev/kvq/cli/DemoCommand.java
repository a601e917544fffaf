package dev.kvq.cli;

import dev.kvq.bench.SyntheticLayer;
import dev.kvq.bench.Timing;
import dev.kvq.cache.Backend;
import dev.kvq.cache.KvCache;
import dev.kvq.eval.CalibrationData;
import dev.kvq.eval.Corpus;
import dev.kvq.eval.Evaluator;
import dev.kvq.eval.Fidelity;
import dev.kvq.eval.GeneratedText;
import dev.kvq.eval.KvMode;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.Rope;
import dev.kvq.geometry.RopePairing;
import dev.kvq.layout.MemoryReport;
import dev.kvq.model.DataRoot;
import dev.kvq.model.DecodeCache;
import dev.kvq.model.Fp32DecodeCache;
import dev.kvq.model.Generator;
import dev.kvq.model.PackedDecodeCache;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.CalibrationFormatException;
import dev.kvq.quant.QuantSpec;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code kvq demo}: the main job, on the real stories260K model with no setup (the model is vendored in
 * the repository; {@code KVQ_DATA} overrides it and adds corpus perplexity). It generates with fp32 and
 * each of {@link #MODES} side by side, scores every cache against fp32 on text the model wrote itself
 * (KL, top-1 agreement, perplexity: {@link Fidelity}), reports what each cache stored, and what the same
 * modes allocate for LLaMA-7B at 128K and 1M tokens. {@code --synthetic} runs a LLaMA-7B-shaped layer
 * instead; {@code --plot} draws memory and quality against bits for kvq, KIVI and int/nf.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Show kvq at work on the real model (stories260K, in the repository); --synthetic: a LLaMA-7B-shaped layer.")
final class DemoCommand implements Callable<Integer> {
    static final String PROMPT = "Once upon a time";
    /**
     * The kvq modes the demo and its figure show beside fp32 (and fp16): the one place to switch presets. The
     * shipped presets ({@link QuantSpec#PRESETS}: kvq4, kvq3, kvq2), then the paper's 3-bit mode for comparison.
     */
    static final List<String> MODES = List.of("kvq4", "kvq3", "kvq2", "nuq3-1%");
    /** The baselines of the figure: per-token int and NormalFloat, KIVI with a 32- and a 128-token window. */
    static final List<String> PLOT_BASELINES = List.of("int2", "int3", "int4", "nf2", "nf3", "nf4", "kivi2-r32", "kivi3-r32",
            "kivi4-r32", "kivi2-r128", "kivi3-r128", "kivi4-r128");
    static final int NEW_TOKENS = 60;
    static final int WINDOW = 512;
    static final int CALIBRATION_WINDOWS = 4;   // Fisher passes the first run pays for; cached afterwards
    static final int REFERENCE_WINDOWS = 4;
    static final int CORPUS_WINDOWS = 8;
    static final long[] LONG_CONTEXTS = {128L * 1024, 1024L * 1024};
    private static final double GIB = 1024.0 * 1024 * 1024;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--synthetic", description = "Run a synthetic LLaMA-7B-shaped layer instead of the real model.")
    boolean synthetic;

    @Option(names = "--tokens", defaultValue = "32768", description = "Context of the synthetic case (default: ${DEFAULT-VALUE}).")
    int tokens;

    @Option(names = "--plot", description = "Also draw memory per mode and quality against bits (kvq, KIVI, int/nf) into this PNG.")
    Path plot;

    @CommandLine.Mixin
    CommonOptions.Quiet quiet;

    @CommandLine.Mixin
    CommonOptions.Verbose verbose;

    @Override
    public Integer call() throws Exception {
        if (tokens < 1024 || tokens > 1 << 20) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--tokens must be in [1024, 1048576], got " + tokens);
        }
        if (synthetic && plot != null) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--plot draws the real model's figure; drop --synthetic");
        }
        boolean corpus = !synthetic && DataRoot.configured().isPresent();
        // load, calibrations, generations, reference, scores (fp32, fp16, modes), LLaMA-7B, [corpus], [figure]
        long steps = synthetic ? 8 : 6 + 3L * MODES.size() + (corpus ? 1 : 0) + (plot != null ? 2 : 0);
        try (Progress p = Progress.start("kvq demo", steps, quiet.on)) {
            bar = p;
            if (synthetic) {
                syntheticLayer();
            } else {
                realModel();
            }
        } finally {
            bar = null;
        }
        return 0;
    }

    private Progress bar;

    private void progress(String message) {
        if (bar != null) {
            bar.message(message);
            bar.step();
        }
    }

    // ------------------------------------------------------------------ the real model

    private void realModel() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        long t0 = System.nanoTime();
        DataRoot root = DataRoot.forModels();
        Path modelDir = root.storiesModel();
        progress("loading " + modelDir);
        ModelInputs in = ModelInputs.load(modelDir);
        AttentionShape shape = dev.kvq.model.ModelShapes.attentionShape(in.model.config());
        List<QuantSpec> specs = MODES.stream().map(QuantSpec::parse).toList();
        Supplier<CalibrationData> calibrationText = () -> GeneratedText.calibrationData(in.model, CALIBRATION_WINDOWS, WINDOW,
                "stories260K");
        List<Calibration> calibrations = calibrations(shape, specs, calibrationText);

        out.println("kvq demo — stories260K, a real LLaMA (" + shape.describe() + "), from " + shown(modelDir));
        out.println();
        out.println("\"" + PROMPT + "\", " + NEW_TOKENS + " new tokens, greedy. Quantized caches are kvq's packed runtime cache:");
        out.println("the prompt is attended in full precision, every later token is stored packed and read packed (the");
        out.println("last N of a -rN mode from its fp16 copy). kvq4, kvq3, kvq2 = " + presetNames() + "; nuq3-1% is the paper's.");
        out.println();
        int[] prompt = in.tokenizer.encode(PROMPT);
        generate(in, prompt, new Fp32DecodeCache(in.model), "fp32", out);
        for (int i = 0; i < specs.size(); i++) {
            generate(in, prompt, new PackedDecodeCache(in.model, specs.get(i), calibrations.get(i)), specs.get(i).name(), out);
        }

        progress("sampling " + REFERENCE_WINDOWS + " × " + WINDOW + " tokens of reference text with fp32");
        int[] reference = GeneratedText.sample(in.model, REFERENCE_WINDOWS, WINDOW, GeneratedText.REFERENCE_SEED);
        Fidelity fidelity = new Fidelity(in.model, reference, WINDOW, REFERENCE_WINDOWS, calibrationText);
        Evaluator corpus = corpusEvaluator(root, in, calibrationText);
        for (Calibration c : calibrations) {
            fidelity.with(c);
            if (corpus != null) {
                corpus.with(c);
            }
        }
        List<QuantSpec> tableSpecs = new ArrayList<>(List.of(QuantSpec.fp32(), QuantSpec.fp16()));
        tableSpecs.addAll(specs);
        List<Fidelity.Row> rows = new ArrayList<>();
        List<Double> corpusPerplexity = new ArrayList<>();
        for (QuantSpec s : tableSpecs) {
            progress("scoring " + s.name() + " against fp32");
            rows.add(fidelity.packed(s));
            if (corpus != null) {
                String mode = s.quantized() ? s.name() + "-packed" : s.name();
                corpusPerplexity.add(corpus.evaluate(KvMode.parse(mode)).perplexity());
            }
        }
        out.println();
        out.printf(Locale.ROOT, "%-9s %10s %11s %9s%s %10s %13s%n", "kv", "KL to fp32", "top-1 same", "text ppl",
                corpus != null ? String.format(Locale.ROOT, " %16s", "TinyStories ppl") : "", "KV bytes", "bits/element");
        for (int i = 0; i < rows.size(); i++) {
            Fidelity.Row r = rows.get(i);
            out.printf(Locale.ROOT, "%-9s %10.4f %10.1f%% %9.4f%s %10d %13.2f%n", r.mode(), r.klDivergence(),
                    100 * r.top1Agreement(), r.perplexity(),
                    corpus != null ? String.format(Locale.ROOT, " %16.4f", corpusPerplexity.get(i)) : "",
                    r.memory().totalBytes() / REFERENCE_WINDOWS, r.bits());
        }

        progress("measuring LLaMA-7B-shaped caches");
        PlanCommand.Preset llama7b = PlanCommand.PRESETS.get("llama-7b");
        List<QuantSpec> longSpecs = new ArrayList<>(List.of(QuantSpec.fp16()));
        longSpecs.addAll(specs);
        List<KvFootprint> footprints = longSpecs.stream().map(s -> KvFootprint.measure(llama7b, s)).toList();
        out.println();
        out.printf(Locale.ROOT, "The same caches for LLaMA-7B (%d layers × %d KV heads × head dim %d), as kvq allocates them:%n",
                llama7b.layers(), llama7b.kvHeads(), llama7b.headDim());
        out.printf(Locale.ROOT, "%-9s %13s %14s %14s %9s%n", "kv", "bits/element", "128K tokens", "1M tokens", "vs fp16");
        for (int i = 0; i < longSpecs.size(); i++) {
            KvFootprint f = footprints.get(i);
            out.printf(Locale.ROOT, "%-9s %13.2f %10.1f GiB %10.1f GiB %8.2f×%n", longSpecs.get(i).name(),
                    f.bitsPerElement(LONG_CONTEXTS[0]), f.bytes(LONG_CONTEXTS[0]) / GIB, f.bytes(LONG_CONTEXTS[1]) / GIB,
                    footprints.get(0).bytes(LONG_CONTEXTS[1]) / f.bytes(LONG_CONTEXTS[1]));
        }
        out.println();
        out.println("KL to fp32: mean KL divergence (nats) of each next-token distribution from fp32's (0 = the same);");
        out.println("top-1 same: how often the most likely next token is fp32's; text ppl: perplexity of the scored text,");
        out.printf(Locale.ROOT, "%d × %d tokens the fp32 model wrote itself, fed through each cache token by token.%n",
                REFERENCE_WINDOWS, WINDOW);
        if (corpus != null) {
            out.printf(Locale.ROOT, "TinyStories ppl: %d windows of %d tokens of its evaluation part, through the same caches.%n",
                    CORPUS_WINDOWS, WINDOW);
        }
        out.println("KV bytes, bits/element: all that one sequence's cache allocated (codes, scales, outlier slots,");
        out.println("fp16 sink and recent window, per-layer codebooks and thresholds, page padding). Head dim 8 makes those fixed parts weigh");
        out.println("far more than on LLaMA-7B, whose rows come from a one-layer cache of its geometry, counted for 32 layers.");
        out.printf(Locale.ROOT, "Calibration: Fisher-weighted, on %d × %d tokens of generated text, cached in %s.%n",
                CALIBRATION_WINDOWS, WINDOW, shown(cacheDir()));
        out.println("Decode speed: ./kvq bench. Full tables: docs/QUALITY.md. A synthetic 7B-shaped layer: ./kvq demo --synthetic");
        if (plot != null) {
            figure(fidelity, corpus, rows, corpusPerplexity, longSpecs, footprints);
            spec.commandLine().getErr().println("demo: wrote " + plot);
        }
        out.printf(Locale.ROOT, "(%.1f s)%n", (System.nanoTime() - t0) / 1e9);
    }

    /** "nuqa4-r16, nuqa3-r32, nuqa2-r32": what the presets stand for. */
    private static String presetNames() {
        return String.join(", ", List.of("kvq4", "kvq3", "kvq2").stream().map(QuantSpec.PRESETS::get).toList());
    }

    /** The TinyStories evaluator when the configured data folder has the corpus, else null. */
    private Evaluator corpusEvaluator(DataRoot root, ModelInputs in, Supplier<CalibrationData> calibrationText)
            throws IOException {
        if (DataRoot.configured().isEmpty() || !root.lists(DataRoot.TINYSTORIES)) {
            return null;
        }
        progress("tokenizing the TinyStories slice");
        String text = ModelInputs.text(root.file(DataRoot.TINYSTORIES));
        return new Evaluator(in.model, in.tokenizer.encode(Corpus.evaluationPart(text)), WINDOW, CORPUS_WINDOWS,
                calibrationText);
    }

    private void generate(ModelInputs in, int[] prompt, DecodeCache cache, String name, PrintWriter out) {
        progress("generating with " + name);
        Generator.Output o;
        try (cache) {
            o = new Generator(in.model).generate(prompt, NEW_TOKENS, 0f, 0, cache);
        }
        out.printf(Locale.ROOT, "%-8s %s%n", name, in.tokenizer.decode(o.tokens()).replace("\n", " ⏎ "));
    }

    /** Memory per mode for LLaMA-7B at 128K tokens, KL against bits, and corpus perplexity when there is a corpus. */
    private void figure(Fidelity fidelity, Evaluator corpus, List<Fidelity.Row> rows, List<Double> corpusPerplexity,
                        List<QuantSpec> longSpecs, List<KvFootprint> footprints) throws IOException {
        List<Plots.Point> kl = new ArrayList<>();
        List<Plots.Point> ppl = new ArrayList<>();
        for (int i = 2; i < rows.size(); i++) {   // the kvq modes, after fp32 and fp16
            kl.add(new Plots.Point("kvq", rows.get(i).bits(), rows.get(i).klDivergence()));
            if (corpus != null) {
                ppl.add(new Plots.Point("kvq", rows.get(i).bits(), corpusPerplexity.get(i)));
            }
        }
        progress("scoring int, nf and KIVI for the figure");
        for (String b : PLOT_BASELINES) {
            KvMode mode = KvMode.parse(b);
            Fidelity.Row r = fidelity.evaluate(mode);
            kl.add(new Plots.Point(Plots.family(mode.name()), r.bits(), r.klDivergence()));
            if (corpus != null) {
                Evaluator.Row e = corpus.evaluate(mode);
                ppl.add(new Plots.Point(Plots.family(mode.name()), e.bits(), e.perplexity()));
            }
        }
        progress("drawing " + plot);
        List<String> names = longSpecs.stream().map(QuantSpec::name).toList();
        List<Double> gib = footprints.stream().map(f -> f.bytes(LONG_CONTEXTS[0]) / GIB).toList();
        List<org.knowm.xchart.internal.chartpart.Chart<?, ?>> charts = new ArrayList<>();
        charts.add(Plots.bars("LLaMA-7B KV cache at 128K tokens", "GiB, as kvq allocates it", names, gib, 520, 520));
        String bits = "bits per K/V element (kvq: as its cache allocated; int, nf, KIVI: codes, scales, window)";
        charts.add(Plots.qualityVsBits("stories260K: KL to fp32 on generated text", bits, "KL divergence, nats (log scale)",
                kl, Double.NaN, 700, 520));
        if (corpus != null) {
            charts.add(Plots.qualityVsBits("stories260K: TinyStories perplexity", bits, "perplexity (log scale)", ppl,
                    corpusPerplexity.get(0), 700, 520));
        }
        Plots.sideBySide(plot, charts);
    }

    /** Loads the cached calibrations, or fits them once on generated text and caches them. */
    private List<Calibration> calibrations(AttentionShape shape, List<QuantSpec> specs, Supplier<CalibrationData> text)
            throws IOException {
        Path dir = cacheDir();
        List<Calibration> result = new ArrayList<>();
        CalibrationData data = null;
        for (QuantSpec s : specs) {
            Path file = dir.resolve("stories260K-generated-" + s.name().replace("%", "pct") + ".kvqcal");
            Calibration c = null;
            if (Files.isRegularFile(file)) {
                try {
                    c = Calibration.load(file, shape, s);
                    progress("reusing calibration " + file);
                } catch (CalibrationFormatException e) {
                    progress("recalibrating: " + e.getMessage());
                }
            }
            if (c == null) {
                if (data == null) {
                    progress("calibrating on " + CALIBRATION_WINDOWS + " × " + WINDOW + " tokens of generated text (Fisher-weighted)");
                    data = text.get();
                }
                c = data.calibrate(s, "kvq demo");
                Files.createDirectories(dir);
                c.save(file);
            }
            result.add(c);
        }
        return result;
    }

    /** {@code path} relative to the repository when it lies inside it (run through ./kvq), else as it is. */
    static Path shown(Path path) {
        String home = System.getProperty(DataRoot.HOME_PROPERTY);
        if (home == null) {
            return path;
        }
        Path root = Path.of(home).toAbsolutePath().normalize();
        Path p = path.toAbsolutePath().normalize();
        return p.startsWith(root) ? root.relativize(p) : path;
    }

    /** {@code -Dkvq.cache.dir}, else {@code <repo>/.kvq/cache} when run through ./kvq, else ~/.cache/kvq. */
    static Path cacheDir() {
        String dir = System.getProperty("kvq.cache.dir");
        if (dir != null) {
            return Path.of(dir);
        }
        String home = System.getProperty("kvq.home");
        return home != null ? Path.of(home, ".kvq", "cache") : Path.of(System.getProperty("user.home"), ".cache", "kvq");
    }

    // ------------------------------------------------------------------ synthetic

    private void syntheticLayer() {
        PrintWriter out = spec.commandLine().getOut();
        long t0 = System.nanoTime();
        AttentionShape shape = new AttentionShape(1, 32, 32, 128, Rope.of(10000, RopePairing.ROTATE_HALF, 128));
        SyntheticLayer layer = new SyntheticLayer(shape, 7);
        float[] query = layer.query(3);
        List<String> modes = new ArrayList<>(List.of("fp32", "fp16"));
        modes.addAll(MODES);
        float[] reference = null;
        double fp16Bytes = 0;
        double fp16Ms = 0;
        out.printf(Locale.ROOT, "kvq demo — synthetic LLaMA-7B-shaped layer (%s), %d tokens, cpu backend (%s)%n",
                shape.describe(), tokens, Backend.simdLanes() == 0 ? "scalar" : Backend.simdLanes() + " SIMD lanes");
        out.println();
        out.printf(Locale.ROOT, "%-9s %10s %9s %13s %11s %9s %10s%n", "kv", "KV MiB", "vs fp16", "bits/element", "rel. error",
                "cosine", "decode ms");
        for (String mode : modes) {
            QuantSpec s = QuantSpec.parse(mode);
            String name = s.name();   // a preset under its spec name, as in the real model's tables
            Calibration cal = null;
            if (s.quantized()) {
                progress("calibrating " + name);
                cal = layer.calibrate(s);
            }
            progress("filling a " + name + " cache with " + tokens + " tokens");
            try (KvCache cache = KvCache.open(shape, s, cal, Backend.cpu())) {   // the legend's one CPU thread
                layer.fill(cache, tokens);
                float[] o = new float[query.length];
                double ms = Timing.medianWallMs(() -> cache.attend(0, query, o), 5, 5);
                MemoryReport mem = cache.memory();
                if (reference == null) {
                    reference = o.clone();
                }
                if (name.equals("fp16")) {
                    fp16Bytes = mem.totalBytes();
                    fp16Ms = ms;
                }
                out.printf(Locale.ROOT, "%-9s %10.1f %9s %13.2f %11.4f %9.4f %10.1f%n", name, mem.totalBytes() / 1048576.0,
                        fp16Bytes == 0 ? "-" : String.format(Locale.ROOT, "%.2f×", fp16Bytes / mem.totalBytes()),
                        mem.effectiveBits(), relativeError(o, reference), cosine(o, reference), ms);
            }
        }
        out.println();
        out.println("KV MiB, bits/element: what the cache allocated (pages, sinks, side data). rel. error = ‖out − fp32‖ / ‖fp32‖");
        out.println("and cosine of one decode step's attention output (all 32 heads) against the fp32 cache. The values here are");
        out.println("independent random numbers, so attention's averaging shrinks output and error alike: rel. error stays near");
        out.println("the rounding error of a single value code. It is not a loss of model quality; the real model's KL and");
        out.println("top-1 (./kvq demo) measure that. decode ms: one decode step of the layer, median of 5, one thread.");
        out.printf(Locale.ROOT, "fp16 decode %.1f ms; docs/BENCHMARKS.md explains why packed decode is not yet faster on this CPU.%n",
                fp16Ms);
        out.printf(Locale.ROOT, "(%.1f s)%n", (System.nanoTime() - t0) / 1e9);
    }

    /** a·b / (‖a‖₂ ‖b‖₂). */
    private static double cosine(float[] a, float[] b) {
        double dot = 0;
        double na = 0;
        double nb = 0;
        for (int i = 0; i < a.length; i++) {
            dot += (double) a[i] * b[i];
            na += (double) a[i] * a[i];
            nb += (double) b[i] * b[i];
        }
        return dot / Math.max(Math.sqrt(na * nb), 1e-30);
    }

    /** ‖a − b‖₂ / ‖b‖₂. */
    private static double relativeError(float[] a, float[] b) {
        double err = 0;
        double norm = 0;
        for (int i = 0; i < a.length; i++) {
            err += (double) (a[i] - b[i]) * (a[i] - b[i]);
            norm += (double) b[i] * b[i];
        }
        return Math.sqrt(err / Math.max(norm, 1e-30));
    }
}
