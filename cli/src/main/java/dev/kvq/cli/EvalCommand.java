package dev.kvq.cli;

import dev.kvq.eval.Corpus;
import dev.kvq.eval.Evaluator;
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

    @Option(names = "--model", required = true, description = "Model folder (stories260K.bin, tok512.bin) or checkpoint.")
    Path model;

    @Option(names = "--text", required = true, description = "Evaluation text (UTF-8).")
    Path text;

    @Option(names = "--calibration", description = "Calibration file for the nuq modes it matches.")
    Path calibration;

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
        String raw = ModelInputs.text(text);
        boolean split = !wholeText && ModelInputs.isTinyStoriesSlice(text);
        int[] tokens = in.tokenizer.encode(split ? Corpus.evaluationPart(raw) : raw);
        int available = Perplexity.windows(tokens, windowLength);
        int n = windows == null ? available : windows;
        if (n > available) {
            throw new IllegalArgumentException(text + " has " + available + " windows of " + windowLength + " tokens; "
                    + n + " requested");
        }
        Evaluator ev = new Evaluator(in.model, tokens, windowLength, n, () -> in.calibrationData(text, 16, 512));
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
            o.put("model", model.toString());
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

    private static double round(double v, int digits) {
        double f = Math.pow(10, digits);
        return Math.round(v * f) / f;
    }
}
