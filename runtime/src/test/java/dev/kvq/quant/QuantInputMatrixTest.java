package dev.kvq.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.Rope;
import dev.kvq.geometry.RopePairing;
import dev.kvq.quant.CalibrationFormatException.Problem;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * The input matrix of the specs, shapes and calibrators (docs/RELIABILITY.md) that the existing
 * per-class tests do not already cover: each bad input gets an exception naming the problem.
 */
class QuantInputMatrixTest {
    private static final int D = 32;
    private static final int TOKENS = 256;

    private static void rejects(String excerpt, Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage() != null && e.getMessage().contains(excerpt),
                "message '" + e.getMessage() + "' lacks '" + excerpt + "'");
    }

    @Test
    void kvModeNamesAndSpecSettings() {
        rejects("unknown KV mode 'null'", () -> QuantSpec.parse(null));
        rejects("unknown KV mode ''", () -> QuantSpec.parse(""));
        rejects("unknown KV mode 'nuq5'", () -> QuantSpec.parse("nuq5"));
        rejects("unknown KV mode 'nuq3-x%'", () -> QuantSpec.parse("nuq3-x%"));
        rejects("unknown KV mode 'nuq3-1'", () -> QuantSpec.parse("nuq3-1"));
        rejects("outlier fraction must be in [0, 0.5), got 0.6", () -> QuantSpec.parse("nuq3-60%"));
        rejects("bit width must be 2, 3 or 4, got 1", () -> QuantSpec.nuq(1));
        rejects("outlier fraction must be in [0, 0.5), got NaN", () -> QuantSpec.nuq(3).outliers(Double.NaN));
        rejects("outlier fraction must be in [0, 0.5), got Infinity",
                () -> QuantSpec.nuq(3).outliers(Double.POSITIVE_INFINITY));
        rejects("sink token count must not be negative, got -1", () -> QuantSpec.nuq(3).sinkTokens(-1));
        rejects("sink token count 65537 exceeds 65536", () -> QuantSpec.nuq(3).sinkTokens(65537));
        rejects("only apply to nuq modes", () -> QuantSpec.fp16().outliers(0.01));
    }

    @Test
    void attentionShapesAndRope() {
        rejects("layers, query heads and KV heads must be positive, got 0, 4, 2", () -> new AttentionShape(0, 4, 2, 16));
        rejects("query heads (6) must be a multiple of KV heads (4)", () -> new AttentionShape(1, 6, 4, 16));
        rejects("head dim must be a multiple of 8 in [8, 256], got 7", () -> new AttentionShape(1, 4, 2, 7));
        rejects("head dim must be a multiple of 8 in [8, 256], got 512", () -> new AttentionShape(1, 4, 2, 512));
        rejects("exceeds 32767", () -> new AttentionShape(1, 256, 256, 256));
        rejects("RoPE table is for head dim 8, shape has 16",
                () -> new AttentionShape(1, 4, 2, 16, Rope.of(1e4, RopePairing.ROTATE_HALF, 8)));
        rejects("RoPE theta must be finite and > 1, got NaN", () -> Rope.of(Double.NaN, RopePairing.ROTATE_HALF, 16));
        rejects("RoPE theta must be finite and > 1, got Infinity",
                () -> Rope.of(Double.POSITIVE_INFINITY, RopePairing.ROTATE_HALF, 16));
        rejects("RoPE inverse frequency 1 is NaN",
                () -> new Rope(RopePairing.ROTATE_HALF, new float[] {1f, Float.NaN}));
    }

    @Test
    void calibrationActivations() {
        float[] good = SyntheticActivations.keys(1, TOKENS, D);
        rejects("calibration activations is null", () -> new Activations(null, null, TOKENS, D, 64));
        rejects("calibration activations has 8191 elements, expected 8192",
                () -> new Activations(Arrays.copyOf(good, TOKENS * D - 1), null, TOKENS, D, 64));
        rejects("token count must be positive, got 0", () -> new Activations(new float[0], null, 0, D, 64));
        rejects("channel count must be positive, got -1", () -> new Activations(good, null, TOKENS, -1, 64));
        rejects("sequence length must be positive, got 0", () -> new Activations(good, null, TOKENS, D, 0));
        float[] nan = good.clone();
        nan[100] = Float.NaN;
        rejects("calibration activations holds NaN at index 100", () -> new Activations(nan, null, TOKENS, D, 64));
        float[] inf = good.clone();
        inf[5] = Float.NEGATIVE_INFINITY;
        rejects("calibration activations holds -Infinity at index 5", () -> new Activations(inf, null, TOKENS, D, 64));
        float[] fisher = SyntheticActivations.fisher(2, TOKENS * D);
        fisher[9] = -1f;
        rejects("Fisher weight at index 9 is -1.0", () -> new Activations(good, fisher, TOKENS, D, 64));
        rejects("Fisher weights has 3 elements", () -> new Activations(good, new float[3], TOKENS, D, 64));
    }

    @Test
    void calibratorsRejectWhatCannotBeQuantized() {
        QuantSpec spec = QuantSpec.nuq(3).outliers(0.01);
        WeightedKMeans.Options o = WeightedKMeans.Options.defaults();
        // finite but beyond fp16: thresholds, residuals and scales are stored in fp16
        float[] huge = SyntheticActivations.keys(3, TOKENS, D);
        huge[D * 10 + 4] = 1e30f;
        rejects("calibration activations holds 1.0E30 at index 324, outside the fp16 range",
                () -> new Activations(huge, SyntheticActivations.fisher(4, TOKENS * D), TOKENS, D, 64));
        Activations keys = new Activations(SyntheticActivations.keys(5, TOKENS, D),
                SyntheticActivations.fisher(6, TOKENS * D), TOKENS, D, 64);
        Activations narrow = new Activations(SyntheticActivations.values(7, TOKENS, 16),
                SyntheticActivations.fisher(8, TOKENS * 16), TOKENS, 16, 64);
        rejects("keys have 32 channels, values 16", () -> LayerCalibration.calibrate(keys, narrow, spec, o));
        rejects("calibration needs a nuq spec, got fp16", () -> KeyQuantizer.calibrate(keys, QuantSpec.fp16(), o));
        rejects("k-means values is null", () -> WeightedKMeans.fit(null, null, 4));
        rejects("k-means count 5 exceeds the arrays", () -> WeightedKMeans.fit(new float[4], null, 5, 4, o));
        rejects("k-means values holds Infinity at index 0",
                () -> WeightedKMeans.fit(new float[] {Float.POSITIVE_INFINITY}, null, 4));
    }

    @Test
    void percentiles() {
        rejects("percentile of an empty set", () -> Percentiles.of(new float[0], 50));
        rejects("percentile input holds NaN at index 1", () -> Percentiles.of(new float[] {1f, Float.NaN, 2f}, 50));
        rejects("percentile input is null", () -> Percentiles.of(null, 50));
        rejects("percentile must be in [0, 100], got -1.0", () -> Percentiles.of(new float[] {1f}, -1));
        rejects("3 values requested from an array of 2", () -> Percentiles.ofSorted(new double[2], 3, 50));
        assertEquals(Double.POSITIVE_INFINITY, Percentiles.of(new float[] {1f, Float.POSITIVE_INFINITY}, 100));
    }

    @Test
    void calibrationFilesForeignTruncatedMissingOrMismatched(@TempDir Path dir) throws IOException {
        AttentionShape shape = new AttentionShape(1, 4, 2, 16);
        QuantSpec spec = QuantSpec.nuq(3).outliers(0.01);
        Activations k = new Activations(SyntheticActivations.keys(1, TOKENS, D), SyntheticActivations.fisher(2, TOKENS * D),
                TOKENS, D, 64);
        Activations v = new Activations(SyntheticActivations.values(3, TOKENS, D),
                SyntheticActivations.fisher(4, TOKENS * D), TOKENS, D, 64);
        Calibration cal = new Calibration(shape, spec, Provenance.unknown(),
                java.util.List.of(LayerCalibration.calibrate(k, v, spec, WeightedKMeans.Options.defaults())));
        Path good = dir.resolve("good.kvqcal");
        cal.save(good);
        byte[] bytes = Files.readAllBytes(good);

        Path empty = Files.write(dir.resolve("empty.kvqcal"), new byte[0]);
        Path png = Files.write(dir.resolve("picture.kvqcal"), new byte[] {(byte) 0x89, 'P', 'N', 'G', 13, 10, 26, 10, 0, 0});
        Path cut = Files.write(dir.resolve("cut.kvqcal"), Arrays.copyOf(bytes, bytes.length / 2));
        byte[] flipped = bytes.clone();
        flipped[bytes.length - 9] ^= 0x40;
        Path corrupt = Files.write(dir.resolve("corrupt.kvqcal"), flipped);

        assertProblem(Problem.FOREIGN, "not a kvq calibration file: only 0 bytes", empty);
        assertProblem(Problem.FOREIGN, "not a kvq calibration file", png);
        assertProblem(Problem.TRUNCATED, "truncated", cut);
        assertProblem(Problem.CORRUPTED, "corrupted", corrupt);
        CalibrationFormatException e = assertThrows(CalibrationFormatException.class,
                () -> Calibration.load(good, new AttentionShape(2, 4, 2, 16), spec));
        assertEquals(Problem.SHAPE_MISMATCH, e.problem());
        assertTrue(e.getMessage().contains("does not match the cache"), e.getMessage());
        java.nio.file.NoSuchFileException missing = assertThrows(java.nio.file.NoSuchFileException.class,
                () -> Calibration.load(dir.resolve("missing.kvqcal")));
        assertTrue(missing.getMessage().contains("calibration file does not exist"), missing.getMessage());
        IOException directory = assertThrows(IOException.class, () -> Calibration.load(dir));
        assertTrue(directory.getMessage().contains("cannot read calibration file " + dir), directory.getMessage());
        rejects("layer 1 is out of range [0, 1)", () -> cal.layer(1));
    }

    private static void assertProblem(Problem problem, String excerpt, Path file) {
        CalibrationFormatException e = assertThrows(CalibrationFormatException.class, () -> Calibration.load(file));
        assertEquals(problem, e.problem(), e.getMessage());
        assertTrue(e.getMessage().contains(excerpt) && e.getMessage().contains(file.toString()), e.getMessage());
    }
}
