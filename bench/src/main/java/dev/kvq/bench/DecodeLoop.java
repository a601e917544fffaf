package dev.kvq.bench;

import dev.kvq.cache.Backend;
import dev.kvq.cache.KvCache;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.Rope;
import dev.kvq.geometry.RopePairing;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.QuantSpec;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Arrays;
import java.util.Locale;

/**
 * One LLaMA-7B-shaped layer's CPU decode step (or its key scores) run back to back for a while on one
 * thread, for a sampling profiler attached to the process ({@code perf record -p}, with the JVM's
 * {@code -XX:+DumpPerfMapAtExit} so that compiled methods have names). The cache is filled first; the
 * line {@code READY} on stderr marks the start of the loop; the end prints the median and the minimum CPU
 * time per step. Short alternating runs of two builds, compared by their medians, are how the kernel
 * changes in {@code docs/BENCHMARKS.md} were measured on a noisy shared machine.
 *
 * <pre>{@code
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp cli/target/kvq.jar \
 *     dev.kvq.bench.DecodeLoop nuq3-1% 32768 32 5 [decode|keys]
 * }</pre>
 */
public final class DecodeLoop {
    private DecodeLoop() {}

    /**
     * Runs the loop and prints its summary line.
     *
     * @param args see {@link #run}
     */
    public static void main(String[] args) {
        System.out.println(run(args));
    }

    /**
     * Runs the loop.
     *
     * @param args MODE (a KV mode or preset), TOKENS, KV_HEADS (32 = MHA, 8 = GQA 4:1), SECONDS, and
     *             optionally {@code decode} (the default) or {@code keys}
     * @return the summary: mode, what ran, median and minimum CPU ms per step, steps
     */
    public static String run(String[] args) {
        if (args.length < 4 || args.length > 5) {
            throw new IllegalArgumentException("usage: DecodeLoop MODE TOKENS KV_HEADS SECONDS [decode|keys]");
        }
        String mode = args[0];
        int tokens = Integer.parseInt(args[1]);
        int kvHeads = Integer.parseInt(args[2]);
        double seconds = Double.parseDouble(args[3]);
        boolean keysOnly = args.length == 5 && args[4].equals("keys");
        if (args.length == 5 && !keysOnly && !args[4].equals("decode")) {
            throw new IllegalArgumentException("what to loop must be decode or keys, not " + args[4]);
        }
        if (tokens < 1 || !(seconds > 0)) {
            throw new IllegalArgumentException("TOKENS and SECONDS must be positive: " + tokens + ", " + seconds);
        }
        AttentionShape shape = new AttentionShape(1, 32, kvHeads, 128, Rope.of(10000, RopePairing.ROTATE_HALF, 128));
        SyntheticLayer layer = new SyntheticLayer(shape, 7);
        QuantSpec spec = QuantSpec.parse(QuantSpec.PRESETS.getOrDefault(mode, mode));
        Calibration calibration = spec.quantized() ? layer.calibrate(spec) : null;
        try (KvCache cache = KvCache.open(shape, spec, calibration, Backend.cpu().withThreads(1))) {
            layer.fill(cache, tokens);
            float[] query = layer.query(1);
            float[] out = new float[query.length];
            float[] scores = new float[shape.queryHeads() * tokens];
            Runnable step = keysOnly ? () -> cache.keyScores(0, query, scores) : () -> cache.attend(0, query, out);
            for (int i = 0; i < 20; i++) {
                step.run();
            }
            System.err.println("READY");
            ThreadMXBean clocks = ManagementFactory.getThreadMXBean();
            double[] ms = new double[1024];
            int runs = 0;
            long end = System.nanoTime() + (long) (seconds * 1e9);
            while (System.nanoTime() < end) {
                long start = clocks.getCurrentThreadCpuTime();
                step.run();
                if (runs == ms.length) {
                    ms = Arrays.copyOf(ms, 2 * runs);
                }
                ms[runs++] = (clocks.getCurrentThreadCpuTime() - start) / 1e6;
            }
            double[] taken = Arrays.copyOf(ms, runs);
            Arrays.sort(taken);
            return String.format(Locale.ROOT, "%s %s %d tokens, %d KV heads: median %.2f min %.2f CPU ms per step (%d steps)",
                    spec.name(), keysOnly ? "keys" : "decode", tokens, kvHeads, Timing.median(taken), taken[0], runs);
        }
    }
}
