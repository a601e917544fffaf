package dev.kvq.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.bench.SyntheticLayer;
import dev.kvq.cache.Backend;
import dev.kvq.cache.KvCache;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.Rope;
import dev.kvq.geometry.RopePairing;
import dev.kvq.layout.MemoryReport;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.QuantSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The library example of README.md, kept compiling and running here (keep the two in step). */
class ReadmeExampleTest {

    @Test
    void readmeExampleRuns(@TempDir Path dir) throws Exception {
        // --- README example (start) ---
        AttentionShape shape = new AttentionShape(/* layers */ 2, /* query heads */ 8, /* KV heads */ 4,
                /* head dim */ 64, Rope.of(10000, RopePairing.ROTATE_HALF, 64));
        QuantSpec spec = QuantSpec.nuq(3).outliers(0.01).sinkTokens(1);     // "nuq3-1%"
        SyntheticLayer data = new SyntheticLayer(shape, 42);                 // stands in for a model
        Calibration calibration = data.calibrate(spec);                      // or Calibration.load(path)
        calibration.save(dir.resolve("model.kvqcal"));

        int d = shape.kvChannels();
        float[] keys = new float[100 * d];                                   // [tokens][kvHeads·headDim], pre-RoPE
        float[] values = new float[100 * d];
        data.tokens(0, 100, keys, values);
        float[] query = data.query(1);                                       // [queryHeads·headDim], post-RoPE
        float[] out = new float[query.length];
        try (KvCache cache = KvCache.open(shape, spec, Calibration.load(dir.resolve("model.kvqcal")), Backend.auto())) {
            for (int layer = 0; layer < shape.layers(); layer++) {
                cache.append(layer, keys, values);                          // prefill: 100 tokens
                cache.attend(layer, query, out);                            // one decode step
            }
            MemoryReport memory = cache.memory();
            System.out.printf("%d bytes, %.2f bits per element%n", memory.totalBytes(), memory.effectiveBits());
        // --- README example (end) ---
            assertEquals(100, cache.length(1));
            assertTrue(memory.tokenBits() < 4, "nuq3-1% stays under 4 bits per element: " + memory.tokenBits());
        }
        for (float x : out) {
            assertTrue(Float.isFinite(x));
        }
        assertTrue(Files.size(dir.resolve("model.kvqcal")) > 0);
    }
}
