package dev.kvq.cli;

import dev.kvq.eval.CalibrationData;
import dev.kvq.eval.KvMode;
import dev.kvq.quant.Calibration;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code kvq calibrate}: Fisher-weighted calibration (spec §1 steps 1–2) on windows of the
 * calibration part of a text (its last 100,000 characters), or of text the fp32 model generates
 * ({@code --text generated}), written as a calibration file.
 */
@Command(name = "calibrate", mixinStandardHelpOptions = true,
        description = "Fit key thresholds and Fisher-weighted nuq codebooks per layer; write a calibration file.")
final class CalibrateCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", description = ModelInputs.MODEL_OPTION)
    Path model;

    @Option(names = "--text", required = true, description = "Calibration text; windows come from its last 100,000 characters. "
            + "'" + ModelInputs.GENERATED + "': text the fp32 model writes itself (no corpus needed).")
    Path text;

    @Option(names = "--out", required = true, description = "Calibration file to write.")
    Path out;

    @Option(names = "--kv", defaultValue = "nuq3-1%", description = "nuq mode to calibrate (default: ${DEFAULT-VALUE}).")
    String mode;

    @Option(names = "--windows", defaultValue = "16", description = "Calibration windows (default: ${DEFAULT-VALUE}).")
    int windows;

    @Option(names = "--window-length", defaultValue = "512", description = "Tokens per window (default: ${DEFAULT-VALUE}).")
    int windowLength;

    @CommandLine.Mixin
    CommonOptions.Quiet quiet;

    @CommandLine.Mixin
    CommonOptions.Verbose verbose;

    @Override
    public Integer call() throws Exception {
        KvMode kv = Usage.kvMode(spec, mode);
        if (!kv.isNuq()) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--kv must be a nuq mode, got " + mode);
        }
        if (windows < 1 || windowLength < 2) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--windows must be >= 1 and --window-length >= 2");
        }
        long t0 = System.nanoTime();
        Calibration c;
        try (Progress bar = Progress.start("kvq calibrate", 3, quiet.on)) {
            bar.message("loading the model and the text");
            ModelInputs in = ModelInputs.load(model);
            boolean generated = ModelInputs.isGenerated(text);
            int[] tokens = generated ? null : in.tokenizer.encode(dev.kvq.eval.Corpus.calibrationPart(ModelInputs.text(text)));
            bar.step();
            bar.message((generated ? "generating, then " : "") + "activations and Fisher weights of " + windows + " windows");
            CalibrationData data = generated ? in.generatedCalibrationData(windows, windowLength)
                    : CalibrationData.collect(in.model, tokens, windows, windowLength, in.modelName(),
                            text.getFileName() + " (last 100000 chars)");
            bar.step();
            bar.message("thresholds and codebooks");
            c = data.calibrate(kv.spec(), "kvq calibrate " + Kvq.Version.version());
            c.save(out);
            bar.step();
        }
        PrintWriter o = spec.commandLine().getOut();
        o.printf(Locale.ROOT, "wrote %s: %s, %d layers, %d windows x %d tokens, %.1f s, fingerprint %s%n", out,
                kv.spec().name(), c.layers().size(), windows, windowLength, (System.nanoTime() - t0) / 1e9,
                c.fingerprint().substring(0, 16));
        if (kv.spec().allocated()) {
            o.printf(Locale.ROOT, "code bits per token and layer: keys %.1f, values %.1f (budget %d each on average)%n",
                    c.meanKeyCodeBits(), c.meanValueCodeBits(), kv.spec().bits() * c.shape().kvChannels());
            o.printf(Locale.ROOT, "channels per width 0-6: keys %s, values %s%n",
                    java.util.Arrays.toString(c.widthHistogram(true)), java.util.Arrays.toString(c.widthHistogram(false)));
        }
        return 0;
    }
}
