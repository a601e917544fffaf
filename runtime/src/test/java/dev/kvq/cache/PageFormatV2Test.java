package dev.kvq.cache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.Rope;
import dev.kvq.geometry.RopePairing;
import dev.kvq.layout.ChannelPlan;
import dev.kvq.layout.PageLayout;
import dev.kvq.quant.Activations;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.Calibrator;
import dev.kvq.quant.Fp16;
import dev.kvq.quant.MemoryMath;
import dev.kvq.quant.Provenance;
import dev.kvq.quant.QuantSpec;
import dev.kvq.quant.QuantizedToken;
import dev.kvq.quant.SyntheticActivations;
import dev.kvq.quant.WeightedKMeans;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Page format v2 in the packed runtime (CPU engine): what format v1 refused now works. A recent-token
 * window (fp16 ring beside the sinks), mixed code widths from a bit allocation, per-channel key codebooks,
 * both RoPE pairings with partners adjacent, per-head outlier ends, snapshots of all of it; a v1 snapshot
 * opens where its pages are v2 pages and is refused naming both versions where they are not; the CUDA engine
 * declines (WARN, CPU) what its v1 kernels cannot write. Attention is checked against fp64 attention over the
 * cache's own decode ({@code decodeKeys}: the oracle {@code ReferenceDecoder}), and the decode itself against
 * independent expectations (the inputs in fp16 for the window, a window-less cache's pages for the rest, the
 * quantizer's reconstruction).
 */
class PageFormatV2Test {
    private static final AttentionShape SHAPE = shape(RopePairing.INTERLEAVED, 8);
    private static final float TOLERANCE = 1e-4f;

    private static AttentionShape shape(RopePairing pairing, int headDim) {
        return new AttentionShape(2, 8, 4, headDim, Rope.of(10000, pairing, headDim));
    }

    private static Calibration calibration(AttentionShape shape, QuantSpec spec) {
        Activations[][] a = SyntheticActivations.perLayer(shape.layers(), 2048, shape.kvChannels(), 10);
        return new Calibration(shape, spec, Provenance.unknown(), Calibrator.fit(shape, spec, a[0], a[1],
                WeightedKMeans.Options.defaults()));
    }

    /** Attends on every layer with a fresh query and compares with fp64 attention over the cache's decode. */
    private static void assertAttendsLikeItsDecode(KvCache cache, long seed, String what) {
        AttentionShape shape = cache.shape();
        for (int l = 0; l < shape.layers(); l++) {
            int n = cache.length(l);
            if (n == 0) {
                continue;
            }
            float[] query = CacheFixtures.randomQuery(shape, seed + l);
            float[] out = new float[query.length];
            cache.attend(l, query, out);
            float[] reference = CacheFixtures.reference(shape, query, cache.decodeKeys(l), cache.decodeValues(l), n);
            for (int i = 0; i < out.length; i++) {
                assertEquals(reference[i], out[i], TOLERANCE * (1 + Math.abs(reference[i])),
                        what + ", layer " + l + ", " + n + " tokens, output " + i);
            }
        }
    }

    /**
     * A window cache over 1..230 tokens (pages of 32, window 32, one sink): the window fills, wraps around its
     * ring several times and leaves every earlier token to the pages. At every length: attention equals the
     * reference over its decode; the window's tokens (and the sink) decode to the inputs in fp16, the others
     * to exactly what a cache without a window decodes; and the pages are byte for byte the window-less
     * cache's (every non-sink token is packed at append, window or not).
     */
    @Test
    void aRecentWindowAttendsLikeTheReferenceAcrossFillWrapAndSinks() {
        QuantSpec windowed = QuantSpec.parse("nuq3-1%-r32");
        QuantSpec plain = QuantSpec.parse("nuq3-1%");
        Calibration c = calibration(SHAPE, plain);
        int d = SHAPE.kvChannels();
        int total = 230;
        float[] keys = SyntheticActivations.keys(31, total, d);
        float[] values = SyntheticActivations.values(32, total, d);
        float[] rotated = CacheFixtures.rotate(SHAPE, keys, total, 0);
        try (KvCache cache = KvCache.open(SHAPE, windowed, c, Backend.cpu(), 32);
             KvCache without = KvCache.open(SHAPE, plain, c, Backend.cpu(), 32)) {
            int n = 0;
            SplittableRandom steps = new SplittableRandom(5);
            while (n < total) {
                int step = n < 80 ? 1 : Math.min(total - n, 1 + steps.nextInt(20));
                for (int l = 0; l < SHAPE.layers(); l++) {
                    cache.append(l, java.util.Arrays.copyOfRange(keys, n * d, (n + step) * d),
                            java.util.Arrays.copyOfRange(values, n * d, (n + step) * d));
                    without.append(l, java.util.Arrays.copyOfRange(keys, n * d, (n + step) * d),
                            java.util.Arrays.copyOfRange(values, n * d, (n + step) * d));
                }
                n += step;
                assertAttendsLikeItsDecode(cache, 100 + n, "nuq3-1%-r32");
                float[] back = cache.decodeKeys(0);
                float[] backValues = cache.decodeValues(0);
                float[] packed = without.decodeKeys(0);
                float[] packedValues = without.decodeValues(0);
                int windowFrom = Math.max(1, n - 32);
                for (int t = 0; t < n; t++) {
                    boolean fp16 = t == 0 || t >= windowFrom;
                    for (int ch = 0; ch < d; ch++) {
                        int i = t * d + ch;
                        if (fp16) {
                            assertEquals(Fp16.decode(Fp16.encode(rotated[i])), back[i], 2e-3f * (1 + Math.abs(rotated[i])),
                                    "window key, token " + t + " of " + n);
                            assertEquals(Fp16.decode(Fp16.encode(values[i])), backValues[i], 0f,
                                    "window value, token " + t + " of " + n);
                        } else {
                            assertEquals(packed[i], back[i], 0f, "packed key, token " + t + " of " + n);
                            assertEquals(packedValues[i], backValues[i], 0f, "packed value, token " + t + " of " + n);
                        }
                    }
                }
                int pages = (n - 1 + 31) / 32;
                for (int pg = 0; pg < pages; pg++) {
                    assertTrue(cache.pageBytes(0, pg).mismatch(without.pageBytes(0, pg)) < 0,
                            "page " + pg + " at " + n + " tokens differs from the window-less cache's");
                }
            }
            // the window is what makes the difference: the same query attends differently without it
            float[] query = CacheFixtures.randomQuery(SHAPE, 9);
            float[] a = new float[query.length];
            float[] b = new float[query.length];
            cache.attend(0, query, a);
            without.attend(0, query, b);
            assertNotEquals(0, CacheFixtures.relativeError(a, b));
            assertTrue(cache.memory().window() > 0, "the window's fp16 copy is counted: " + cache.memory());
        }
    }

    /** The window at positions far from 0 (the ring slot follows the token's index, the angle its position). */
    @Test
    void aRecentWindowAtALargeFirstPositionAttendsLikeTheReference() {
        QuantSpec spec = QuantSpec.parse("nuq2-r16-s4");
        Calibration c = calibration(SHAPE, spec);
        int d = SHAPE.kvChannels();
        try (KvCache cache = KvCache.open(SHAPE, spec, c, Backend.cpu(), 64, 9_999_000L)) {
            for (int round = 0; round < 6; round++) {
                int step = 1 + 13 * round;
                for (int l = 0; l < SHAPE.layers(); l++) {
                    cache.append(l, SyntheticActivations.keys(40 + round, step, d), SyntheticActivations.values(50 + round, step, d));
                }
                assertAttendsLikeItsDecode(cache, 7 * round, "nuq2-r16-s4 at 10^7");
            }
        }
    }

    /**
     * Mixed widths (nuqa3: Fisher bit allocation, widths 0–6 per channel), per-channel key codebooks, and both
     * together with outliers and a window, for both RoPE pairings and with the scalar and the SIMD kernels:
     * the keys decode to the quantizer's reconstruction (rotated), and attention equals the reference.
     */
    @ParameterizedTest
    @EnumSource(RopePairing.class)
    void mixedWidthsAndPerChannelKeyCodebooksDecodeAndAttendLikeTheReference(RopePairing pairing) {
        AttentionShape shape = shape(pairing, 16);
        int d = shape.kvChannels();
        for (String name : List.of("nuq3", "nuqa3", "nuq3-ccb", "nuqa3-ccb", "nuqa2-1%-r32", "nuqa3-1%-sparse-r16", "nuq4-1%")) {
            QuantSpec spec = QuantSpec.parse(name);
            Calibration c = calibration(shape, spec);
            if (spec.allocated()) {
                BitSet widths = new BitSet();
                for (int ch = 0; ch < d; ch++) {
                    widths.set(ChannelPlan.of(shape, c.layer(0)).keyWidth(ch));
                }
                assertTrue(widths.cardinality() >= 2, name + ": the allocation gives the keys mixed widths " + widths);
            }
            int n = 150;
            float[] keys = SyntheticActivations.keys(61, n, d);
            float[] values = SyntheticActivations.values(62, n, d);
            for (String lanes : new String[] {"0", null}) {
                CacheFixtures.withSimd(lanes, () -> {
                    try (KvCache cache = KvCache.open(shape, spec, c, Backend.cpu(), 64)) {
                        for (int l = 0; l < shape.layers(); l++) {
                            cache.append(l, keys, values);
                        }
                        assertAttendsLikeItsDecode(cache, 3, name + " " + pairing + " simd=" + lanes);
                        if (!spec.hasOutliers() && spec.recentWindow() == 0) {
                            assertKeysDecodeToTheReconstruction(shape, spec, c, cache, keys, n);
                        }
                    }
                    return null;
                });
            }
        }
    }

    private static void assertKeysDecodeToTheReconstruction(AttentionShape shape, QuantSpec spec, Calibration c,
                                                            KvCache cache, float[] keys, int n) {
        int d = shape.kvChannels();
        var kq = c.layer(0).keys();
        QuantizedToken tok = new QuantizedToken(d);
        float[] expected = keys.clone();
        for (int t = spec.sinkTokens(); t < n; t++) {
            kq.quantize(keys, t * d, tok, 0);
            for (int ch = 0; ch < d; ch++) {
                expected[t * d + ch] = kq.dequantize(ch, tok.codes[ch]);
            }
        }
        float[] rotated = CacheFixtures.rotate(shape, expected, n, 0);
        float[] back = cache.decodeKeys(0);
        for (int i = spec.sinkTokens() * d; i < n * d; i++) {
            assertEquals(rotated[i], back[i], 1e-5f * (1 + Math.abs(rotated[i])), spec.name() + " key element " + i);
        }
    }

    /**
     * Each token's outlier list is split per KV head: the ends rise, the last is the list's length, and every
     * channel in head h's range belongs to head h — fixed slots and the sparse form.
     */
    @Test
    void outlierListsCarryPerHeadEnds() {
        AttentionShape shape = shape(RopePairing.ROTATE_HALF, 16);
        int d = shape.kvChannels();
        for (String name : List.of("nuq3-1%", "nuq2-5%-sparse")) {
            QuantSpec spec = QuantSpec.parse(name);
            Calibration c = calibration(shape, spec.outlierForm(QuantSpec.OutlierForm.FIXED_SLOTS));
            try (KvCache cache = KvCache.open(shape, spec, c, Backend.cpu(), 32)) {
                cache.append(0, SyntheticActivations.keys(71, 97, d), SyntheticActivations.values(72, 97, d));
                PageLayout layout = cache.pageLayout(0);
                long[] listed = new long[2];
                for (int pg = 0; pg < 3; pg++) {
                    var page = cache.pageBytes(0, pg);
                    for (int r = 0; r < 32; r++) {
                        for (PageLayout.Part part : List.of(PageLayout.Part.KEY_OUT_HEAD_END, PageLayout.Part.VALUE_OUT_HEAD_END)) {
                            boolean keyList = part == PageLayout.Part.KEY_OUT_HEAD_END;
                            int previous = 0;
                            for (int h = 0; h < shape.kvHeads(); h++) {
                                int end = layout.headEnd(page, part, r, h);
                                assertTrue(end >= previous, name + " head ends rise: " + previous + " then " + end);
                                for (int i = previous; i < end; i++) {
                                    if (!layout.sparseOutliers()) {
                                        long at = layout.offset(keyList ? PageLayout.Part.KEY_OUT_CHANNEL
                                                : PageLayout.Part.VALUE_OUT_CHANNEL)
                                                + 2 * (keyList ? layout.keySlot(r, i) : layout.valueSlot(r, i));
                                        int channel = page.get(java.lang.foreign.ValueLayout.JAVA_SHORT, at);
                                        assertEquals(h, channel / shape.headDim(), name + " slot " + i + " of token " + r);
                                    }
                                }
                                listed[keyList ? 0 : 1] += end - previous;
                                previous = end;
                            }
                            if (layout.sparseOutliers()) {
                                long starts = layout.offset(keyList ? PageLayout.Part.KEY_OUT_START : PageLayout.Part.VALUE_OUT_START);
                                int from = page.get(java.lang.foreign.ValueLayout.JAVA_INT, starts + 4L * r);
                                int to = page.get(java.lang.foreign.ValueLayout.JAVA_INT, starts + 4L * (r + 1));
                                assertEquals(to - from, previous, name + ": the last head's end is the token's entry count");
                            } else {
                                assertTrue(previous <= (keyList ? layout.keySlots() : layout.valueSlots()));
                            }
                        }
                    }
                }
                assertTrue(listed[0] > 0 && listed[1] > 0, name + " stores key and value outliers: " + listed[0] + ", " + listed[1]);
                assertAttendsLikeItsDecode(cache, 11, name);
            }
        }
    }

    /**
     * A cache with a window, mixed widths and outliers saves and reopens bit-identical, attends the same, and
     * keeps going: appends after the reopen land in the right ring slots and pages.
     */
    @Test
    void aV2CacheWithWindowAndMixedWidthsSnapshotsAndReopens(@TempDir Path dir) throws Exception {
        AttentionShape shape = shape(RopePairing.ROTATE_HALF, 16);
        int d = shape.kvChannels();
        for (String name : List.of("nuqa3-1%-r32", "nuqa2-1%-sparse-r16-ccb")) {
            QuantSpec spec = QuantSpec.parse(name);
            Calibration c = calibration(shape, spec);
            Path file = dir.resolve(name.replace('%', 'p') + ".kvqsnap");
            try (KvCache cache = KvCache.open(shape, spec, c, Backend.cpu(), 64)) {
                for (int l = 0; l < shape.layers(); l++) {
                    cache.append(l, SyntheticActivations.keys(80 + l, 141, d), SyntheticActivations.values(90 + l, 141, d));
                }
                cache.save(file);
                try (KvCache back = KvCache.openSnapshot(file, c, Backend.cpu())) {
                    assertEquals(spec, back.spec());
                    for (int l = 0; l < shape.layers(); l++) {
                        assertArrayEquals(cache.decodeKeys(l), back.decodeKeys(l), name);
                        assertArrayEquals(cache.decodeValues(l), back.decodeValues(l), name);
                        float[] query = CacheFixtures.randomQuery(shape, 13 + l);
                        float[] a = new float[query.length];
                        float[] b = new float[query.length];
                        cache.attend(l, query, a);
                        back.attend(l, query, b);
                        assertArrayEquals(a, b, name);
                        float[] k = SyntheticActivations.keys(95 + l, 45, d);
                        float[] v = SyntheticActivations.values(96 + l, 45, d);
                        cache.append(l, k, v);
                        back.append(l, k, v);
                        assertArrayEquals(cache.decodeKeys(l), back.decodeKeys(l), name + " after more appends");
                        assertArrayEquals(cache.decodeValues(l), back.decodeValues(l), name + " after more appends");
                    }
                    assertAttendsLikeItsDecode(back, 17, name + " reopened");
                }
            }
        }
    }

    /** A pool of sequences with a window and mixed widths: each attends like its decode, and the pool snapshots. */
    @Test
    void aPoolWithAWindowAndMixedWidthsServesSequencesAndSnapshots(@TempDir Path dir) throws Exception {
        QuantSpec spec = QuantSpec.parse("nuqa3-1%-r32");
        Calibration c = calibration(SHAPE, spec);
        int d = SHAPE.kvChannels();
        Path file = dir.resolve("pool.kvqsnap");
        try (KvCachePool pool = KvCachePool.open(SHAPE, spec, c, Backend.cpu(), 1 << 24, 32)) {
            KvCache a = pool.newSequence();
            KvCache b = pool.newSequence();
            for (int l = 0; l < SHAPE.layers(); l++) {
                a.append(l, SyntheticActivations.keys(100 + l, 77, d), SyntheticActivations.values(110 + l, 77, d));
                b.append(l, SyntheticActivations.keys(120 + l, 5, d), SyntheticActivations.values(130 + l, 5, d));
            }
            assertAttendsLikeItsDecode(a, 21, "pool sequence a");
            assertAttendsLikeItsDecode(b, 22, "pool sequence b");
            pool.save(file);
            try (KvCachePool back = KvCachePool.openSnapshot(file, c, Backend.cpu())) {
                assertEquals(2, back.sequences().size());
                for (int l = 0; l < SHAPE.layers(); l++) {
                    assertArrayEquals(a.decodeKeys(l), back.sequences().get(0).decodeKeys(l));
                    assertArrayEquals(b.decodeValues(l), back.sequences().get(1).decodeValues(l));
                }
            }
        }
    }

    /** A copy of {@code good} whose header says snapshot format version 1 (the file header is not checksummed). */
    private static Path asVersionOne(Path good, Path dir) throws Exception {
        byte[] bytes = Files.readAllBytes(good);
        assertEquals(2, ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getInt(8), "this build writes version 2");
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putInt(8, 1);
        Path v1 = dir.resolve("v1-" + good.getFileName());
        Files.write(v1, bytes);
        return v1;
    }

    /**
     * Version 1 snapshots: where format v1 pages are v2 pages byte for byte (one width, interleaved pairs, no
     * outliers, no window, D a multiple of 32) they open; elsewhere they are refused naming both versions.
     */
    @Test
    void aVersionOneSnapshotOpensWhereItsPagesAreV2PagesAndIsRefusedNamingBothVersionsElsewhere(@TempDir Path dir)
            throws Exception {
        int d = SHAPE.kvChannels();
        for (String name : List.of("nuq3", "nuq3-1%")) {
            QuantSpec spec = QuantSpec.parse(name);
            Calibration c = calibration(SHAPE, spec);
            Path file = dir.resolve(name.replace('%', 'p') + ".kvqsnap");
            try (KvCache cache = KvCache.open(SHAPE, spec, c, Backend.cpu())) {
                for (int l = 0; l < SHAPE.layers(); l++) {
                    cache.append(l, SyntheticActivations.keys(l, 70, d), SyntheticActivations.values(l, 70, d));
                }
                cache.save(file);
                Path v1 = asVersionOne(file, dir);
                if (PageLayout.versionOneDifference(SHAPE, spec) == null) {
                    try (KvCache back = KvCache.openSnapshot(v1, c, Backend.cpu())) {
                        assertArrayEquals(cache.decodeKeys(1), back.decodeKeys(1));
                    }
                } else {
                    SnapshotFormatException e = assertThrows(SnapshotFormatException.class,
                            () -> KvCache.openSnapshot(v1, c, Backend.cpu()));
                    assertEquals(SnapshotFormatException.Problem.UNSUPPORTED_VERSION, e.problem());
                    assertTrue(e.getMessage().contains("version 1") && e.getMessage().contains("version 2")
                            && e.getMessage().contains("outliers"), e.getMessage());
                }
            }
        }
    }

    /**
     * The CUDA engine's sparse form (its format v1 kernels) writes neither mixed widths nor per-channel key
     * codebooks: such a cache runs on the CPU, with one WARN that names the reason.
     */
    @Test
    void theCudaEngineDeclinesWhatItsKernelsCannotWriteWithOneWarn() {
        Backend cuda = new Backend(Backend.Kind.CUDA, "test");
        for (String name : List.of("nuqa3-1%-sparse", "nuq3-1%-sparse-ccb")) {
            AttentionShape shape = SHAPE;
            QuantSpec spec = QuantSpec.parse(name);
            Calibration c = calibration(shape, spec);
            try (LogCapture log = LogCapture.of(KvCache.class);
                 KvCache cache = KvCache.open(shape, spec, c, cuda)) {
                assertEquals(Backend.Kind.CPU, cache.backend().kind(), name);
                String why = cache.backend().reason();
                assertTrue(why.contains("CUDA engine's kernels do not cover") && why.contains(
                        name.startsWith("nuqa") ? "mixed code widths" : "per-channel key codebooks"), why);
                assertEquals(1, log.warnings().size(), log.warnings().toString());
                assertTrue(log.warnings().get(0).contains(why), log.warnings().get(0));
                cache.append(0, SyntheticActivations.keys(3, 40, shape.kvChannels()),
                        SyntheticActivations.values(4, 40, shape.kvChannels()));
                assertEquals(40, cache.length(0));
            }
        }
        // the page format v2 kernels serve windows, sinks, outliers, both pairings, D not a multiple of 32 and the
        // mixed widths of a bit allocation (GpuCacheTest compares such pages with the CPU's, byte for byte, on the
        // emulated driver)
        for (String name : List.of("nuq3-1%", "nuq3-1%-r32", "nuq2-s4-r16", "nuq3-ccb", "nuq4-1%-r16-ccb", "fp16",
                "nuqa3", "nuqa3-1%-r32", "kvq3")) {
            QuantSpec spec = QuantSpec.parse(name);
            AttentionShape rotateHalf = shape(RopePairing.ROTATE_HALF, 16);
            dev.kvq.engine.cuda.CudaEngine.requireServed(dev.kvq.engine.CacheSetup.of(rotateHalf, spec,
                    spec.quantized() ? calibration(rotateHalf, spec) : null, 256));
        }
        // the sparse form runs on the format v1 kernels: a window there is still declined, naming why
        QuantSpec sparseWindow = QuantSpec.parse("nuq3-1%-sparse-r16");
        UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                () -> dev.kvq.engine.cuda.CudaEngine.requireServed(dev.kvq.engine.CacheSetup.of(SHAPE, sparseWindow,
                        calibration(SHAPE, sparseWindow), 256)));
        assertTrue(e.getMessage().contains("TOKEN_MAJOR_SPARSE") && e.getMessage().contains("recent-token window"),
                e.getMessage());
    }

    @Test
    void aCacheWithPerChannelKeyCodebooksSnapshotsAndReopensBitIdentical(@TempDir Path dir) throws Exception {
        QuantSpec spec = QuantSpec.parse("nuq3-1%-ccb");
        Calibration c = calibration(SHAPE, spec);
        int d = SHAPE.kvChannels();
        Path file = dir.resolve("ccb.kvqsnap");
        try (KvCache cache = KvCache.open(SHAPE, spec, c, Backend.cpu())) {
            for (int l = 0; l < SHAPE.layers(); l++) {
                cache.append(l, SyntheticActivations.keys(l, 300, d), SyntheticActivations.values(l, 300, d));
            }
            cache.save(file);
            try (KvCache back = KvCache.openSnapshot(file, c, Backend.cpu())) {
                assertEquals(spec, back.spec());
                for (int l = 0; l < SHAPE.layers(); l++) {
                    assertArrayEquals(cache.decodeKeys(l), back.decodeKeys(l));
                    assertArrayEquals(cache.decodeValues(l), back.decodeValues(l));
                }
            }
        }
    }

    /** The memory report counts what the stored-bits arithmetic counts, windows and mixed widths included. */
    @Test
    void theMemoryReportCountsWhatTheStoredBitsArithmeticCounts() {
        SplittableRandom r = new SplittableRandom(4);
        int d = SHAPE.kvChannels();
        for (String name : List.of("nuq4", "nuq3-1%", "nuq2-1%-sparse", "nuq3-ccb", "nuq3-1%-r32", "nuqa3-r16")) {
            QuantSpec spec = QuantSpec.parse(name);
            Calibration c = calibration(SHAPE, spec.outlierForm(QuantSpec.OutlierForm.FIXED_SLOTS));
            int n = 256 + 1 + r.nextInt(100);
            float[] keys = SyntheticActivations.keys(5, n, d);
            float[] values = SyntheticActivations.values(6, n, d);
            try (KvCache cache = KvCache.open(SHAPE, spec, c, Backend.cpu())) {
                long keyOutliers = 0;
                for (int l = 0; l < SHAPE.layers(); l++) {
                    cache.append(l, keys, values);
                    for (int t = spec.sinkTokens(); t < n; t++) {
                        for (int ch = 0; ch < d; ch++) {
                            float x = keys[t * d + ch];
                            if (x > c.layer(l).keys().upper(ch) || x < c.layer(l).keys().lower(ch)) {
                                keyOutliers++;
                            }
                        }
                    }
                }
                double perToken = (double) keyOutliers / (SHAPE.layers() * (n - spec.sinkTokens()));
                MemoryMath.TokenBits token = MemoryMath.storedToken(spec, d, SHAPE.kvHeads(), c.meanKeyCodeBits(),
                        c.meanValueCodeBits(), spec.hasOutliers() ? perToken : 0);
                double expected = MemoryMath.effectiveBits(token, d, spec.sinkTokens(), spec.recentWindow(), n);
                double reported = cache.memory().tokenBits();
                // the sparse pointers are int32 [P+1] per page: one spare pointer per 256 tokens and tensor
                double slack = spec.outlierForm() == QuantSpec.OutlierForm.TOKEN_MAJOR_SPARSE ? 2 * 32.0 / 256 / (2 * d) : 0;
                assertEquals(expected, reported, slack + 1e-9, name + " at " + n + " tokens");
                if (!spec.allocated() && (!spec.hasOutliers() || spec.outlierForm() == QuantSpec.OutlierForm.FIXED_SLOTS)) {
                    assertEquals(MemoryMath.effectiveBits(spec, d, SHAPE.kvHeads(), n, MemoryMath.Accounting.STORED),
                            reported, 1e-9, name);
                }
            }
        }
    }
}
