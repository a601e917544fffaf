package dev.kvq.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.Rope;
import dev.kvq.geometry.RopePairing;
import dev.kvq.quant.ByteCorruptions;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.QuantSpec;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * 10,000 deterministic random corruptions of cache and pool snapshots. A plain corruption must end
 * in a {@link SnapshotFormatException} (or, for a mutation that changed nothing, open the same
 * cache). A corruption of a metadata section whose checksum is then recomputed — a file that is
 * well-formed on the outside — must be rejected cleanly or open into a cache that works; it must
 * never end in another exception, a half-loaded cache or a crash.
 */
class SnapshotFuzzTest {
    private static final AttentionShape SHAPE =
            new AttentionShape(2, 4, 2, 16, Rope.of(10000, RopePairing.INTERLEAVED, 16));

    @TempDir
    Path dir;

    /** Recomputes the CRC32C of the section that starts at {@code start}. */
    static void fixChecksum(byte[] file, int start) {
        long length = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN).getLong(start + 8);
        CRC32C crc = new CRC32C();
        crc.update(file, start, 16 + (int) length);
        ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN).putInt(start + 16 + (int) length, (int) crc.getValue());
    }

    /** Start offsets of the sections of a well-formed snapshot. */
    static List<Integer> sections(byte[] file) {
        ByteBuffer b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        List<Integer> starts = new ArrayList<>();
        for (int at = 16; at < file.length; at += 16 + (int) b.getLong(at + 8) + 4) {
            starts.add(at);
        }
        return starts;
    }

    @Test
    void randomCorruptionsEndInACleanErrorOrAWorkingCache() throws IOException {
        QuantSpec sparse = QuantSpec.parse("nuq2-1%").outlierForm(QuantSpec.OutlierForm.TOKEN_MAJOR_SPARSE);
        QuantSpec fixed = QuantSpec.parse("nuq3-1%");
        Calibration sparseCal = CacheFixtures.calibration(SHAPE, sparse, 1);
        Calibration fixedCal = CacheFixtures.calibration(SHAPE, fixed, 2);
        Path cacheFile = dir.resolve("cache.kvqsnap");
        Path poolFile = dir.resolve("pool.kvqsnap");
        try (KvCache c = KvCache.open(SHAPE, sparse, sparseCal, Backend.cpu(), 32, 7)) {
            SnapshotTest.fill(c, 0, 75, 1);
            SnapshotTest.fill(c, 1, 40, 2);
            c.save(cacheFile);
        }
        try (KvCachePool pool = KvCachePool.open(SHAPE, fixed, fixedCal, Backend.cpu(), 1 << 22, 32)) {
            SnapshotTest.fill(pool.newSequence(), 0, 50, 3);
            SnapshotTest.fill(pool.newSequence(), 1, 33, 4);
            pool.save(poolFile);
        }
        byte[][] good = {Files.readAllBytes(cacheFile), Files.readAllBytes(poolFile)};
        Calibration[] cals = {sparseCal, fixedCal};
        List<List<Integer>> sectionStarts = List.of(sections(good[0]), sections(good[1]));

        SplittableRandom random = new SplittableRandom(20261129);
        Path bad = dir.resolve("bad.kvqsnap");
        Map<SnapshotFormatException.Problem, Integer> seen = new EnumMap<>(SnapshotFormatException.Problem.class);
        int opened = 0;
        for (int trial = 0; trial < 10_000; trial++) {
            int which = random.nextInt(2);
            boolean recheck = random.nextInt(4) == 0;
            byte[] mutated = recheck ? mutateMetadata(good[which], sectionStarts.get(which), random)
                    : ByteCorruptions.mutate(good[which], random);
            Files.write(bad, mutated);
            try {
                if (which == 0) {
                    try (KvCache c = KvCache.openSnapshot(bad, cals[0], Backend.cpu())) {
                        exercise(c, recheck, trial);
                    }
                } else {
                    try (KvCachePool p = KvCachePool.openSnapshot(bad, cals[1], Backend.cpu())) {
                        for (KvCache c : p.sequences()) {
                            exercise(c, recheck, trial);
                        }
                    }
                }
                opened++;
                if (!recheck) {
                    assertTrue(Arrays.equals(good[which], mutated), "trial " + trial + " opened a changed file");
                }
            } catch (SnapshotFormatException e) {
                seen.merge(e.problem(), 1, Integer::sum);
                assertTrue(e.getMessage().startsWith("snapshot " + bad + ": "), e.getMessage());
            } catch (RuntimeException e) {
                fail("trial " + trial + (recheck ? " (re-checksummed)" : "") + " ended in " + e, e);
            }
        }
        assertTrue(seen.getOrDefault(SnapshotFormatException.Problem.CORRUPTED, 0) > 1000, seen.toString());
        assertTrue(seen.getOrDefault(SnapshotFormatException.Problem.TRUNCATED, 0) > 100, seen.toString());
        assertTrue(seen.getOrDefault(SnapshotFormatException.Problem.INVALID, 0) > 100, seen.toString());
        assertTrue(opened < 2500, "opened " + opened);
    }

    /**
     * Uses an opened cache the way a caller would. A re-checksummed file may legitimately hold other
     * values (a flipped sink bit, another first position); using it may then be refused with the
     * cache's own argument/state errors, but nothing else.
     */
    private static void exercise(KvCache c, boolean recheck, int trial) {
        try {
            for (int l = 0; l < c.shape().layers(); l++) {
                if (c.length(l) > 0) {
                    float[] q = CacheFixtures.randomQuery(c.shape(), trial);
                    c.attend(l, q, new float[q.length]);
                    c.decodeKeys(l);
                }
                SnapshotTest.fill(c, l, 3, trial);
            }
        } catch (IllegalArgumentException | IllegalStateException e) {
            if (!recheck) {
                throw e;
            }
        }
    }

    /**
     * Changes bytes inside the payload of a HEAD or LAYR section, or the pad field of a data section,
     * and recomputes that section's checksum, so that only the structural checks can catch it.
     */
    private static byte[] mutateMetadata(byte[] good, List<Integer> starts, SplittableRandom r) {
        byte[] b = good.clone();
        ByteBuffer le = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        int start = starts.get(r.nextInt(starts.size()));
        String tag = new String(b, start, 4, java.nio.charset.StandardCharsets.US_ASCII);
        int length = (int) le.getLong(start + 8);
        int payload = start + 16;
        int span = tag.equals("HEAD") || tag.equals("LAYR") ? length : 4;   // data sections: the pad field
        switch (r.nextInt(3)) {
            case 0 -> b[payload + r.nextInt(span)] ^= (byte) (1 << r.nextInt(8));
            case 1 -> {
                int at = payload + r.nextInt(Math.max(1, span - 3));
                int[] extremes = {0, -1, 1, Integer.MAX_VALUE, Integer.MIN_VALUE, 65536, 33};
                le.putInt(at, extremes[r.nextInt(extremes.length)]);
            }
            default -> b[payload + r.nextInt(span)] = (byte) r.nextInt(256);
        }
        fixChecksum(b, start);
        return b;
    }

    @Test
    void theSectionWalkerSeesEverySection() throws IOException {
        // guards the helper the fuzzing relies on: 1 HEAD + 2 layers × (LAYR, PAGE) for a fixed-slot cache
        Path file = dir.resolve("c.kvqsnap");
        try (KvCache c = KvCache.open(SHAPE, QuantSpec.fp16(), null, Backend.cpu(), 32)) {
            SnapshotTest.fill(c, 0, 5, 1);
            c.save(file);
        }
        byte[] b = Files.readAllBytes(file);
        List<Integer> s = sections(b);
        assertEquals(5, s.size());
        assertEquals(ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getInt(12), s.size());
    }
}
