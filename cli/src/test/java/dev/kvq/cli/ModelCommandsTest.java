package dev.kvq.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.kvq.model.DataRoot;
import dev.kvq.quant.Calibration;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** eval / calibrate / generate: usage errors, failures, and (with data) real runs. */
class ModelCommandsTest {
    static KvqTest.Run run(String... args) {
        return KvqTest.run(args);
    }

    static Path data() {
        var p = DataRoot.configured();
        assumeTrue(p.isPresent(), "no data: set KVQ_DATA or -Dkvq.data");
        return p.get();
    }

    @Test
    void unknownKvModeIsAUsageError() {
        KvqTest.Run r = run("eval", "--model", "nowhere", "--text", "nothing.txt", "--kv", "int9");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("int9"), r.err());
    }

    @Test
    void missingModelFailsWithOneLine() {
        KvqTest.Run r = run("generate", "--model", "/definitely/not/here", "--prompt", "hi");
        assertEquals(1, r.code());
        assertTrue(r.err().startsWith("kvq: ") && r.err().contains("/definitely/not/here"), r.err());
        assertEquals(1, r.err().lines().count(), r.err());
    }

    @Test
    void evalPrintsJsonRowsWithBits() {
        Path d = data();
        KvqTest.Run r = run("eval", "--model", d.resolve(DataRoot.STORIES_MODEL).toString(), "--text",
                d.resolve(DataRoot.WIKITEXT2).toString(), "--kv", "fp32,int4", "--windows", "2", "--json");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("\"kv\": \"fp32\"") && r.out().contains("\"kv\": \"int4\""), r.out());
        assertTrue(r.out().contains("\"bits\": 5.0"), r.out());
    }

    @Test
    void evalReportsStoredBitsAtTheContextAndAt32kAndRefusesPackedWindows() {
        Path d = data();
        String model = d.resolve(DataRoot.STORIES_MODEL).toString();
        String text = d.resolve(DataRoot.TINYSTORIES).toString();
        KvqTest.Run r = run("eval", "--model", model, "--text", text, "--kv", "fp32,nuq3-r32,kivi2-r32", "--windows", "1",
                "--json", "--quiet");
        assertEquals(0, r.code(), r.err());
        // nuq3-r32: 3.5 bits per packed token (3 code bits, values' fp16 scale and zero = 1 bit), 33 fp16 tokens
        assertTrue(r.out().contains("\"bits\": " + round3((3.5 * 479 + 16 * 33) / 512) + ","), r.out());
        assertTrue(r.out().contains("\"bits_32k\": " + round3((3.5 * (32768 - 33) + 16 * 33) / 32768) + ","), r.out());
        assertTrue(r.out().contains("\"ppl\": "), r.out());
        assertTrue(r.out().contains("\"kv\": \"kivi2-r32\", \"bits\": 3.813, \"bits_32k\": 3.013"), r.out());
        KvqTest.Run packed = run("eval", "--model", model, "--text", text, "--kv", "nuq3-r32-packed", "--windows", "1",
                "--quiet");
        assertEquals(1, packed.code(), packed.err());
        assertTrue(packed.err().contains("a recent-token window needs page format v2"), packed.err());
    }

    private static String round3(double v) {
        return String.valueOf(Math.round(v * 1000) / 1000.0);
    }

    @Test
    void calibrateWritesALoadableFileAndGenerateUsesIt(@TempDir Path tmp) throws Exception {
        Path d = data();
        Path out = tmp.resolve("nuq4.kvqcal");
        String model = d.resolve(DataRoot.STORIES_MODEL).toString();
        KvqTest.Run c = run("calibrate", "--model", model, "--text", d.resolve(DataRoot.TINYSTORIES).toString(),
                "--kv", "nuq4-1%", "--out", out.toString());
        assertEquals(0, c.code(), c.err());
        assertTrue(Files.size(out) > 0);
        assertEquals("nuq4-1%", Calibration.load(out).spec().name());
        KvqTest.Run g = run("generate", "--model", model, "--prompt", "Once upon a time", "--kv", "nuq4-1%",
                "--calibration", out.toString(), "--max-tokens", "12", "--temperature", "0");
        assertEquals(0, g.code(), g.err());
        assertTrue(g.out().startsWith("Once upon a time, there was a little girl"), g.out());
    }
}
