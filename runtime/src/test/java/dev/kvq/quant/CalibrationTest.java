package dev.kvq.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.Rope;
import dev.kvq.geometry.RopePairing;
import dev.kvq.quant.CalibrationFormatException.Problem;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CalibrationTest {
    private static final AttentionShape SHAPE =
            new AttentionShape(3, 8, 4, 8, Rope.of(10000, RopePairing.INTERLEAVED, 8));

    static Calibration sample(QuantSpec spec) {
        int d = SHAPE.kvChannels();
        int tokens = 192;
        List<LayerCalibration> layers = new ArrayList<>();
        for (int l = 0; l < SHAPE.layers(); l++) {
            Activations k = new Activations(SyntheticActivations.keys(l, tokens, d),
                    SyntheticActivations.fisher(100 + l, tokens * d), tokens, d, 64);
            Activations v = new Activations(SyntheticActivations.values(l, tokens, d),
                    SyntheticActivations.fisher(200 + l, tokens * d), tokens, d, 64);
            layers.add(LayerCalibration.calibrate(k, v, spec, WeightedKMeans.Options.defaults()));
        }
        return new Calibration(SHAPE, spec, new Provenance("stories260K", "tinystories/val_slice.txt", 3, 64,
                "kvq test", "2026-11-29T00:00:00Z"), layers);
    }

    private static Calibration sample() {
        return sample(QuantSpec.nuq(3).outliers(0.01).qNorm(true));
    }

    @Test
    void roundTripsThroughAFile(@TempDir Path dir) throws IOException {
        Calibration c = sample();
        Path file = dir.resolve("stories.kvqcal");
        c.save(file);
        Calibration back = Calibration.load(file);
        assertEquals(c.shape(), back.shape());
        assertEquals(c.spec(), back.spec());
        assertEquals(c.provenance(), back.provenance());
        for (int l = 0; l < SHAPE.layers(); l++) {
            assertEquals(c.layer(l).keys(), back.layer(l).keys());
            assertEquals(c.layer(l).values(), back.layer(l).values());
            assertArrayEquals(c.layer(l).keys().codebook().dequantTable(), back.layer(l).keys().codebook().dequantTable());
        }
        assertArrayEquals(c.toBytes(), back.toBytes());
        assertEquals(c.fingerprint(), back.fingerprint());
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(file), files.toList(), "no temporary file left behind");
        }
    }

    @Test
    void calibrationIsDeterministic() {
        assertEquals(sample().fingerprint(), sample().fingerprint());
        assertNotEquals(sample().fingerprint(), sample(QuantSpec.nuq(4).outliers(0.01)).fingerprint());
    }

    @Test
    void everyFlippedByteIsDetected() {
        byte[] good = sample().toBytes();
        for (int i = 0; i < good.length; i++) {
            byte[] bad = good.clone();
            bad[i] ^= (byte) (1 << (i % 8));
            int at = i;
            CalibrationFormatException e = assertThrows(CalibrationFormatException.class,
                    () -> Calibration.fromBytes(bad, Path.of("x.kvqcal")), "flip at byte " + at);
            if (i >= 8 + 8 + 16) {     // past magic, version, count and the first section header
                assertTrue(e.problem() == Problem.CORRUPTED || e.problem() == Problem.TRUNCATED,
                        "byte " + i + ": " + e.getMessage());
            }
        }
    }

    @Test
    void aFlipInsideALayerNamesThatLayer() {
        byte[] bytes = sample().toBytes();
        bytes[bytes.length - 40] ^= 0x10;   // inside the last layer's payload
        CalibrationFormatException e = assertThrows(CalibrationFormatException.class,
                () -> Calibration.fromBytes(bytes, Path.of("model.kvqcal")));
        assertEquals(Problem.CORRUPTED, e.problem());
        assertTrue(e.getMessage().contains("checksum mismatch in section LAYR 2"), e.getMessage());
        assertTrue(e.getMessage().startsWith("calibration file model.kvqcal: corrupted"), e.getMessage());
    }

    @Test
    void everyTruncationIsDetected() {
        byte[] good = sample().toBytes();
        for (int n = 0; n < good.length; n++) {
            byte[] cut = Arrays.copyOf(good, n);
            CalibrationFormatException e = assertThrows(CalibrationFormatException.class,
                    () -> Calibration.fromBytes(cut, null));
            assertEquals(n == 0 ? Problem.FOREIGN : Problem.TRUNCATED, e.problem(), "length " + n);
        }
        byte[] longer = Arrays.copyOf(good, good.length + 3);
        assertEquals(Problem.CORRUPTED, assertThrows(CalibrationFormatException.class,
                () -> Calibration.fromBytes(longer, null)).problem());
    }

    @Test
    void foreignFilesAndOtherVersionsAreNamed(@TempDir Path dir) throws IOException {
        Path text = dir.resolve("notes.txt");
        Files.writeString(text, "this is a text file, not a calibration");
        CalibrationFormatException e = assertThrows(CalibrationFormatException.class, () -> Calibration.load(text));
        assertEquals(Problem.FOREIGN, e.problem());
        assertTrue(e.getMessage().contains("not a kvq calibration file"));

        byte[] bytes = sample().toBytes();
        bytes[8] = 9;   // version 9
        e = assertThrows(CalibrationFormatException.class, () -> Calibration.fromBytes(bytes, null));
        assertEquals(Problem.UNSUPPORTED_VERSION, e.problem());
        assertTrue(e.getMessage().contains("version 9, this build reads versions 1 and 2"), e.getMessage());

        assertThrows(java.nio.file.NoSuchFileException.class, () -> Calibration.load(dir.resolve("missing.kvqcal")));
        assertEquals(Problem.TRUNCATED, assertThrows(CalibrationFormatException.class,
                () -> Calibration.fromBytes("KVQ".getBytes(StandardCharsets.US_ASCII), null)).problem());
        assertEquals(Problem.FOREIGN, assertThrows(CalibrationFormatException.class,
                () -> Calibration.fromBytes("PK".getBytes(StandardCharsets.US_ASCII), null)).problem());
    }

    @Test
    void shapeOrSpecMismatchIsReported(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("c.kvqcal");
        sample().save(file);
        AttentionShape other = new AttentionShape(3, 8, 2, 16);
        CalibrationFormatException e = assertThrows(CalibrationFormatException.class,
                () -> Calibration.load(file, other, null));
        assertEquals(Problem.SHAPE_MISMATCH, e.problem());
        assertTrue(e.getMessage().contains("calibration is for 3 layers × 8 query heads / 4 KV heads × head dim 8"),
                e.getMessage());
        e = assertThrows(CalibrationFormatException.class,
                () -> Calibration.load(file, SHAPE, QuantSpec.nuq(4).outliers(0.01)));
        assertTrue(e.getMessage().contains("3-bit codebooks"), e.getMessage());
        e = assertThrows(CalibrationFormatException.class, () -> Calibration.load(file, SHAPE, QuantSpec.nuq(3)));
        assertTrue(e.getMessage().contains("1.0% outliers"), e.getMessage());
        // rope may differ: calibration is pre-RoPE
        Calibration.load(file, new AttentionShape(3, 8, 4, 8), QuantSpec.nuq(3).outliers(0.01).sinkTokens(0));
    }

    @Test
    void constructorRejectsInconsistentLayers() {
        Calibration c = sample();
        assertThrows(IllegalArgumentException.class, () -> new Calibration(c.shape(), c.spec(), c.provenance(),
                c.layers().subList(0, 2)));
        assertThrows(IllegalArgumentException.class, () -> new Calibration(c.shape(), QuantSpec.fp16(),
                c.provenance(), c.layers()));
        assertThrows(IllegalArgumentException.class, () -> c.layer(3));
    }
}
