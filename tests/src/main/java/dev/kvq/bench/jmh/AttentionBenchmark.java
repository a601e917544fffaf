package dev.kvq.bench.jmh;

import dev.kvq.bench.SyntheticLayer;
import dev.kvq.cache.Backend;
import dev.kvq.cache.KvCache;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.Rope;
import dev.kvq.geometry.RopePairing;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.QuantSpec;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Decode attention of one LLaMA-7B layer (32 query heads, head dim 128; {@code kvHeads=8} is the GQA
 * variant), batch 1, per KV mode and context length. The fp16/fp32 baselines store keys post-RoPE and
 * do no RoPE work; everything runs single-threaded on the CPU backend.
 *
 * <pre>java -jar tests/target/benchmarks.jar -f 1 -wi 2 -i 3 'AttentionBenchmark.(keyScores|decodeAttention)'</pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class AttentionBenchmark {
    @Param({"4096", "32768", "131072"})
    public int tokens;

    @Param({"fp32", "fp16", "nuq4-1%", "nuq3-1%", "nuq2-1%"})
    public String kv;

    @Param({"32"})
    public int kvHeads;

    /** Decode threads of the CPU backend (its default is every core; 1 keeps runs comparable across machines). */
    @Param({"1"})
    public int threads;

    private KvCache cache;
    private SyntheticLayer layer;
    private float[] query;
    private float[] scores;
    private float[] weights;
    private float[] out;
    private float[] oneKey;
    private float[] oneValue;
    private int next;

    @Setup(Level.Trial)
    public void setUp() {
        AttentionShape shape = new AttentionShape(1, 32, kvHeads, 128, Rope.of(10000, RopePairing.ROTATE_HALF, 128));
        QuantSpec spec = QuantSpec.parse(kv);
        layer = new SyntheticLayer(shape, 7);
        Calibration calibration = spec.quantized() ? layer.calibrate(spec) : null;
        cache = KvCache.open(shape, spec, calibration, Backend.cpu().withThreads(threads));
        int d = shape.kvChannels();
        layer.fill(cache, tokens);
        query = layer.query(1);
        scores = new float[shape.queryHeads() * tokens];
        weights = new float[shape.queryHeads() * tokens];
        out = new float[query.length];
        cache.keyScores(0, query, weights);
        SyntheticLayer.softmaxRows(weights, shape.queryHeads(), tokens);
        oneKey = new float[d];
        oneValue = new float[d];
        layer.tokens(tokens, 1, oneKey, oneValue);
        next = tokens;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        cache.close();
    }

    /** Q·Kᵀ over the whole context: fused dequantize → RoPE → dot (packed) or a plain dot (fp16/fp32). */
    @Benchmark
    public float[] keyScores() {
        cache.keyScores(0, query, scores);
        return scores;
    }

    /** P·V over the whole context. */
    @Benchmark
    public float[] valueMatvec() {
        cache.valueMatvec(0, weights, out);
        return out;
    }

    /** One full decode step: scores, softmax, values. */
    @Benchmark
    public float[] decodeAttention() {
        cache.attend(0, query, out);
        return out;
    }

    /** Appending one decode token (the cache grows by one token per call). */
    @Benchmark
    public int append() {
        cache.append(0, oneKey, oneValue);
        return next++;
    }
}
