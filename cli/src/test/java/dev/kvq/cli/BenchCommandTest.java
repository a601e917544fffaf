package dev.kvq.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class BenchCommandTest {

    @Test
    void smallRunPrintsEveryFigureAsJson() {
        KvqTest.Run r = KvqTest.run("bench", "--tokens", "300", "--kv", "fp16,nuq3-1%", "--query-heads", "8",
                "--kv-heads", "4", "--head-dim", "32", "--warmup", "1", "--repeat", "1", "--threads", "2", "--pairing",
                "interleaved", "--json", "--quiet");
        assertEquals(0, r.code(), r.err());
        String json = r.out().trim();
        assertTrue(json.startsWith("{\"setup\": "), json);
        assertTrue(json.contains("\"threads\": 2, \"rope_pairing\": \"interleaved\""), json);
        assertTrue(json.contains("\"kv\": \"nuq3-1%\""), json);
        assertTrue(json.contains("\"speedup_vs_fp16\": {\"key_scores\": "), json);
        assertTrue(json.contains("\"bytes_per_token\": "), json);
    }

    @Test
    void tableNamesTheRatioColumns() {
        KvqTest.Run r = KvqTest.run("bench", "--tokens", "256", "--kv", "fp16,fp32", "--query-heads", "4",
                "--kv-heads", "4", "--head-dim", "16", "--warmup", "0", "--repeat", "1", "--quiet");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("×fp16"), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.trim().startsWith("256  fp32")), r.out());
    }

    @Test
    void badArgumentsExitWithTwo() {
        if (!dev.kvq.driver.CudaDriver.probe().available()) {
            // without a GPU the CUDA bench says why, as a usage error
            KvqTest.Run cuda = KvqTest.run("bench", "--backend", "cuda", "--quiet");
            assertEquals(2, cuda.code());
            assertTrue(cuda.err().contains("--backend cuda: kvq.backend=cuda but CUDA unavailable"), cuda.err());
        }
        assertEquals(2, KvqTest.run("bench", "--backend", "tpu").code());
        KvqTest.Run fp32 = KvqTest.run("bench", "--backend", "cuda", "--kv", "fp32");
        assertEquals(2, fp32.code());
        assertTrue(fp32.err().contains("no fp32 kernels"), fp32.err());
        assertEquals(2, KvqTest.run("bench", "--backend", "cuda", "--decode", "nuq2@x").code());
        assertEquals(2, KvqTest.run("bench", "--tokens", "0").code());
        assertEquals(2, KvqTest.run("bench", "--kv", "int9").code());
        assertEquals(2, KvqTest.run("bench", "--head-dim", "12").code());
        assertEquals(2, KvqTest.run("bench", "--repeat", "0").code());
        assertEquals(2, KvqTest.run("bench", "--threads", "-1").code());
        assertEquals(2, KvqTest.run("bench", "--pairing", "diagonal").code());
    }
}
