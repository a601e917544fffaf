package dev.kvq.bench;

import dev.kvq.cache.Backend;
import dev.kvq.cache.KvCache;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.layout.MemoryReport;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.QuantSpec;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The CPU decode benchmark of {@code kvq bench}: one {@link SyntheticLayer} per run, and per KV mode
 * and context length a cache on the CPU backend filled with it, then key scores, the value matvec and
 * a whole decode step timed as medians of repeated runs after warm-up ({@link Timing}).
 */
public final class CpuBench {
    private CpuBench() {}

    /**
     * One mode at one length.
     *
     * @param tokens           context length
     * @param kv               KV mode
     * @param keyScoresMs      key scores, median ms
     * @param valueMatvecMs    value matvec, median ms
     * @param decodeMs         a whole decode step (scores, softmax, values), median ms
     * @param appendUsPerToken filling the cache, µs per token
     * @param bytesPerToken    the cache's allocated bytes per token
     * @param effectiveBits    bits per stored element, counting everything allocated
     * @param keyScoresCpuMs   key scores, median CPU ms summed over threads (see {@link Timing})
     * @param valueMatvecCpuMs value matvec, median CPU ms
     * @param decodeCpuMs      decode step, median CPU ms
     */
    public record Row(int tokens, String kv, double keyScoresMs, double valueMatvecMs, double decodeMs,
                      double appendUsPerToken, double bytesPerToken, double effectiveBits, double keyScoresCpuMs,
                      double valueMatvecCpuMs, double decodeCpuMs) implements BenchRow {}

    /**
     * Measures every mode at every length (lengths outer), calibrating each quantized mode once.
     *
     * @param shape    the layer (one layer is used)
     * @param specs    the KV modes
     * @param tokens   the context lengths
     * @param threads  threads a decode step runs on (the caller included; 0 = the backend's default)
     * @param warmup   untimed runs per measurement
     * @param repeat   timed runs per measurement
     * @param progress receives what is being done
     * @param step     runs after each measurement
     * @return one row per length and mode
     */
    public static List<Row> run(AttentionShape shape, List<QuantSpec> specs, int[] tokens, int threads, int warmup,
                                int repeat, Consumer<String> progress, Runnable step) {
        Backend backend = Backend.cpu().withThreads(threads);
        SyntheticLayer layer = new SyntheticLayer(shape, 7);
        Map<String, Calibration> calibrations = new LinkedHashMap<>();
        List<Row> rows = new ArrayList<>();
        for (int n : tokens) {
            for (QuantSpec s : specs) {
                Calibration cal = null;
                if (s.quantized()) {
                    cal = calibrations.computeIfAbsent(s.name(), k -> {
                        progress.accept("calibrating " + k);
                        return layer.calibrate(s);
                    });
                }
                progress.accept(String.format(Locale.ROOT, "%d tokens, %s", n, s.name()));
                rows.add(measure(layer, s, cal, n, backend, warmup, repeat));
                step.run();
            }
        }
        return rows;
    }

    private static Row measure(SyntheticLayer layer, QuantSpec s, Calibration cal, int n, Backend backend, int warmup,
                               int repeat) {
        AttentionShape shape = layer.shape();
        try (KvCache cache = KvCache.open(shape, s, cal, backend)) {
            long appendNanos = layer.fill(cache, n);
            MemoryReport memory = cache.memory();
            float[] q = layer.query(1);
            float[] scores = new float[shape.queryHeads() * n];
            float[] out = new float[q.length];
            Timing.Medians key = Timing.medians(() -> cache.keyScores(0, q, scores), warmup, repeat);
            SyntheticLayer.softmaxRows(scores, shape.queryHeads(), n);
            Timing.Medians value = Timing.medians(() -> cache.valueMatvec(0, scores, out), warmup, repeat);
            Timing.Medians decode = Timing.medians(() -> cache.attend(0, q, out), warmup, repeat);
            return new Row(n, s.name(), key.wallMs(), value.wallMs(), decode.wallMs(), appendNanos / 1e3 / n,
                    (double) memory.totalBytes() / n, memory.effectiveBits(), key.cpuMs(), value.cpuMs(),
                    decode.cpuMs());
        }
    }
}
