package dev.kvq.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.cache.KvCache;
import dev.kvq.driver.CudaDriver;
import dev.kvq.engine.cuda.profiling.CudaProfiler;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.quant.QuantSpec;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;

/**
 * The GPU benchmark harness on a small geometry, so a GPU session's benchmark run cannot fail on a
 * harness bug: every row is measured (prefix packed, pages repeated on the device), the table and the
 * full decode step print, and the decode step over repeated pages gives finite outputs.
 */
@Tag("gpu")
@EnabledIf("gpu")
class GpuBenchTest {

    /** A CUDA device here: a GPU, or the emulated driver of this module's emulated-gpu run. */
    static boolean gpu() {
        return CudaDriver.probe().available();
    }

    @Test
    void aSmallRunMeasuresEveryRow() {
        CudaBench.Options o = new CudaBench.Options(new int[] {1000, 5000}, List.of("fp16", "nuq3-1%", "nuq2-1%"), 4, 2,
                64, 0, 2, "nuq2-1%", 5000, 2, 3, 1500);
        StringWriter log = new StringWriter();
        CudaBench.Result r = CudaBench.run(o, new PrintWriter(log, true));
        assertEquals(6, r.rows().size(), log.toString());
        for (CudaBench.Row row : r.rows()) {
            assertTrue(row.keyScoresMs() > 0 && row.valuesMs() > 0 && row.stepMs() > 0, row.toString());
            assertTrue(row.keyGBps() > 0 && row.valueGBps() > 0, row.toString());
        }
        assertEquals(5000, r.rows().get(5).tokens());
        assertTrue(r.decodeStepMs() > 0 && r.decodeHostStepMs() > 0, log.toString());
        assertTrue(r.copyGBps() > 0);
        StringWriter table = new StringWriter();
        CudaBench.print(r, o, new PrintWriter(table, true));
        String t = table.toString();
        assertTrue(t.contains("    5000 nuq3-1%") && t.contains("decode step, 2 layers × 5000 tokens, nuq2-1%"), t);
        assertTrue(r.batchMs() > 0 && r.batchSingleMs() > 0, log.toString());
        assertTrue(t.contains("batched decode (issue 15), 3 sequences × 1500 tokens, nuq3-1%"), t);
        System.out.println("gpu: bench harness table:\n" + t);
    }

    @Test
    void aModeThatFallsBackToTheCpuIsSkippedWithTheReason() {
        CudaBench.Options o = new CudaBench.Options(new int[] {1000}, List.of("fp32", "nuq3-1%"), 4, 2, 64, 0, 2,
                null, 0, 0, 0, 0);
        StringWriter log = new StringWriter();
        CudaBench.Result r = CudaBench.run(o, new PrintWriter(log, true));
        assertEquals(1, r.rows().size(), log.toString());
        assertTrue(log.toString().contains("fp32     skipped: ") && log.toString().contains("no fp32 pages"),
                log.toString());
    }

    @Test
    void repeatedPagesAttendLikeTheirOriginals() {
        // a sequence extended by page copies holds the prefix's pages again: attention over it stays finite
        AttentionShape shape = new AttentionShape(1, 4, 2, 64);
        QuantSpec spec = QuantSpec.parse("nuq3-1%");
        try (CudaProfiler dev = CudaProfiler.open(shape, spec, CudaBench.calibration(shape, spec),
                KvCache.DEFAULT_PAGE_TOKENS)) {
            float[][] kv = CudaBench.data(shape.kvChannels(), 1025, 3);
            dev.append(0, kv[0], kv[1]);
            dev.repeatPagesTo(0, 4097);
            float[] q = CudaBench.query(shape, 4);
            float[] scores = new float[shape.queryHeads() * 4097];
            dev.keyScores(0, q, scores);
            // slot i and slot i + 1024 hold the same codes; their positions differ, so compare the decoded keys
            float[] keys = dev.decodeKeys(0);
            float[] values = dev.decodeValues(0);
            int d = shape.kvChannels();
            for (int c = 0; c < d; c++) {
                assertEquals(values[(1 + 5) * d + c], values[(1 + 5 + 1024) * d + c], "value channel " + c);
            }
            assertTrue(Float.isFinite(keys[4096 * d]));
            float[] out = new float[q.length];
            dev.attend(0, q, out);
            for (float x : out) {
                assertTrue(Float.isFinite(x));
            }
        }
    }
}
