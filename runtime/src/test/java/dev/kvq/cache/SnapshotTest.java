package dev.kvq.cache;

import static dev.kvq.cache.CacheFixtures.calibration;
import static dev.kvq.cache.CacheFixtures.randomQuery;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.cache.SnapshotFormatException.Problem;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.Rope;
import dev.kvq.geometry.RopePairing;
import dev.kvq.layout.PageLayout;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.QuantSpec;
import dev.kvq.quant.SyntheticActivations;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class SnapshotTest {
    private static final AttentionShape SHAPE =
            new AttentionShape(2, 4, 2, 32, Rope.of(10000, RopePairing.ROTATE_HALF, 32));

    @TempDir
    Path dir;

    static QuantSpec sparse(String name) {
        return QuantSpec.parse(name).outlierForm(QuantSpec.OutlierForm.TOKEN_MAJOR_SPARSE);
    }

    static Stream<Arguments> specs() {
        return Stream.of(
                // spec, tokens in layer 0, tokens in layer 1
                Arguments.of(QuantSpec.parse("nuq2-1%"), 150, 97),
                Arguments.of(sparse("nuq2-1%"), 150, 97),
                Arguments.of(sparse("nuq3-1%"), 1 + 4 * 32, 0),      // sink + whole pages: nothing copied
                Arguments.of(QuantSpec.parse("nuq4"), 33, 1),
                Arguments.of(QuantSpec.parse("nuq3-1%").sinkTokens(0), 64, 70),
                Arguments.of(QuantSpec.fp16(), 100, 65),
                Arguments.of(QuantSpec.fp32(), 64, 5));
    }

    /** Appends {@code n} synthetic tokens (seeded by layer and start) to {@code layer}. */
    static void fill(KvCache cache, int layer, int n, long seed) {
        if (n == 0) {
            return;
        }
        int d = cache.shape().kvChannels();
        cache.append(layer, SyntheticActivations.keys(seed, n, d), SyntheticActivations.values(seed + 1, n, d));
    }

    /** Every observable of the two caches is the same, bit for bit. */
    static void assertSameCache(KvCache expected, KvCache actual) {
        assertEquals(expected.pageTokens(), actual.pageTokens());
        assertEquals(expected.spec(), actual.spec());
        for (int l = 0; l < expected.shape().layers(); l++) {
            assertEquals(expected.length(l), actual.length(l), "layer " + l);
            if (expected.length(l) == 0) {
                continue;
            }
            assertArrayEquals(expected.decodeKeys(l), actual.decodeKeys(l), "keys of layer " + l);
            assertArrayEquals(expected.decodeValues(l), actual.decodeValues(l), "values of layer " + l);
            int pages = 0;
            while (hasPage(expected, l, pages)) {
                assertEquals(-1, expected.pageBytes(l, pages).mismatch(actual.pageBytes(l, pages)),
                        "page " + pages + " of layer " + l);
                pages++;
            }
            assertFalse(hasPage(actual, l, pages), "the opened cache has an extra page");
            float[] q = randomQuery(expected.shape(), 31 + l);
            float[] outA = new float[q.length];
            float[] outB = new float[q.length];
            expected.attend(l, q, outA);
            actual.attend(l, q, outB);
            // same bytes, same kernels: attention is reproducible bit for bit (the softmax uses no
            // JIT-dependent exp or reduction order, see SoftmaxExp)
            assertArrayEquals(outA, outB, "attention of layer " + l);
        }
        assertEquals(expected.memory().tokenBytes(), actual.memory().tokenBytes());
    }

    private static boolean hasPage(KvCache c, int layer, int page) {
        try {
            c.pageBytes(layer, page);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    @ParameterizedTest(name = "{0} {1}/{2} tokens")
    @MethodSource("specs")
    void aSavedCacheOpensBitIdenticalAndKeepsGrowingTheSameWay(QuantSpec spec, int tokens0, int tokens1)
            throws IOException {
        Calibration cal = spec.quantized() ? calibration(SHAPE, spec, 3) : null;
        Path file = dir.resolve("c.kvqsnap");
        try (KvCache original = KvCache.open(SHAPE, spec, cal, Backend.cpu(), 32, 1000)) {
            fill(original, 0, tokens0, 5);
            fill(original, 1, tokens1, 6);
            original.save(file);
            assertFalse(Files.exists(dir.resolve("c.kvqsnap.tmp")), "the temporary file is renamed");
            try (KvCache opened = KvCache.openSnapshot(file, cal, Backend.cpu())) {
                assertSameCache(original, opened);
                // saving the opened cache gives the same file
                Path again = dir.resolve("again.kvqsnap");
                opened.save(again);
                assertEquals(-1, Files.mismatch(file, again));
                // appends continue identically: into the copied last page, then new pages
                for (int round = 0; round < 3; round++) {
                    int n = round == 0 ? 1 : 40;
                    fill(original, 0, n, 50 + round);
                    fill(opened, 0, n, 50 + round);
                    fill(original, 1, n, 60 + round);
                    fill(opened, 1, n, 60 + round);
                }
                assertSameCache(original, opened);
            }
        }
    }

    @Test
    void openingWithoutVerifyingDataStillGivesTheSameCache() throws IOException {
        QuantSpec spec = sparse("nuq2-1%");
        Calibration cal = calibration(SHAPE, spec, 3);
        Path file = dir.resolve("c.kvqsnap");
        try (KvCache original = KvCache.open(SHAPE, spec, cal, Backend.cpu(), 32)) {
            fill(original, 0, 500, 1);
            original.save(file);
            try (KvCache opened = KvCache.openSnapshot(file, cal, Backend.cpu(), false)) {
                assertSameCache(original, opened);
                // 499 packed tokens = 15 full pages, mapped from the file, and a partial one, copied
                assertTrue(opened.pageBytes(0, 0).isMapped() && opened.pageBytes(0, 14).isMapped());
                assertFalse(opened.pageBytes(0, 15).isMapped());
                fill(opened, 0, 1, 9);
                fill(original, 0, 1, 9);
                assertSameCache(original, opened);
            }
        }
    }

    @Test
    void aPoolSnapshotRestoresEverySequenceInOrderUnderTheSameBudget() throws IOException {
        QuantSpec spec = sparse("nuq3-1%");
        Calibration cal = calibration(SHAPE, spec, 4);
        Path file = dir.resolve("pool.kvqsnap");
        try (KvCachePool pool = KvCachePool.open(SHAPE, spec, cal, Backend.cpu(), 1 << 24, 64)) {
            KvCache a = pool.newSequence();
            KvCache b = pool.newSequence();
            KvCache empty = pool.newSequence();
            fill(a, 0, 200, 1);
            fill(a, 1, 10, 2);
            fill(b, 1, 129, 3);
            pool.save(file);
            try (KvCachePool opened = KvCachePool.openSnapshot(file, cal, Backend.cpu())) {
                assertEquals(pool.budgetBytes(), opened.budgetBytes());
                List<KvCache> seqs = opened.sequences();
                assertEquals(3, seqs.size());
                assertSameCache(a, seqs.get(0));
                assertSameCache(b, seqs.get(1));
                assertSameCache(empty, seqs.get(2));
                assertTrue(opened.reservedBytes() > 0 && opened.reservedBytes() <= pool.reservedBytes(),
                        opened.reservedBytes() + " vs " + pool.reservedBytes());
                seqs.get(0).close();
                assertEquals(2, opened.openSequences());
            }
            SnapshotFormatException e = assertThrows(SnapshotFormatException.class,
                    () -> KvCache.openSnapshot(file, cal, Backend.cpu()));
            assertEquals(Problem.WRONG_KIND, e.problem());
            assertTrue(e.getMessage().contains("KvCachePool.openSnapshot"), e.getMessage());
            a.save(dir.resolve("one.kvqsnap"));
            e = assertThrows(SnapshotFormatException.class,
                    () -> KvCachePool.openSnapshot(dir.resolve("one.kvqsnap"), cal, Backend.cpu()));
            assertEquals(Problem.WRONG_KIND, e.problem());
        }
    }

    @Test
    void aPoolSnapshotWhoseSequencesExceedItsBudgetIsRefused() throws IOException {
        // a pool snapshot carries its budget; one forged with a smaller budget (re-checksummed) is
        // refused before anything loads
        QuantSpec spec = QuantSpec.fp16();
        Path file = dir.resolve("pool.kvqsnap");
        KvCachePool pool = KvCachePool.open(SHAPE, spec, null, Backend.cpu(), 1 << 20, 32);
        fill(pool.newSequence(), 0, 100, 1);
        fill(pool.newSequence(), 0, 100, 2);
        pool.save(file);
        pool.close();
        assertThrows(IllegalStateException.class, () -> pool.save(dir.resolve("closed.kvqsnap")));
        byte[] bytes = Files.readAllBytes(file);
        long budget = pageBytes(spec) * 4 + 100;            // room for the first sequence only
        java.nio.ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(16 + 16 + 9, budget);
        SnapshotFuzzTest.fixChecksum(bytes, 16);
        Files.write(file, bytes);
        SnapshotFormatException e = assertThrows(SnapshotFormatException.class,
                () -> KvCachePool.openSnapshot(file, null, Backend.cpu()));
        assertEquals(Problem.INVALID, e.problem());
        assertTrue(e.getMessage().contains("budget of " + budget), e.getMessage());
    }

    private static long pageBytes(QuantSpec spec) {
        return new PageLayout(SHAPE, spec, 32).pageBytes();
    }

    @Test
    void theCalibrationMustBeTheOneTheSnapshotWasMadeWith() throws IOException {
        QuantSpec spec = QuantSpec.parse("nuq2-1%");
        Calibration cal = calibration(SHAPE, spec, 3);
        Calibration other = calibration(SHAPE, spec, 4);
        Path file = dir.resolve("c.kvqsnap");
        try (KvCache c = KvCache.open(SHAPE, spec, cal, Backend.cpu(), 32)) {
            fill(c, 0, 40, 1);
            c.save(file);
        }
        SnapshotFormatException e = assertThrows(SnapshotFormatException.class,
                () -> KvCache.openSnapshot(file, other, Backend.cpu()));
        assertEquals(Problem.CALIBRATION_MISMATCH, e.problem());
        assertTrue(e.getMessage().contains(cal.fingerprint()) && e.getMessage().contains(other.fingerprint()),
                e.getMessage());
        e = assertThrows(SnapshotFormatException.class, () -> KvCache.openSnapshot(file, null, Backend.cpu()));
        assertEquals(Problem.CALIBRATION_MISMATCH, e.problem());
        assertTrue(e.getMessage().contains(cal.fingerprint()), e.getMessage());
    }

    @Test
    void aClosedCacheCannotBeSavedAndTheOldSnapshotStays() throws IOException {
        Path file = dir.resolve("c.kvqsnap");
        KvCache c = KvCache.open(SHAPE, QuantSpec.fp16(), null, Backend.cpu(), 32);
        fill(c, 0, 10, 1);
        c.save(file);
        byte[] before = Files.readAllBytes(file);
        c.close();
        assertThrows(IllegalStateException.class, () -> c.save(file));
        assertArrayEquals(before, Files.readAllBytes(file));
    }

    @Test
    void aSaveToAPathAnotherSaveIsWritingIsRefusedAndChangesNothing() throws IOException {
        Path file = dir.resolve("c.kvqsnap");
        Path lockFile = dir.resolve("c.kvqsnap.lock");
        try (KvCache c = KvCache.open(SHAPE, QuantSpec.fp16(), null, Backend.cpu(), 32)) {
            fill(c, 0, 10, 1);
            c.save(file);
            byte[] before = Files.readAllBytes(file);
            fill(c, 0, 5, 2);
            // the other save: it holds the lock file, as a save does while writing
            try (FileChannel other = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                 FileLock held = other.lock()) {
                IOException e = assertThrows(IOException.class, () -> c.save(file));
                assertTrue(e.getMessage().contains("in progress"), e.getMessage());
                assertTrue(held.isValid(), "the other save lost its lock");
                assertFalse(Files.exists(dir.resolve("c.kvqsnap.tmp")), "the refused save wrote a temporary file");
            }
            assertArrayEquals(before, Files.readAllBytes(file));
            c.save(file);
            try (KvCache opened = KvCache.openSnapshot(file, null, Backend.cpu())) {
                assertSameCache(c, opened);
            }
        }
    }

    @Test
    void aStaleTemporaryFileFromAKilledSaveIsOverwritten() throws IOException {
        Path file = dir.resolve("c.kvqsnap");
        Path tmp = dir.resolve("c.kvqsnap.tmp");
        byte[] garbage = new byte[1 << 20];
        Arrays.fill(garbage, (byte) 0x5a);
        Files.write(tmp, garbage);
        try (KvCache c = KvCache.open(SHAPE, QuantSpec.fp16(), null, Backend.cpu(), 32)) {
            fill(c, 0, 10, 1);
            c.save(file);
            assertFalse(Files.exists(tmp));
            try (KvCache opened = KvCache.openSnapshot(file, null, Backend.cpu())) {
                assertSameCache(c, opened);
            }
        }
    }

    @Test
    void aSnapshotCanBeReplacedWhileACacheOpenedFromItIsInUse() throws IOException {
        QuantSpec spec = QuantSpec.parse("nuq3-1%");
        Calibration cal = calibration(SHAPE, spec, 3);
        Path file = dir.resolve("c.kvqsnap");
        try (KvCache c = KvCache.open(SHAPE, spec, cal, Backend.cpu(), 32)) {
            fill(c, 0, 300, 1);
            c.save(file);
            try (KvCache opened = KvCache.openSnapshot(file, cal, Backend.cpu())) {
                fill(opened, 0, 50, 2);
                opened.save(file);     // renamed over the file its own pages are mapped from
                fill(c, 0, 50, 2);
                assertSameCache(c, opened);
                try (KvCache reopened = KvCache.openSnapshot(file, cal, Backend.cpu())) {
                    assertSameCache(c, reopened);
                }
            }
        }
    }

    @Test
    void truncatedAndCorruptedSnapshotsNameTheProblem() throws IOException {
        QuantSpec spec = sparse("nuq2-1%");
        Calibration cal = calibration(SHAPE, spec, 3);
        Path file = dir.resolve("c.kvqsnap");
        try (KvCache c = KvCache.open(SHAPE, spec, cal, Backend.cpu(), 32)) {
            fill(c, 0, 100, 1);
            c.save(file);
        }
        byte[] good = Files.readAllBytes(file);
        Path bad = dir.resolve("bad.kvqsnap");

        Files.write(bad, Arrays.copyOf(good, good.length - 1));
        SnapshotFormatException e = assertThrows(SnapshotFormatException.class,
                () -> KvCache.openSnapshot(bad, cal, Backend.cpu()));
        assertEquals(Problem.TRUNCATED, e.problem(), e.getMessage());
        assertTrue(e.getMessage().contains("bad.kvqsnap"), e.getMessage());

        Files.write(bad, Arrays.copyOf(good, 5));
        assertEquals(Problem.TRUNCATED, assertThrows(SnapshotFormatException.class,
                () -> KvCache.openSnapshot(bad, cal, Backend.cpu())).problem());

        Files.write(bad, "not a snapshot at all".getBytes());
        assertEquals(Problem.FOREIGN, assertThrows(SnapshotFormatException.class,
                () -> KvCache.openSnapshot(bad, cal, Backend.cpu())).problem());

        byte[] flipped = good.clone();
        flipped[good.length - 100] ^= 4;        // inside the last section's data
        Files.write(bad, flipped);
        e = assertThrows(SnapshotFormatException.class, () -> KvCache.openSnapshot(bad, cal, Backend.cpu()));
        assertEquals(Problem.CORRUPTED, e.problem());
        assertTrue(e.getMessage().contains("checksum mismatch in section"), e.getMessage());

        byte[] version = good.clone();
        version[8] = 9;
        Files.write(bad, version);
        assertEquals(Problem.UNSUPPORTED_VERSION, assertThrows(SnapshotFormatException.class,
                () -> KvCache.openSnapshot(bad, cal, Backend.cpu())).problem());

        byte[] longer = Arrays.copyOf(good, good.length + 3);
        Files.write(bad, longer);
        assertEquals(Problem.CORRUPTED, assertThrows(SnapshotFormatException.class,
                () -> KvCache.openSnapshot(bad, cal, Backend.cpu())).problem());

        assertThrows(java.nio.file.NoSuchFileException.class,
                () -> KvCache.openSnapshot(dir.resolve("missing"), cal, Backend.cpu()));
    }
}
