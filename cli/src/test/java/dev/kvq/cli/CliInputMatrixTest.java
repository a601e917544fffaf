package dev.kvq.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.quant.Activations;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.LayerCalibration;
import dev.kvq.quant.Provenance;
import dev.kvq.quant.QuantSpec;
import dev.kvq.quant.WeightedKMeans;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CLI rows of the input matrix (docs/RELIABILITY.md): usage errors exit 2 with the problem named,
 * unusable files exit 1 with one line naming the file, and no picocli warning leaks into the output.
 * Runs without KVQ_DATA: the model is a tiny random llama2.c checkpoint written here.
 */
class CliInputMatrixTest {
    // dim 16, hidden 24, 1 layer, 2 heads, 1 KV head (head size 8), 260 pieces, context 16
    private static final int[] HEADER = {16, 24, 1, 2, 1, 260, 16};
    private static final long WEIGHTS = 260L * 16 + 16 + 16 * 16 + 2 * 8 * 16 + 16 * 16 + 16 + 3 * 24 * 16 + 16
            + 16 * 8;

    /** A model folder the CLI accepts: stories260K.bin (random weights) and tok512.bin (byte pieces). */
    private static Path modelFolder(Path dir) throws IOException {
        Path folder = Files.createDirectories(dir.resolve("tiny"));
        ByteBuffer m = ByteBuffer.allocate((int) (28 + 4 * WEIGHTS)).order(ByteOrder.LITTLE_ENDIAN);
        for (int h : HEADER) {
            m.putInt(h);
        }
        SplittableRandom random = new SplittableRandom(3);
        while (m.hasRemaining()) {
            m.putFloat((float) (random.nextGaussian() * 0.1));
        }
        Files.write(folder.resolve("stories260K.bin"), m.array());
        List<String> pieces = new ArrayList<>(List.of("<unk>", "<s>", "</s>"));
        for (int b = 0; b < 256; b++) {
            pieces.add(String.format("<0x%02X>", b));
        }
        pieces.add(" ");
        ByteBuffer t = ByteBuffer.allocate(4 + pieces.size() * 8 + pieces.stream().mapToInt(String::length).sum())
                .order(ByteOrder.LITTLE_ENDIAN);
        t.putInt(6);
        for (String p : pieces) {
            t.putFloat(0f);
            t.putInt(p.length());
            t.put(p.getBytes(StandardCharsets.ISO_8859_1));
        }
        Files.write(folder.resolve("tok512.bin"), t.array());
        return folder;
    }

    private static KvqTest.Run run(String... args) {
        return KvqTest.run(args);
    }

    /** Exit 1, one line "kvq: ..." naming {@code excerpt}. */
    private static void failsWithOneLine(KvqTest.Run r, String excerpt) {
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().startsWith("kvq: ") && r.err().contains(excerpt), r.err());
        assertEquals(1, r.err().lines().count(), r.err());
    }

    /** Exit 2 with {@code excerpt} in the first line. */
    private static void usageError(KvqTest.Run r, String excerpt) {
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().lines().findFirst().orElse("").contains(excerpt), r.err());
    }

    @Test
    void theTinyModelGeneratesSoTheFailuresBelowAreAboutTheirInputs(@TempDir Path dir) throws IOException {
        Path model = modelFolder(dir);
        KvqTest.Run r = run("generate", "--model", model.toString(), "--prompt", "hi", "--max-tokens", "3");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().startsWith("[3 new tokens, "), r.err());
        // a huge --max-tokens is capped by the 16-token context, and the summary says so
        KvqTest.Run huge = run("generate", "--model", model.toString(), "--prompt", "hi", "--max-tokens", "2000000000");
        assertEquals(0, huge.code(), huge.err());
        assertTrue(huge.err().contains("new tokens, stopped at the model's context of 16 tokens"), huge.err());
    }

    @Test
    void foreignTruncatedOrMissingModelFiles(@TempDir Path dir) throws IOException {
        Path model = modelFolder(dir);
        byte[] good = Files.readAllBytes(model.resolve("stories260K.bin"));
        Path text = Files.writeString(dir.resolve("notes.bin"), "not a model");
        failsWithOneLine(run("generate", "--model", text.toString(), "--prompt", "hi"), "too short for a llama2.c header");
        Path cut = Files.write(dir.resolve("cut.bin"), Arrays.copyOf(good, good.length / 3));
        failsWithOneLine(run("generate", "--model", cut.toString(), "--prompt", "hi"), "cut.bin is " + good.length / 3
                + " bytes; a llama2.c checkpoint with header (dim 16");
        failsWithOneLine(run("generate", "--model", dir.resolve("none").toString(), "--prompt", "hi"), "does not exist");
        Files.write(model.resolve("tok512.bin"), Arrays.copyOf(Files.readAllBytes(model.resolve("tok512.bin")), 100));
        failsWithOneLine(run("generate", "--model", model.toString(), "--prompt", "hi"), "ends before its 260 pieces");
    }

    @Test
    void foreignTruncatedOrMismatchedCalibrationFiles(@TempDir Path dir) throws IOException {
        String model = modelFolder(dir).toString();
        Path foreign = Files.write(dir.resolve("picture.kvqcal"), new byte[] {(byte) 0x89, 'P', 'N', 'G', 13, 10, 26, 10});
        failsWithOneLine(run("generate", "--model", model, "--prompt", "hi", "--kv", "nuq3-1%", "--calibration",
                foreign.toString()), "picture.kvqcal: not a kvq calibration file");
        // a real calibration, but for 2 layers of 4 KV heads: the cache rejects it by name
        AttentionShape other = new AttentionShape(2, 4, 4, 8);
        QuantSpec spec = QuantSpec.parse("nuq3-1%");
        List<LayerCalibration> layers = new ArrayList<>();
        int d = other.kvChannels();
        SplittableRandom random = new SplittableRandom(1);
        for (int l = 0; l < 2; l++) {
            float[] x = new float[256 * d];
            float[] f = new float[256 * d];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) random.nextGaussian();
                f[i] = 1e-6f;
            }
            Activations a = new Activations(x, f, 256, d, 64);
            layers.add(LayerCalibration.calibrate(a, a, spec, WeightedKMeans.Options.defaults()));
        }
        Path mismatched = dir.resolve("other.kvqcal");
        new Calibration(other, spec, Provenance.unknown(), layers).save(mismatched);
        failsWithOneLine(run("generate", "--model", model, "--prompt", "hi", "--kv", "nuq3-1%", "--calibration",
                mismatched.toString()), "calibration is for 2 layers");
        byte[] bytes = Files.readAllBytes(mismatched);
        Path cut = Files.write(dir.resolve("cut.kvqcal"), Arrays.copyOf(bytes, bytes.length - 10));
        failsWithOneLine(run("generate", "--model", model, "--prompt", "hi", "--kv", "nuq3-1%", "--calibration",
                cut.toString()), "cut.kvqcal: truncated");
        failsWithOneLine(run("eval", "--model", model, "--text", dir.resolve("none.txt").toString(), "--kv", "fp32",
                "--window-length", "8"),
                "none.txt does not exist");
    }

    @Test
    void outOfRangeOptionsAreUsageErrorsNamingTheOption(@TempDir Path dir) throws IOException {
        // eval checks its window options against the model's context, so it needs a real model
        String model = modelFolder(dir).toString();
        usageError(run("generate", "--model", "m", "--prompt", "hi", "--kv", "nuq3-70%"),
                "outlier fraction must be in [0, 0.5), got 0.7");
        usageError(run("generate", "--model", "m", "--prompt", "hi", "--kv", "nuq7"), "unknown KV mode 'nuq7'");
        usageError(run("generate", "--model", "m", "--prompt", "hi", "--max-tokens", "-1"),
                "--max-tokens and --temperature must be >= 0");
        usageError(run("generate", "--model", "m", "--prompt", "hi", "--temperature", "NaN"),
                "--max-tokens and --temperature must be >= 0");
        usageError(run("eval", "--model", model, "--text", "t", "--windows", "0", "--window-length", "8"),
                "--windows must be >= 1, got 0");
        usageError(run("eval", "--model", model, "--text", "t", "--window-length", "100000"),
                "--window-length must be in [2, 16], got 100000");
        usageError(run("calibrate", "--model", "m", "--text", "t", "--out", "o", "--kv", "fp16"),
                "--kv must be a nuq mode, got fp16");
        usageError(run("bench", "--tokens", "-5"), "--tokens must be in [1, 4000000], got -5");
        usageError(run("bench", "--tokens", "99999999999"), "'99999999999' is not an int");
        usageError(run("bench", "--head-dim", "7", "--tokens", "64"), "RoPE needs an even head dim, got 7");
        usageError(run("bench", "--kv-heads", "3", "--tokens", "64"), "query heads (32) must be a multiple of KV heads (3)");
        usageError(run("plan", "--memory", "-5GiB"), "--memory must look like 80GiB or 80GB, got '-5GiB'");
        usageError(run("plan", "--gpus", "0"), "--gpus must be at least 1, got 0");
        usageError(run("demo", "--synthetic", "--tokens", "-1"), "--tokens must be in [1024, 1048576], got -1");
    }

    @Test
    void helpOfEveryCommandPrintsWithoutFormatWarnings() {
        // picocli reports unformattable help texts on System.err itself, not on the command's writer
        java.io.PrintStream stderr = System.err;
        java.io.ByteArrayOutputStream warnings = new java.io.ByteArrayOutputStream();
        System.setErr(new java.io.PrintStream(warnings, true, StandardCharsets.UTF_8));
        try {
            for (String command : List.of("info", "bench", "eval", "calibrate", "generate", "demo", "plan")) {
                KvqTest.Run r = run(command, "--help");
                assertEquals(0, r.code(), command + ": " + r.err());
                assertFalse(r.out().contains("picocli WARN") || r.err().contains("picocli WARN"), command + ": " + r.err());
            }
        } finally {
            System.setErr(stderr);
        }
        assertFalse(warnings.toString(StandardCharsets.UTF_8).contains("picocli WARN"),
                warnings.toString(StandardCharsets.UTF_8));
    }
}
