package dev.kvq.cli;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.quant.MemoryMath;
import dev.kvq.quant.QuantSpec;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine;

/**
 * {@code kvq plan}: the longest context whose KV cache fits beside the weights, per KV mode (spec §11,
 * the paper's accounting). Reproduces the paper's claims (LLaMA-7B: 1M tokens with nuq2 on one 80 GB
 * GPU, 10M on eight) and flags its LLaMA-65B figure that matches 128K tokens, not the 32K it states.
 */
@Command(name = "plan", mixinStandardHelpOptions = true,
        description = "Longest context that fits in GPU memory per KV mode, with the byte breakdown.")
final class PlanCommand implements Callable<Integer> {
    /** Model geometry and parameter count. */
    record Preset(int layers, int heads, int kvHeads, int headDim, double parameters) {}

    static final Map<String, Preset> PRESETS = new LinkedHashMap<>();

    static {
        PRESETS.put("llama-7b", new Preset(32, 32, 32, 128, 6.74e9));
        PRESETS.put("llama-13b", new Preset(40, 40, 40, 128, 13.0e9));
        PRESETS.put("llama-30b", new Preset(60, 52, 52, 128, 32.5e9));
        PRESETS.put("llama-65b", new Preset(80, 64, 64, 128, 65.2e9));
        PRESETS.put("llama2-7b", new Preset(32, 32, 32, 128, 6.74e9));
        PRESETS.put("llama2-70b", new Preset(80, 64, 8, 128, 69.0e9));
        PRESETS.put("llama3-8b", new Preset(32, 32, 8, 128, 8.03e9));
        PRESETS.put("llama3-70b", new Preset(80, 64, 8, 128, 70.6e9));
        PRESETS.put("mistral-7b", new Preset(32, 32, 8, 128, 7.24e9));
    }

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", defaultValue = "llama-7b",
            description = "llama-7b|llama-13b|llama-30b|llama-65b|llama2-7b|llama2-70b|llama3-8b|llama3-70b|mistral-7b|custom (default: ${DEFAULT-VALUE}).")
    String model;

    @Option(names = "--memory", defaultValue = "80GiB", description = "Memory per GPU, e.g. 80GiB, 80GB, 48GiB (default: ${DEFAULT-VALUE}).")
    String memory;

    @Option(names = "--gpus", defaultValue = "1", description = "GPUs (default: ${DEFAULT-VALUE}).")
    int gpus;

    @Option(names = "--weights", defaultValue = "fp16", description = "fp16 or int4 weights (default: ${DEFAULT-VALUE}).")
    String weights;

    @Option(names = "--kv", split = ",", defaultValue = "fp16,nuq4-1%,nuq3-1%,nuq2-1%,nuq2",
            description = "KV modes (default: ${DEFAULT-VALUE}).")
    String[] modes;

    @Option(names = "--layers", description = "custom: layers.")
    Integer layers;

    @Option(names = "--heads", description = "custom: query heads.")
    Integer heads;

    @Option(names = "--kv-heads", description = "custom: KV heads.")
    Integer kvHeads;

    @Option(names = "--head-dim", description = "custom: head dim.")
    Integer headDim;

    @Option(names = "--parameters", description = "custom: parameter count, e.g. 7e9.")
    Double parameters;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    @CommandLine.Mixin
    CommonOptions.Verbose verbose;

    @Override
    public Integer call() {
        Preset p = preset();
        double perGpu = parseBytes(memory);
        if (gpus < 1) {
            throw usage("--gpus must be at least 1, got " + gpus);
        }
        double weightBytes = switch (weights) {
            case "fp16" -> 2.0 * p.parameters();
            case "int4" -> 0.5 * p.parameters();
            default -> throw usage("--weights must be fp16 or int4, got '" + weights + "'");
        };
        AttentionShape shape;
        try {
            shape = new AttentionShape(p.layers(), p.heads(), p.kvHeads(), p.headDim());
        } catch (IllegalArgumentException e) {
            throw usage(e.getMessage());
        }
        double budget = perGpu * gpus - weightBytes;
        if (budget <= 0) {
            throw usage(String.format(Locale.ROOT, "the %s weights (%.1f GiB) do not fit in %d × %s", weights,
                    weightBytes / GIB, gpus, memory));
        }
        List<Map<String, Object>> rows = new ArrayList<>();
        for (String m : modes) {
            QuantSpec s = Usage.quantSpec(spec, m);
            long tokens = MemoryMath.maxTokens(shape, s, budget, MemoryMath.Accounting.PAPER);
            double bits = MemoryMath.effectiveBits(s, shape.kvChannels(), shape.kvHeads(), 0, MemoryMath.Accounting.PAPER);
            double perToken = 2.0 * shape.layers() * shape.kvChannels() * bits / 8;
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("kv", s.name());
            row.put("bits_per_element", bits);
            row.put("kv_bytes_per_token", perToken);
            row.put("max_tokens", tokens);
            row.put("kv_bytes_at_max", MemoryMath.bytes(shape, s, tokens, MemoryMath.Accounting.PAPER));
            row.put("compression_vs_fp16", 16.0 / bits);
            rows.add(row);
        }
        List<String> notes = notes(p, shape);
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            Map<String, Object> root = new LinkedHashMap<>();
            root.put("model", model);
            root.put("layers", p.layers());
            root.put("query_heads", p.heads());
            root.put("kv_heads", p.kvHeads());
            root.put("head_dim", p.headDim());
            root.put("gpus", gpus);
            root.put("memory_per_gpu_bytes", perGpu);
            root.put("weights", weights);
            root.put("weight_bytes", weightBytes);
            root.put("kv_budget_bytes", budget);
            root.put("modes", rows);
            root.put("notes", notes);
            out.println(Json.value(root));
            return 0;
        }
        out.printf(Locale.ROOT, "%s (%s), %d × %s, %s weights %.1f GiB → %.1f GiB for the KV cache%n", model,
                shape.describe(), gpus, memory, weights, weightBytes / GIB, budget / GIB);
        out.printf(Locale.ROOT, "%-9s %8s %12s %22s %10s %8s%n", "kv", "bits", "KiB/token", "max context", "KV GiB", "×fp16");
        for (Map<String, Object> r : rows) {
            out.printf(Locale.ROOT, "%-9s %8.3f %12.1f %22s %10.1f %8.2f%n", r.get("kv"), (double) r.get("bits_per_element"),
                    (double) r.get("kv_bytes_per_token") / 1024, tokensText((long) r.get("max_tokens")),
                    (double) r.get("kv_bytes_at_max") / GIB, (double) r.get("compression_vs_fp16"));
        }
        out.println("bits: per K/V element in the paper's accounting (1% outliers as fp16 value + int16 index, a 32-bit");
        out.println("pointer per token, fp16 value scale and zero); the runtime's fixed slots cost about the same.");
        for (String n : notes) {
            out.println("note: " + n);
        }
        return 0;
    }

    private static final double GIB = 1024.0 * 1024 * 1024;

    private static String tokensText(long tokens) {
        if (tokens >= 1 << 20) {
            return String.format(Locale.ROOT, "%,d (%.2fM)", tokens, tokens / 1e6);
        }
        return String.format(Locale.ROOT, "%,d (%.0fK)", tokens, tokens / 1024.0);
    }

    private List<String> notes(Preset p, AttentionShape shape) {
        List<String> notes = new ArrayList<>();
        if (model.equals("llama-65b")) {
            double at128k = MemoryMath.bytes(shape, QuantSpec.parse("nuq2-1%"), 128 * 1024, MemoryMath.Accounting.PAPER) / GIB;
            double at32k = MemoryMath.bytes(shape, QuantSpec.parse("nuq2-1%"), 32 * 1024, MemoryMath.Accounting.PAPER) / GIB;
            notes.add(String.format(Locale.ROOT, "the paper quotes 30.3 GB of 4-bit weights + 46.5 GB of nuq2-1%% KV for "
                    + "\"32K tokens\" on one A100; nuq2-1%% KV is %.1f GiB at 32K and %.1f GiB at 128K, so its 46.5 GB is "
                    + "a 128K context (KVQUANT-SPEC §11, §15.11)", at32k, at128k));
        }
        return notes;
    }

    private Preset preset() {
        if (model.equals("custom")) {
            if (layers == null || heads == null || kvHeads == null || headDim == null || parameters == null) {
                throw usage("--model custom needs --layers, --heads, --kv-heads, --head-dim and --parameters");
            }
            if (layers < 1 || heads < 1 || kvHeads < 1 || !(parameters > 0)) {
                throw usage("custom model sizes must be positive");
            }
            return new Preset(layers, heads, kvHeads, headDim, parameters);
        }
        Preset p = PRESETS.get(model);
        if (p == null) {
            throw usage("unknown model '" + model + "' (expected " + String.join(", ", PRESETS.keySet()) + " or custom)");
        }
        return p;
    }

    private static final Pattern BYTES = Pattern.compile("(?i)\\s*([0-9]+(?:\\.[0-9]+)?)\\s*(B|KB|KiB|MB|MiB|GB|GiB|TB|TiB)\\s*");

    private double parseBytes(String text) {
        Matcher m = BYTES.matcher(text);
        if (!m.matches()) {
            throw usage("--memory must look like 80GiB or 80GB, got '" + text + "'");
        }
        double v = Double.parseDouble(m.group(1));
        double unit = switch (m.group(2).toLowerCase(Locale.ROOT)) {
            case "b" -> 1;
            case "kb" -> 1e3;
            case "kib" -> 1024;
            case "mb" -> 1e6;
            case "mib" -> 1024.0 * 1024;
            case "gb" -> 1e9;
            case "gib" -> GIB;
            case "tb" -> 1e12;
            default -> GIB * 1024;
        };
        if (!(v > 0)) {
            throw usage("--memory must be positive, got '" + text + "'");
        }
        return v * unit;
    }

    private CommandLine.ParameterException usage(String message) {
        return new CommandLine.ParameterException(spec.commandLine(), message);
    }
}
