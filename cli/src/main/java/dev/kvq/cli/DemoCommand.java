package dev.kvq.cli;

import dev.kvq.bench.SyntheticLayer;
import dev.kvq.bench.Timing;
import dev.kvq.cache.Backend;
import dev.kvq.cache.KvCache;
import dev.kvq.eval.CalibrationData;
import dev.kvq.eval.Corpus;
import dev.kvq.eval.Evaluator;
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
import dev.kvq.quant.MemoryMath;
import dev.kvq.quant.QuantSpec;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine;

/**
 * {@code kvq demo}: the main job. With {@code KVQ_DATA}: the real stories260K model generating with
 * fp32, nuq3-1% and nuq2-1% caches side by side, plus perplexity, KV size and speed per mode. Without
 * data: a synthetic LLaMA-7B-shaped layer at 32K tokens, memory, attention error and decode time
 * per mode. The output says which case ran and how to get the other.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Show kvq at work: the real model with KVQ_DATA set, else a synthetic LLaMA-7B layer.")
final class DemoCommand implements Callable<Integer> {
    static final String PROMPT = "Once upon a time";

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--synthetic", description = "Run the synthetic case even when KVQ_DATA is set.")
    boolean synthetic;

    @Option(names = "--tokens", defaultValue = "32768", description = "Context of the synthetic case (default: ${DEFAULT-VALUE}).")
    int tokens;

    @CommandLine.Mixin
    CommonOptions.Quiet quiet;

    @CommandLine.Mixin
    CommonOptions.Verbose verbose;

    @Override
    public Integer call() throws Exception {
        if (tokens < 1024 || tokens > 1 << 20) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--tokens must be in [1024, 1048576], got " + tokens);
        }
        Optional<Path> root = DataRoot.configured();
        boolean real = !synthetic && root.isPresent();
        try (Progress p = Progress.start("kvq demo", real ? 9 : 8, quiet.on)) {
            bar = p;
            if (real) {
                realModel(DataRoot.open());
            } else {
                syntheticLayer(root.isPresent());
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

    // ------------------------------------------------------------------ with data

    private void realModel(DataRoot root) throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        long t0 = System.nanoTime();
        Path modelDir = root.root().resolve(DataRoot.STORIES_MODEL);
        Path slice = root.file(DataRoot.TINYSTORIES);
        progress("loading " + modelDir);
        ModelInputs in = ModelInputs.load(modelDir);
        AttentionShape shape = dev.kvq.model.ModelShapes.attentionShape(in.model.config());
        List<QuantSpec> specs = List.of(QuantSpec.parse("nuq3-1%"), QuantSpec.parse("nuq2-1%"));
        List<Calibration> calibrations = calibrations(in, slice, shape, specs);

        out.println("kvq demo — stories260K (" + shape.describe() + "), data from " + root.root());
        out.println();
        out.println("Prompt: \"" + PROMPT + "\", 60 new tokens, greedy. The quantized caches are kvq's packed");
        out.println("runtime cache on the decode path (prompt in full precision, every later token packed).");
        out.println();
        int[] prompt = in.tokenizer.encode(PROMPT);
        List<String> names = new ArrayList<>(List.of("fp32"));
        List<Double> speeds = new ArrayList<>();
        speeds.add(generate(in, prompt, () -> new Fp32DecodeCache(in.model), "fp32", out));
        for (int i = 0; i < specs.size(); i++) {
            QuantSpec s = specs.get(i);
            Calibration c = calibrations.get(i);
            names.add(s.name());
            speeds.add(generate(in, prompt, () -> new PackedDecodeCache(in.model, s, c), s.name(), out));
        }

        progress("perplexity on 20 windows of the evaluation part of " + slice.getFileName());
        String text = ModelInputs.text(slice);
        int[] evalTokens = in.tokenizer.encode(Corpus.evaluationPart(text));
        Evaluator ev = new Evaluator(in.model, evalTokens, 512, 20, () -> in.calibrationData(slice, 16, 512));
        for (Calibration c : calibrations) {
            ev.with(c);
        }
        out.println();
        out.printf(Locale.ROOT, "%-9s %11s %9s %14s %14s %9s%n", "kv", "perplexity", "vs fp32", "KV bytes @512", "bits/element",
                "tok/s");
        double fp32 = 0;
        for (int i = 0; i < names.size(); i++) {
            String name = names.get(i);
            KvMode mode = KvMode.parse(i == 0 ? "fp32" : name + "-packed");
            Evaluator.Row row = ev.evaluate(mode);
            if (i == 0) {
                fp32 = row.perplexity();
            }
            QuantSpec s = i == 0 ? QuantSpec.fp32() : specs.get(i - 1);
            double bytes = MemoryMath.bytes(shape, s, 512, MemoryMath.Accounting.FIXED_SLOTS);
            out.printf(Locale.ROOT, "%-9s %11.4f %8.2f%% %14.0f %14.2f %9.0f%n", name, row.perplexity(),
                    100 * (row.perplexity() / fp32 - 1), bytes,
                    MemoryMath.effectiveBits(s, shape.kvChannels(), 512, MemoryMath.Accounting.FIXED_SLOTS), speeds.get(i));
        }
        out.println();
        out.printf(Locale.ROOT, "Perplexity: 20 windows × 512 tokens, scored through the same caches. KV bytes: all %d layers at%n",
                shape.layers());
        out.println("512 tokens, as stored (codes, per-token scales, fixed outlier slots, 1 fp16 sink token).");
        out.println("This model has head dim 8 (32 channels per token and layer), the hardest case for per-vector");
        out.println("overheads; docs/QUALITY.md has the full tables. Synthetic 7B-shaped layer: ./kvq demo --synthetic");
        out.printf(Locale.ROOT, "(%.1f s)%n", (System.nanoTime() - t0) / 1e9);
    }

    private double generate(ModelInputs in, int[] prompt, java.util.function.Supplier<DecodeCache> caches, String name,
                            PrintWriter out) {
        progress("generating with " + name);
        try (DecodeCache warmup = caches.get()) {       // the first run pays for JIT compilation
            new Generator(in.model).generate(prompt, 60, 0f, 0, warmup);
        }
        long t0 = System.nanoTime();
        Generator.Output o;
        try (DecodeCache cache = caches.get()) {
            o = new Generator(in.model).generate(prompt, 60, 0f, 0, cache);
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        String text = in.tokenizer.decode(o.tokens()).replace("\n", " ⏎ ");
        out.printf(Locale.ROOT, "%-8s %s%n", name, text);
        return o.generated().length / Math.max(seconds, 1e-9);
    }

    /** Loads the cached calibrations, or fits them once (~5 s) and caches them. */
    private List<Calibration> calibrations(ModelInputs in, Path slice, AttentionShape shape, List<QuantSpec> specs)
            throws IOException {
        Path dir = cacheDir();
        List<Calibration> result = new ArrayList<>();
        CalibrationData data = null;
        for (QuantSpec s : specs) {
            Path file = dir.resolve("stories260K-" + s.name().replace("%", "pct") + ".kvqcal");
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
                    progress("calibrating on 16 × 512 tokens of " + slice.getFileName() + " (Fisher-weighted)");
                    data = in.calibrationData(slice, 16, 512);
                }
                c = data.calibrate(s, "kvq demo");
                Files.createDirectories(dir);
                c.save(file);
            }
            result.add(c);
        }
        return result;
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

    // ------------------------------------------------------------------ without data

    private void syntheticLayer(boolean dataAvailable) {
        PrintWriter out = spec.commandLine().getOut();
        long t0 = System.nanoTime();
        AttentionShape shape = new AttentionShape(1, 32, 32, 128, Rope.of(10000, RopePairing.ROTATE_HALF, 128));
        SyntheticLayer layer = new SyntheticLayer(shape, 7);
        float[] query = layer.query(3);
        List<String> modes = List.of("fp32", "fp16", "nuq4-1%", "nuq3-1%", "nuq2-1%");
        float[] reference = null;
        double fp16Bytes = 0;
        double fp16Ms = 0;
        out.printf(Locale.ROOT, "kvq demo — synthetic LLaMA-7B-shaped layer (%s), %d tokens, cpu backend (%s)%n",
                shape.describe(), tokens, Backend.simdLanes() == 0 ? "scalar" : Backend.simdLanes() + " SIMD lanes");
        out.println();
        out.printf(Locale.ROOT, "%-8s %12s %9s %13s %12s %9s%n", "kv", "KV MiB", "vs fp16", "bits/element", "output err",
                "decode ms");
        for (String name : modes) {
            QuantSpec s = QuantSpec.parse(name);
            Calibration cal = null;
            if (s.quantized()) {
                progress("calibrating " + name);
                cal = layer.calibrate(s);
            }
            progress("filling a " + name + " cache with " + tokens + " tokens");
            try (KvCache cache = KvCache.open(shape, s, cal, Backend.auto())) {
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
                out.printf(Locale.ROOT, "%-8s %12.1f %9s %13.2f %12.4f %9.1f%n", name, mem.totalBytes() / 1048576.0,
                        fp16Bytes == 0 ? "-" : String.format(Locale.ROOT, "%.2f×", fp16Bytes / mem.totalBytes()),
                        mem.effectiveBits(), relativeError(o, reference), ms);
            }
        }
        out.println();
        out.println("KV MiB: measured allocation of the cache (pages, sinks, side data). Output err: ‖out − fp32‖ / ‖fp32‖");
        out.println("of one decode step (all 32 heads). decode ms: one decode step of the layer (median), one core.");
        out.printf(Locale.ROOT, "fp16 decode %.1f ms; docs/BENCHMARKS.md explains why packed decode is not yet faster on this CPU.%n",
                fp16Ms);
        out.println(dataAvailable ? "The real model runs with: ./kvq demo (without --synthetic)."
                : "This was the synthetic case: set KVQ_DATA to a data folder (e.g. ../shared/data) for the real model.");
        out.printf(Locale.ROOT, "(%.1f s)%n", (System.nanoTime() - t0) / 1e9);
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
