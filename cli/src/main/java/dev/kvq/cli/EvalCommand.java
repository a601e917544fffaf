package dev.kvq.cli;

import dev.kvq.eval.CalibrationData;
import dev.kvq.eval.Corpus;
import dev.kvq.eval.Evaluator;
import dev.kvq.eval.Fidelity;
import dev.kvq.eval.GeneratedText;
import dev.kvq.eval.KvMode;
import dev.kvq.eval.Perplexity;
import dev.kvq.quant.Calibration;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code kvq eval}: perplexity per KV mode with simulated quantization (every K/V of a window
 * quantized and dequantized, spec §15.14), 512-token non-overlapping windows, one stream with BOS at
 * its start. On the TinyStories slice only the evaluation part (all but the last 100,000 characters)
 * is scored; nuq modes are calibrated on the rest unless {@code --calibration} provides one.
 */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Perplexity of a llama2.c model per KV mode (simulated quantization), with the bits stored per"
                + " element at the evaluated context and at 32K tokens.")
final class EvalCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", description = ModelInputs.MODEL_OPTION)
    Path model;

    @Option(names = "--text", required = true, description = "Evaluation text (UTF-8), or '" + ModelInputs.GENERATED
            + "': KL to fp32, top-1 agreement and perplexity on text the fp32 model writes itself (no corpus needed).")
    Path text;

    @Option(names = "--calibration", description = "Calibration file for the nuq modes it matches.")
    Path calibration;

    @Option(names = "--calibrate-on", description = "Text the nuq and per-channel modes are calibrated on: a file (its last "
            + "100,000 characters) or '" + ModelInputs.GENERATED + "' (default: the TinyStories slice, or generated text "
            + "with --text " + ModelInputs.GENERATED + ").")
    Path calibrateOn;

    @Option(names = "--kv", split = ",", defaultValue = "fp32,nuq4-1%,nuq3-1%,nuq2-1%",
            description = "KV modes (default: ${DEFAULT-VALUE}); see the README for the names.")
    String[] modes;

    @Option(names = "--windows", description = "Windows to score (default: all).")
    Integer windows;

    @Option(names = "--window-length", defaultValue = "512", description = "Tokens per window (default: ${DEFAULT-VALUE}).")
    int windowLength;

    @Option(names = "--whole-text", description = "Score the whole text even if it is the TinyStories slice.")
    boolean wholeText;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    @CommandLine.Mixin
    CommonOptions.Quiet quiet;

    @Option(names = "--plot", description = "Also draw perplexity against bits at 32K tokens per method into this PNG"
            + " (and, with an fp32 row, a close-up beside it: NAME-zoom.png).")
    Path plot;

    @CommandLine.Mixin
    CommonOptions.Verbose verbose;

    @Override
    public Integer call() throws Exception {
        List<KvMode> parsed = new ArrayList<>();
        for (String m : modes) {
            parsed.add(Usage.kvMode(spec, m));
        }
        if (windows != null && windows <= 0) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--windows must be >= 1, got " + windows);
        }
        ModelInputs in = ModelInputs.load(model);
        if (windowLength < 2 || windowLength > in.model.config().seqLen()) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--window-length must be in [2, "
                    + in.model.config().seqLen() + "], got " + windowLength);
        }
        if (ModelInputs.isGenerated(text)) {
            return generated(in, parsed);
        }
        String raw = ModelInputs.text(text);
        boolean split = !wholeText && ModelInputs.isTinyStoriesSlice(text);
        int[] tokens = in.tokenizer.encode(split ? Corpus.evaluationPart(raw) : raw);
        int available = Perplexity.windows(tokens, windowLength);
        int n = windows == null ? available : windows;
        if (n > available) {
            throw new IllegalArgumentException(text + " has " + available + " windows of " + windowLength + " tokens; "
                    + n + " requested");
        }
        Evaluator ev = new Evaluator(in.model, tokens, windowLength, n, () -> calibrationData(in, text));
        if (calibration != null) {
            ev.with(Calibration.load(calibration));
        }
        List<Evaluator.Row> rows = new ArrayList<>();
        try (Progress bar = Progress.start("kvq eval", parsed.size(), quiet.on)) {
            for (KvMode m : parsed) {
                bar.message(m.name());
                rows.add(ev.evaluate(m));
                bar.step();
            }
        }
        double reference = rows.stream().filter(r -> r.mode().equals("fp32")).mapToDouble(Evaluator.Row::perplexity)
                .findFirst().orElse(Double.NaN);
        PrintWriter out = spec.commandLine().getOut();
        if (plot != null) {
            List<Plots.Point> points = new ArrayList<>();
            for (Evaluator.Row r : rows) {
                String family = Plots.family(r.mode());
                if (family != null) {
                    points.add(new Plots.Point(family, r.bits32k(), r.perplexity()));
                }
            }
            String title = "stories260K perplexity vs bits at 32K tokens — " + text.getFileName();
            Plots.perplexityVsBits(plot, title, points, reference, 0);
            spec.commandLine().getErr().println("eval: wrote " + plot);
            if (!Double.isNaN(reference)) {
                Path zoomed = plot.resolveSibling(plot.getFileName().toString().replaceFirst("(?i)(\\.png)?$", "-zoom.png"));
                Plots.perplexityVsBits(zoomed, title + " (within 10% of fp32)", points, reference, 1.10);
                spec.commandLine().getErr().println("eval: wrote " + zoomed);
            }
        }
        if (json) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("model", in.modelDir.toString());
            o.put("text", text.toString() + (split ? " (evaluation part)" : ""));
            o.put("windows", n);
            o.put("windowLength", windowLength);
            List<Object> list = new ArrayList<>();
            for (Evaluator.Row r : rows) {
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("kv", r.mode());
                row.put("bits", round(r.bits(), 3));
                row.put("bits_32k", round(r.bits32k(), 3));
                row.put("ppl", round(r.perplexity(), 4));
                row.put("deltaPercent", Double.isNaN(reference) ? null : round(100 * (r.perplexity() / reference - 1), 3));
                row.put("seconds", round(r.seconds(), 2));
                list.add(row);
            }
            o.put("rows", list);
            out.println(Json.value(o));
        } else {
            out.printf(Locale.ROOT, "%s: %d windows x %d tokens (%d predictions)%s%n", text.getFileName(), n, windowLength,
                    (long) n * (windowLength - 1), split ? ", evaluation part" : "");
            out.printf(Locale.ROOT, "%-22s %7s %8s %10s %9s%n", "kv", "bits", "bits@32K", "ppl", "vs fp32");
            for (Evaluator.Row r : rows) {
                out.printf(Locale.ROOT, "%-22s %7.3f %8.3f %10.4f %9s%n", r.mode(), r.bits(), r.bits32k(), r.perplexity(),
                        Double.isNaN(reference) ? "" : String.format(Locale.ROOT, "%+.2f%%", 100 * (r.perplexity() / reference - 1)));
            }
        }
        return 0;
    }

    /** Calibration activations from {@code --calibrate-on}, else from the scored text's own rule. */
    private CalibrationData calibrationData(ModelInputs in, Path scored) {
        Path source = calibrateOn != null ? calibrateOn : scored;
        return ModelInputs.isGenerated(source)
                ? in.generatedCalibrationData(CalibrationData.DEFAULT_WINDOWS, CalibrationData.DEFAULT_LENGTH)
                : in.calibrationData(source, CalibrationData.DEFAULT_WINDOWS, CalibrationData.DEFAULT_LENGTH);
    }

    /** Windows of generated text scored when {@code --windows} is not given. */
    static final int GENERATED_WINDOWS = 20;

    /** {@code --text generated}: every mode against fp32 on a stream the fp32 model sampled ({@link Fidelity}). */
    private int generated(ModelInputs in, List<KvMode> modes) throws java.io.IOException {
        int n = windows == null ? GENERATED_WINDOWS : windows;
        Fidelity fidelity;
        List<Fidelity.Row> rows = new ArrayList<>();
        try (Progress bar = Progress.start("kvq eval", modes.size() + 1, quiet.on)) {
            bar.message("sampling " + n + " × " + windowLength + " tokens with fp32");
            int[] stream = GeneratedText.sample(in.model, n, windowLength, GeneratedText.REFERENCE_SEED);
            fidelity = new Fidelity(in.model, stream, windowLength, n, () -> calibrationData(in, text));
            if (calibration != null) {
                fidelity.with(Calibration.load(calibration));
            }
            bar.step();
            for (KvMode m : modes) {
                bar.message(m.name());
                rows.add(fidelity.evaluate(m));
                bar.step();
            }
        }
        String source = GeneratedText.describe(n, windowLength, GeneratedText.REFERENCE_SEED);
        PrintWriter out = spec.commandLine().getOut();
        if (plot != null) {
            List<Plots.Point> points = new ArrayList<>();
            for (Fidelity.Row r : rows) {
                String family = Plots.family(r.mode());
                if (family != null) {
                    points.add(new Plots.Point(family, r.bits(), r.klDivergence()));
                }
            }
            Plots.klVsBits(plot, "stories260K KL to fp32 vs bits — generated text", points);
            spec.commandLine().getErr().println("eval: wrote " + plot);
        }
        if (json) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("model", in.modelDir.toString());
            o.put("text", source);
            o.put("windows", n);
            o.put("windowLength", windowLength);
            List<Object> list = new ArrayList<>();
            for (Fidelity.Row r : rows) {
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("kv", r.mode());
                row.put("bits", round(r.bits(), 3));
                row.put("klDivergence", round(r.klDivergence(), 6));
                row.put("top1Agreement", round(r.top1Agreement(), 5));
                row.put("perplexity", round(r.perplexity(), 4));
                row.put("seconds", round(r.seconds(), 2));
                list.add(row);
            }
            o.put("rows", list);
            out.println(Json.value(o));
        } else {
            out.printf(Locale.ROOT, "%s; %d predictions, teacher-forced per mode%n", source, (long) n * (windowLength - 1));
            out.printf(Locale.ROOT, "%-20s %7s %11s %11s %10s%n", "kv", "bits", "KL to fp32", "top-1 same", "text ppl");
            for (Fidelity.Row r : rows) {
                out.printf(Locale.ROOT, "%-20s %7.3f %11.5f %10.2f%% %10.4f%n", r.mode(), r.bits(), r.klDivergence(),
                        100 * r.top1Agreement(), r.perplexity());
            }
            out.println("KL to fp32: mean KL divergence (nats) of the next-token distribution from fp32's; top-1 same: how often");
            out.println("the most likely next token is fp32's; text ppl: perplexity of the generated text under each mode.");
        }
        return 0;
    }

    private static double round(double v, int digits) {
        double f = Math.pow(10, digits);
        return Math.round(v * f) / f;
    }
}
