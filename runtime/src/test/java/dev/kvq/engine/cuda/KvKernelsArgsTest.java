package dev.kvq.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.Rope;
import dev.kvq.geometry.RopePairing;
import dev.kvq.kernels.KernelSignatures;
import dev.kvq.layout.ChannelPlan;
import dev.kvq.layout.EntryChunks;
import dev.kvq.layout.PageLayout;
import dev.kvq.quant.Activations;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.Calibrator;
import dev.kvq.quant.Codebook;
import dev.kvq.quant.KeyQuantizer;
import dev.kvq.quant.LayerCalibration;
import dev.kvq.quant.Provenance;
import dev.kvq.quant.QuantSpec;
import dev.kvq.quant.SyntheticActivations;
import dev.kvq.quant.WeightedKMeans;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.IntBinaryOperator;
import java.util.function.IntUnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every launch's argument list, built without a GPU, against the kernels' declared ABI
 * (KernelSignatures mirrors kvq_kernels.cuh and is itself checked against the PTX): names, kinds and
 * count must match parameter by parameter, so a drift fails here rather than on the device.
 */
class KvKernelsArgsTest {
    private static final LayerView VIEW = new LayerView(0x7000_0000L, 64, 0x7100_0000L, 64, 0x7200_0000L, 0x7300_0000L,
            0x7400_0000L);
    private static final LayerView SPARSE_VIEW = new LayerView(0x7000_0000L, 64, 0x7100_0000L, 64, 0x7200_0000L,
            0x7300_0000L, 0x7400_0000L, new SparseView(0x7500_0000L, 3, 0x7600_0000L, 3, 0x7700_0000L, 5, 0x7800_0000L,
            5, 0x7900_0000L));
    /** invFreq, ropeSteps and the error word of a cache: per-cache constants of every launch. */
    private static final KvKernels.Constants CONSTANTS = new KvKernels.Constants(14, 13, 11);

    @ParameterizedTest
    @ValueSource(strings = {"nuq2-1%", "nuq3-1%", "nuq4-1%", "nuq3", "fp16"})
    void everyLaunchMatchesItsSignature(String mode) {
        AttentionShape shape = new AttentionShape(1, 8, 2, 64, Rope.of(10000, RopePairing.INTERLEAVED, 64));
        QuantSpec spec = QuantSpec.parse(mode);
        PageLayout layout = new PageLayout(shape, spec, 256);
        KvKernels k = new KvKernels(null, shape, spec, layout, CONSTANTS);
        List<LaunchArgs> all = new ArrayList<>();
        all.add(k.ropeStepsArgs());
        all.add(k.softmaxArgs(VIEW, 3, 100));
        all.add(k.valueReduceArgs(VIEW, 4, 2, 5, 100, 6));
        all.add(k.fp16AppendArgs(VIEW, 7, 8, 9, 10, 11));
        if (spec.quantized()) {
            all.add(k.sinksAppendArgs(VIEW, 7, 8, 9, 10, 11));
            all.add(k.packKeysArgs(VIEW, 7, 8, 9, 10, 12));
            all.add(k.packValuesArgs(VIEW, 7, 8, 9, 10));
            all.add(k.keyScoresArgs(VIEW, 12, 15, 100));
            all.add(k.valuePartialsArgs(VIEW, 5, 100, 4, 2));
        }
        for (LaunchArgs a : all) {
            assertEquals(KernelSignatures.of(a.kernel()).ptxTypes(), a.done().ptxTypes(), a.kernel());
        }
    }

    /** The page format v2 launches: appends, the fused decode (instance or generic entry) and the merge. */
    @ParameterizedTest
    @ValueSource(strings = {"nuq2-1%", "nuq3-1%-r32", "nuq4-s4-r16", "nuq3", "nuq3-1%-ccb", "fp16"})
    void everyFormatTwoLaunchMatchesItsSignature(String mode) {
        QuantSpec spec = QuantSpec.parse(mode);
        for (int[] geometry : new int[][] {{64, 256}, {40, 256}, {128, 96}}) {
            int d = geometry[0];
            AttentionShape shape = new AttentionShape(1, 8, 2, d, Rope.of(10000, RopePairing.ROTATE_HALF, d));
            PageLayout layout = new PageLayout(shape, spec, geometry[1]);
            KvKernels k = new KvKernels(null, shape, spec, layout, CONSTANTS);
            List<LaunchArgs> all = new ArrayList<>();
            all.add(k.decodeArgs(VIEW, 12, 13, 14, 0, 0));
            all.add(k.mergeArgs(13, 14, 3, 15));
            if (spec.quantized()) {
                all.add(k.packKeysV2Args(VIEW, 7, 8, 9, 10));
                all.add(k.packValuesV2Args(VIEW, 7, 8, 9, 10));
                all.add(k.sideAppendArgs(VIEW, 7, 8, 9, 10, 11));
            }
            for (LaunchArgs a : all) {
                assertEquals(KernelSignatures.of(a.kernel()).ptxTypes(), a.done().ptxTypes(), a.kernel());
            }
            // a specialized instance only where (b, G, d) has one and the pages are a power of two
            String expected = !spec.quantized() ? (d == 40 ? "kvq_decode_fp16" : "kvq_decode_fp16_g4_d" + d)
                    : d == 40 || geometry[1] != 256 ? "kvq_decode_packed"
                    : "kvq_decode_packed_b" + spec.bits() + "_g4_d" + d;
            assertEquals(expected, k.decodeEntry());
            assertEquals(KvKernels.sharedBytes(shape, spec, layout).get(k.decodeEntry()), k.decodeSharedBytes());
        }
        assertEquals(2, KvKernels.MERGE_SPLITS_ARG);
        assertEquals("splits", KernelSignatures.of("kvq_decode_merge").params().get(KvKernels.MERGE_SPLITS_ARG).name());
    }

    @ParameterizedTest
    @ValueSource(strings = {"nuq2-1%", "nuq3-5%", "nuq4-1%"})
    void everySparseLaunchMatchesItsSignature(String mode) {
        AttentionShape shape = new AttentionShape(1, 8, 2, 64, Rope.of(10000, RopePairing.ROTATE_HALF, 64));
        QuantSpec spec = QuantSpec.parse(mode).outlierForm(QuantSpec.OutlierForm.TOKEN_MAJOR_SPARSE);
        PageLayout layout = new PageLayout(shape, spec, 256);
        KvKernels k = new KvKernels(null, shape, spec, layout, CONSTANTS);
        assertTrue(k.sparse());
        assertEquals(spec.valueOutliersPerToken(shape.kvChannels()), k.sparseValueSlots());
        List<LaunchArgs> all = List.of(
                k.packKeysArgs(SPARSE_VIEW, 7, 8, 9, 10, 12),
                k.keySparseStartsArgs(SPARSE_VIEW, 8, 9, 12, 10),
                k.keySparseEntriesArgs(SPARSE_VIEW, 7, 8, 9, 10),
                k.packValuesArgs(SPARSE_VIEW, 7, 8, 9, 10),
                k.keyScoresArgs(SPARSE_VIEW, 12, 15, 100),
                k.keyScoresSparseArgs(SPARSE_VIEW, 12, 15, 100),
                k.valuePartialsArgs(SPARSE_VIEW, 5, 100, 4, 2),
                k.valueSparseArgs(SPARSE_VIEW, 5, 100, 6));
        for (LaunchArgs a : all) {
            assertEquals(KernelSignatures.of(a.kernel()).ptxTypes(), a.done().ptxTypes(), a.kernel());
        }
        // a sparse launch without the layer's chunk tables is refused before it reaches the device
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> k.keyScoresSparseArgs(VIEW, 12, 15, 100));
        assertTrue(e.getMessage().contains("kvq_key_scores_sparse needs the layer's sparse entry chunks"),
                e.getMessage());
    }

    @Test
    void theKernelsEntryChunksAreTheLayoutsEntryChunks() {
        // KVQ_CHUNK of the header and the host's entry store must agree, or device chunks would not
        // be byte for byte the CPU's
        assertEquals(KernelSignatures.CHUNK, EntryChunks.ENTRIES);
        assertEquals(KernelSignatures.CHUNK_BYTES, EntryChunks.BYTES);
    }

    @Test
    void everyRequiredKernelIsDeclared() {
        for (String name : KvKernels.REQUIRED) {
            assertTrue(KvKernels.SOURCES.contains(KernelSignatures.of(name).source()), name);
        }
    }

    @Test
    void moreOutliersPerTokenThanThePackKernelsHoldIsUnsupported() {
        // 17 × 256 = 4352 channels at 49%: ⌊0.245·4352⌋ + 1 = 1067 key outliers per side > 1024
        AttentionShape wide = new AttentionShape(1, 17, 17, 256);
        // page format v2 delimits fixed slots per head with one byte, so that many are a layout error
        // naming the sparse form, and the sparse form reaches the kernels' own limit
        QuantSpec fixed = QuantSpec.parse("nuq3-49%");
        IllegalArgumentException layout = assertThrows(IllegalArgumentException.class,
                () -> new PageLayout(wide, fixed, 32));
        assertTrue(layout.getMessage().contains("-sparse"), layout.getMessage());
        QuantSpec many = QuantSpec.parse("nuq3-49%-sparse");
        UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                () -> KvKernels.requireSupported(wide, many, new PageLayout(wide, many, 32)));
        assertTrue(e.getMessage().contains("the CUDA kernels hold 1024"), e.getMessage());
        QuantSpec usual = QuantSpec.parse("nuq3-1%");
        KvKernels.requireSupported(wide, usual, new PageLayout(wide, usual, 32));
    }

    @Test
    void aMisplacedArgumentIsNamed() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> LaunchArgs.of("kvq_softmax").ptr("scores", 1).i32("queryHeads", 4));
        assertEquals("kvq_softmax parameter 2 is seqPacked (POINTER), not queryHeads (I32)", e.getMessage());
        IllegalStateException missing = assertThrows(IllegalStateException.class,
                () -> LaunchArgs.of("kvq_rope_steps").ptr("steps", 1).done());
        assertTrue(missing.getMessage().contains("next missing: invFreq"), missing.getMessage());
    }

    @Test
    void tablesHoldTheHostQuantizersNumbers() {
        AttentionShape shape = new AttentionShape(1, 4, 1, 8);
        QuantSpec spec = QuantSpec.parse("nuq3-1%");
        PageLayout layout = new PageLayout(shape, spec, 32);
        KvKernels k = new KvKernels(null, shape, spec, layout, CONSTANTS);
        float[] lo = new float[8];
        float[] hi = new float[8];
        for (int c = 0; c < 8; c++) {
            lo[c] = -1 - c;
            hi[c] = 2 + c;
        }
        KeyQuantizer keys = new KeyQuantizer(lo, hi, Codebook.uniform(3));
        LayerCalibration cal = new LayerCalibration(keys, Codebook.normalFloat(3));
        float[] t = k.tables(cal);
        assertEquals(k.tableFloats(), t.length);
        for (int c = 0; c < 8; c++) {
            assertEquals(lo[c], t[c]);
            assertEquals(hi[c], t[KvKernels.Tables.hi(8) + c]);
            assertEquals(keys.zero(c), t[KvKernels.Tables.zero(8) + c]);
            assertEquals(keys.scale(c), t[KvKernels.Tables.scale(8) + c]);
            for (int x = 0; x < 16; x++) {
                assertEquals(keys.dequantize(c, x & 7), t[KvKernels.Tables.keyTable(8) + c * 16 + x]);
            }
        }
        float[] mids = keys.codebook().midpoints();
        assertEquals(7, mids.length);
        for (int i = 0; i < 16; i++) {
            assertEquals(i < 7 ? mids[i] : Float.POSITIVE_INFINITY, t[KvKernels.Tables.keyMid(8) + i]);
            assertEquals(cal.values().dequant(i & 7), t[KvKernels.Tables.valueTable(8) + i]);
        }
    }

    /**
     * Mixed code widths: the width-group launches match their signatures, decode with kvq_decode_packed_groups,
     * and the tables hold the calibration's per-channel key tables and midpoints and the layer's width plan, whose
     * places are the page layout's (the kernels find every code through it).
     */
    @Test
    void widthPlanLaunchesAndTablesFollowTheChannelPlan() {
        AttentionShape shape = new AttentionShape(2, 8, 2, 40, Rope.of(10000, RopePairing.ROTATE_HALF, 40));
        QuantSpec spec = QuantSpec.parse("nuqa3-1%-r32");
        int d = shape.kvChannels();
        Activations[][] a = SyntheticActivations.perLayer(shape.layers(), 1024, d, 10);
        Calibration cal = new Calibration(shape, spec, Provenance.unknown(), Calibrator.fit(shape, spec, a[0], a[1],
                WeightedKMeans.Options.defaults()));
        for (int l = 0; l < shape.layers(); l++) {
            ChannelPlan plan = ChannelPlan.of(shape, cal.layer(l));
            PageLayout layout = new PageLayout(shape, spec, plan, 64);
            KvKernels k = new KvKernels(null, shape, spec, layout, CONSTANTS);
            for (LaunchArgs args : List.of(k.decodeArgs(VIEW, 12, 13, 14, 0, 0), k.packKeysV2Args(VIEW, 7, 8, 9, 10),
                    k.packValuesV2Args(VIEW, 7, 8, 9, 10))) {
                assertEquals(KernelSignatures.of(args.kernel()).ptxTypes(), args.done().ptxTypes(), args.kernel());
            }
            assertEquals(KernelSignatures.GROUPS_DECODE_ENTRY, k.decodeEntry());
            assertEquals(KernelSignatures.groupsPackedDecodeSharedBytes(40), k.decodeSharedBytes());
            float[] t = k.tables(cal.layer(l));
            assertEquals(k.tableFloats(), t.length);
            KeyQuantizer keys = cal.layer(l).keys();
            int at = KvKernels.WidthTables.plan(d);
            IntUnaryOperator plan32 = i -> Float.floatToRawIntBits(t[at + i]);
            IntBinaryOperator part = (p, i) -> plan32.applyAsInt(KvKernels.WidthPlan.offset(p, 2, 40) + i);
            for (int c = 0; c < d; c++) {
                int w = plan.keyWidth(c);
                assertEquals(w, part.applyAsInt(KvKernels.WidthPlan.KEY_WIDTH, c));
                assertEquals(plan.keyChannelAt(c), part.applyAsInt(KvKernels.WidthPlan.KEY_CHANNEL, c));
                assertEquals(plan.keyBit(plan.keyChannelAt(c)), part.applyAsInt(KvKernels.WidthPlan.KEY_BIT, c));
                for (int x = 0; x < 64; x++) {
                    assertEquals(keys.dequantize(c, x & ((1 << w) - 1)), t[KvKernels.WidthTables.keyTable(d) + 64 * c + x]);
                    float[] mid = keys.codebook(c).midpoints();
                    assertEquals(x < mid.length ? mid[x] : Float.POSITIVE_INFINITY,
                            t[KvKernels.WidthTables.keyMid(d) + 64 * c + x]);
                }
                int h = c / 40;
                int g = plan.valueGroupOf(c);
                assertEquals(plan.valueWidth(c), part.applyAsInt(KvKernels.WidthPlan.VALUE_WIDTH, c));
                assertEquals(layout.valueWord(h, 0, g, 0, plan.valuePositionOf(c)) - layout.valueWord(h, 0, 0, 0, 0),
                        part.applyAsInt(KvKernels.WidthPlan.VALUE_WORD, c), "row-0 word of channel " + c);
                assertEquals(plan.valueGroups(h).get(g).channels(), part.applyAsInt(KvKernels.WidthPlan.VALUE_ROWS, c));
            }
            for (int h = 0; h < 2; h++) {
                assertEquals(plan.valueWordsBefore(h), part.applyAsInt(KvKernels.WidthPlan.VALUE_BEFORE, h));
                assertEquals(plan.headValueWords(h), part.applyAsInt(KvKernels.WidthPlan.VALUE_WORDS, h));
                int pairs = 0;
                for (int run = 0; run < KvKernels.WidthPlan.RUNS; run++) {
                    pairs += part.applyAsInt(KvKernels.WidthPlan.KEY_RUNS, (h * KvKernels.WidthPlan.RUNS + run) * 2 + 1);
                }
                assertEquals(20, pairs, "head " + h + "'s runs hold its pairs");
            }
        }
    }

    @Test
    void unsupportedSpecsAreNamed() {
        AttentionShape shape = new AttentionShape(1, 4, 1, 8);
        UnsupportedOperationException fp32 = assertThrows(UnsupportedOperationException.class,
                () -> KvKernels.requireSupported(shape, QuantSpec.fp32(), new PageLayout(shape, QuantSpec.fp32(), 32)));
        assertTrue(fp32.getMessage().contains("fp32"), fp32.getMessage());
        // shared memory is the device's question (requireShared), not the spec's
        AttentionShape wide = new AttentionShape(1, 64, 1, 256);
        QuantSpec nuq = QuantSpec.parse("nuq4");
        KvKernels.requireSupported(wide, nuq, new PageLayout(wide, nuq, 32));
    }

    @Test
    void sharedMemoryAboveTheOptInMaximumIsNamedWithBothSizes() {
        AttentionShape wide = new AttentionShape(1, 64, 1, 256);
        QuantSpec nuq = QuantSpec.parse("nuq4-1%-sparse");
        Map<String, Integer> needs = KvKernels.sharedBytes(wide, nuq, new PageLayout(wide, nuq, 32));
        int partials = KernelSignatures.valuePartialsSharedBytes(256, 64);
        assertEquals(partials, needs.get("kvq_value_partials"));
        assertTrue(partials > KvKernels.SHARED_LIMIT);
        // an sm_90 (227 KiB) takes it, an sm_80-sized 100 KiB device does not
        KvKernels.requireShared(wide, needs, k -> 232448);
        UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                () -> KvKernels.requireShared(wide, needs, k -> 100 * 1024));
        assertTrue(e.getMessage().startsWith("kvq_value_partials needs " + partials + " bytes of dynamic shared memory"),
                e.getMessage());
        assertTrue(e.getMessage().contains("the device allows " + 100 * 1024), e.getMessage());
        // within 48 KiB nothing is asked of the device
        AttentionShape small = new AttentionShape(1, 4, 1, 64);
        KvKernels.requireShared(small, KvKernels.sharedBytes(small, nuq, new PageLayout(small, nuq, 32)), k -> {
            throw new AssertionError("asked the device about " + k);
        });
    }
}
