package dev.kvq.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.Rope;
import dev.kvq.geometry.RopePairing;
import dev.kvq.quant.CalibrationFormatException.Problem;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Calibration file version 2 (codebook tables, widths, packed order) and the version-1 files that must still load. */
class CalibrationFormatV2Test {
    static final AttentionShape SHAPE = new AttentionShape(3, 8, 4, 8, Rope.of(10000, RopePairing.INTERLEAVED, 8));

    static Calibration fitted(QuantSpec spec) {
        Activations[][] a = SyntheticActivations.perLayer(SHAPE.layers(), 256, SHAPE.kvChannels(), 0);
        return new Calibration(SHAPE, spec, Provenance.unknown(),
                Calibrator.fit(SHAPE, spec, a[0], a[1], WeightedKMeans.Options.defaults()));
    }

    @Test
    void aVersionOneFileWrittenBeforeVersionTwoStillLoadsWithItsBytesAndFingerprint() throws Exception {
        byte[] file;
        try (InputStream in = CalibrationFormatV2Test.class.getResourceAsStream("calibration-v1.kvqcal")) {
            file = in.readAllBytes();
        }
        assertEquals(1, ByteBuffer.wrap(file, 8, 4).order(ByteOrder.LITTLE_ENDIAN).getInt(), "the fixture is version 1");
        Calibration c = Calibration.fromBytes(file, null);
        assertEquals("nuq3-1%", c.spec().name());
        assertEquals(0, c.spec().recentWindow());
        assertEquals(QuantSpec.Allocation.UNIFORM, c.spec().allocation());
        assertTrue(c.layer(0).keys().sharedCodebook() && c.layer(1).sharedValueCodebook());
        assertArrayEquals(file, c.toBytes(), "a version-1 calibration is written as version 1 again");
        assertEquals(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(file)), c.fingerprint(),
                "so snapshots that name it by fingerprint still find it");
    }

    @Test
    void theVersionOneSpecBytesAreUnchanged() {
        ByteBuffer b = ByteBuffer.allocate(GeometryCodec.SPEC_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        GeometryCodec.putSpec(b, QuantSpec.parse("nuq3-1%"));
        // u8 mode 0 (nuq), u8 bits 3, f64 0.01, u32 sinks 1, u8 Q-Norm 0, u8 form 0 (fixed slots), u8 weighting 2 (F·s²)
        assertEquals("0003" + "7b14ae47e17a843f" + "01000000" + "00" + "00" + "02", HexFormat.of().formatHex(b.array()));
        assertEquals(GeometryCodec.SPEC_BYTES, GeometryCodec.specBytes(QuantSpec.parse("nuq3-1%")));
    }

    @Test
    void extendedSpecsRoundTripAndAreNeverWrittenForVersionOneSpecs() {
        for (String name : List.of("nuq3-1%-r32", "nuqa3-1%-r32", "nuqa2-r32-head-vtok", "nuq4-ccb", "nuqa4-tensor-ccb")) {
            QuantSpec s = QuantSpec.parse(name);
            ByteBuffer b = ByteBuffer.allocate(GeometryCodec.specBytes(s)).order(ByteOrder.LITTLE_ENDIAN);
            GeometryCodec.putSpec(b, s);
            assertFalse(b.hasRemaining());
            assertEquals(0x80, b.get(0) & 0x80, name + " is marked extended");
            assertEquals(s, GeometryCodec.getSpec(b.flip()));
        }
        QuantSpec plain = QuantSpec.parse("nuq3-1%");
        ByteBuffer b = ByteBuffer.allocate(GeometryCodec.SPEC_BYTES + 7).order(ByteOrder.LITTLE_ENDIAN);
        GeometryCodec.putSpec(b, plain);
        b.put(0, (byte) 0x80).putInt(0).put((byte) 0).put((byte) 0).put((byte) 0);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> GeometryCodec.getSpec(b.flip())).getMessage()
                .contains("extended form it does not need"));
    }

    @Test
    void allocatedAndPerChannelCalibrationsRoundTripAsVersionTwo(@TempDir Path dir) throws IOException {
        for (String name : List.of("nuqa3-1%", "nuqa2-vtok", "nuq3-1%-ccb", "nuqa3-head-ccb")) {
            Calibration c = fitted(QuantSpec.parse(name));
            Path file = dir.resolve(name.replace('%', 'p') + ".kvqcal");
            c.save(file);
            byte[] bytes = Files.readAllBytes(file);
            assertEquals(Calibration.FORMAT_VERSION, ByteBuffer.wrap(bytes, 8, 4).order(ByteOrder.LITTLE_ENDIAN).getInt(), name);
            Calibration back = Calibration.load(file);
            assertEquals(c.spec(), back.spec(), name);
            for (int l = 0; l < SHAPE.layers(); l++) {
                assertEquals(c.layer(l), back.layer(l), name + " layer " + l);
                for (int ch = 0; ch < SHAPE.kvChannels(); ch++) {
                    assertEquals(c.layer(l).keys().width(ch), back.layer(l).keys().width(ch));
                    assertEquals(c.layer(l).valueWidth(ch), back.layer(l).valueWidth(ch));
                }
            }
            assertArrayEquals(bytes, back.toBytes(), name);
            assertEquals(c.fingerprint(), back.fingerprint(), name);
        }
    }

    @Test
    void aPackedOrderThatDisagreesWithTheWidthsIsInvalid() {
        Calibration c = fitted(QuantSpec.parse("nuqa3"));
        byte[] bytes = c.toBytes();
        // the last two u16 of the last LAYR payload are the last two value positions; swap them (widths differ
        // or channel order breaks either way) and re-checksum the section, as a buggy writer would
        int d = SHAPE.kvChannels();
        int layrStart = sectionStart(bytes, 2 + SHAPE.layers() - 1);
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        long length = b.getLong(layrStart + 8);
        int payloadEnd = layrStart + 16 + (int) length;
        int firstOrder = payloadEnd - 2 * d;       // valueOrder[0]
        short a = b.getShort(firstOrder);
        short z = b.getShort(firstOrder + 2 * (d - 1));
        b.putShort(firstOrder, z).putShort(firstOrder + 2 * (d - 1), a);
        CRC32C crc = new CRC32C();
        crc.update(bytes, layrStart, 16 + (int) length);
        b.putInt(payloadEnd, (int) crc.getValue());
        CalibrationFormatException e = assertThrows(CalibrationFormatException.class, () -> Calibration.fromBytes(bytes, null));
        assertEquals(Problem.INVALID, e.problem());
        assertTrue(e.getMessage().contains("packed order"), e.getMessage());
    }

    @Test
    void widthsMustMatchWhatTheSpecPromises() {
        Calibration allocated = fitted(QuantSpec.parse("nuqa3"));
        assertThrows(IllegalArgumentException.class, () -> new Calibration(SHAPE, QuantSpec.nuq(3), null, allocated.layers()),
                "mixed widths under a uniform spec");
        Calibration ccb = fitted(QuantSpec.parse("nuq3-ccb"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new Calibration(SHAPE, QuantSpec.nuq(3), null,
                ccb.layers())).getMessage().contains("a key codebook per channel"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ccb.requireCompatible(SHAPE, QuantSpec.nuq(3)))
                .getMessage().contains("key codebooks"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> allocated.requireCompatible(SHAPE, QuantSpec.nuq(3)))
                .getMessage().contains("allocated widths"));
        allocated.requireCompatible(SHAPE, QuantSpec.parse("nuqa3-r32"));   // the window does not matter
    }

    /** Offset of section {@code index} (0 = HEAD) in a calibration image. */
    private static int sectionStart(byte[] bytes, int index) {
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        int at = 16;
        for (int i = 0; i < index; i++) {
            at += 16 + (int) b.getLong(at + 8) + 4;
        }
        return at;
    }
}
