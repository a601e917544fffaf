package dev.kvq.cli;

import dev.kvq.eval.CalibrationData;
import dev.kvq.eval.KvMode;
import dev.kvq.model.DecodeCache;
import dev.kvq.model.Fp32DecodeCache;
import dev.kvq.model.Generator;
import dev.kvq.model.PackedDecodeCache;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.QuantSpec;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code kvq generate}: text from a prompt with the KV cache in a given mode. Quantized modes use the
 * runtime's packed cache on the decode path (the prompt is attended in full precision, then packed).
 */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate text with the packed KV cache (fp32, fp16 or a nuq mode).")
final class GenerateCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", description = ModelInputs.MODEL_OPTION)
    Path model;

    @Option(names = "--prompt", required = true, description = "Prompt text.")
    String prompt;

    @Option(names = "--kv", defaultValue = "fp32", description = "fp32, fp16, a preset (kvq4, kvq3, kvq2) or any nuq mode, e.g. nuq3-1%% (default: ${DEFAULT-VALUE}).")
    String mode;

    @Option(names = "--calibration", description = "Calibration file (nuq modes; default: calibrate on the TinyStories slice of "
            + "KVQ_DATA, else on text the fp32 model generates).")
    Path calibration;

    @Option(names = "--max-tokens", defaultValue = "100", description = "New tokens (default: ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--temperature", defaultValue = "0", description = "0 = greedy (default: ${DEFAULT-VALUE}).")
    float temperature;

    @Option(names = "--seed", defaultValue = "0", description = "Sampling seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @CommandLine.Mixin
    CommonOptions.Verbose verbose;

    @Override
    public Integer call() throws Exception {
        KvMode kv = Usage.kvMode(spec, mode);
        if (kv.kind() != KvMode.Kind.FP32 && kv.kind() != KvMode.Kind.FP16 && !kv.isNuq()) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--kv " + mode
                    + " is an evaluation baseline; generation runs on the packed cache: fp32, fp16 or nuq");
        }
        if (maxTokens < 0 || !(temperature >= 0)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--max-tokens and --temperature must be >= 0");
        }
        ModelInputs in = ModelInputs.load(model);
        int[] promptTokens = in.tokenizer.encode(prompt);
        DecodeCache cache;
        if (kv.kind() == KvMode.Kind.FP32) {
            cache = new Fp32DecodeCache(in.model);
        } else if (kv.kind() == KvMode.Kind.FP16) {
            cache = new PackedDecodeCache(in.model, QuantSpec.fp16(), null);
        } else {
            Calibration c = calibration != null ? Calibration.load(calibration)
                    : calibrateOnTheFly(in, kv.spec());
            cache = new PackedDecodeCache(in.model, kv.spec(), c);
        }
        long t0 = System.nanoTime();
        Generator.Output outTokens;
        try (cache) {
            outTokens = new Generator(in.model).generate(promptTokens, maxTokens, temperature, seed, cache);
            PrintWriter out = spec.commandLine().getOut();
            out.println(in.tokenizer.decode(outTokens.tokens()));
            double s = (System.nanoTime() - t0) / 1e9;
            // the generator stops at the model's context; say so rather than silently deliver fewer tokens
            int context = in.model.config().seqLen();
            String cut = (long) promptTokens.length + maxTokens > context
                    ? ", stopped at the model's context of " + context + " tokens" : "";
            spec.commandLine().getErr().printf(Locale.ROOT, "[%d new tokens%s, %.1f tok/s, kv %s, cache %.2f bits/element incl. page slack and side data]%n",
                    outTokens.generated().length, cut, outTokens.generated().length / Math.max(s, 1e-9), kv.name(),
                    cache.effectiveBits());
        }
        return 0;
    }

    private static Calibration calibrateOnTheFly(ModelInputs in, QuantSpec spec) {
        var root = dev.kvq.model.DataRoot.configured();
        var data = root.isPresent()
                ? in.calibrationData(root.get().resolve(dev.kvq.model.DataRoot.TINYSTORIES), CalibrationData.DEFAULT_WINDOWS,
                        CalibrationData.DEFAULT_LENGTH)
                : in.generatedCalibrationData(CalibrationData.DEFAULT_WINDOWS, CalibrationData.DEFAULT_LENGTH);
        return data.calibrate(spec, "kvq generate");
    }
}
