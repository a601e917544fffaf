package dev.kvq.bench.jmh;

import dev.kvq.bench.SyntheticLayer;
import dev.kvq.cache.Backend;
import dev.kvq.cache.KvCache;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.Rope;
import dev.kvq.geometry.RopePairing;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.QuantSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * One LLaMA-7B-shaped layer (32 heads × 128, MHA) at a very long context on the CPU: prefill append
 * throughput, decode-token append time and decode attention time, each reported as a median with its
 * spread. Not JMH: a 1M-token setup takes minutes, so the measurements are repeated inside one setup.
 *
 * <p>With {@code --backing mmap} the filled cache is also saved as a snapshot and opened again from
 * the file ({@link KvCache#openSnapshot}), whose full pages are then read from the memory-mapped
 * file instead of the arena; attention alternates between the two caches run by run. The save and
 * open times are reported too.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx6g \
 *      -cp tests/target/benchmarks.jar dev.kvq.bench.jmh.LongContextBenchmark \
 *      [--tokens 1048576] [--kv nuq2-1%] [--backing arena|mmap] [--dir /tmp] [--runs 9] [--warmup 3]
 *      [--threads N] [--pairing rotate-half|interleaved]
 * </pre>
 */
public final class LongContextBenchmark {
    private LongContextBenchmark() {}

    /**
     * Runs the benchmark and prints one line per measurement.
     *
     * @param args the options above
     * @throws IOException if the snapshot cannot be written or opened
     */
    public static void main(String[] args) throws IOException {
        int tokens = 1 << 20;
        String kv = "nuq2-1%";
        String backing = "arena";
        Path dir = Path.of(System.getProperty("java.io.tmpdir"));
        int runs = 9;
        int warmup = 3;
        int threads = 0;
        RopePairing pairing = RopePairing.ROTATE_HALF;
        for (int i = 0; i < args.length; i++) {
            String value = i + 1 < args.length ? args[i + 1] : null;
            switch (args[i]) {
                case "--tokens" -> tokens = Integer.parseInt(value);
                case "--kv" -> kv = value;
                case "--backing" -> backing = value;
                case "--dir" -> dir = Path.of(value);
                case "--runs" -> runs = Integer.parseInt(value);
                case "--warmup" -> warmup = Integer.parseInt(value);
                case "--threads" -> threads = Integer.parseInt(value);
                case "--pairing" -> pairing = switch (String.valueOf(value)) {
                    case "rotate-half" -> RopePairing.ROTATE_HALF;
                    case "interleaved" -> RopePairing.INTERLEAVED;
                    default -> throw new IllegalArgumentException("--pairing must be rotate-half or interleaved");
                };
                default -> throw new IllegalArgumentException("unknown option " + args[i]
                        + " (--tokens N, --kv MODE, --backing arena|mmap, --dir DIR, --runs N, --warmup N, --threads N, "
                        + "--pairing rotate-half|interleaved)");
            }
            i++;
        }
        if (!backing.equals("arena") && !backing.equals("mmap")) {
            throw new IllegalArgumentException("--backing must be arena or mmap, got " + backing);
        }
        Backend backend = Backend.cpu().withThreads(threads);
        AttentionShape shape = new AttentionShape(1, 32, 32, 128, Rope.of(10000, pairing, 128));
        QuantSpec spec = QuantSpec.parse(kv);
        SyntheticLayer layer = new SyntheticLayer(shape, 7);
        Calibration calibration = spec.quantized() ? layer.calibrate(spec) : null;
        System.out.printf(Locale.ROOT, "long-context: 1 layer, 32 query / 32 KV heads × 128, %s, %d tokens, backing %s,"
                + " %d cores, %d SIMD lanes, %d threads, %s RoPE%n", spec.name(), tokens, backing,
                Runtime.getRuntime().availableProcessors(), Backend.simdLanes(), backend.cpuThreads(), pairing);

        KvCache cache = KvCache.open(shape, spec, calibration, backend);
        try {
            // prefill: 2,048-token appends; each one is a measurement (token generation not timed)
            int d = shape.kvChannels();
            int chunk = SyntheticLayer.BLOCK;
            float[] k = new float[chunk * d];
            float[] v = new float[chunk * d];
            List<Double> perToken = new ArrayList<>();
            long appendNanos = 0;
            long wallStart = System.nanoTime();
            for (int from = 0; from < tokens; from += chunk) {
                int m = Math.min(chunk, tokens - from);
                layer.tokens(from, m, k, v);
                float[] kk = m == chunk ? k : Arrays.copyOf(k, m * d);
                float[] vv = m == chunk ? v : Arrays.copyOf(v, m * d);
                long t0 = System.nanoTime();
                cache.append(0, kk, vv);
                long dt = System.nanoTime() - t0;
                appendNanos += dt;
                perToken.add(dt / 1e3 / m);
            }
            long wall = System.nanoTime() - wallStart;
            System.out.printf(Locale.ROOT, "prefill append: %d tokens in %.1f s inside append (%.1f s wall), "
                            + "%.0f tokens/s; per-token µs over %d chunks: %s%n", tokens, appendNanos / 1e9, wall / 1e9,
                    tokens / (appendNanos / 1e9), perToken.size(), spread(perToken));
            System.out.println("memory: " + cache.memory());

            KvCache mapped = null;
            if (backing.equals("mmap")) {
                Files.createDirectories(dir);
                Path file = dir.resolve("kvq-long-context.kvqsnap");
                long t0 = System.nanoTime();
                cache.save(file);
                long save = System.nanoTime() - t0;
                t0 = System.nanoTime();
                KvCache probe = KvCache.openSnapshot(file, calibration, backend, false);
                long openLazy = System.nanoTime() - t0;
                probe.close();
                t0 = System.nanoTime();
                mapped = KvCache.openSnapshot(file, calibration, backend);
                long openVerified = System.nanoTime() - t0;
                System.out.printf(Locale.ROOT, "snapshot: %.2f GiB written in %.2f s (with fsync); opened in %.3f s "
                                + "without, %.2f s with page checksums; file %s%n", Files.size(file) / (double) (1L << 30),
                        save / 1e9, openLazy / 1e9, openVerified / 1e9, file);
            }

            // decode attention; with mmap the arena and the mapped cache alternate run by run, so that
            // load from other processes on this shared machine hits both alike
            float[] query = layer.query(1);
            float[] out = new float[query.length];
            List<Double> attend = new ArrayList<>();
            List<Double> attendMapped = new ArrayList<>();
            for (int r = 0; r < warmup + runs; r++) {
                long t0 = System.nanoTime();
                cache.attend(0, query, out);
                long dt = System.nanoTime() - t0;
                if (r >= warmup) {
                    attend.add(dt / 1e6);
                }
                if (mapped != null) {
                    t0 = System.nanoTime();
                    mapped.attend(0, query, out);
                    dt = System.nanoTime() - t0;
                    if (r >= warmup) {
                        attendMapped.add(dt / 1e6);
                    }
                }
            }
            System.out.printf(Locale.ROOT, "decode attention, arena (%d tokens): ms over %d runs after %d warm-up: %s%n",
                    cache.length(0), runs, warmup, spread(attend));
            if (mapped != null) {
                System.out.printf(Locale.ROOT, "decode attention, mapped snapshot (%d tokens): ms over %d runs after %d "
                        + "warm-up: %s%n", mapped.length(0), runs, warmup, spread(attendMapped));
                mapped.close();
            }

            // decode-token appends (one token at a time, as in generation)
            float[] k1 = new float[d];
            float[] v1 = new float[d];
            List<Double> single = new ArrayList<>();
            for (int i = 0; i < 2000; i++) {
                layer.tokens(tokens + i, 1, k1, v1);
                long t0 = System.nanoTime();
                cache.append(0, k1, v1);
                long dt = System.nanoTime() - t0;
                if (i >= 500) {
                    single.add(dt / 1e3);
                }
            }
            System.out.printf(Locale.ROOT, "decode append (1 token): µs over 1500 appends after 500 warm-up: %s%n",
                    spread(single));
        } finally {
            cache.close();
            if (backing.equals("mmap")) {
                Files.deleteIfExists(dir.resolve("kvq-long-context.kvqsnap"));
            }
        }
    }

    /** median [min, p10, p90, max] of the samples. */
    static String spread(List<Double> samples) {
        double[] s = samples.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        int n = s.length;
        return String.format(Locale.ROOT, "median %.3f [min %.3f, p10 %.3f, p90 %.3f, max %.3f]",
                n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2, s[0], s[(int) (0.1 * (n - 1))],
                s[(int) Math.ceil(0.9 * (n - 1))], s[n - 1]);
    }
}
