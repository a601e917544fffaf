package dev.kvq.engine.cuda;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.RopePairing;
import dev.kvq.layout.PageLayout;
import dev.kvq.driver.Dim3;
import dev.kvq.driver.Stream;
import dev.kvq.kernels.KernelSignatures;
import dev.kvq.quant.KeyQuantizer;
import dev.kvq.quant.LayerCalibration;
import dev.kvq.quant.QuantSpec;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.ToIntFunction;

/**
 * The cache kernels of one cache geometry (shape, spec, page layout), launched with arguments built
 * and checked against kvq_kernels.cuh ({@link LaunchArgs}). Every launch takes device addresses, so
 * the argument lists can be built and checked without a GPU (see the unit tests); launching needs
 * the {@link CudaEngine}. Batches are of one sequence here ({@code B = 1}): a cache owns its pages.
 *
 * <p>Launch geometry is the header's: packing one block of {@code KVQ_PACK_THREADS} per token; key
 * scores {@code (⌈packed/T⌉, Hkv)} blocks of T; softmax {@code (Hq)} blocks of 256; value partials
 * {@code (⌈packed/TV⌉, Hkv)} blocks of 256, reduced by {@code (Hq)} blocks of d threads. Sparse
 * outliers (TOKEN_MAJOR_SPARSE) add {@code kvq_key_sparse_starts} (one block) and
 * {@code kvq_key_sparse_entries} (a block per token) to packing, and the balanced residual passes
 * {@code kvq_key_scores_sparse} / {@code kvq_value_sparse} ({@code ⌈entries/2048⌉} blocks of 256)
 * after the scores and the value reduction.
 */
public final class KvKernels {
    /** Kernel sources (PTX resources) the backend loads. */
    public static final List<String> SOURCES = KernelSignatures.sources();
    /** Entry points this backend launches, which must be in the loaded PTX. */
    public static final List<String> REQUIRED = List.of("kvq_rope_steps", "kvq_sinks_append", "kvq_fp16_append",
            "kvq_pack_keys", "kvq_key_sparse_starts", "kvq_key_sparse_entries", "kvq_pack_values",
            "kvq_key_scores", "kvq_key_scores_sparse", "kvq_softmax", "kvq_value_partials", "kvq_value_reduce",
            "kvq_value_sparse", "kvq_fp16_key_scores", "kvq_fp16_value_partials");

    /** Largest dynamic shared memory a launch may ask for without raising the function attribute. */
    public static final int SHARED_LIMIT = 48 * 1024;

    private final CudaEngine engine;          // null: arguments only (tests)
    private final AttentionShape shape;
    private final QuantSpec spec;
    private final PageLayout layout;
    private final int d;
    private final int channels;
    private final int group;
    private final int bits;
    private final int form;
    private final int keySlots;
    private final int valueSlots;
    private final boolean sparse;
    private final int sparseValueSlots;       // Sv of the sparse form: entries per token (0 otherwise)
    private final float scale;
    private final int pairing;

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

        /** Floats of the whole table block. */
        public static int floats(int channels) { return 20 * channels + 48; }
    }

    /**
     * Launches for one geometry on {@code engine} (null builds arguments only).
     *
     * @throws UnsupportedOperationException for a spec or shape the kernels do not cover
     */
    public KvKernels(CudaEngine engine, AttentionShape shape, QuantSpec spec, PageLayout layout) {
        requireSupported(shape, spec, layout);
        if (engine != null) {
            // above 48 KiB a kernel must opt in before its launch; beyond the device's maximum it cannot run
            Map<String, Integer> needs = sharedBytes(shape, spec);
            requireShared(shape, needs, engine::maxDynamicSharedBytes);
            needs.forEach((kernel, bytes) -> {
                if (bytes > SHARED_LIMIT) {
                    engine.allowDynamicShared(kernel, bytes);
                }
            });
        }
        this.engine = engine;
        this.shape = shape;
        this.spec = spec;
        this.layout = layout;
        this.d = shape.headDim();
        this.channels = shape.kvChannels();
        this.group = shape.groupSize();
        this.bits = spec.bits();
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

    /** KVQ_MAX_CAP of kvq_bodies.cuh: outliers per side one token may keep in the pack kernels. */
    static final int MAX_OUTLIERS_PER_SIDE = 1024;

    /**
     * Dynamic shared memory per block of the launches that use it, by kernel, for this geometry.
     *
     * @param shape the attention shape (head dim, group size)
     * @param spec the cache's spec (nuq or fp16 kernels)
     * @return kernel name to bytes of dynamic shared memory per block
     */
    public static Map<String, Integer> sharedBytes(AttentionShape shape, QuantSpec spec) {
        int d = shape.headDim();
        int g = shape.groupSize();
        Map<String, Integer> m = new LinkedHashMap<>();
        if (spec.quantized()) {
            m.put("kvq_key_scores", KernelSignatures.keyScoresSharedBytes(d, g));
            m.put("kvq_value_partials", KernelSignatures.valuePartialsSharedBytes(d, g));
        } else {
            m.put("kvq_fp16_key_scores", KernelSignatures.fp16KeyScoresSharedBytes(d, g));
            m.put("kvq_fp16_value_partials", KernelSignatures.fp16ValuePartialsSharedBytes(d, g));
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
        return Tables.floats(channels);
    }

    /**
     * One layer's quantizer tables as the pack and score kernels read them: lo, hi, z, s [D]; the key
     * table [D][16] (z_c + s_c·c'_K[x mod C], LayerStore's); key midpoints [16]; value midpoints [16];
     * the value table [16] (c'_V[x mod C]). Midpoint rows are padded with +∞ (never below a value).
     */
    public float[] tables(LayerCalibration calibration) {
        KeyQuantizer k = calibration.keys();
        float[] t = new float[Tables.floats(channels)];
        int mask = (1 << bits) - 1;
        for (int c = 0; c < channels; c++) {
            t[c] = k.lower(c);
            t[Tables.hi(channels) + c] = k.upper(c);
            t[Tables.zero(channels) + c] = k.zero(c);
            t[Tables.scale(channels) + c] = k.scale(c);
            for (int x = 0; x < 16; x++) {
                t[Tables.keyTable(channels) + c * 16 + x] = k.dequantize(c, x & mask);
            }
        }
        float[] km = k.codebook().midpoints();
        float[] vm = calibration.values().midpoints();
        for (int i = 0; i < 16; i++) {
            t[Tables.keyMid(channels) + i] = i < km.length ? km[i] : Float.POSITIVE_INFINITY;
            t[Tables.valueMid(channels) + i] = i < vm.length ? vm[i] : Float.POSITIVE_INFINITY;
            t[Tables.valueTable(channels) + i] = calibration.values().dequant(i & mask);
        }
        return t;
    }

    /** Arguments of {@code kvq_rope_steps}. */
    public LaunchArgs ropeStepsArgs(long steps, long invFreq) {
        return LaunchArgs.of("kvq_rope_steps").ptr("steps", steps).ptr("invFreq", invFreq).i32("halfDim", d / 2);
    }

    /** Bytes of the RoPE step table: (cos, sin) [d/2][T]. */
    public long ropeStepBytes() {
        return (long) (d / 2) * KernelSignatures.TILE * 8;
    }

    /** Fills the RoPE step table (once per cache). */
    public void ropeSteps(Stream stream, long steps, long invFreq) {
        launch(ropeStepsArgs(steps, invFreq), Dim3.of(Dim3.blocksFor((long) (d / 2) * KernelSignatures.TILE, 256)),
                Dim3.of(256), 0, stream);
    }

    private long off(String part) {
        return layout.has(part) ? layout.offset(part) : 0;
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
    public LaunchArgs packKeysArgs(LayerView v, long keys, long tokenSeq, long tokenSlot, int n, long keyOutCount,
                                   long error) {
        long t = v.tables();
        return LaunchArgs.of("kvq_pack_keys")
                .ptr("pool", v.pool()).i64("pageBytes", layout.pageBytes())
                .i64("keyCodesOff", off("keyCodes")).i64("keyOutChannelOff", off("keyOutChannel"))
                .i64("keyOutValueOff", off("keyOutValue"))
                .ptr("pageTable", v.pageTable()).i32("maxPages", v.maxPages()).i32("poolPages", v.poolPages())
                .i32("pageTokens", layout.pageTokens())
                .ptr("keys", keys).ptr("tokenSeq", tokenSeq).ptr("tokenSlot", tokenSlot).i32("n", n).i32("batch", 1)
                .ptr("lo", t).ptr("hi", t + 4L * Tables.hi(channels)).ptr("zero", t + 4L * Tables.zero(channels))
                .ptr("scale", t + 4L * Tables.scale(channels)).ptr("keyMid", t + 4L * Tables.keyMid(channels))
                .ptr("keyTable", t + 4L * Tables.keyTable(channels))
                .i32("channels", channels).i32("bits", bits).i32("form", form)
                .i32("cap", spec.keyOutlierCap(channels)).i32("keySlots", keySlots)
                .ptr("keyOutCount", sparse ? keyOutCount : 0).ptr("error", error);
    }

    /** The sparse chunk tables of {@code v}, or an error naming the launch when the view has none. */
    private static SparseView sparseOf(LayerView v, String kernel) {
        if (v.sparse() == null) {
            throw new IllegalStateException(kernel + " needs the layer's sparse entry chunks, but the view has none");
        }
        return v.sparse();
    }

    /** Arguments of {@code kvq_key_sparse_starts}: start pointers from the counts of {@code kvq_pack_keys}. */
    public LaunchArgs keySparseStartsArgs(LayerView v, long tokenSeq, long tokenSlot, long keyOutCount, int n,
                                          long error) {
        SparseView s = sparseOf(v, "kvq_key_sparse_starts");
        return LaunchArgs.of("kvq_key_sparse_starts")
                .ptr("pool", v.pool()).i64("pageBytes", layout.pageBytes()).i64("keyOutStartOff", off("keyOutStart"))
                .ptr("pageTable", v.pageTable()).i32("maxPages", v.maxPages()).i32("poolPages", v.poolPages())
                .i32("pageTokens", layout.pageTokens())
                .ptr("tokenSeq", tokenSeq).ptr("tokenSlot", tokenSlot).ptr("keyOutCount", keyOutCount)
                .i32("n", n).i32("batch", 1).ptr("seqKeyEntries", s.seqKeyEntries()).ptr("error", error);
    }

    /** Arguments of {@code kvq_key_sparse_entries}: every key outlier of the {@code n} tokens as an entry. */
    public LaunchArgs keySparseEntriesArgs(LayerView v, long keys, long tokenSeq, long tokenSlot, int n, long error) {
        SparseView s = sparseOf(v, "kvq_key_sparse_entries");
        long t = v.tables();
        return LaunchArgs.of("kvq_key_sparse_entries")
                .ptr("pool", v.pool()).i64("pageBytes", layout.pageBytes()).i64("keyOutStartOff", off("keyOutStart"))
                .ptr("pageTable", v.pageTable()).i32("maxPages", v.maxPages()).i32("poolPages", v.poolPages())
                .i32("pageTokens", layout.pageTokens())
                .ptr("keys", keys).ptr("tokenSeq", tokenSeq).ptr("tokenSlot", tokenSlot).i32("n", n).i32("batch", 1)
                .ptr("lo", t).ptr("hi", t + 4L * Tables.hi(channels)).ptr("zero", t + 4L * Tables.zero(channels))
                .ptr("scale", t + 4L * Tables.scale(channels)).ptr("keyMid", t + 4L * Tables.keyMid(channels))
                .ptr("keyTable", t + 4L * Tables.keyTable(channels))
                .i32("channels", channels).i32("bits", bits)
                .ptr("entryPool", s.keyPool()).ptr("keyChunkTable", s.keyChunkTable())
                .i32("maxChunks", s.keyMaxChunks()).i32("poolChunks", s.keyPoolChunks()).ptr("error", error);
    }

    /** Arguments of {@code kvq_pack_values} for {@code n} tokens of sequence 0. */
    public LaunchArgs packValuesArgs(LayerView v, long values, long tokenSeq, long tokenSlot, int n, long error) {
        long t = v.tables();
        return LaunchArgs.of("kvq_pack_values")
                .ptr("pool", v.pool()).i64("pageBytes", layout.pageBytes())
                .i64("valueCodesOff", off("valueCodes")).i64("valueZeroOff", off("valueZero"))
                .i64("valueScaleOff", off("valueScale")).i64("valueOutChannelOff", off("valueOutChannel"))
                .i64("valueOutValueOff", off("valueOutValue")).i64("valueOutStartOff", off("valueOutStart"))
                .ptr("pageTable", v.pageTable()).i32("maxPages", v.maxPages()).i32("poolPages", v.poolPages())
                .i32("pageTokens", layout.pageTokens())
                .ptr("values", values).ptr("tokenSeq", tokenSeq).ptr("tokenSlot", tokenSlot).i32("n", n).i32("batch", 1)
                .ptr("valueMid", t + 4L * Tables.valueMid(channels)).ptr("valueTable", t + 4L * Tables.valueTable(channels))
                .i32("channels", channels).i32("headDim", d).i32("bits", bits).i32("form", form)
                .i32("topK", spec.valueTopK(channels))
                .ptr("entryPool", sparse ? sparseOf(v, "kvq_pack_values").valuePool() : 0)
                .ptr("valueChunkTable", sparse ? v.sparse().valueChunkTable() : 0)
                .i32("maxChunks", sparse ? v.sparse().valueMaxChunks() : 0)
                .i32("poolChunks", sparse ? v.sparse().valuePoolChunks() : 0)
                .ptr("error", error);
    }

    /**
     * Packs {@code n} tokens (keys then values, fp32 [n][D] each) into their slots. With sparse
     * outliers the keys' outlier counts go to {@code keyOutCount} (int32 [n]), the start pointers are
     * formed in token order from the layer's running entry count, then the entries are written into the
     * key chunks; values write theirs directly (Sv per token).
     */
    public void pack(Stream stream, LayerView v, long keys, long values, long tokenSeq, long tokenSlot, int n,
                     long keyOutCount, long error) {
        launch(packKeysArgs(v, keys, tokenSeq, tokenSlot, n, keyOutCount, error), Dim3.of(n),
                Dim3.of(KernelSignatures.PACK_THREADS), 0, stream);
        if (sparse) {
            // one thread walks the tokens (a running sum); 32 threads keep the launch a whole warp
            launch(keySparseStartsArgs(v, tokenSeq, tokenSlot, keyOutCount, n, error), Dim3.of(1), Dim3.of(32), 0,
                    stream);
            launch(keySparseEntriesArgs(v, keys, tokenSeq, tokenSlot, n, error), Dim3.of(n),
                    Dim3.of(KernelSignatures.PACK_THREADS), 0, stream);
        }
        launch(packValuesArgs(v, values, tokenSeq, tokenSlot, n, error), Dim3.of(n),
                Dim3.of(KernelSignatures.PACK_THREADS), 0, stream);
    }

    /** Arguments of {@code kvq_sinks_append}: tokens become sinks {@code tokenSlot[t]} (rotated, fp16). */
    public LaunchArgs sinksAppendArgs(LayerView v, long keys, long values, long tokenSeq, long tokenSlot, int n,
                                      long invFreq, long error) {
        return LaunchArgs.of("kvq_sinks_append").ptr("sinks", v.sinks()).i32("sinkCap", spec.sinkTokens())
                .ptr("keys", keys).ptr("values", values).ptr("tokenSeq", tokenSeq).ptr("tokenSlot", tokenSlot)
                .i32("n", n).i32("batch", 1).ptr("seqFirstPos", v.seqFirstPos()).ptr("invFreq", invFreq)
                .i32("pairing", pairing).i32("headDim", d).i32("kvHeads", shape.kvHeads()).ptr("error", error);
    }

    /** Arguments of {@code kvq_fp16_append}: tokens go to slots {@code tokenSlot[t]} of fp16 pages (rotated). */
    public LaunchArgs fp16AppendArgs(LayerView v, long keys, long values, long tokenSeq, long tokenSlot, int n,
                                     long invFreq, long error) {
        return LaunchArgs.of("kvq_fp16_append")
                .ptr("pool", v.pool()).i64("pageBytes", layout.pageBytes()).i64("keysOff", off("keys"))
                .i64("valuesOff", off("values"))
                .ptr("pageTable", v.pageTable()).i32("maxPages", v.maxPages()).i32("poolPages", v.poolPages())
                .i32("pageTokens", layout.pageTokens())
                .ptr("keys", keys).ptr("values", values).ptr("tokenSeq", tokenSeq).ptr("tokenSlot", tokenSlot)
                .i32("n", n).i32("batch", 1).ptr("seqFirstPos", v.seqFirstPos()).ptr("invFreq", invFreq)
                .i32("pairing", pairing).i32("headDim", d).i32("kvHeads", shape.kvHeads()).ptr("error", error);
    }

    /**
     * Stores {@code n} tokens (pre-RoPE keys and values fp32 [n][D] each): as sinks when {@code sinks}
     * (slots are sink indices), else packed into nuq pages or rotated into fp16 pages (slots are page
     * slots). One block per token.
     */
    public void append(Stream stream, LayerView v, boolean sinks, long keys, long values, long tokenSeq,
                       long tokenSlot, int n, long keyOutCount, long invFreq, long error) {
        if (sinks) {
            launch(sinksAppendArgs(v, keys, values, tokenSeq, tokenSlot, n, invFreq, error), Dim3.of(n), Dim3.of(128), 0,
                    stream);
        } else if (spec.quantized()) {
            pack(stream, v, keys, values, tokenSeq, tokenSlot, n, keyOutCount, error);
        } else {
            launch(fp16AppendArgs(v, keys, values, tokenSeq, tokenSlot, n, invFreq, error), Dim3.of(n), Dim3.of(128), 0,
                    stream);
        }
    }

    /** Arguments of {@code kvq_key_scores} (nuq pages). */
    public LaunchArgs keyScoresArgs(LayerView v, long query, long steps, long invFreq, long scores, int stride,
                                    long error) {
        return LaunchArgs.of("kvq_key_scores")
                .ptr("pool", v.pool()).i64("pageBytes", layout.pageBytes())
                .i64("keyCodesOff", off("keyCodes")).i64("keyOutChannelOff", off("keyOutChannel"))
                .i64("keyOutValueOff", off("keyOutValue"))
                .ptr("pageTable", v.pageTable()).i32("maxPages", v.maxPages()).i32("poolPages", v.poolPages())
                .i32("pageTokens", layout.pageTokens())
                .ptr("seqPacked", v.seqPacked()).ptr("seqSinks", v.seqSinks()).ptr("seqFirstPos", v.seqFirstPos())
                .i32("sinkCap", spec.sinkTokens()).ptr("sinks", spec.sinkTokens() == 0 ? 0 : v.sinks())
                .ptr("query", query).f32("scale", scale)
                .ptr("keyTable", v.tables() + 4L * Tables.keyTable(channels)).ptr("invFreq", invFreq)
                .ptr("ropeSteps", steps).i32("pairing", pairing)
                .ptr("scores", scores).i32("scoreStride", stride)
                .i32("headDim", d).i32("kvHeads", shape.kvHeads()).i32("groupSize", group).i32("bits", bits)
                .i32("keySlots", keySlots).ptr("error", error);
    }

    /** Arguments of {@code kvq_fp16_key_scores}. */
    public LaunchArgs fp16KeyScoresArgs(LayerView v, long query, long scores, int stride, long error) {
        return LaunchArgs.of("kvq_fp16_key_scores")
                .ptr("pool", v.pool()).i64("pageBytes", layout.pageBytes()).i64("keysOff", off("keys"))
                .ptr("pageTable", v.pageTable()).i32("maxPages", v.maxPages()).i32("poolPages", v.poolPages())
                .i32("pageTokens", layout.pageTokens())
                .ptr("seqTokens", v.seqPacked()).ptr("query", query).f32("scale", scale)
                .ptr("scores", scores).i32("scoreStride", stride)
                .i32("headDim", d).i32("kvHeads", shape.kvHeads()).i32("groupSize", group).ptr("error", error);
    }

    /** Arguments of {@code kvq_key_scores_sparse}: the sparse key residuals added onto the scores. */
    public LaunchArgs keyScoresSparseArgs(LayerView v, long query, long invFreq, long scores, int stride, long error) {
        SparseView s = sparseOf(v, "kvq_key_scores_sparse");
        return LaunchArgs.of("kvq_key_scores_sparse")
                .ptr("pool", v.pool()).i64("pageBytes", layout.pageBytes()).i64("keyOutStartOff", off("keyOutStart"))
                .ptr("pageTable", v.pageTable()).i32("maxPages", v.maxPages()).i32("poolPages", v.poolPages())
                .i32("pageTokens", layout.pageTokens())
                .ptr("seqPacked", v.seqPacked()).ptr("seqSinks", v.seqSinks()).ptr("seqFirstPos", v.seqFirstPos())
                .i32("sinkCap", spec.sinkTokens()).ptr("query", query).f32("scale", scale).ptr("invFreq", invFreq)
                .i32("pairing", pairing)
                .ptr("entryPool", s.keyPool()).ptr("keyChunkTable", s.keyChunkTable())
                .i32("maxChunks", s.keyMaxChunks()).i32("poolChunks", s.keyPoolChunks())
                .ptr("scores", scores).i32("scoreStride", stride)
                .i32("headDim", d).i32("kvHeads", shape.kvHeads()).i32("groupSize", group).ptr("error", error);
    }

    /**
     * Queues the scaled scores of every stored token ({@code packed} after the sinks) into
     * {@code scores [Hq][stride]}; with sparse outliers the residual pass follows on the same stream,
     * one thread per {@code KVQ_SPARSE_PER_THREAD} of the layer's {@code keyEntries} key entries.
     */
    public void scores(Stream stream, LayerView v, int packed, long keyEntries, long query, long steps, long invFreq,
                       long scores, int stride, long error) {
        if (spec.quantized()) {
            launch(keyScoresArgs(v, query, steps, invFreq, scores, stride, error),
                    new Dim3(KernelSignatures.keyScoreTiles(packed), shape.kvHeads(), 1), Dim3.of(KernelSignatures.TILE),
                    KernelSignatures.keyScoresSharedBytes(d, group), stream);
            if (sparse) {
                launch(keyScoresSparseArgs(v, query, invFreq, scores, stride, error),
                        new Dim3(KernelSignatures.sparseBlocks(keyEntries), 1, 1),
                        Dim3.of(KernelSignatures.SPARSE_THREADS), 0, stream);
            }
        } else {
            int blocks = Math.max(1, (packed + 2 * KernelSignatures.TILE - 1) / (2 * KernelSignatures.TILE));
            launch(fp16KeyScoresArgs(v, query, scores, stride, error), new Dim3(blocks, shape.kvHeads(), 1),
                    Dim3.of(KernelSignatures.TILE), KernelSignatures.fp16KeyScoresSharedBytes(d, group), stream);
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
    public LaunchArgs valuePartialsArgs(LayerView v, long weights, int stride, long partials, int maxTiles, long error) {
        return LaunchArgs.of("kvq_value_partials")
                .ptr("pool", v.pool()).i64("pageBytes", layout.pageBytes())
                .i64("valueCodesOff", off("valueCodes")).i64("valueZeroOff", off("valueZero"))
                .i64("valueScaleOff", off("valueScale")).i64("valueOutChannelOff", off("valueOutChannel"))
                .i64("valueOutValueOff", off("valueOutValue"))
                .ptr("pageTable", v.pageTable()).i32("maxPages", v.maxPages()).i32("poolPages", v.poolPages())
                .i32("pageTokens", layout.pageTokens())
                .ptr("seqPacked", v.seqPacked()).ptr("seqSinks", v.seqSinks())
                .ptr("weights", weights).i32("scoreStride", stride)
                .ptr("valueTable", v.tables() + 4L * Tables.valueTable(channels))
                .ptr("partials", partials).i32("maxTiles", maxTiles)
                .i32("headDim", d).i32("kvHeads", shape.kvHeads()).i32("groupSize", group).i32("bits", bits)
                .i32("valueSlots", valueSlots).ptr("error", error);
    }

    /** Arguments of {@code kvq_fp16_value_partials}. */
    public LaunchArgs fp16ValuePartialsArgs(LayerView v, long weights, int stride, long partials, int maxTiles,
                                            long error) {
        return LaunchArgs.of("kvq_fp16_value_partials")
                .ptr("pool", v.pool()).i64("pageBytes", layout.pageBytes()).i64("valuesOff", off("values"))
                .ptr("pageTable", v.pageTable()).i32("maxPages", v.maxPages()).i32("poolPages", v.poolPages())
                .i32("pageTokens", layout.pageTokens())
                .ptr("seqTokens", v.seqPacked()).ptr("weights", weights).i32("scoreStride", stride)
                .ptr("partials", partials).i32("maxTiles", maxTiles)
                .i32("headDim", d).i32("kvHeads", shape.kvHeads()).i32("groupSize", group).ptr("error", error);
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
     * in tile order together with the sinks. {@code partials} holds {@link #partialBytes}.
     */
    public void values(Stream stream, LayerView v, int packed, long weights, int stride, long partials, long out,
                       long error) {
        int tiles = KernelSignatures.valueTiles(packed);
        if (spec.quantized()) {
            launch(valuePartialsArgs(v, weights, stride, partials, tiles, error), new Dim3(tiles, shape.kvHeads(), 1),
                    Dim3.of(256), KernelSignatures.valuePartialsSharedBytes(d, group), stream);
        } else {
            launch(fp16ValuePartialsArgs(v, weights, stride, partials, tiles, error),
                    new Dim3(tiles, shape.kvHeads(), 1), Dim3.of(256),
                    KernelSignatures.fp16ValuePartialsSharedBytes(d, group), stream);
        }
        launch(valueReduceArgs(v, partials, tiles, weights, stride, out), Dim3.of(shape.queryHeads()), Dim3.of(d), 0,
                stream);
        if (sparse) {
            launch(valueSparseArgs(v, weights, stride, out, error),
                    new Dim3(KernelSignatures.sparseBlocks((long) packed * sparseValueSlots), 1, 1),
                    Dim3.of(KernelSignatures.SPARSE_THREADS), 0, stream);
        }
    }

    /** Arguments of {@code kvq_value_sparse}: the sparse value residuals added onto the output. */
    public LaunchArgs valueSparseArgs(LayerView v, long weights, int stride, long out, long error) {
        SparseView s = sparseOf(v, "kvq_value_sparse");
        return LaunchArgs.of("kvq_value_sparse")
                .ptr("seqPacked", v.seqPacked()).ptr("seqSinks", v.seqSinks())
                .ptr("weights", weights).i32("scoreStride", stride)
                .ptr("entryPool", s.valuePool()).ptr("valueChunkTable", s.valueChunkTable())
                .i32("maxChunks", s.valueMaxChunks()).i32("poolChunks", s.valuePoolChunks())
                .i32("valueSlots", sparseValueSlots).ptr("out", out)
                .i32("headDim", d).i32("kvHeads", shape.kvHeads()).i32("groupSize", group).ptr("error", error);
    }

    private void launch(LaunchArgs args, Dim3 grid, Dim3 block, int shared, Stream stream) {
        if (engine == null) {
            throw new IllegalStateException("these kernels were made for argument checks only, without a device");
        }
        engine.kernel(args.kernel()).launch(grid, block, shared, stream, args.done());
    }
}
