package dev.kvq.cache;

import static dev.kvq.cache.CacheFixtures.calibration;
import static dev.kvq.cache.CacheFixtures.randomQuery;
import static dev.kvq.cache.CacheFixtures.relativeError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.driver.Context;
import dev.kvq.driver.DeviceMemory;
import dev.kvq.engine.cuda.CudaRuntime;
import dev.kvq.engine.cuda.CudaSequence;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.Rope;
import dev.kvq.geometry.RopePairing;
import dev.kvq.kernels.KernelSignatures;
import dev.kvq.layout.ChannelPlan;
import dev.kvq.layout.PageLayout;
import dev.kvq.quant.Activations;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.Calibrator;
import dev.kvq.quant.Provenance;
import dev.kvq.quant.QuantSpec;
import dev.kvq.quant.SyntheticActivations;
import dev.kvq.quant.WeightedKMeans;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The CUDA backend against the CPU backend on the same inputs: packed pages bit-identical after
 * append (prefill and decode appends), key scores, value matvec and attention outputs within 1e-4
 * relative (max |gpu − cpu| / max |cpu|); head dims 8, 64, 128; GQA 1:1, 2:1, 4:1; 1 to 10^6
 * tokens; positions up to 10^7; a batch of 16 sequences of different lengths; ownership (close
 * frees everything, once) and device OOM. Skipped without a GPU.
 */
@Tag("gpu")
@EnabledIf("dev.kvq.cache.GpuCondition#available")
class GpuCacheTest {
    private static final double TOLERANCE = 1e-4;
    private static final Map<String, Calibration> CALIBRATIONS = new HashMap<>();

    @BeforeAll
    static void startBackend() {
        // with a GPU present the backend must start: a failure here is a failure, not a skip
        Backend b = Backend.cuda();
        System.out.println("gpu: " + CudaRuntime.shared() + "; backend " + b);
    }

    private static Calibration cal(AttentionShape shape, QuantSpec spec) {
        if (!spec.quantized()) {
            return null;
        }
        if (spec.allocated()) {
            return allocatedCal(shape, spec);
        }
        String key = shape + "/" + spec.name();
        return CALIBRATIONS.computeIfAbsent(key, k -> calibration(shape, spec, 11));
    }

    private static Backend cuda() {
        return Backend.cuda();
    }

    /** Every configuration; in quick mode (sanitizer runs) every other one, which still covers d 8/64/128. */
    static Stream<Arguments> configurations() {
        List<Arguments> all = List.of(
                // headDim, queryHeads, kvHeads, pairing, mode
                Arguments.of(8, 4, 4, RopePairing.INTERLEAVED, "nuq3-1%"),
                Arguments.of(8, 8, 4, RopePairing.ROTATE_HALF, "nuq2-1%"),
                Arguments.of(8, 8, 2, RopePairing.ROTATE_HALF, "fp16"),
                Arguments.of(64, 4, 4, RopePairing.ROTATE_HALF, "nuq4-1%"),
                Arguments.of(64, 8, 4, RopePairing.INTERLEAVED, "nuq3-1%"),
                Arguments.of(64, 16, 4, RopePairing.ROTATE_HALF, "nuq2-1%"),
                Arguments.of(64, 8, 2, RopePairing.ROTATE_HALF, "nuq3"),
                Arguments.of(128, 8, 8, RopePairing.ROTATE_HALF, "nuq3-1%"),
                Arguments.of(128, 8, 4, RopePairing.ROTATE_HALF, "nuq4-1%"),
                Arguments.of(128, 16, 4, RopePairing.INTERLEAVED, "nuq2-1%"),
                Arguments.of(128, 8, 2, RopePairing.ROTATE_HALF, "fp16"));
        if (GpuCondition.full()) {
            return all.stream();
        }
        List<Arguments> some = new ArrayList<>();
        for (int i = 0; i < all.size(); i += 2) {
            some.add(all.get(i));
        }
        return some.stream();
    }

    @ParameterizedTest(name = "d={0} Hq={1} Hkv={2} {3} {4}")
    @MethodSource("configurations")
    void pagesAreBitIdenticalAndAttentionAgrees(int headDim, int queryHeads, int kvHeads, RopePairing pairing,
                                                String mode) {
        AttentionShape shape = new AttentionShape(2, queryHeads, kvHeads, headDim, Rope.of(10000, pairing, headDim));
        QuantSpec spec = QuantSpec.parse(mode);
        Calibration cal = cal(shape, spec);
        int d = shape.kvChannels();
        // 1 token, then a prefill that crosses pages, then decode appends one token at a time (these
        // OR into value words that earlier launches already wrote)
        int[] appends = {1, 290, 1, 1, 1, 40, 1};
        int total = 0;
        for (int n : appends) {
            total += n;
        }
        float[] keys = SyntheticActivations.keys(21 + headDim, total, d);
        float[] values = SyntheticActivations.values(22 + headDim, total, d);
        try (KvCache cpu = KvCache.open(shape, spec, cal, Backend.cpu(), 64);
             KvCache gpu = KvCache.open(shape, spec, cal, cuda(), 64)) {
            appendAndCompare(cpu, gpu, 1, shape, appends, keys, values, 100);
            assertEquals(0, gpu.length(0));
            assertEquals(cpu.memory().codes(), gpu.memory().codes());
            assertEquals(cpu.memory().tokens(), gpu.memory().tokens());
        }
    }

    /**
     * What the page format v2 kernels added (issue 15), all on the emulated driver too: recent-token windows,
     * sinks, sinks with a window, per-channel key codebooks, D not a multiple of 32, page sizes that are not a
     * power of two (the generic fused decode), both pairings and GQA, and mixed code widths (the presets and nuqa
     * modes: the width-group kernels, every layer), against the CPU engine: pages byte for byte (the window's
     * tokens are in the pages as well), the side buffer through the decoded keys and values, outputs within
     * 1e-4.
     */
    static Stream<Arguments> formatTwoConfigurations() {
        return Stream.of(
                // headDim, queryHeads, kvHeads, pairing, mode, page tokens
                Arguments.of(64, 8, 4, RopePairing.ROTATE_HALF, "nuq3-1%-r32", 64),
                Arguments.of(64, 4, 4, RopePairing.INTERLEAVED, "nuq2-1%-s4-r32", 64),
                Arguments.of(128, 8, 2, RopePairing.INTERLEAVED, "nuq4-s4", 64),
                Arguments.of(64, 8, 1, RopePairing.ROTATE_HALF, "nuq3-1%-s2-r16", 64),
                Arguments.of(8, 6, 3, RopePairing.ROTATE_HALF, "nuq3-1%-r32", 64),
                Arguments.of(40, 4, 2, RopePairing.INTERLEAVED, "nuq2-1%-s4", 96),
                Arguments.of(64, 8, 2, RopePairing.ROTATE_HALF, "nuq3-1%-r16", 96),
                Arguments.of(64, 8, 2, RopePairing.INTERLEAVED, "fp16", 96),
                Arguments.of(64, 8, 4, RopePairing.INTERLEAVED, "nuq3-1%-ccb", 64),
                Arguments.of(64, 4, 2, RopePairing.ROTATE_HALF, "nuq2-s4-r16-ccb", 64),
                Arguments.of(40, 4, 2, RopePairing.ROTATE_HALF, "nuq4-1%-ccb", 96),
                // mixed code widths (issue 13: a bit allocation gives every key pair and value channel a width
                // 0–6 and every layer its own page layout): the presets and nuqa modes, every layer compared
                Arguments.of(64, 2, 2, RopePairing.ROTATE_HALF, "kvq4", 64),
                Arguments.of(64, 8, 2, RopePairing.INTERLEAVED, "kvq3", 64),
                Arguments.of(40, 4, 2, RopePairing.ROTATE_HALF, "kvq2", 96),
                Arguments.of(32, 4, 4, RopePairing.INTERLEAVED, "nuqa3-1%-r32", 64),
                Arguments.of(8, 6, 3, RopePairing.ROTATE_HALF, "nuqa3-1%-r32-ccb", 64),
                Arguments.of(64, 8, 4, RopePairing.ROTATE_HALF, "nuqa2-1%-s4-r16-ccb", 64));
    }

    /** A calibration with a Fisher bit allocation (the nuqa modes, the presets): every layer its own widths. */
    static Calibration allocatedCal(AttentionShape shape, QuantSpec spec) {
        return CALIBRATIONS.computeIfAbsent(shape + "/" + spec.name(), k -> {
            Activations[][] a = SyntheticActivations.perLayer(shape.layers(), 2048, shape.kvChannels(), 10);
            Calibration c = new Calibration(shape, spec, Provenance.unknown(), Calibrator.fit(shape, spec, a[0], a[1],
                    WeightedKMeans.Options.defaults()));
            java.util.BitSet widths = new java.util.BitSet();
            for (int l = 0; l < shape.layers(); l++) {
                for (int ch = 0; ch < shape.kvChannels(); ch++) {
                    widths.set(ChannelPlan.of(shape, c.layer(l)).keyWidth(ch));
                    widths.set(ChannelPlan.of(shape, c.layer(l)).valueWidth(ch) + 8);
                }
            }
            assertTrue(widths.get(0, 8).cardinality() >= 2 && widths.get(8, 16).cardinality() >= 2,
                    spec.name() + ": the allocation must give keys and values mixed widths, has " + widths);
            return c;
        });
    }

    @ParameterizedTest(name = "d={0} Hq={1} Hkv={2} {3} {4} P={5}")
    @MethodSource("formatTwoConfigurations")
    void formatTwoSetupsRunOnTheDeviceWithIdenticalPages(int headDim, int queryHeads, int kvHeads,
                                                         RopePairing pairing, String mode, int pageTokens) {
        AttentionShape shape = new AttentionShape(2, queryHeads, kvHeads, headDim, Rope.of(10000, pairing, headDim));
        QuantSpec spec = QuantSpec.parse(mode);
        Calibration cal = cal(shape, spec);
        int d = shape.kvChannels();
        // a first token (a sink where there are sinks), a prefill longer than the window across pages, then
        // decode appends that move the window ring on, then a batch shorter than the window
        int[] appends = {1, 150, 1, 1, 1, 20, 1};
        int total = java.util.Arrays.stream(appends).sum();
        float[] keys = SyntheticActivations.keys(121 + headDim, total, d);
        float[] values = SyntheticActivations.values(122 + headDim, total, d);
        try (KvCache cpu = KvCache.open(shape, spec, cal, Backend.cpu(), pageTokens);
             KvCache gpu = KvCache.open(shape, spec, cal, cuda(), pageTokens)) {
            // a bit allocation gives each layer its own widths and page layout: every layer is checked
            for (int l = spec.allocated() ? 0 : 1; l < shape.layers(); l++) {
                appendAndCompare(cpu, gpu, l, shape, appends, keys, values, 300);
            }
            assertEquals(cpu.memory().codes(), gpu.memory().codes());
            assertEquals(cpu.memory().tokens(), gpu.memory().tokens());
        }
    }

    /** Appends the batches {@code appends} of keys and values to {@code layer} of both caches, comparing after each. */
    private static void appendAndCompare(KvCache cpu, KvCache gpu, int layer, AttentionShape shape, int[] appends,
                                         float[] keys, float[] values, long seed) {
        assertEquals(Backend.Kind.CUDA, gpu.backend().kind(), gpu.backend().reason());
        int d = shape.kvChannels();
        int at = 0;
        for (int n : appends) {
            float[] k = java.util.Arrays.copyOfRange(keys, at * d, (at + n) * d);
            float[] v = java.util.Arrays.copyOfRange(values, at * d, (at + n) * d);
            cpu.append(layer, k, v);
            gpu.append(layer, k, v);
            at += n;
            compareLayer(cpu, gpu, layer, shape, seed + at);
        }
    }

    /**
     * Device snapshots: a CUDA cache saves the same file as the CPU cache with the same contents (byte for byte),
     * and the file opens on the CPU and on the device with bit-identical pages and decoded tensors, outputs
     * within 1e-4, and appends that go on from there as on the CPU (the window ring and the sinks included). A
     * sparse snapshot with rotate-half pairs opens on the CPU instead (its device kernels read format v1).
     */
    @ParameterizedTest(name = "{0} {1}")
    @org.junit.jupiter.params.provider.CsvSource({"nuq3-1%-s4-r16, ROTATE_HALF", "nuq2-1%-sparse, INTERLEAVED",
            "fp16, ROTATE_HALF", "nuq3-1%-sparse, ROTATE_HALF", "kvq3, ROTATE_HALF", "nuqa2-1%-r16, INTERLEAVED"})
    void aCudaCacheSavesTheCpusSnapshotAndReopensOnTheDevice(String mode, RopePairing pairing,
                                                              @org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws java.io.IOException {
        AttentionShape shape = new AttentionShape(2, 8, 2, 64, Rope.of(10000, pairing, 64));
        QuantSpec spec = QuantSpec.parse(mode);
        Calibration cal = cal(shape, spec);
        int d = shape.kvChannels();
        float[] keys = SyntheticActivations.keys(61, 200, d);
        float[] values = SyntheticActivations.values(62, 200, d);
        java.nio.file.Path fromCpu = dir.resolve("cpu.kvqsnap");
        java.nio.file.Path fromGpu = dir.resolve("gpu.kvqsnap");
        try (KvCache cpu = KvCache.open(shape, spec, cal, Backend.cpu(), 64);
             KvCache gpu = KvCache.open(shape, spec, cal, cuda(), 64)) {
            assertEquals(Backend.Kind.CUDA, gpu.backend().kind(), gpu.backend().reason());
            for (int l = 0; l < shape.layers(); l++) {
                int n = 150 + 40 * l;
                float[] k = java.util.Arrays.copyOf(keys, n * d);
                float[] v = java.util.Arrays.copyOf(values, n * d);
                cpu.append(l, k, v);
                gpu.append(l, k, v);
            }
            cpu.save(fromCpu);
            gpu.save(fromGpu);
            assertEquals(-1, java.nio.file.Files.mismatch(fromCpu, fromGpu), "the two snapshot files differ");
            try (KvCache onCpu = KvCache.openSnapshot(fromGpu, cal, Backend.cpu());
                 KvCache onGpu = KvCache.openSnapshot(fromGpu, cal, cuda())) {
                if (spec.outlierForm() == QuantSpec.OutlierForm.TOKEN_MAJOR_SPARSE && pairing == RopePairing.ROTATE_HALF) {
                    // the sparse form's v1 kernels read keys in logical order: this one opens on the CPU, saying why
                    assertEquals(Backend.Kind.CPU, onGpu.backend().kind());
                    assertTrue(onGpu.backend().reason().contains("TOKEN_MAJOR_SPARSE snapshot"),
                            onGpu.backend().reason());
                } else {
                    assertEquals(Backend.Kind.CUDA, onGpu.backend().kind(), onGpu.backend().reason());
                }
                for (int l = 0; l < shape.layers(); l++) {
                    compareLayer(cpu, onCpu, l, shape, 70 + l);
                    compareLayer(cpu, onGpu, l, shape, 80 + l);
                }
                // and they go on as the original does: a decode append and a short batch
                for (KvCache c : List.of(cpu, onCpu, onGpu)) {
                    c.append(1, java.util.Arrays.copyOfRange(keys, 190 * d, 191 * d),
                            java.util.Arrays.copyOfRange(values, 190 * d, 191 * d));
                    c.append(1, java.util.Arrays.copyOfRange(keys, 191 * d, 200 * d),
                            java.util.Arrays.copyOfRange(values, 191 * d, 200 * d));
                }
                compareLayer(cpu, onCpu, 1, shape, 91);
                compareLayer(cpu, onGpu, 1, shape, 92);
            }
        }
    }

    /** Sparse configurations: the 5 % ones cross a 16384-entry chunk boundary of keys and values. */
    static Stream<Arguments> sparseConfigurations() {
        return Stream.of(
                // headDim, queryHeads, kvHeads, pairing, mode, tokens per append
                Arguments.of(8, 4, 4, RopePairing.INTERLEAVED, "nuq3-1%", new int[] {1, 290, 1, 1, 1, 40, 1}),
                Arguments.of(64, 8, 2, RopePairing.ROTATE_HALF, "nuq2-1%", new int[] {3, 1, 300, 1, 1}),
                Arguments.of(128, 16, 4, RopePairing.INTERLEAVED, "nuq4-5%", new int[] {700, 1, 1, 1}),
                Arguments.of(64, 8, 8, RopePairing.ROTATE_HALF, "nuq3-5%", new int[] {1, 1, 900, 1}));
    }

    @ParameterizedTest(name = "d={0} Hq={1} Hkv={2} {3} {4} sparse")
    @MethodSource("sparseConfigurations")
    void sparseOutliersRunOnTheDeviceWithIdenticalPagesAndEntries(int headDim, int queryHeads, int kvHeads,
                                                                  RopePairing pairing, String mode, int[] appends) {
        AttentionShape shape = new AttentionShape(2, queryHeads, kvHeads, headDim, Rope.of(10000, pairing, headDim));
        QuantSpec spec = QuantSpec.parse(mode).outlierForm(QuantSpec.OutlierForm.TOKEN_MAJOR_SPARSE);
        Calibration cal = cal(shape, spec);
        int d = shape.kvChannels();
        int total = 0;
        for (int n : appends) {
            total += n;
        }
        float[] keys = SyntheticActivations.keys(23 + headDim, total, d);
        float[] values = SyntheticActivations.values(24 + headDim, total, d);
        try (KvCache cpu = KvCache.open(shape, spec, cal, Backend.cpu(), 64);
             KvCache gpu = KvCache.open(shape, spec, cal, cuda(), 64)) {
            // the sparse form runs on the device: no fallback to the CPU
            assertTrue(gpu.pageLayout().sparseOutliers());
            appendAndCompare(cpu, gpu, 0, shape, appends, keys, values, 200);
            assertTrue(cpu.entryCount(0, true) > 0, "the keys have outliers");
            if (mode.endsWith("5%")) {
                assertTrue(cpu.entryCount(0, true) > KernelSignatures.CHUNK
                        && cpu.entryCount(0, false) > KernelSignatures.CHUNK, "entries cross a chunk boundary: "
                        + cpu.entryCount(0, true) + " key, " + cpu.entryCount(0, false) + " value");
            }
            assertEquals(0, gpu.entryCount(1, true));
            assertEquals(cpu.memory().outliers(), gpu.memory().outliers());
            assertEquals(cpu.memory().codes(), gpu.memory().codes());
        }
    }

    @Test
    void theBudgetCoversTheSparseEntryChunksAndARejectedAppendChangesNothing() {
        AttentionShape shape = new AttentionShape(1, 8, 2, 64);
        QuantSpec spec = QuantSpec.parse("nuq3-5%").outlierForm(QuantSpec.OutlierForm.TOKEN_MAJOR_SPARSE);
        Calibration cal = cal(shape, spec);
        int d = shape.kvChannels();
        float[] k = SyntheticActivations.keys(91, 200, d);
        float[] v = SyntheticActivations.values(92, 200, d);
        long needed;
        try (KvCachePool pool = KvCachePool.open(shape, spec, cal, cuda(), 1L << 28, 64)) {
            KvCache c = pool.newSequence();
            c.append(0, k, v);
            assertEquals(Backend.Kind.CUDA, c.backend().kind(), c.backend().reason());
            needed = pool.reservedBytes();
            // the reservation is exactly what the device half allocated, entry chunk pools included
            CudaSequence dev = (CudaSequence) c.sequence();
            assertEquals(dev.budgetedBytes(), needed);
            assertTrue(c.entryCount(0, true) > 0 && c.entryCount(0, false) > 0);
        }
        try (KvCachePool pool = KvCachePool.open(shape, spec, cal, cuda(), needed - 1, 64)) {
            KvCache c = pool.newSequence();
            assertThrows(CacheBudgetExceededException.class, () -> c.append(0, k, v));
            assertEquals(0, c.length(0));
            // what stays reserved is the sequence's own scratch, charged when it opened
            long scratch = ((CudaSequence) c.sequence()).budgetedBytes();
            assertTrue(scratch > 0 && scratch < needed, "scratch " + scratch);
            assertEquals(scratch, pool.reservedBytes(), "a rejected append returns its whole reservation");
            assertEquals(0, c.entryCount(0, true));
        }
        try (KvCachePool pool = KvCachePool.open(shape, spec, cal, cuda(), needed, 64)) {
            KvCache c = pool.newSequence();
            c.append(0, k, v);
            assertEquals(200, c.length(0));
            assertEquals(needed, pool.reservedBytes());
            assertEquals(needed, ((CudaSequence) c.sequence()).budgetedBytes());
        }
    }

    /**
     * Sparse entries of one layer, CPU vs GPU: counts, then every chunk that holds entries byte for
     * byte (the unused tail of the last chunk is zero on both sides).
     */
    private static void compareEntries(KvCache cpu, KvCache gpu, int layer) {
        for (boolean keys : new boolean[] {true, false}) {
            String side = keys ? "key" : "value";
            int entries = cpu.entryCount(layer, keys);
            assertEquals(entries, gpu.entryCount(layer, keys), side + " entries of layer " + layer);
            int chunks = (entries + KernelSignatures.CHUNK - 1) / KernelSignatures.CHUNK;
            for (int c = 0; c < chunks; c++) {
                MemorySegment a = cpu.entryChunk(layer, keys, c);
                MemorySegment b = gpu.entryChunk(layer, keys, c);
                long at = a.mismatch(b);
                assertEquals(-1, at, side + " entry chunk " + c + " of layer " + layer + " differs at byte " + at
                        + (at < 0 ? "" : at < 2L * KernelSignatures.CHUNK ? " (channel of entry " + at / 2 + ")"
                        : " (value of entry " + (at / 2 - KernelSignatures.CHUNK) + ")"));
            }
            int last = chunks;
            assertThrows(IllegalArgumentException.class, () -> gpu.entryChunk(layer, keys, last));
        }
    }

    /** Pages, decoded keys/values, scores, value matvec and attention of one layer, CPU vs GPU. */
    static void compareLayer(KvCache cpu, KvCache gpu, int layer, AttentionShape shape, long seed) {
        int pages = 0;
        while (true) {
            MemorySegment a;
            try {
                a = cpu.pageBytes(layer, pages);
            } catch (IllegalArgumentException e) {
                break;
            }
            MemorySegment b = gpu.pageBytes(layer, pages);
            long at = a.mismatch(b);
            assertEquals(-1, at, "page " + pages + " of layer " + layer + " differs at byte " + at + " of "
                    + a.byteSize() + " (" + describe(cpu.pageLayout(layer), at) + ")");
            pages++;
        }
        int finalPages = pages;
        assertThrows(IllegalArgumentException.class, () -> gpu.pageBytes(layer, finalPages));
        if (cpu.pageLayout(layer).sparseOutliers()) {
            compareEntries(cpu, gpu, layer);
        }
        assertArrayEquals(cpu.decodeKeys(layer), gpu.decodeKeys(layer));
        assertArrayEquals(cpu.decodeValues(layer), gpu.decodeValues(layer));
        int n = cpu.length(layer);
        float[] q = randomQuery(shape, seed);
        float[] sc = new float[shape.queryHeads() * n];
        float[] sg = new float[sc.length];
        cpu.keyScores(layer, q, sc);
        gpu.keyScores(layer, q, sg);
        assertWithin(sc, sg, "key scores at " + n + " tokens");
        // value matvec with the CPU's softmax weights, so the halves are compared separately
        float[] w = softmaxRows(sc, shape.queryHeads(), n);
        float[] vc = new float[q.length];
        float[] vg = new float[q.length];
        cpu.valueMatvec(layer, w, vc);
        gpu.valueMatvec(layer, w, vg);
        assertWithin(vc, vg, "value matvec at " + n + " tokens");
        float[] oc = new float[q.length];
        float[] og = new float[q.length];
        cpu.attend(layer, q, oc);
        gpu.attend(layer, q, og);
        assertWithin(oc, og, "attention output at " + n + " tokens");
    }

    private static String describe(PageLayout layout, long at) {
        String best = "?";
        long bestOffset = -1;
        for (var m : layout.layout().memberLayouts()) {
            if (m.name().isPresent()) {
                long o = layout.offset(m.name().get());
                if (o <= at && o > bestOffset) {
                    bestOffset = o;
                    best = m.name().get() + " + " + (at - o);
                }
            }
        }
        return best;
    }

    static void assertWithin(float[] expected, float[] actual, String what) {
        double err = relativeError(actual, expected);
        assertTrue(err <= TOLERANCE, String.format(Locale.ROOT, "%s: relative error %.3g > %.0g", what, err, TOLERANCE));
    }

    private static float[] softmaxRows(float[] scores, int rows, int n) {
        float[] w = scores.clone();
        for (int r = 0; r < rows; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int t = 0; t < n; t++) {
                max = Math.max(max, w[r * n + t]);
            }
            double sum = 0;
            for (int t = 0; t < n; t++) {
                sum += Math.exp(w[r * n + t] - max);
            }
            for (int t = 0; t < n; t++) {
                w[r * n + t] = (float) (Math.exp(w[r * n + t] - max) / sum);
            }
        }
        return w;
    }

    /**
     * Geometries whose decode kernels need more than 48 KiB of dynamic shared memory per block (the generic
     * fused decode at d = 256: 53 984 B; the fp16 instance at G = 8, d = 256: 49 792 B; the sparse form's v1
     * value partials at G = 32, d = 128: 57 536 B) run on the device after raising the kernels' limit, and
     * agree with the CPU.
     */
    @ParameterizedTest(name = "d={0} Hq={1} Hkv={2} {3}")
    @MethodSource("wideGroups")
    void launchesAbove48KiBOfSharedMemoryRaiseTheLimit(int headDim, int queryHeads, int kvHeads, String mode,
                                                        String kernel) {
        AttentionShape shape = new AttentionShape(1, queryHeads, kvHeads, headDim,
                Rope.of(10000, RopePairing.ROTATE_HALF, headDim));
        QuantSpec spec = QuantSpec.parse(mode);
        int need = dev.kvq.engine.cuda.KvKernels.sharedBytes(shape, spec, new PageLayout(shape, spec, 64)).get(kernel);
        assertTrue(need > 48 * 1024, kernel + " needs " + need + " bytes");
        Calibration cal = cal(shape, spec);
        int d = shape.kvChannels();
        float[] k = SyntheticActivations.keys(81, 300, d);
        float[] v = SyntheticActivations.values(82, 300, d);
        try (KvCache cpu = KvCache.open(shape, spec, cal, Backend.cpu(), 64);
             KvCache gpu = KvCache.open(shape, spec, cal, cuda(), 64)) {
            assertEquals(Backend.Kind.CUDA, gpu.backend().kind(), gpu.backend().reason());
            cpu.append(0, k, v);
            gpu.append(0, k, v);
            compareLayer(cpu, gpu, 0, shape, 83);
        }
        assertTrue(CudaRuntime.shared().kernel(kernel).attribute(8) >= need,
                "CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES of " + kernel + " was not raised to " + need);
    }

    static Stream<Arguments> wideGroups() {
        return Stream.of(
                Arguments.of(256, 32, 1, "nuq3-1%", "kvq_decode_packed"),
                Arguments.of(256, 8, 1, "fp16", "kvq_decode_fp16_g8_d256"),
                Arguments.of(128, 32, 1, "nuq3-1%-sparse", "kvq_value_partials"));
    }

    @Test
    void aGeometryAboveTheOptInMaximumFallsBackNamingTheBytes() {
        // G = 128, d = 256, sparse outliers (format v1 kernels): the value partials need 270 864 bytes per block,
        // above any device's opt-in maximum (the fused decode loops over query heads and needs 53 984)
        AttentionShape shape = new AttentionShape(1, 128, 1, 256);
        QuantSpec spec = QuantSpec.parse("nuq3-1%-sparse");
        int need = dev.kvq.engine.cuda.KvKernels.sharedBytes(shape, spec, new PageLayout(shape, spec, 256))
                .get("kvq_value_partials");
        int optin = CudaRuntime.shared().sharedMemoryOptin();
        assertTrue(need > optin, need + " vs " + optin);
        java.util.function.Consumer<KvCache> fellBack = cache -> {
            assertEquals(Backend.Kind.CPU, cache.backend().kind());
            String why = cache.backend().reason();
            assertTrue(why.contains("kvq_value_partials needs " + need + " bytes of dynamic shared memory")
                    && why.contains("the device allows " + optin), why);
        };
        if (!logCoreAvailable()) {
            // the GPU machine's bundle carries log4j-api only: the WARN itself cannot be captured there
            try (KvCache cache = KvCache.open(shape, spec, cal(shape, spec), cuda())) {
                fellBack.accept(cache);
            }
            return;
        }
        try (dev.kvq.cache.LogCapture log = dev.kvq.cache.LogCapture.of(KvCache.class);
             KvCache cache = KvCache.open(shape, spec, cal(shape, spec), cuda())) {
            fellBack.accept(cache);
            assertEquals(1, log.warnings().size(), log.warnings().toString());
            assertTrue(log.warnings().get(0).contains(String.valueOf(need)), log.warnings().get(0));
        }
    }

    /** Whether log4j-core is on the class path ({@link LogCapture} needs it; the device bundle does not carry it). */
    private static boolean logCoreAvailable() {
        try {
            Class.forName("org.apache.logging.log4j.core.appender.AbstractAppender", false,
                    GpuCacheTest.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException e) {
            return false;
        }
    }

    @Test
    @EnabledIf("dev.kvq.cache.GpuCondition#emulated")   // on a GPU a mistaken launch would run with no arguments
    void theDriverRefusesSharedMemoryBeyondTheLimits() {
        // the driver behaviour the backend relies on, as the emulated driver reproduces it: a launch above
        // 48 KiB without opting in fails before it runs, and no kernel may opt in above the device maximum
        CudaRuntime e = CudaRuntime.shared();
        e.bind();
        dev.kvq.driver.Kernel softmax = e.kernel("kvq_softmax");
        assertEquals(48 * 1024, softmax.attribute(8));
        dev.kvq.driver.CudaException launch = assertThrows(dev.kvq.driver.CudaException.class,
                () -> softmax.launch(dev.kvq.driver.Dim3.of(1), dev.kvq.driver.Dim3.of(256), 48 * 1024 + 4,
                        dev.kvq.driver.Stream.defaultStream(), dev.kvq.driver.KernelArgs.of()));
        assertTrue(launch.getMessage().contains("cuLaunchKernel"), launch.getMessage());
        int max = e.maxDynamicSharedBytes("kvq_softmax");
        assertThrows(dev.kvq.driver.CudaException.class, () -> softmax.setMaxDynamicSharedMemory(max + 1));
        assertEquals(48 * 1024, softmax.attribute(8), "a refused raise changes nothing");
    }

    @Test
    void scoresThatOverflowAreRejectedAsOnTheCpuAndLeaveTheOutputAlone() {
        AttentionShape shape = new AttentionShape(1, 4, 2, 64);
        QuantSpec spec = QuantSpec.parse("nuq3-1%");
        Calibration cal = cal(shape, spec);
        float[] k = SyntheticActivations.keys(41, 300, shape.kvChannels());
        float[] v = SyntheticActivations.values(42, 300, shape.kvChannels());
        float[] q = new float[shape.queryHeads() * shape.headDim()];
        try (KvCache cpu = KvCache.open(shape, spec, cal, Backend.cpu());
             KvCache gpu = KvCache.open(shape, spec, cal, cuda())) {
            cpu.append(0, k, v);
            gpu.append(0, k, v);
            // finite, but aligned with the last key so that q·k/√d exceeds fp32 for every head
            float[] keys = cpu.decodeKeys(0);
            int d = shape.headDim();
            int last = (300 - 1) * shape.kvChannels();
            for (int h = 0; h < shape.queryHeads(); h++) {
                int kvHead = h / shape.groupSize();
                for (int j = 0; j < d; j++) {
                    q[h * d + j] = Math.copySign(1e38f, keys[last + kvHead * d + j]);
                }
            }
            for (KvCache c : List.of(cpu, gpu)) {
                float[] out = new float[q.length];
                java.util.Arrays.fill(out, 7f);
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> c.attend(0, q, out));
                assertTrue(e.getMessage().contains("overflow fp32"), c.backend() + ": " + e.getMessage());
                for (float x : out) {
                    assertEquals(7f, x, c.backend() + " wrote into out before throwing");
                }
            }
            // and the cache still answers normal queries the same way on both backends
            compareLayer(cpu, gpu, 0, shape, 43);
        }
    }

    @Test
    void aPrefillsStagingIsNotKeptForTheDecodeAppendsAfterIt() {
        AttentionShape shape = new AttentionShape(1, 32, 32, 128);
        int d = shape.kvChannels();
        float[] k = SyntheticActivations.keys(51, 1000, d);
        float[] v = SyntheticActivations.values(52, 1000, d);
        try (KvCache gpu = KvCache.open(shape, QuantSpec.fp16(), null, cuda())) {
            CudaSequence device = (CudaSequence) gpu.sequence();
            gpu.append(0, k, v);   // 1000 × 4096 × 2 fp32 = 32 MiB of staging
            assertEquals(0, device.stagingBytes(), "the prefill's staging was kept");
            gpu.append(0, java.util.Arrays.copyOf(k, d), java.util.Arrays.copyOf(v, d));
            long oneToken = device.stagingBytes();
            assertTrue(oneToken > 0 && oneToken <= 1 << 20, "decode staging " + oneToken);
            gpu.append(0, java.util.Arrays.copyOf(k, d), java.util.Arrays.copyOf(v, d));
            assertEquals(oneToken, device.stagingBytes(), "a decode append reallocated its staging");
            assertEquals(1002, gpu.length(0));
        }
    }

    @Test
    void positionsUpToTenMillion() {
        AttentionShape shape = new AttentionShape(1, 8, 2, 128);
        for (String mode : List.of("nuq3-1%", "fp16", "kvq3")) {
            QuantSpec spec = QuantSpec.parse(mode);
            Calibration cal = cal(shape, spec);
            int n = 700;
            long first = 10_000_000L - n;
            float[] k = SyntheticActivations.keys(31, n, shape.kvChannels());
            float[] v = SyntheticActivations.values(32, n, shape.kvChannels());
            try (KvCache cpu = KvCache.open(shape, spec, cal, Backend.cpu(), 256, first);
                 KvCache gpu = KvCache.open(shape, spec, cal, cuda(), 256, first)) {
                cpu.append(0, k, v);
                gpu.append(0, k, v);
                compareLayer(cpu, gpu, 0, shape, 33);
            }
        }
    }

    @Test
    @EnabledIf(value = "dev.kvq.cache.GpuCondition#full",
            disabledReason = "real-GPU test: a million tokens on the device (too long for the emulated driver)")
    void aMillionTokens() {
        AttentionShape shape = new AttentionShape(1, 4, 1, 64);
        QuantSpec spec = QuantSpec.parse("nuq3-1%");
        Calibration cal = cal(shape, spec);
        int n = 1 << 20;
        float[] k = SyntheticActivations.keys(41, n, shape.kvChannels());
        float[] v = SyntheticActivations.values(42, n, shape.kvChannels());
        try (KvCache cpu = KvCache.open(shape, spec, cal, Backend.cpu());
             KvCache gpu = KvCache.open(shape, spec, cal, cuda())) {
            long t0 = System.nanoTime();
            cpu.append(0, k, v);
            long t1 = System.nanoTime();
            gpu.append(0, k, v);
            long t2 = System.nanoTime();
            System.out.printf(Locale.ROOT, "gpu: append of %d tokens (D=%d): cpu %.0f ms, cuda %.0f ms%n", n,
                    shape.kvChannels(), (t1 - t0) / 1e6, (t2 - t1) / 1e6);
            compareLayer(cpu, gpu, 0, shape, 43);
        }
    }

    @Test
    void aBatchOfSixteenSequencesOfDifferentLengths() {
        AttentionShape shape = new AttentionShape(2, 8, 2, 64);
        QuantSpec spec = QuantSpec.parse("nuq3-1%");
        Calibration cal = cal(shape, spec);
        int d = shape.kvChannels();
        int sequences = 16;
        int longest = GpuCondition.full() ? 3000 : 400;
        try (KvCachePool cpuPool = KvCachePool.open(shape, spec, cal, Backend.cpu(), 1L << 32, 64);
             KvCachePool gpuPool = KvCachePool.open(shape, spec, cal, cuda(), 1L << 28, 64)) {
            List<KvCache> cpus = new ArrayList<>();
            List<KvCache> gpus = new ArrayList<>();
            for (int s = 0; s < sequences; s++) {
                cpus.add(cpuPool.newSequence());
                gpus.add(gpuPool.newSequence());
            }
            for (int s = 0; s < sequences; s++) {
                int n = 1 + (int) ((long) longest * s * s / ((sequences - 1) * (sequences - 1)));
                float[] k = SyntheticActivations.keys(50 + s, n, d);
                float[] v = SyntheticActivations.values(70 + s, n, d);
                cpus.get(s).append(s % 2, k, v);
                gpus.get(s).append(s % 2, k, v);
            }
            assertEquals(sequences, gpuPool.openSequences());
            assertTrue(gpuPool.reservedBytes() > 0);
            for (int s = 0; s < sequences; s++) {
                assertEquals(Backend.Kind.CUDA, gpus.get(s).backend().kind());
                compareLayer(cpus.get(s), gpus.get(s), s % 2, shape, 90 + s);
            }
        }
    }

    @ParameterizedTest(name = "sparse outliers: {0}")
    @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
    void closeFreesEveryDeviceAllocationOnce(boolean sparse) {
        AttentionShape shape = new AttentionShape(4, 8, 8, 128);
        // the sparse form adds two entry chunk pools per layer, which must be freed as well
        QuantSpec spec = sparse ? QuantSpec.parse("nuq2-1%").outlierForm(QuantSpec.OutlierForm.TOKEN_MAJOR_SPARSE)
                : QuantSpec.parse("nuq2-1%");
        Calibration cal = cal(shape, spec);
        int d = shape.kvChannels();
        float[] k = SyntheticActivations.keys(61, 2000, d);
        float[] v = SyntheticActivations.values(62, 2000, d);
        Context ctx = CudaRuntime.shared().context();
        CudaRuntime.shared().bind();
        // warm up: the first cache may allocate lazily inside the driver
        try (KvCache c = KvCache.open(shape, spec, cal, cuda())) {
            c.append(0, k, v);
        }
        ctx.synchronize();
        long before = ctx.memoryInfo().freeBytes();
        int caches = GpuCondition.full() ? 20 : 4;
        for (int i = 0; i < caches; i++) {
            KvCache c = KvCache.open(shape, spec, cal, cuda());
            assertEquals(Backend.Kind.CUDA, c.backend().kind(), c.backend().reason());
            for (int l = 0; l < shape.layers(); l++) {
                c.append(l, k, v);
            }
            float[] out = new float[shape.queryHeads() * shape.headDim()];
            c.attend(3, randomQuery(shape, i), out);
            c.close();
            c.close();
            assertThrows(IllegalStateException.class, () -> c.attend(3, randomQuery(shape, 1), out));
            assertThrows(IllegalStateException.class, () -> c.append(0, k, v));
        }
        ctx.synchronize();
        long after = ctx.memoryInfo().freeBytes();
        // each cache holds over 64 MiB while open, so a leaked cache shows on a GPU (whose driver may keep
        // some memory of its own); the emulated driver counts bytes exactly, so there nothing may be left
        long tolerance = GpuCondition.emulated() ? 0 : 32L << 20;
        assertTrue(before - after <= tolerance, "device free memory dropped by " + (before - after) + " bytes after "
                + caches + " caches were opened and closed");
    }

    @Test
    @EnabledIf("dev.kvq.cache.GpuCondition#oomTestable")
    void aDeviceOutOfMemoryIsAClearErrorAndLeavesTheCacheUsable() {
        AttentionShape shape = new AttentionShape(1, 32, 32, 128);
        QuantSpec spec = QuantSpec.fp16();
        int d = shape.kvChannels();
        // 10 tokens fit in the first pool (one page of 256 tokens); 1100 more need a bigger one
        float[] k = SyntheticActivations.keys(71, 1100, d);
        float[] v = SyntheticActivations.values(72, 1100, d);
        Context ctx = CudaRuntime.shared().context();
        try (KvCache cache = KvCache.open(shape, spec, null, cuda(), 256)) {
            cache.append(0, java.util.Arrays.copyOf(k, d * 10), java.util.Arrays.copyOf(v, d * 10));
            // take almost all free device memory, so the next page pool growth cannot be allocated
            List<DeviceMemory> hog = new ArrayList<>();
            try {
                long free = ctx.memoryInfo().freeBytes();
                long chunk = 1L << 30;
                while (free > (256L << 20) + chunk) {
                    hog.add(DeviceMemory.allocate(chunk));
                    free = ctx.memoryInfo().freeBytes();
                }
                while (free > (16L << 20)) {
                    long size = Math.max(2L << 20, free - (8L << 20));
                    hog.add(DeviceMemory.allocate(size));
                    free = ctx.memoryInfo().freeBytes();
                }
                CacheBudgetExceededException e = assertThrows(CacheBudgetExceededException.class,
                        () -> cache.append(0, k, v));
                assertTrue(e.getMessage().contains("cuMemAlloc") && e.getMessage().contains("OUT_OF_MEMORY"),
                        e.getMessage());
                assertEquals(10, cache.length(0));
            } finally {
                for (DeviceMemory m : hog) {
                    m.close();
                }
            }
            cache.append(0, k, v);
            assertEquals(1110, cache.length(0));
            float[] out = new float[shape.queryHeads() * shape.headDim()];
            cache.attend(0, randomQuery(shape, 73), out);
            assertTrue(Float.isFinite(out[0]));
        }
    }
}
