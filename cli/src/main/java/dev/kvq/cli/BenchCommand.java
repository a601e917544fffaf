package dev.kvq.cli;

import dev.kvq.bench.BenchRow;
import dev.kvq.bench.CpuBench;
import dev.kvq.bench.CudaBench;
import dev.kvq.cache.Backend;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.Rope;
import dev.kvq.geometry.RopePairing;
import dev.kvq.quant.QuantSpec;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine;

/**
 * {@code kvq bench}: decode-attention timings of one LLaMA-7B-shaped layer (32 query heads, head dim
 * 128) per KV mode and context length, with the speed-up of every mode over fp16 measured in the
 * same run. Medians of repeated runs after warm-up; no JMH (see docs/BENCHMARKS.md for that). The
 * harnesses are the bench module's ({@link CpuBench}, {@link CudaBench}); this command parses the
 * options and prints the results.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Time key scores, value matvec, decode attention and append per KV mode on one "
                + "LLaMA-7B-shaped layer; print speed-ups over fp16 and bytes per token.")
final class BenchCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--backend", defaultValue = "cpu",
            description = "cpu, or cuda: kernel times with CUDA events, bandwidth against the device copy bandwidth, "
                    + "and a full decode step (its defaults: 2K, 16K, 128K and 1M tokens; fp16 and nuq4/3/2 "
                    + "with 1 percent outliers).")
    String backend;

    @Option(names = "--decode", defaultValue = "nuq2-1%@1048576x32",
            description = "cuda only: one decode step over all layers of a model-shaped cache, MODE@TOKENSxLAYERS, "
                    + "or none (default: ${DEFAULT-VALUE}).")
    String decode;

    @Option(names = "--batch", defaultValue = "32x32768",
            description = "cuda only: a pool's batched decode step of SEQUENCESxTOKENS (nuq3-1%%) against one sequence "
                    + "of as many tokens, or none (default: ${DEFAULT-VALUE}).")
    String batch;

    @Option(names = "--tokens", split = ",", defaultValue = "4096,32768,131072",
            description = "Context lengths (default: ${DEFAULT-VALUE}).")
    int[] tokens;

    @Option(names = "--kv", split = ",", defaultValue = "fp16,fp32,nuq4-1%,nuq3-1%,nuq2-1%",
            description = "KV modes (default: ${DEFAULT-VALUE}).")
    String[] modes;

    @Option(names = "--kv-heads", defaultValue = "32", description = "KV heads (32 = MHA, 8 = GQA 4:1).")
    int kvHeads;

    @Option(names = "--query-heads", defaultValue = "32", description = "Query heads.")
    int queryHeads;

    @Option(names = "--head-dim", defaultValue = "128", description = "Head dim.")
    int headDim;

    @Option(names = "--threads", defaultValue = "0",
            description = "cpu only: threads a decode step runs on (0 = -Dkvq.threads, else the available cores).")
    int threads;

    @Option(names = "--pairing", defaultValue = "rotate-half",
            description = "RoPE pairing of the layer: rotate-half (LLaMA in Hugging Face) or interleaved (Meta).")
    String pairing;

    @Option(names = "--warmup", defaultValue = "15", description = "Warm-up runs per measurement.")
    int warmup;

    @Option(names = "--repeat", defaultValue = "9", description = "Measured runs per measurement (median reported).")
    int repeat;

    @Option(names = "--json", description = "Print one JSON object with every figure.")
    boolean json;

    @Option(names = "--plot", description = "Also draw decode-attention time against context length per mode into this PNG.")
    java.nio.file.Path plot;

    @CommandLine.Mixin
    CommonOptions.Quiet quiet;

    @CommandLine.Mixin
    CommonOptions.Verbose verbose;

    @Override
    public Integer call() {
        if (!backend.equals("cpu") && !backend.equals("cuda")) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--backend must be cpu or cuda, got " + backend);
        }
        if (repeat < 1 || warmup < 0) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--repeat must be >= 1 and --warmup >= 0");
        }
        List<QuantSpec> specs = new ArrayList<>();
        for (String m : modes) {
            specs.add(Usage.quantSpec(spec, m));
        }
        for (int n : tokens) {
            if (n < 1 || n > 4_000_000) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--tokens must be in [1, 4000000], got " + n);
            }
        }
        if (threads < 0 || threads > Backend.MAX_THREADS) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--threads must be in [0, " + Backend.MAX_THREADS + "], got " + threads);
        }
        RopePairing ropePairing = switch (pairing) {
            case "rotate-half" -> RopePairing.ROTATE_HALF;
            case "interleaved" -> RopePairing.INTERLEAVED;
            default -> throw new CommandLine.ParameterException(spec.commandLine(),
                    "--pairing must be rotate-half or interleaved, got " + pairing);
        };
        AttentionShape shape = optionValue(() -> new AttentionShape(1, queryHeads, kvHeads, headDim,
                Rope.of(10000, ropePairing, headDim)));
        if (backend.equals("cuda")) {
            return cuda(specs);
        }
        PrintWriter err = spec.commandLine().getErr();
        List<CpuBench.Row> rows;
        try (Progress bar = Progress.start("kvq bench", (long) tokens.length * specs.size(), quiet.on)) {
            rows = CpuBench.run(shape, specs, tokens, threads, warmup, repeat, bar::message, bar::step);
        }
        PrintWriter out = spec.commandLine().getOut();
        if (plot != null) {
            List<Plots.Point> points = new ArrayList<>();
            for (CpuBench.Row r : rows) {
                points.add(new Plots.Point(r.kv(), r.tokens(), r.decodeMs()));
            }
            try {
                Plots.timeVsContext(plot, String.format(Locale.ROOT, "Decode attention, one layer (%d/%d heads × %d), cpu",
                        shape.queryHeads(), shape.kvHeads(), shape.headDim()), "decode attention (ms, log scale)", points);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException("cannot write " + plot + ": " + e.getMessage(), e);
            }
            err.println("bench: wrote " + plot);
        }
        if (json) {
            out.println(Json.value(toJson(shape, rows)));
        } else {
            printTable(out, shape, rows);
        }
        return 0;
    }


    /** {@code --backend cuda}: the GPU benchmark ({@link CudaBench}), with this command's options. */
    private int cuda(List<QuantSpec> specs) {
        var parsed = spec.commandLine().getParseResult();
        CudaBench.Options d = CudaBench.Options.defaults();
        int[] lengths = parsed.hasMatchedOption("--tokens") ? tokens : d.tokens();
        List<String> names = new ArrayList<>();
        if (parsed.hasMatchedOption("--kv")) {
            for (QuantSpec s : specs) {
                if (s.mode() == QuantSpec.Mode.FP32) {
                    throw new CommandLine.ParameterException(spec.commandLine(),
                            "--backend cuda has no fp32 kernels; choose from fp16 and nuq modes");
                }
                names.add(s.name());
            }
        } else {
            names.addAll(d.modes());
        }
        CudaBench.Decode step = optionValue(() -> CudaBench.Decode.parse(decode));
        String decodeMode = step == null ? null : Usage.quantSpec(spec, step.mode()).name();
        CudaBench.Batch batched = optionValue(() -> CudaBench.Batch.parse(batch));
        try {
            Backend.cuda();
        } catch (IllegalStateException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--backend cuda: " + e.getMessage());
        }
        CudaBench.Options o = new CudaBench.Options(lengths, names, queryHeads, kvHeads, headDim,
                parsed.hasMatchedOption("--warmup") ? warmup : d.warmup(),
                parsed.hasMatchedOption("--repeat") ? repeat : d.repeat(), decodeMode, step == null ? 0 : step.tokens(),
                step == null ? 0 : step.layers(), batched == null ? 0 : batched.sequences(),
                batched == null ? 0 : batched.tokens());
        PrintWriter err = quiet.on ? new PrintWriter(java.io.Writer.nullWriter()) : spec.commandLine().getErr();
        CudaBench.Result r = CudaBench.run(o, err);
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.println(Json.value(cudaJson(o, r)));
        } else {
            CudaBench.print(r, o, out);
        }
        return 0;
    }

    /** An option's parsed value; one it cannot use is a usage error with the parser's message. */
    private <T> T optionValue(java.util.function.Supplier<T> parse) {
        try {
            return parse.get();
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
    }

    private static Map<String, Object> cudaJson(CudaBench.Options o, CudaBench.Result r) {
        Map<String, Object> root = new LinkedHashMap<>();
        Map<String, Object> setup = new LinkedHashMap<>();
        setup.put("backend", "cuda");
        setup.put("device", r.device());
        setup.put("query_heads", o.queryHeads());
        setup.put("kv_heads", o.kvHeads());
        setup.put("head_dim", o.headDim());
        setup.put("warmup", o.warmup());
        setup.put("repeat", o.repeat());
        setup.put("copy_bandwidth_gbps", r.copyGBps());
        root.put("setup", setup);
        List<Object> results = new ArrayList<>();
        for (CudaBench.Row row : r.rows()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("tokens", row.tokens());
            m.put("kv", row.kv());
            m.put("key_scores_ms", row.keyScoresMs());
            m.put("value_matvec_ms", row.valuesMs());
            m.put("softmax_ms", row.softmaxMs());
            m.put("decode_step_ms", row.stepMs());
            m.put("key_scores_gbps", row.keyGBps());
            m.put("value_matvec_gbps", row.valueGBps());
            m.put("key_scores_copy_fraction", row.copyFraction());
            m.put("value_matvec_copy_fraction", row.valueCopyFraction());
            m.put("decode_step_copy_fraction", row.stepCopyFraction());
            results.add(m);
        }
        root.put("results", results);
        if (!Double.isNaN(r.decodeStepMs())) {
            Map<String, Object> step = new LinkedHashMap<>();
            step.put("kv", r.decodeMode());
            step.put("tokens", r.decodeTokens());
            step.put("layers", r.decodeLayers());
            step.put("gpu_ms", r.decodeStepMs());
            step.put("attend_calls_ms", r.decodeHostStepMs());
            root.put("decode_step", step);
        }
        if (!Double.isNaN(r.batchMs())) {
            Map<String, Object> b = new LinkedHashMap<>();
            b.put("kv", CudaBench.Batch.MODE);
            b.put("sequences", o.batchSequences());
            b.put("tokens_each", o.batchTokens());
            b.put("batched_step_ms", r.batchMs());
            b.put("one_sequence_ms", r.batchSingleMs());
            b.put("bandwidth_fraction", r.batchSingleMs() / r.batchMs());
            root.put("batched_step", b);
        }
        return root;
    }

    private void printTable(PrintWriter out, AttentionShape shape, List<CpuBench.Row> rows) {
        out.printf(Locale.ROOT, "kvq bench: one layer, %d query heads / %d KV heads × head dim %d, batch 1, cpu, "
                        + "%s, %d cores, %d threads, %s RoPE; medians of %d runs%n", shape.queryHeads(), shape.kvHeads(),
                shape.headDim(), Backend.simdLanes() == 0 ? "scalar" : Backend.simdLanes() + " SIMD lanes",
                Runtime.getRuntime().availableProcessors(), Backend.cpu().withThreads(threads).cpuThreads(), pairing,
                repeat);
        out.printf(Locale.ROOT, "%8s  %-8s  %10s %6s  %10s %6s  %10s %6s  %9s  %10s  %6s%n", "tokens", "kv",
                "keyScores", "×fp16", "valueMatv", "×fp16", "decode", "×fp16", "append", "bytes/tok", "bits");
        out.printf(Locale.ROOT, "%8s  %-8s  %10s %6s  %10s %6s  %10s %6s  %9s  %10s  %6s%n", "", "", "ms", "", "ms", "",
                "ms", "", "µs/tok", "", "");
        for (CpuBench.Row r : rows) {
            CpuBench.Row base = BenchRow.fp16(rows, r.tokens());
            out.printf(Locale.ROOT, "%8d  %-8s  %10.3f %6s  %10.3f %6s  %10.3f %6s  %9.2f  %10.0f  %6.2f%n", r.tokens(),
                    r.kv(), r.keyScoresMs(), ratio(base == null ? Double.NaN : base.keyScoresMs(), r.keyScoresMs()),
                    r.valueMatvecMs(), ratio(base == null ? Double.NaN : base.valueMatvecMs(), r.valueMatvecMs()),
                    r.decodeMs(), ratio(base == null ? Double.NaN : base.decodeMs(), r.decodeMs()),
                    r.appendUsPerToken(), r.bytesPerToken(), r.effectiveBits());
        }
        out.println("×fp16 = fp16 time / this mode's time, measured in this run (above 1 = faster than fp16).");
    }

    private static String ratio(double base, double x) {
        return Double.isNaN(base) ? "-" : String.format(Locale.ROOT, "%.2f", base / x);
    }

    private Map<String, Object> toJson(AttentionShape shape, List<CpuBench.Row> rows) {
        Map<String, Object> root = new LinkedHashMap<>();
        Map<String, Object> setup = new LinkedHashMap<>();
        setup.put("backend", "cpu");
        setup.put("query_heads", shape.queryHeads());
        setup.put("kv_heads", shape.kvHeads());
        setup.put("head_dim", shape.headDim());
        setup.put("simd_lanes", Backend.simdLanes());
        setup.put("cores", Runtime.getRuntime().availableProcessors());
        setup.put("threads", Backend.cpu().withThreads(threads).cpuThreads());
        setup.put("rope_pairing", pairing);
        setup.put("java", Runtime.version().toString());
        setup.put("warmup", warmup);
        setup.put("repeat", repeat);
        root.put("setup", setup);
        List<Object> results = new ArrayList<>();
        for (CpuBench.Row r : rows) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("tokens", r.tokens());
            m.put("kv", r.kv());
            m.put("key_scores_ms", r.keyScoresMs());
            m.put("value_matvec_ms", r.valueMatvecMs());
            m.put("decode_attention_ms", r.decodeMs());
            m.put("key_scores_cpu_ms", r.keyScoresCpuMs());
            m.put("value_matvec_cpu_ms", r.valueMatvecCpuMs());
            m.put("decode_attention_cpu_ms", r.decodeCpuMs());
            m.put("append_us_per_token", r.appendUsPerToken());
            m.put("bytes_per_token", r.bytesPerToken());
            m.put("effective_bits", r.effectiveBits());
            CpuBench.Row base = BenchRow.fp16(rows, r.tokens());
            if (base != null) {
                Map<String, Object> speedup = new LinkedHashMap<>();
                speedup.put("key_scores", base.keyScoresMs() / r.keyScoresMs());
                speedup.put("value_matvec", base.valueMatvecMs() / r.valueMatvecMs());
                speedup.put("decode_attention", base.decodeMs() / r.decodeMs());
                speedup.put("key_scores_cpu", base.keyScoresCpuMs() / r.keyScoresCpuMs());
                speedup.put("value_matvec_cpu", base.valueMatvecCpuMs() / r.valueMatvecCpuMs());
                speedup.put("decode_attention_cpu", base.decodeCpuMs() / r.decodeCpuMs());
                speedup.put("bytes", base.bytesPerToken() / r.bytesPerToken());
                m.put("speedup_vs_fp16", speedup);
            }
            results.add(m);
        }
        root.put("results", results);
        return root;
    }
}
