package dev.kvq.engine.cuda;

import dev.kvq.driver.Dim3;
import dev.kvq.driver.Stream;
import dev.kvq.engine.CodeTables;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.RopePairing;
import dev.kvq.kernels.KernelSignatures;
import dev.kvq.layout.ChannelPlan;
import dev.kvq.layout.PageLayout.Part;
import dev.kvq.layout.PageLayout;
import dev.kvq.quant.Codebook;
import dev.kvq.quant.KeyQuantizer;
import dev.kvq.quant.LayerCalibration;
import dev.kvq.quant.QuantSpec;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.ToIntFunction;

/**
 * The cache kernels of one sequence's geometry (shape, spec, page layout) and per-cache constants
 * (inverse frequencies, RoPE step table, error word: {@link Constants}), launched with arguments
 * built and checked against kvq_kernels.cuh ({@link LaunchArgs}). Every launch takes device
 * addresses, so the argument lists can be built and checked without a GPU (see the unit tests);
 * launching needs the {@link CudaRuntime}. Batches are of one sequence here ({@code B = 1}): a cache
 * owns its pages.
 *
 * <p>Page format v2 (every cache but the TOKEN_MAJOR_SPARSE form): {@code kvq_pack_keys_v2},
 * {@code kvq_pack_values_v2} and {@code kvq_side_append} one block per token, {@code kvq_fp16_append} for fp16
 * pages; the fused decode {@link #decodeEntry()} over {@code (splits, Hkv)} blocks of
 * {@code KVQ_DECODE_THREADS}, then {@code kvq_decode_merge} over {@code (Hq)} blocks of
 * {@code KVQ_MERGE_THREADS}. Mixed code widths (a bit allocation) pass each layer's width plan to the appends
 * and decode with {@code kvq_decode_packed_groups} ({@link WidthTables}, {@code WidthPlan}): one instance of this
 * class per layer layout.
 *
 * <p>The TOKEN_MAJOR_SPARSE form runs the format v1 kernels, launch geometry as the header's: packing one block
 * of {@code KVQ_PACK_THREADS} per token; key scores {@code (⌈packed/T⌉, Hkv)} blocks of T; softmax {@code (Hq)} blocks of 256; value partials
 * {@code (⌈packed/TV⌉, Hkv)} blocks of 256, reduced by {@code (Hq)} blocks of d threads. Sparse
 * outliers (TOKEN_MAJOR_SPARSE) add {@code kvq_key_sparse_starts} (one block) and
 * {@code kvq_key_sparse_entries} (a block per token) to packing, and the balanced residual passes
 * {@code kvq_key_scores_sparse} / {@code kvq_value_sparse} ({@code ⌈entries/2048⌉} blocks of 256)
 * after the scores and the value reduction.
 */
public final class KvKernels {
    /** Kernel sources (PTX resources) the backend loads. */
    public static final List<String> SOURCES = java.util.stream.Stream.concat(KernelSignatures.sources().stream(),
            KernelSignatures.decodeV2Sources().stream()).toList();
    /**
     * Entry points this backend launches, which must be in the loaded PTX: the page format v2 appends and the
     * fused decode with its merge (every cache but the sparse form), and the format v1 kernels that the
     * TOKEN_MAJOR_SPARSE form still runs on (its v2 kernels do not exist yet). The specialized decode instances
     * are looked up by name when a cache needs one.
     */
    public static final List<String> REQUIRED = List.of("kvq_fp16_append", "kvq_pack_keys_v2", "kvq_pack_values_v2",
            "kvq_side_append", "kvq_decode_packed", "kvq_decode_packed_groups", "kvq_decode_fp16", "kvq_decode_merge",
            "kvq_rope_steps", "kvq_sinks_append", "kvq_pack_keys", "kvq_key_sparse_starts", "kvq_key_sparse_entries",
            "kvq_pack_values", "kvq_key_scores", "kvq_key_scores_sparse", "kvq_softmax", "kvq_value_partials",
            "kvq_value_reduce", "kvq_value_sparse");

    /** Largest dynamic shared memory a launch may ask for without raising the function attribute. */
    public static final int SHARED_LIMIT = 48 * 1024;

    private final CudaRuntime runtime;        // null: arguments only (tests)
    private final Constants constants;
    private final AttentionShape shape;
    private final QuantSpec spec;
    private final PageLayout layout;
    private final int d;
    private final int channels;
    private final int group;
    private final int bits;                   // the width b; under a width plan the widest code of the layer
    private final boolean groups;             // a width plan (QuantSpec.allocated()): WidthTables, the groups entry
    private final int form;
    private final int keySlots;
    private final int valueSlots;
    private final boolean sparse;
    private final int sparseValueSlots;       // Sv of the sparse form: entries per token (0 otherwise)
    private final float scale;
    private final int pairing;

    /**
     * Device addresses of a cache's constants, the same for every launch.
     *
     * @param invFreq   fp32 [d/2] RoPE inverse frequencies
     * @param ropeSteps float2 [d/2][T] (cos, sin) of the steps inside a key-score tile
     * @param error     int32 [1] the kernels' error word
     */
    public record Constants(long invFreq, long ropeSteps, long error) {}

    /** The byte layout of a layer's quantizer tables on the device, in floats from the start. */
    public static final class Tables {
        private Tables() {}

        /** Floats before {@code hi} ({@code lo} is first). */
        static int hi(int channels) { return channels; }

        static int zero(int channels) { return 2 * channels; }

        static int scale(int channels) { return 3 * channels; }

        static int keyTable(int channels) { return 4 * channels; }

        static int keyMid(int channels) { return 20 * channels; }

        static int valueMid(int channels) { return 20 * channels + 16; }

        static int valueTable(int channels) { return 20 * channels + 32; }

        /** Floats before the per-channel key midpoints [D][16] (per-channel key codebooks only). */
        static int keyMidPerChannel(int channels) { return 20 * channels + 48; }

        /** Floats of the whole table block (one key codebook per layer). */
        public static int floats(int channels) { return 20 * channels + 48; }

        /**
         * Floats of the whole table block of {@code spec}: per-channel key codebooks add their midpoints [D][16].
         *
         * @param channels D
         * @param spec     the cache's spec
         * @return floats
         */
        public static int floats(int channels, QuantSpec spec) {
            return floats(channels) + (perChannelKeys(spec) ? 16 * channels : 0);
        }

        static boolean perChannelKeys(QuantSpec spec) {
            return spec.keyCodebooks() == QuantSpec.KeyCodebooks.PER_CHANNEL;
        }
    }

    /**
     * The byte layout of the quantizer tables of a layer with mixed code widths (a bit allocation), in floats
     * from the start: lo, hi, z, s [D]; the key table [D][64] ({@code CodeTables.keys} at 64 entries); the key
     * midpoints [D][64] (each channel's {@code 2^w − 1}, then +∞); the value tables [7][64] and value midpoints
     * [7][64] by width; then the layer's width plan ({@code WidthPlan}, int32 bits), which the kernels read in
     * place of a width.
     */
    public static final class WidthTables {
        private WidthTables() {}

        /** Entries per key channel and per value width: KVQ_WP_ENTRIES, every code of up to 6 bits. */
        static final int ENTRIES = 1 << ChannelPlan.MAX_WIDTH;
        /** Value widths, 0 to 6. */
        static final int WIDTHS = ChannelPlan.MAX_WIDTH + 1;

        static int keyTable(int channels) { return 4 * channels; }

        static int keyMid(int channels) { return keyTable(channels) + ENTRIES * channels; }

        static int valueTable(int channels) { return keyMid(channels) + ENTRIES * channels; }

        static int valueMid(int channels) { return valueTable(channels) + WIDTHS * ENTRIES; }

        static int plan(int channels) { return valueMid(channels) + WIDTHS * ENTRIES; }

        /**
         * Floats of the whole table block of a layer of {@code kvHeads} heads of {@code headDim} channels.
         *
         * @param kvHeads Hkv
         * @param headDim d
         * @return floats
         */
        public static int floats(int kvHeads, int headDim) {
            return plan(kvHeads * headDim) + WidthPlan.ints(kvHeads, headDim);
        }
    }

    /**
     * A layer's width plan as the kernels read it (kvq_layout_v2.cuh, "width-group plans"), int32, the parts in
     * this order: key widths [D] by logical channel; key channels and key bits [D] by physical position; key pairs
     * [Hkv][d/2] ({@code first | partner << 10 | frequency << 20}); key runs [Hkv][8][2] (width, pairs); value
     * widths, row-0 words and row strides [D] by logical channel; value words before each head and per head
     * [Hkv]; value channels [D] by physical position; value groups [Hkv][8][4] (width, n, position, word offset).
     */
    static final class WidthPlan {
        private WidthPlan() {}

        /** Runs or groups per head the plan holds (KVQ_WP_RUNS): widths 0–6 make at most 7. */
        static final int RUNS = 8;

        /** The parts, in order (KvqWidthPlanPart). */
        static final int KEY_WIDTH = 0;
        static final int KEY_CHANNEL = 1;
        static final int KEY_BIT = 2;
        static final int KEY_PAIRS = 3;
        static final int KEY_RUNS = 4;
        static final int VALUE_WIDTH = 5;
        static final int VALUE_WORD = 6;
        static final int VALUE_ROWS = 7;
        static final int VALUE_BEFORE = 8;
        static final int VALUE_WORDS = 9;
        static final int VALUE_CHANNEL = 10;
        static final int VALUE_GROUPS = 11;
        private static final int PARTS = 12;

        /** int32 offset of part {@code part} ({@link #KEY_WIDTH} … {@link #VALUE_GROUPS}), as kvq_wp_offset. */
        static int offset(int part, int kvHeads, int headDim) {
            int d = kvHeads * headDim;
            int[] sizes = {d, d, d, kvHeads * (headDim / 2), kvHeads * RUNS * 2, d, d, d, kvHeads, kvHeads, d,
                    kvHeads * RUNS * 4};
            int at = 0;
            for (int i = 0; i < part; i++) {
                at += sizes[i];
            }
            return at;
        }

        static int ints(int kvHeads, int headDim) {
            return offset(PARTS, kvHeads, headDim);
        }

        /** The plan of {@code plan}'s layer. */
        static int[] of(ChannelPlan plan) {
            int kv = plan.kvHeads();
            int hd = plan.headDim();
            int[] t = new int[ints(kv, hd)];
            int[] at = new int[PARTS];
            for (int part = 0; part < PARTS; part++) {
                at[part] = offset(part, kv, hd);
            }
            for (int c = 0; c < kv * hd; c++) {
                t[at[KEY_WIDTH] + c] = plan.keyWidth(c);
                int logical = plan.keyChannelAt(c);
                t[at[KEY_CHANNEL] + c] = logical;
                t[at[KEY_BIT] + c] = plan.keyBit(logical);
                t[at[VALUE_WIDTH] + c] = plan.valueWidth(c);
            }
            for (int h = 0; h < kv; h++) {
                List<ChannelPlan.KeyPair> pairs = plan.keyPairs(h);
                int run = -1;
                for (int k = 0; k < pairs.size(); k++) {
                    ChannelPlan.KeyPair p = pairs.get(k);
                    t[at[KEY_PAIRS] + h * (hd / 2) + k] = p.first() | p.partner() << 10 | p.frequency() << 20;
                    if (k == 0 || pairs.get(k - 1).width() != p.width()) {
                        run++;
                        t[at[KEY_RUNS] + (h * RUNS + run) * 2] = p.width();
                    }
                    t[at[KEY_RUNS] + (h * RUNS + run) * 2 + 1]++;
                }
                List<ChannelPlan.ValueGroup> groups = plan.valueGroups(h);
                for (int g = 0; g < groups.size(); g++) {
                    ChannelPlan.ValueGroup vg = groups.get(g);
                    int entry = at[VALUE_GROUPS] + (h * RUNS + g) * 4;
                    t[entry] = vg.width();
                    t[entry + 1] = vg.channels();
                    t[entry + 2] = vg.position();
                    t[entry + 3] = vg.wordOffset();
                    for (int i = 0; i < vg.channels(); i++) {
                        int j = plan.valueChannelAt(h, vg.position() + i);
                        t[at[VALUE_CHANNEL] + h * hd + vg.position() + i] = j;
                        t[at[VALUE_WORD] + h * hd + j] = vg.wordOffset() + i;
                        t[at[VALUE_ROWS] + h * hd + j] = vg.channels();
                    }
                }
                t[at[VALUE_BEFORE] + h] = plan.valueWordsBefore(h);
                t[at[VALUE_WORDS] + h] = plan.headValueWords(h);
            }
            return t;
        }
    }

    /**
     * Launches for one geometry on {@code runtime} (null builds arguments only), with a cache's constants.
     *
     * @throws UnsupportedOperationException for a spec or shape the kernels do not cover
     */
    public KvKernels(CudaRuntime runtime, AttentionShape shape, QuantSpec spec, PageLayout layout,
                     Constants constants) {
        requireSupported(shape, spec, layout);
        if (runtime != null) {
            allowShared(runtime, shape, spec, layout);
        }
        this.runtime = runtime;
        this.constants = constants;
        this.shape = shape;
        this.spec = spec;
        this.layout = layout;
        this.d = shape.headDim();
        this.channels = shape.kvChannels();
        this.group = shape.groupSize();
        this.groups = spec.quantized() && spec.allocated();
        this.bits = groups ? layout.plan().maxWidth() : spec.bits();
        this.sparse = layout.sparseOutliers();
        this.form = sparse ? KernelSignatures.FORM_SPARSE
                : spec.hasOutliers() ? KernelSignatures.FORM_FIXED : KernelSignatures.FORM_NONE;
        this.sparseValueSlots = sparse ? spec.valueOutliersPerToken(channels) : 0;
        this.keySlots = layout.keySlots();
        this.valueSlots = layout.valueSlots();
        this.scale = (float) (1.0 / Math.sqrt(d));   // as CpuAttention.scores forms it
        this.pairing = shape.rope().pairing() == RopePairing.INTERLEAVED
                ? KernelSignatures.ROPE_INTERLEAVED : KernelSignatures.ROPE_ROTATE_HALF;
    }

    /**
     * Throws {@link UnsupportedOperationException} naming what the kernels lack: fp32 pages (no fp32
     * kernels). Shared memory depends on the device: {@link #requireShared}.
     */
    public static void requireSupported(AttentionShape shape, QuantSpec spec, PageLayout layout) {
        if (spec.mode() == QuantSpec.Mode.FP32) {
            throw new UnsupportedOperationException("the CUDA kernels have no fp32 pages (use fp16 or nuq)");
        }
        if (spec.hasOutliers()) {
            // the pack kernels keep a token's outlier lists in shared memory (KVQ_MAX_CAP per side);
            // beyond that every append would fail on the device, so such a cache stays on the CPU
            int d = shape.kvChannels();
            int keyCap = spec.keyOutlierCap(d);
            int valueCap = spec.valueTopK(d) - 1;
            if (keyCap > MAX_OUTLIERS_PER_SIDE || valueCap > MAX_OUTLIERS_PER_SIDE) {
                throw new UnsupportedOperationException(spec.name() + " over " + d + " channels keeps up to "
                        + Math.max(keyCap, valueCap) + " outliers per side and token; the CUDA kernels hold "
                        + MAX_OUTLIERS_PER_SIDE);
            }
        }
    }

    /**
     * Opts the kernels of this geometry in to the dynamic shared memory they need above 48 KiB, or
     * throws {@link UnsupportedOperationException} when the device cannot give it.
     */
    static void allowShared(CudaRuntime runtime, AttentionShape shape, QuantSpec spec, PageLayout layout) {
        Map<String, Integer> needs = sharedBytes(shape, spec, layout);
        requireShared(shape, needs, runtime::maxDynamicSharedBytes);
        needs.forEach((kernel, bytes) -> {
            if (bytes > SHARED_LIMIT) {
                runtime.allowDynamicShared(kernel, bytes);
            }
        });
    }

    /** KVQ_MAX_CAP of kvq_bodies.cuh: outliers per side one token may keep in the pack kernels. */
    static final int MAX_OUTLIERS_PER_SIDE = 1024;

    /**
     * Dynamic shared memory per block of the launches that use it, by kernel, for this geometry.
     *
     * @param shape the attention shape (head dim, group size)
     * @param spec the cache's spec (nuq or fp16 kernels)
     * @param layout the cache's pages (the sparse form runs the format v1 kernels; the page size picks the
     *        decode instance)
     * @return kernel name to bytes of dynamic shared memory per block
     */
    public static Map<String, Integer> sharedBytes(AttentionShape shape, QuantSpec spec, PageLayout layout) {
        int d = shape.headDim();
        int g = shape.groupSize();
        Map<String, Integer> m = new LinkedHashMap<>();
        if (spec.quantized() && layout.sparseOutliers()) {
            m.put("kvq_key_scores", KernelSignatures.keyScoresSharedBytes(d, g));
            m.put("kvq_value_partials", KernelSignatures.valuePartialsSharedBytes(d, g));
            return m;
        }
        String entry = decodeEntry(shape, spec, layout);
        if (!spec.quantized()) {
            m.put(entry, KernelSignatures.fp16DecodeSharedBytes(g, d));
        } else {
            m.put(entry, switch (entry) {
                case "kvq_decode_packed" -> KernelSignatures.genericPackedDecodeSharedBytes(d);
                case KernelSignatures.GROUPS_DECODE_ENTRY -> KernelSignatures.groupsPackedDecodeSharedBytes(d);
                default -> KernelSignatures.packedDecodeSharedBytes(spec.bits(), g, d);
            });
        }
        return m;
    }

    /**
     * Throws {@link UnsupportedOperationException} when a launch needs more dynamic shared memory than
     * the device gives that kernel ({@code available}: its opt-in maximum less its static shared
     * memory), naming the kernel, the bytes needed and the bytes available.
     *
     * @param shape the attention shape, for the message
     * @param needs kernel name to dynamic shared bytes per block ({@link #sharedBytes})
     * @param available kernel name to the most dynamic shared bytes per block it can be given
     */
    public static void requireShared(AttentionShape shape, Map<String, Integer> needs,
                                     ToIntFunction<String> available) {
        for (Map.Entry<String, Integer> e : needs.entrySet()) {
            if (e.getValue() <= SHARED_LIMIT) {
                continue;   // every device allows 48 KiB without opting in
            }
            int max = available.applyAsInt(e.getKey());
            if (e.getValue() > max) {
                throw new UnsupportedOperationException(e.getKey() + " needs " + e.getValue()
                        + " bytes of dynamic shared memory per block for head dim " + shape.headDim() + " with "
                        + shape.groupSize() + " query heads per KV head, but the device allows " + max
                        + " (its opt-in maximum less the kernel's static shared memory)");
            }
        }
    }

    /** Whether the pages are nuq (else fp16). */
    public boolean quantized() {
        return spec.quantized();
    }

    /** Floats of one layer's quantizer tables ({@link #tables}). */
    public int tableFloats() {
        return groups ? WidthTables.floats(shape.kvHeads(), d) : Tables.floats(channels, spec);
    }

    /**
     * One layer's quantizer tables as the pack and score kernels read them: lo, hi, z, s [D]; the key
     * table [D][16] (z_c + s_c·c'_K[x mod C], CodeTables.keys); key midpoints [16]; value midpoints [16];
     * the value table [16] (c'_V[x mod C]); with per-channel key codebooks their midpoints [D][16] after that.
     * Midpoint rows are padded with +∞ (never below a value).
     */
    public float[] tables(LayerCalibration calibration) {
        KeyQuantizer k = calibration.keys();
        float[] t = new float[tableFloats()];
        for (int c = 0; c < channels; c++) {
            t[c] = k.lower(c);
            t[Tables.hi(channels) + c] = k.upper(c);
            t[Tables.zero(channels) + c] = k.zero(c);
            t[Tables.scale(channels) + c] = k.scale(c);
        }
        if (groups) {
            widthTables(calibration, t);
            return t;
        }
        float[] keyTable = CodeTables.keys(k, CodeTables.ENTRIES);
        System.arraycopy(keyTable, 0, t, Tables.keyTable(channels), keyTable.length);
        float[] valueTable = CodeTables.values(calibration.values(), CodeTables.ENTRIES);
        System.arraycopy(valueTable, 0, t, Tables.valueTable(channels), valueTable.length);
        // per-channel codebooks fill the per-channel rows below; the shared row stays +∞ (never read)
        float[] km = k.sharedCodebook() ? k.codebook().midpoints() : new float[0];
        float[] vm = calibration.values().midpoints();
        for (int i = 0; i < 16; i++) {
            t[Tables.keyMid(channels) + i] = i < km.length ? km[i] : Float.POSITIVE_INFINITY;
            t[Tables.valueMid(channels) + i] = i < vm.length ? vm[i] : Float.POSITIVE_INFINITY;
        }
        if (Tables.perChannelKeys(spec)) {
            for (int c = 0; c < channels; c++) {
                float[] mid = k.codebook(c).midpoints();
                for (int i = 0; i < 16; i++) {
                    t[Tables.keyMidPerChannel(channels) + 16 * c + i] = i < mid.length ? mid[i] : Float.POSITIVE_INFINITY;
                }
            }
        }
        return t;
    }

    /**
     * The width-plan part of {@link #tables} ({@link WidthTables}): 64-entry key tables and per-channel midpoints,
     * one value table and midpoint row per width, and the layer's {@link WidthPlan} as int32 bits.
     */
    private void widthTables(LayerCalibration calibration, float[] t) {
        ChannelPlan plan = layout.plan();
        KeyQuantizer k = calibration.keys();
        int e = WidthTables.ENTRIES;
        float[] keyTable = CodeTables.keys(k, e);
        System.arraycopy(keyTable, 0, t, WidthTables.keyTable(channels), keyTable.length);
        java.util.Arrays.fill(t, WidthTables.keyMid(channels), WidthTables.plan(channels), Float.POSITIVE_INFINITY);
        for (int c = 0; c < channels; c++) {
            float[] mid = k.codebook(c).midpoints();
            System.arraycopy(mid, 0, t, WidthTables.keyMid(channels) + e * c, mid.length);
        }
        Codebook[] byWidth = new Codebook[WidthTables.WIDTHS];
        for (int c = 0; c < channels; c++) {
            int w = plan.valueWidth(c);
            Codebook book = calibration.valueCodebook(c);
            if (byWidth[w] != null && !byWidth[w].equals(book)) {
                // the kernels read one value table per width, as the CPU engine's (ValuePlan)
                throw new IllegalArgumentException("value channels of width " + w + " have different codebooks; the"
                        + " packed cache needs one value codebook per width");
            }
            byWidth[w] = book;
        }
        for (int w = 0; w < byWidth.length; w++) {
            float[] table = byWidth[w] == null ? new float[e] : CodeTables.values(byWidth[w], e);
            System.arraycopy(table, 0, t, WidthTables.valueTable(channels) + e * w, e);
            if (byWidth[w] != null) {
                float[] mid = byWidth[w].midpoints();
                System.arraycopy(mid, 0, t, WidthTables.valueMid(channels) + e * w, mid.length);
            }
        }
        int[] widths = WidthPlan.of(plan);
        for (int i = 0; i < widths.length; i++) {
            // small non-negative ints: their bits are subnormal floats, which copies keep exactly
            t[WidthTables.plan(channels) + i] = Float.intBitsToFloat(widths[i]);
        }
    }

    /** Arguments of {@code kvq_rope_steps}. */
    public LaunchArgs ropeStepsArgs() {
        return LaunchArgs.of("kvq_rope_steps").ptr("steps", constants.ropeSteps()).ptr("invFreq", constants.invFreq())
                .i32("halfDim", d / 2);
    }

    /** Bytes of the RoPE step table of head dim {@code headDim}: (cos, sin) [d/2][T]. */
    public static long ropeStepBytes(int headDim) {
        return (long) (headDim / 2) * KernelSignatures.TILE * 8;
    }

    /** Fills the RoPE step table (once per cache). */
    public void ropeSteps(Stream stream) {
        launch(ropeStepsArgs(), Dim3.of(Dim3.blocksFor((long) (d / 2) * KernelSignatures.TILE, 256)), Dim3.of(256), 0,
                stream);
    }

    /**
     * The arguments every kernel that reads pages starts with: the pool, the page size, the offsets of
     * the {@code parts} it reads ({@link PageLayout#offsetOrZero}), the page table and the page size in
     * tokens.
     */
    private LaunchArgs pagePool(String kernel, LayerView v, Part... parts) {
        LaunchArgs a = LaunchArgs.of(kernel).ptr("pool", v.pool()).i64("pageBytes", layout.pageBytes());
        for (Part part : parts) {
            a.i64(part.layoutName() + "Off", layout.offsetOrZero(part));
        }
        return a.ptr("pageTable", v.pageTable()).i32("maxPages", v.maxPages()).i32("poolPages", v.poolPages())
                .i32("pageTokens", layout.pageTokens());
    }

    /** Whether outliers are stored in the token-major sparse form (entry chunks beside the pages). */
    public boolean sparse() {
        return sparse;
    }

    /** Entries per token of the sparse value outliers ({@code Sv}; 0 unless {@link #sparse()}). */
    public int sparseValueSlots() {
        return sparseValueSlots;
    }

    /**
     * Arguments of {@code kvq_pack_keys} for {@code n} tokens of sequence 0; {@code keyOutCount} (int32
     * [n]) receives the uncapped outlier counts of the sparse form, 0 otherwise.
     */
    public LaunchArgs packKeysArgs(LayerView v, long keys, long tokenSeq, long tokenSlot, int n, long keyOutCount) {
        long t = v.tables();
        return pagePool("kvq_pack_keys", v, Part.KEY_CODES, Part.KEY_OUT_CHANNEL, Part.KEY_OUT_VALUE)
                .ptr("keys", keys).ptr("tokenSeq", tokenSeq).ptr("tokenSlot", tokenSlot).i32("n", n).i32("batch", 1)
                .ptr("lo", t).ptr("hi", t + 4L * Tables.hi(channels)).ptr("zero", t + 4L * Tables.zero(channels))
                .ptr("scale", t + 4L * Tables.scale(channels)).ptr("keyMid", t + 4L * Tables.keyMid(channels))
                .ptr("keyTable", t + 4L * Tables.keyTable(channels))
                .i32("channels", channels).i32("bits", bits).i32("form", form)
                .i32("cap", spec.keyOutlierCap(channels)).i32("keySlots", keySlots)
                .ptr("keyOutCount", sparse ? keyOutCount : 0).ptr("error", constants.error());
    }

    /** The sparse chunk tables of {@code v}, or an error naming the launch when the view has none. */
    private static SparseView sparseOf(LayerView v, String kernel) {
        if (v.sparse() == null) {
            throw new IllegalStateException(kernel + " needs the layer's sparse entry chunks, but the view has none");
        }
        return v.sparse();
    }

    /** Arguments of {@code kvq_key_sparse_starts}: start pointers from the counts of {@code kvq_pack_keys}. */
    public LaunchArgs keySparseStartsArgs(LayerView v, long tokenSeq, long tokenSlot, long keyOutCount, int n) {
        SparseView s = sparseOf(v, "kvq_key_sparse_starts");
        return pagePool("kvq_key_sparse_starts", v, Part.KEY_OUT_START)
                .ptr("tokenSeq", tokenSeq).ptr("tokenSlot", tokenSlot).ptr("keyOutCount", keyOutCount)
                .i32("n", n).i32("batch", 1).ptr("seqKeyEntries", s.seqKeyEntries()).ptr("error", constants.error());
    }

    /** Arguments of {@code kvq_key_sparse_entries}: every key outlier of the {@code n} tokens as an entry. */
    public LaunchArgs keySparseEntriesArgs(LayerView v, long keys, long tokenSeq, long tokenSlot, int n) {
        SparseView s = sparseOf(v, "kvq_key_sparse_entries");
        long t = v.tables();
        return pagePool("kvq_key_sparse_entries", v, Part.KEY_OUT_START)
                .ptr("keys", keys).ptr("tokenSeq", tokenSeq).ptr("tokenSlot", tokenSlot).i32("n", n).i32("batch", 1)
                .ptr("lo", t).ptr("hi", t + 4L * Tables.hi(channels)).ptr("zero", t + 4L * Tables.zero(channels))
                .ptr("scale", t + 4L * Tables.scale(channels)).ptr("keyMid", t + 4L * Tables.keyMid(channels))
                .ptr("keyTable", t + 4L * Tables.keyTable(channels))
                .i32("channels", channels).i32("bits", bits)
                .ptr("entryPool", s.keyPool()).ptr("keyChunkTable", s.keyChunkTable())
                .i32("maxChunks", s.keyMaxChunks()).i32("poolChunks", s.keyPoolChunks())
                .ptr("error", constants.error());
    }

    /** Arguments of {@code kvq_pack_values} for {@code n} tokens of sequence 0. */
    public LaunchArgs packValuesArgs(LayerView v, long values, long tokenSeq, long tokenSlot, int n) {
        long t = v.tables();
        return pagePool("kvq_pack_values", v, Part.VALUE_CODES, Part.VALUE_ZERO, Part.VALUE_SCALE,
                Part.VALUE_OUT_CHANNEL, Part.VALUE_OUT_VALUE, Part.VALUE_OUT_START)
                .ptr("values", values).ptr("tokenSeq", tokenSeq).ptr("tokenSlot", tokenSlot).i32("n", n).i32("batch", 1)
                .ptr("valueMid", t + 4L * Tables.valueMid(channels)).ptr("valueTable", t + 4L * Tables.valueTable(channels))
                .i32("channels", channels).i32("headDim", d).i32("bits", bits).i32("form", form)
                .i32("topK", spec.valueTopK(channels))
                .ptr("entryPool", sparse ? sparseOf(v, "kvq_pack_values").valuePool() : 0)
                .ptr("valueChunkTable", sparse ? v.sparse().valueChunkTable() : 0)
                .i32("maxChunks", sparse ? v.sparse().valueMaxChunks() : 0)
                .i32("poolChunks", sparse ? v.sparse().valuePoolChunks() : 0)
                .ptr("error", constants.error());
    }

    /**
     * Packs {@code n} tokens (keys then values, fp32 [n][D] each) into their slots. With sparse
     * outliers the keys' outlier counts go to {@code keyOutCount} (int32 [n]), the start pointers are
     * formed in token order from the layer's running entry count, then the entries are written into the
     * key chunks; values write theirs directly (Sv per token).
     */
    private void pack(Stream stream, LayerView v, long keys, long values, long tokenSeq, long tokenSlot, int n,
                      long keyOutCount) {
        launch(packKeysArgs(v, keys, tokenSeq, tokenSlot, n, keyOutCount), Dim3.of(n),
                Dim3.of(KernelSignatures.PACK_THREADS), 0, stream);
        if (sparse) {
            // one thread walks the tokens (a running sum); 32 threads keep the launch a whole warp
            launch(keySparseStartsArgs(v, tokenSeq, tokenSlot, keyOutCount, n), Dim3.of(1), Dim3.of(32), 0, stream);
            launch(keySparseEntriesArgs(v, keys, tokenSeq, tokenSlot, n), Dim3.of(n),
                    Dim3.of(KernelSignatures.PACK_THREADS), 0, stream);
        }
        launch(packValuesArgs(v, values, tokenSeq, tokenSlot, n), Dim3.of(n), Dim3.of(KernelSignatures.PACK_THREADS),
                0, stream);
    }

    /** Arguments of {@code kvq_sinks_append}: tokens become sinks {@code tokenSlot[t]} (rotated, fp16). */
    public LaunchArgs sinksAppendArgs(LayerView v, long keys, long values, long tokenSeq, long tokenSlot, int n) {
        return rotatedTokens(LaunchArgs.of("kvq_sinks_append").ptr("sinks", v.sinks()).i32("sinkCap", spec.sinkTokens()),
                v, keys, values, tokenSeq, tokenSlot, n);
    }

    /** Arguments of {@code kvq_fp16_append}: tokens go to slots {@code tokenSlot[t]} of fp16 pages (rotated). */
    public LaunchArgs fp16AppendArgs(LayerView v, long keys, long values, long tokenSeq, long tokenSlot, int n) {
        return rotatedTokens(pagePool("kvq_fp16_append", v, Part.KEYS, Part.VALUES), v, keys, values, tokenSeq,
                tokenSlot, n);
    }

    /**
     * Stores {@code n} tokens (pre-RoPE keys and values fp32 [n][D] each) as sinks: rotated, fp16,
     * {@code tokenSlot[t]} being the sink index. One block per token.
     */
    public void appendSinks(Stream stream, LayerView v, long keys, long values, long tokenSeq, long tokenSlot, int n) {
        launch(sinksAppendArgs(v, keys, values, tokenSeq, tokenSlot, n), Dim3.of(n), Dim3.of(128), 0, stream);
    }

    /**
     * Stores {@code n} tokens (pre-RoPE keys and values fp32 [n][D] each) into page slots
     * {@code tokenSlot[t]}: packed into nuq pages ({@code keyOutCount} int32 [n] receives the sparse
     * form's key outlier counts) or rotated into fp16 pages. One block per token.
     */
    public void appendPages(Stream stream, LayerView v, long keys, long values, long tokenSeq, long tokenSlot, int n,
                            long keyOutCount) {
        if (spec.quantized()) {
            pack(stream, v, keys, values, tokenSeq, tokenSlot, n, keyOutCount);
        } else {
            launch(fp16AppendArgs(v, keys, values, tokenSeq, tokenSlot, n), Dim3.of(n), Dim3.of(128), 0, stream);
        }
    }

    /** Arguments of {@code kvq_key_scores} (nuq pages). */
    public LaunchArgs keyScoresArgs(LayerView v, long query, long scores, int stride) {
        return pagePool("kvq_key_scores", v, Part.KEY_CODES, Part.KEY_OUT_CHANNEL, Part.KEY_OUT_VALUE)
                .ptr("seqPacked", v.seqPacked()).ptr("seqSinks", v.seqSinks()).ptr("seqFirstPos", v.seqFirstPos())
                .i32("sinkCap", spec.sinkTokens()).ptr("sinks", spec.sinkTokens() == 0 ? 0 : v.sinks())
                .ptr("query", query).f32("scale", scale)
                .ptr("keyTable", v.tables() + 4L * Tables.keyTable(channels)).ptr("invFreq", constants.invFreq())
                .ptr("ropeSteps", constants.ropeSteps()).i32("pairing", pairing)
                .ptr("scores", scores).i32("scoreStride", stride)
                .i32("headDim", d).i32("kvHeads", shape.kvHeads()).i32("groupSize", group).i32("bits", bits)
                .i32("keySlots", keySlots).ptr("error", constants.error());
    }

    /** Arguments of {@code kvq_key_scores_sparse}: the sparse key residuals added onto the scores. */
    public LaunchArgs keyScoresSparseArgs(LayerView v, long query, long scores, int stride) {
        SparseView s = sparseOf(v, "kvq_key_scores_sparse");
        return pagePool("kvq_key_scores_sparse", v, Part.KEY_OUT_START)
                .ptr("seqPacked", v.seqPacked()).ptr("seqSinks", v.seqSinks()).ptr("seqFirstPos", v.seqFirstPos())
                .i32("sinkCap", spec.sinkTokens()).ptr("query", query).f32("scale", scale)
                .ptr("invFreq", constants.invFreq()).i32("pairing", pairing)
                .ptr("entryPool", s.keyPool()).ptr("keyChunkTable", s.keyChunkTable())
                .i32("maxChunks", s.keyMaxChunks()).i32("poolChunks", s.keyPoolChunks())
                .ptr("scores", scores).i32("scoreStride", stride)
                .i32("headDim", d).i32("kvHeads", shape.kvHeads()).i32("groupSize", group)
                .ptr("error", constants.error());
    }

    /**
     * Queues the scaled scores of every stored token ({@code packed} after the sinks) into
     * {@code scores [Hq][stride]}, then the sparse residual pass on the same stream, one thread per
     * {@code KVQ_SPARSE_PER_THREAD} of the layer's {@code keyEntries} key entries (the TOKEN_MAJOR_SPARSE form
     * only: every other cache decodes with {@link #decodeArgs}).
     */
    public void scores(Stream stream, LayerView v, int packed, long keyEntries, long query, long scores, int stride) {
        requireVersionOne("the format v1 key scores");
        launch(keyScoresArgs(v, query, scores, stride),
                new Dim3(KernelSignatures.keyScoreTiles(packed), shape.kvHeads(), 1), Dim3.of(KernelSignatures.TILE),
                KernelSignatures.keyScoresSharedBytes(d, group), stream);
        launch(keyScoresSparseArgs(v, query, scores, stride), new Dim3(KernelSignatures.sparseBlocks(keyEntries), 1, 1),
                Dim3.of(KernelSignatures.SPARSE_THREADS), 0, stream);
    }

    /** The format v1 decode launches serve only the TOKEN_MAJOR_SPARSE form; every other cache decodes fused. */
    private void requireVersionOne(String what) {
        if (!sparse) {
            throw new IllegalStateException(what + " serve only the TOKEN_MAJOR_SPARSE form; " + spec.name()
                    + " decodes with " + decodeEntry());
        }
    }

    /** Arguments of {@code kvq_softmax}. */
    public LaunchArgs softmaxArgs(LayerView v, long scores, int stride) {
        return LaunchArgs.of("kvq_softmax").ptr("scores", scores).ptr("seqPacked", v.seqPacked())
                .ptr("seqSinks", v.seqSinks()).i32("queryHeads", shape.queryHeads()).i32("scoreStride", stride);
    }

    /** Queues the softmax of every query head's row in place. */
    public void softmax(Stream stream, LayerView v, long scores, int stride) {
        launch(softmaxArgs(v, scores, stride), Dim3.of(shape.queryHeads()), Dim3.of(256), 0, stream);
    }

    /** Bytes of the value partials for {@code packed} tokens: [Hq][tiles][d] fp32. */
    public long partialBytes(int packed) {
        return (long) shape.queryHeads() * KernelSignatures.valueTiles(packed) * d * Float.BYTES;
    }

    /** Arguments of {@code kvq_value_partials} (nuq pages). */
    public LaunchArgs valuePartialsArgs(LayerView v, long weights, int stride, long partials, int maxTiles) {
        return pagePool("kvq_value_partials", v, Part.VALUE_CODES, Part.VALUE_ZERO, Part.VALUE_SCALE,
                Part.VALUE_OUT_CHANNEL, Part.VALUE_OUT_VALUE)
                .ptr("seqPacked", v.seqPacked()).ptr("seqSinks", v.seqSinks())
                .ptr("weights", weights).i32("scoreStride", stride)
                .ptr("valueTable", v.tables() + 4L * Tables.valueTable(channels))
                .ptr("partials", partials).i32("maxTiles", maxTiles)
                .i32("headDim", d).i32("kvHeads", shape.kvHeads()).i32("groupSize", group).i32("bits", bits)
                .i32("valueSlots", valueSlots).ptr("error", constants.error());
    }

    /** Arguments of {@code kvq_value_reduce}. */
    public LaunchArgs valueReduceArgs(LayerView v, long partials, int maxTiles, long weights, int stride, long out) {
        int sinkCap = spec.quantized() ? spec.sinkTokens() : 0;
        return LaunchArgs.of("kvq_value_reduce")
                .ptr("partials", partials).i32("maxTiles", maxTiles)
                .ptr("seqPacked", v.seqPacked()).ptr("seqSinks", v.seqSinks())
                .i32("sinkCap", sinkCap).ptr("sinks", sinkCap == 0 ? 0 : v.sinks())
                .ptr("weights", weights).i32("scoreStride", stride).ptr("out", out)
                .i32("headDim", d).i32("kvHeads", shape.kvHeads()).i32("groupSize", group);
    }

    /**
     * Queues {@code out [Hq][d] = Σ_t weights[q][t]·v_t}: the tile partials, then their reduction
     * in tile order together with the sinks, then the sparse value residuals. {@code partials} holds
     * {@link #partialBytes}. The TOKEN_MAJOR_SPARSE form only.
     */
    public void values(Stream stream, LayerView v, int packed, long weights, int stride, long partials, long out) {
        requireVersionOne("the format v1 value kernels");
        int tiles = KernelSignatures.valueTiles(packed);
        launch(valuePartialsArgs(v, weights, stride, partials, tiles), new Dim3(tiles, shape.kvHeads(), 1),
                Dim3.of(256), KernelSignatures.valuePartialsSharedBytes(d, group), stream);
        launch(valueReduceArgs(v, partials, tiles, weights, stride, out), Dim3.of(shape.queryHeads()), Dim3.of(d), 0,
                stream);
        launch(valueSparseArgs(v, weights, stride, out),
                new Dim3(KernelSignatures.sparseBlocks((long) packed * sparseValueSlots), 1, 1),
                Dim3.of(KernelSignatures.SPARSE_THREADS), 0, stream);
    }

    /** Arguments of {@code kvq_value_sparse}: the sparse value residuals added onto the output. */
    public LaunchArgs valueSparseArgs(LayerView v, long weights, int stride, long out) {
        SparseView s = sparseOf(v, "kvq_value_sparse");
        return LaunchArgs.of("kvq_value_sparse")
                .ptr("seqPacked", v.seqPacked()).ptr("seqSinks", v.seqSinks())
                .ptr("weights", weights).i32("scoreStride", stride)
                .ptr("entryPool", s.valuePool()).ptr("valueChunkTable", s.valueChunkTable())
                .i32("maxChunks", s.valueMaxChunks()).i32("poolChunks", s.valuePoolChunks())
                .i32("valueSlots", sparseValueSlots).ptr("out", out)
                .i32("headDim", d).i32("kvHeads", shape.kvHeads()).i32("groupSize", group)
                .ptr("error", constants.error());
    }

    // ------------------------------------------------------------------ page format v2 (issue 15)

    /** Arguments of {@code kvq_pack_keys_v2} for {@code n} tokens of sequence 0 (fixed-slot or no outliers). */
    public LaunchArgs packKeysV2Args(LayerView v, long keys, long tokenSeq, long tokenSlot, int n) {
        long t = v.tables();
        boolean perChannel = Tables.perChannelKeys(spec);
        long keyMid = groups ? WidthTables.keyMid(channels)
                : perChannel ? Tables.keyMidPerChannel(channels) : Tables.keyMid(channels);
        return pagePool("kvq_pack_keys_v2", v, Part.KEY_CODES, Part.KEY_OUT_CHANNEL, Part.KEY_OUT_VALUE,
                Part.KEY_OUT_HEAD_END)
                .ptr("keys", keys).ptr("tokenSeq", tokenSeq).ptr("tokenSlot", tokenSlot).i32("n", n).i32("batch", 1)
                .ptr("lo", t).ptr("hi", t + 4L * Tables.hi(channels)).ptr("zero", t + 4L * Tables.zero(channels))
                .ptr("scale", t + 4L * Tables.scale(channels))
                .ptr("keyMid", t + 4L * keyMid)
                .i32("keyMidStride", groups ? WidthTables.ENTRIES : perChannel ? 16 : 0)
                .ptr("keyTable", t + 4L * (groups ? WidthTables.keyTable(channels) : Tables.keyTable(channels)))
                .i32("headDim", d).i32("kvHeads", shape.kvHeads()).i32("bits", bits).i32("keyWords", layout.keyWords())
                .i32("pairing", pairing).i32("form", form).i32("cap", spec.keyOutlierCap(channels))
                .i32("keySlots", keySlots).ptr("widthPlan", widthPlan(t)).ptr("error", constants.error());
    }

    /** The device address of the width plan in the table block at {@code tables}, or 0 (one width). */
    private long widthPlan(long tables) {
        return groups ? tables + 4L * WidthTables.plan(channels) : 0;
    }

    /** Arguments of {@code kvq_pack_values_v2} for {@code n} tokens of sequence 0 (fixed-slot or no outliers). */
    public LaunchArgs packValuesV2Args(LayerView v, long values, long tokenSeq, long tokenSlot, int n) {
        long t = v.tables();
        return pagePool("kvq_pack_values_v2", v, Part.VALUE_CODES, Part.VALUE_ZERO, Part.VALUE_SCALE,
                Part.VALUE_OUT_CHANNEL, Part.VALUE_OUT_VALUE, Part.VALUE_OUT_HEAD_END)
                .ptr("values", values).ptr("tokenSeq", tokenSeq).ptr("tokenSlot", tokenSlot).i32("n", n).i32("batch", 1)
                .ptr("valueMid", t + 4L * (groups ? WidthTables.valueMid(channels) : Tables.valueMid(channels)))
                .ptr("valueTable", t + 4L * (groups ? WidthTables.valueTable(channels) : Tables.valueTable(channels)))
                .i32("headDim", d).i32("kvHeads", shape.kvHeads()).i32("bits", bits).i32("form", form)
                .i32("topK", spec.valueTopK(channels)).ptr("widthPlan", widthPlan(t)).ptr("error", constants.error());
    }

    /**
     * Arguments of {@code kvq_side_append}: token t (index {@code tokenSlot[t]} of the sequence) goes rotated,
     * in fp16, to its sink or window-ring slot of the layer's side buffer.
     */
    public LaunchArgs sideAppendArgs(LayerView v, long keys, long values, long tokenSeq, long tokenSlot, int n) {
        return rotatedTokens(LaunchArgs.of("kvq_side_append").ptr("side", v.sinks()).i32("sinkCap", spec.sinkTokens())
                .i32("windowCap", spec.recentWindow()), v, keys, values, tokenSeq, tokenSlot, n);
    }

    /** The parameters the kernels that store rotated fp16 tokens share, after their destination. */
    private LaunchArgs rotatedTokens(LaunchArgs a, LayerView v, long keys, long values, long tokenSeq, long tokenSlot,
                                     int n) {
        return a                .ptr("keys", keys).ptr("values", values).ptr("tokenSeq", tokenSeq).ptr("tokenSlot", tokenSlot)
                .i32("n", n).i32("batch", 1).ptr("seqFirstPos", v.seqFirstPos()).ptr("invFreq", constants.invFreq())
                .i32("pairing", pairing).i32("headDim", d).i32("kvHeads", shape.kvHeads())
                .ptr("error", constants.error());
    }

    /**
     * Stores {@code n} tokens (pre-RoPE fp32 [n][D] keys and values) in the side buffer; {@code tokenSlot[t]} is
     * the token's index in the sequence. At most one token per side slot in a launch. One block per token.
     */
    public void appendSide(Stream stream, LayerView v, long keys, long values, long tokenSeq, long tokenSlot, int n) {
        launch(sideAppendArgs(v, keys, values, tokenSeq, tokenSlot, n), Dim3.of(n), Dim3.of(128), 0, stream);
    }

    /**
     * Packs {@code n} tokens (pre-RoPE fp32 [n][D] keys and values) into page slots {@code tokenSlot[t]} in page
     * format v2, or rotates them into fp16 pages. One block per token.
     */
    public void appendPagesV2(Stream stream, LayerView v, long keys, long values, long tokenSeq, long tokenSlot,
                              int n) {
        if (spec.quantized()) {
            launch(packKeysV2Args(v, keys, tokenSeq, tokenSlot, n), Dim3.of(n),
                    Dim3.of(KernelSignatures.PACK_THREADS), 0, stream);
            launch(packValuesV2Args(v, values, tokenSeq, tokenSlot, n), Dim3.of(n),
                    Dim3.of(KernelSignatures.PACK_THREADS), 0, stream);
        } else {
            launch(fp16AppendArgs(v, keys, values, tokenSeq, tokenSlot, n), Dim3.of(n), Dim3.of(128), 0, stream);
        }
    }

    /**
     * The fused decode entry of this geometry: a specialized instance where one exists for (bits, G, d) and the
     * pages are a power of two, else the generic kernel.
     *
     * @return the entry's name
     */
    public String decodeEntry() {
        return decodeEntry(shape, spec, layout);
    }

    private static String decodeEntry(AttentionShape shape, QuantSpec spec, PageLayout layout) {
        int d = shape.headDim();
        int g = shape.groupSize();
        if (spec.quantized() && spec.allocated()) {
            return KernelSignatures.GROUPS_DECODE_ENTRY;
        }
        return spec.quantized() ? KernelSignatures.packedDecodeEntry(spec.bits(), g, d, layout.pageTokens())
                : KernelSignatures.fp16DecodeEntry(g, d);
    }

    /**
     * Dynamic shared memory per block of {@link #decodeEntry()}.
     *
     * @return bytes
     */
    public int decodeSharedBytes() {
        return sharedBytes(shape, spec, layout).get(decodeEntry());
    }

    /**
     * Arguments of the fused decode ({@link #decodeEntry()}) of one step: scores of the sinks, the packed slots
     * and the recent window against {@code query} [Hq·d], online softmax and the value partials of each split
     * into {@code partialOut} [Hq][splits][d] and {@code partialStats} [Hq][splits][2]; every score into
     * {@code scores} [Hq][scoreStride] when it is not 0 (the debug mode).
     */
    public LaunchArgs decodeArgs(LayerView v, long query, long partialOut, long partialStats, long scores,
                                 int scoreStride) {
        String entry = decodeEntry();
        if (!spec.quantized()) {
            return pagePool(entry, v, Part.KEYS, Part.VALUES).ptr("seqTokens", v.seqPacked())
                    .ptr("query", query).f32("scale", scale)
                    .i32("headDim", d).i32("kvHeads", shape.kvHeads()).i32("groupSize", group)
                    .ptr("partialOut", partialOut).ptr("partialStats", partialStats)
                    .ptr("scores", scores).i32("scoreStride", scoreStride).ptr("error", constants.error());
        }
        long t = v.tables();
        boolean side = spec.sinkTokens() + spec.recentWindow() > 0;
        LaunchArgs a = pagePool(entry, v, Part.KEY_CODES, Part.KEY_OUT_CHANNEL, Part.KEY_OUT_VALUE, Part.KEY_OUT_HEAD_END,
                Part.VALUE_CODES, Part.VALUE_ZERO, Part.VALUE_SCALE, Part.VALUE_OUT_CHANNEL, Part.VALUE_OUT_VALUE,
                Part.VALUE_OUT_HEAD_END)
                .ptr("seqPacked", v.seqPacked()).ptr("seqSinks", v.seqSinks()).ptr("seqFirstPos", v.seqFirstPos())
                .i32("sinkCap", spec.sinkTokens()).i32("windowCap", spec.recentWindow())
                .ptr("seqSide", side ? v.seqSide() : 0)
                .ptr("query", query).f32("scale", scale);
        if (groups) {
            a.ptr("keyTable", t + 4L * WidthTables.keyTable(channels))
                    .ptr("valueTable", t + 4L * WidthTables.valueTable(channels)).ptr("widthPlan", widthPlan(t));
        } else {
            a.ptr("keyTable", t + 4L * Tables.keyTable(channels)).ptr("valueTable", t + 4L * Tables.valueTable(channels));
        }
        return a.ptr("invFreq", constants.invFreq())
                .i32("pairing", pairing).i32("headDim", d).i32("kvHeads", shape.kvHeads()).i32("groupSize", group)
                .i32("bits", bits).i32("keySlots", keySlots).i32("valueSlots", valueSlots)
                .ptr("partialOut", partialOut).ptr("partialStats", partialStats)
                .ptr("scores", scores).i32("scoreStride", scoreStride).ptr("error", constants.error());
    }

    /**
     * Arguments of {@code kvq_decode_merge}: the splits' partials combined by log-sum-exp into {@code out} [Hq·d];
     * an overflowed score or output sets {@code KVQ_ERR_OVERFLOW} in the error word.
     */
    public LaunchArgs mergeArgs(long partialOut, long partialStats, int splits, long out) {
        return LaunchArgs.of("kvq_decode_merge").ptr("partialOut", partialOut).ptr("partialStats", partialStats)
                .i32("splits", splits).ptr("out", out).i32("headDim", d).i32("queryHeads", shape.queryHeads())
                .ptr("error", constants.error());
    }

    /** Index of the {@code splits} argument in {@link #mergeArgs}, to rewrite it in a prepared block. */
    public static final int MERGE_SPLITS_ARG = 2;

    /** Grid of the fused decode for {@code splits} splits: (splits, Hkv, 1). */
    public Dim3 decodeGrid(int splits) {
        return decodeGrid(splits, 1);
    }

    /** Grid of the fused decode of a batch of {@code batch} sequences: (splits, Hkv, B). */
    public Dim3 decodeGrid(int splits, int batch) {
        return new Dim3(splits, shape.kvHeads(), batch);
    }

    /** Grid of {@code kvq_decode_merge}: (Hq, 1). */
    public Dim3 mergeGrid() {
        return mergeGrid(1);
    }

    /** Grid of {@code kvq_decode_merge} over a batch of {@code batch} sequences: (Hq, B). */
    public Dim3 mergeGrid(int batch) {
        return new Dim3(shape.queryHeads(), batch, 1);
    }

    /**
     * Queues one fused decode (and, unless {@code scores} is given alone for the debug mode, nothing else) with
     * arguments built now; the decode steps of {@link CudaSequence} launch prepared blocks instead.
     */
    void decode(Stream stream, LayerView v, int splits, long query, long partialOut, long partialStats, long scores,
                int scoreStride) {
        launch(decodeArgs(v, query, partialOut, partialStats, scores, scoreStride), decodeGrid(splits),
                Dim3.of(KernelSignatures.DECODE_THREADS), decodeSharedBytes(), stream);
    }

    /** The loaded kernel {@code name} (for prepared launches). */
    dev.kvq.driver.Kernel kernel(String name) {
        if (runtime == null) {
            throw new IllegalStateException("these kernels were made for argument checks only, without a device");
        }
        return runtime.kernel(name);
    }

    private void launch(LaunchArgs args, Dim3 grid, Dim3 block, int shared, Stream stream) {
        if (runtime == null) {
            throw new IllegalStateException("these kernels were made for argument checks only, without a device");
        }
        runtime.kernel(args.kernel()).launch(grid, block, shared, stream, args.done());
    }
}
