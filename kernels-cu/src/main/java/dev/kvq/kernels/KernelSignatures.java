package dev.kvq.kernels;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Objects;

/**
 * The typed ABI of the KV-cache kernels, mirroring {@code kernels-cu/src/main/cuda/kvq_kernels.cuh}
 * parameter for parameter: each kernel's source file, name, and its parameters in launch order with
 * their kind and shape. A test checks every signature against the {@code .entry} parameters of the
 * shipped PTX, so a kernel whose signature changes without this table fails the build. The launch
 * geometry (grid, block, dynamic shared memory) is given by the helpers below and documented in the
 * header and in {@code docs/KERNELS.md}.
 */
public final class KernelSignatures {
    private KernelSignatures() {}

    /** Tokens per block of the key-score kernels ({@code KVQ_TILE}). */
    public static final int TILE = 128;
    /** Tokens per block (and per partial) of the value kernels ({@code KVQ_VTILE}). */
    public static final int VTILE = 256;
    /** Sparse entries per chunk of the entry pool ({@code KVQ_CHUNK}, = EntryChunks.ENTRIES). */
    public static final int CHUNK = 16384;
    /** Bytes per entry chunk: int16 channels then fp16 values. */
    public static final long CHUNK_BYTES = CHUNK * 4L;
    /** Block size of the pack kernels ({@code KVQ_PACK_THREADS}). */
    public static final int PACK_THREADS = 256;
    /** Nonzeros per thread of the balanced sparse kernels ({@code KVQ_SPARSE_PER_THREAD}). */
    public static final int SPARSE_PER_THREAD = 8;
    /** Block size of the balanced sparse kernels ({@code KVQ_SPARSE_THREADS}). */
    public static final int SPARSE_THREADS = 256;

    /** Error word value: a page-table entry outside the pool or a slot beyond the table row. */
    public static final int ERR_PAGE = 1;
    /** Error word value: a sparse entry beyond the chunk table or a chunk outside the pool. */
    public static final int ERR_CHUNK = 2;
    /** Error word value: a token's sequence index outside the batch. */
    public static final int ERR_SEQ = 3;
    /** Error word value: more outliers per side than the kernels' lists hold (1024), or cap above Sk/2. */
    public static final int ERR_CAP = 4;
    /** Error word value: a decode instance launched for a shape it was not built for (bits, G, d, P). */
    public static final int ERR_SHAPE = 5;
    /** Error word value: a format v2 outlier list whose per-head ends or channels are inconsistent. */
    public static final int ERR_SLOT = 6;
    /** Error word value: a decode score or output overflowed fp32 (the query is too large for the keys). */
    public static final int ERR_OVERFLOW = 7;

    /** Block size of every fused decode kernel ({@code KVQ_DECODE_THREADS}). */
    public static final int DECODE_THREADS = 512;
    /** Warps of a fused decode block ({@code KVQ_DECODE_WARPS}). */
    public static final int DECODE_WARPS = 16;
    /** Query heads one pass of a generic decode kernel serves ({@code KVQ_DECODE_GM}); larger groups loop. */
    public static final int DECODE_GM = 8;
    /** Block size of {@code kvq_decode_merge} ({@code KVQ_MERGE_THREADS}). */
    public static final int MERGE_THREADS = 128;
    /** Most fixed outlier slots per token in format v2 ({@code KVQ_V2_MAX_SLOTS}: the per-head ends are uint8). */
    public static final int V2_MAX_SLOTS = 255;

    /** {@code form} argument: no outliers. */
    public static final int FORM_NONE = 0;
    /** {@code form} argument: fixed outlier slots. */
    public static final int FORM_FIXED = 1;
    /** {@code form} argument: token-major sparse outliers. */
    public static final int FORM_SPARSE = 2;
    /** {@code pairing} argument: RopePairing.INTERLEAVED. */
    public static final int ROPE_INTERLEAVED = 0;
    /** {@code pairing} argument: RopePairing.ROTATE_HALF. */
    public static final int ROPE_ROTATE_HALF = 1;

    /** How a parameter is passed; {@link #ptxType()} is what the PTX {@code .param} declares. */
    public enum Kind {
        /** A device address (64-bit). */
        POINTER("u64"),
        /** A 32-bit {@code int}. */
        I32("u32"),
        /** A 64-bit {@code long long}. */
        I64("u64"),
        /** A 32-bit {@code float}. */
        F32("f32");

        private final String ptxType;

        Kind(String ptxType) {
            this.ptxType = ptxType;
        }

        /**
         * The PTX parameter type nvcc emits for this kind.
         *
         * @return e.g. {@code u64} for a pointer
         */
        public String ptxType() {
            return ptxType;
        }
    }

    /**
     * One kernel parameter.
     *
     * @param name  its name in the header
     * @param kind  how it is passed
     * @param shape its shape comment from the header
     */
    public record Param(String name, Kind kind, String shape) {
        /** Validates the fields. */
        public Param {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(kind, "kind");
            Objects.requireNonNull(shape, "shape");
        }
    }

    /**
     * A specialized instance of a kernel family: an entry with the family's parameters, built for one shape.
     *
     * @param name   the unmangled entry name, e.g. {@code kvq_decode_packed_b3_g1_d128}
     * @param source the {@code .cu} source (without extension) it lives in
     */
    public record Instance(String name, String source) {
        /** Validates the fields. */
        public Instance {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(source, "source");
        }
    }

    /**
     * One kernel, or a kernel family: the generic entry {@code name} and its specialized {@code instances},
     * which take exactly the same parameters.
     *
     * @param source    the {@code .cu} source (without extension) it lives in, i.e. its PTX resource
     * @param name      the unmangled entry name
     * @param params    its parameters in launch order
     * @param instances the family's specialized entries (empty for a single kernel)
     */
    public record Signature(String source, String name, List<Param> params, List<Instance> instances) {
        /** Validates and copies the fields. */
        public Signature {
            Objects.requireNonNull(source, "source");
            Objects.requireNonNull(name, "name");
            params = List.copyOf(params);
            instances = List.copyOf(instances);
        }

        /**
         * A single kernel (no instances).
         *
         * @param source the {@code .cu} source it lives in
         * @param name   the unmangled entry name
         * @param params its parameters in launch order
         */
        public Signature(String source, String name, List<Param> params) {
            this(source, name, params, List.of());
        }

        /**
         * The PTX types of the parameters, in order, as {@link KernelCatalog.Entry#parameterTypes()} lists them.
         *
         * @return one PTX type per parameter
         */
        public List<String> ptxTypes() {
            return params.stream().map(p -> p.kind().ptxType()).toList();
        }

        /**
         * The position of the parameter called {@code param}.
         *
         * @param param a parameter name from the header
         * @return its index in launch order
         * @throws NoSuchElementException when the kernel has no such parameter
         */
        public int indexOf(String param) {
            for (int i = 0; i < params.size(); i++) {
                if (params.get(i).name().equals(param)) {
                    return i;
                }
            }
            throw new NoSuchElementException(name + " has no parameter '" + param + "'");
        }
    }

    private static Param p(String name, Kind kind, String shape) {
        return new Param(name, kind, shape);
    }

    private static Signature sig(String source, String name, Param... params) {
        return new Signature(source, name, Arrays.asList(params));
    }

    private static Signature family(Signature generic, List<Instance> instances) {
        return new Signature(generic.source(), generic.name(), generic.params(), instances);
    }

    /** Bits, query heads per KV head and head dims with specialized decode instances. */
    private static final int[] INSTANCE_BITS = {2, 3, 4};
    private static final int[] INSTANCE_GROUPS = {1, 2, 4, 8};
    private static final int[] INSTANCE_HEAD_DIMS = {64, 128, 256};

    private static List<Instance> packedInstances() {
        List<Instance> out = new ArrayList<>();
        for (int b : INSTANCE_BITS) {
            for (int d : INSTANCE_HEAD_DIMS) {
                for (int g : INSTANCE_GROUPS) {
                    out.add(new Instance(packedInstanceName(b, g, d), "kvq_decode_b" + b));
                }
            }
        }
        return out;
    }

    private static List<Instance> fp16Instances() {
        List<Instance> out = new ArrayList<>();
        for (int d : INSTANCE_HEAD_DIMS) {
            for (int g : INSTANCE_GROUPS) {
                out.add(new Instance(fp16InstanceName(g, d), "kvq_decode"));
            }
        }
        return out;
    }

    private static String packedInstanceName(int bits, int groupSize, int headDim) {
        return "kvq_decode_packed_b" + bits + "_g" + groupSize + "_d" + headDim;
    }

    private static String fp16InstanceName(int groupSize, int headDim) {
        return "kvq_decode_fp16_g" + groupSize + "_d" + headDim;
    }

    private static boolean contains(int[] values, int v) {
        for (int x : values) {
            if (x == v) {
                return true;
            }
        }
        return false;
    }

    private static final List<Signature> ALL = List.of(
            sig("kvq_attend", "kvq_rope_steps",
                    p("steps", Kind.POINTER, "[d/2][T] (cos, sin), written"),
                    p("invFreq", Kind.POINTER, "[d/2] ω_i, fp32 (Rope.invFreq())"),
                    p("halfDim", Kind.I32, "d/2")),
            sig("kvq_pack", "kvq_pack_keys",
                    p("pool", Kind.POINTER, "[poolPages][pageBytes] page pool, written"),
                    p("pageBytes", Kind.I64, "PageLayout.pageBytes()"),
                    p("keyCodesOff", Kind.I64, "byte offset of keyCodes int32 [Gc·b][P]"),
                    p("keyOutChannelOff", Kind.I64, "keyOutChannel int16 [P][Sk] (form FIXED)"),
                    p("keyOutValueOff", Kind.I64, "keyOutValue fp16 [P][Sk] (form FIXED)"),
                    p("pageTable", Kind.POINTER, "[B][maxPages]"),
                    p("maxPages", Kind.I32, "row length of pageTable"),
                    p("poolPages", Kind.I32, "pages in the pool (bounds check)"),
                    p("pageTokens", Kind.I32, "P"),
                    p("keys", Kind.POINTER, "[n][D] fp32 pre-RoPE keys"),
                    p("tokenSeq", Kind.POINTER, "[n] sequence of token t, in [0, B)"),
                    p("tokenSlot", Kind.POINTER, "[n] packed slot of token t in its sequence"),
                    p("n", Kind.I32, "tokens of this launch (= gridDim.x)"),
                    p("batch", Kind.I32, "B (bounds check of tokenSeq)"),
                    p("lo", Kind.POINTER, "[D] lower thresholds"),
                    p("hi", Kind.POINTER, "[D] upper thresholds"),
                    p("zero", Kind.POINTER, "[D] z_c = (hi+lo)/2 in fp32 (KeyQuantizer.zeroPoints())"),
                    p("scale", Kind.POINTER, "[D] s_c = (hi−lo)/2 in fp32 (KeyQuantizer.scales())"),
                    p("keyMid", Kind.POINTER, "[C−1] fp32 midpoints of the search centroids"),
                    p("keyTable", Kind.POINTER, "[D][16] z_c + s_c·c'_K[x mod C] (CodeTables.keys)"),
                    p("channels", Kind.I32, "D"),
                    p("bits", Kind.I32, "b"),
                    p("form", Kind.I32, "KVQ_FORM_*"),
                    p("cap", Kind.I32, "outliers kept per side (FIXED: ⌊τD⌋+1)"),
                    p("keySlots", Kind.I32, "Sk = 2·cap (FIXED), else 0"),
                    p("keyOutCount", Kind.POINTER, "[n] uncapped outlier count (SPARSE), else may be null"),
                    p("error", Kind.POINTER, "[1] or null")),
            sig("kvq_pack", "kvq_key_sparse_starts",
                    p("pool", Kind.POINTER, "page pool, written"),
                    p("pageBytes", Kind.I64, "bytes per page, PageLayout.pageBytes()"),
                    p("keyOutStartOff", Kind.I64, "keyOutStart int32 [P+1]"),
                    p("pageTable", Kind.POINTER, "[B][maxPages]"),
                    p("maxPages", Kind.I32, "row length of pageTable"),
                    p("poolPages", Kind.I32, "pages in the pool (bounds check)"),
                    p("pageTokens", Kind.I32, "P"),
                    p("tokenSeq", Kind.POINTER, "[n]"),
                    p("tokenSlot", Kind.POINTER, "[n]"),
                    p("keyOutCount", Kind.POINTER, "[n] from kvq_pack_keys"),
                    p("n", Kind.I32, "tokens of this launch (= gridDim.x where the grid is per token)"),
                    p("batch", Kind.I32, "B"),
                    p("seqKeyEntries", Kind.POINTER, "[B] key entries stored per sequence; read and advanced"),
                    p("error", Kind.POINTER, "[1] or null")),
            sig("kvq_pack", "kvq_key_sparse_entries",
                    p("pool", Kind.POINTER, "page pool (keyOutStart read)"),
                    p("pageBytes", Kind.I64, "bytes per page, PageLayout.pageBytes()"),
                    p("keyOutStartOff", Kind.I64, "byte offset of keyOutStart int32 [P+1]"),
                    p("pageTable", Kind.POINTER, "[B][maxPages]"),
                    p("maxPages", Kind.I32, "row length of pageTable"),
                    p("poolPages", Kind.I32, "pages in the pool (bounds check)"),
                    p("pageTokens", Kind.I32, "P"),
                    p("keys", Kind.POINTER, "[n][D] fp32 pre-RoPE"),
                    p("tokenSeq", Kind.POINTER, "[n]"),
                    p("tokenSlot", Kind.POINTER, "[n]"),
                    p("n", Kind.I32, "tokens of this launch (= gridDim.x where the grid is per token)"),
                    p("batch", Kind.I32, "B (bounds check of tokenSeq)"),
                    p("lo", Kind.POINTER, "[D]"),
                    p("hi", Kind.POINTER, "[D]"),
                    p("zero", Kind.POINTER, "[D]"),
                    p("scale", Kind.POINTER, "[D]"),
                    p("keyMid", Kind.POINTER, "[C−1]"),
                    p("keyTable", Kind.POINTER, "[D][16]"),
                    p("channels", Kind.I32, "D"),
                    p("bits", Kind.I32, "b (2, 3, 4)"),
                    p("entryPool", Kind.POINTER, "[chunks][64 KiB], written"),
                    p("keyChunkTable", Kind.POINTER, "[B][maxChunks]"),
                    p("maxChunks", Kind.I32, "row length of the chunk table"),
                    p("poolChunks", Kind.I32, "chunks in entryPool (bounds check)"),
                    p("error", Kind.POINTER, "[1] or null")),
            sig("kvq_pack", "kvq_pack_values",
                    p("pool", Kind.POINTER, "page pool, written"),
                    p("pageBytes", Kind.I64, "bytes per page, PageLayout.pageBytes()"),
                    p("valueCodesOff", Kind.I64, "valueCodes int32 [Hkv][P/32·b][d]"),
                    p("valueZeroOff", Kind.I64, "valueZero fp16 [P]"),
                    p("valueScaleOff", Kind.I64, "valueScale fp16 [P]"),
                    p("valueOutChannelOff", Kind.I64, "valueOutChannel int16 [P][Sv] (FIXED)"),
                    p("valueOutValueOff", Kind.I64, "valueOutValue fp16 [P][Sv] (FIXED)"),
                    p("valueOutStartOff", Kind.I64, "valueOutStart int32 [P+1] (SPARSE)"),
                    p("pageTable", Kind.POINTER, "[B][maxPages]"),
                    p("maxPages", Kind.I32, "row length of pageTable"),
                    p("poolPages", Kind.I32, "pages in the pool (bounds check)"),
                    p("pageTokens", Kind.I32, "P"),
                    p("values", Kind.POINTER, "[n][D] fp32"),
                    p("tokenSeq", Kind.POINTER, "[n]"),
                    p("tokenSlot", Kind.POINTER, "[n]"),
                    p("n", Kind.I32, "tokens of this launch (= gridDim.x where the grid is per token)"),
                    p("batch", Kind.I32, "B (bounds check of tokenSeq)"),
                    p("valueMid", Kind.POINTER, "[C−1] fp32 midpoints of the value search centroids"),
                    p("valueTable", Kind.POINTER, "[16] c'_V[x mod C] (reconstruction, Q-Normed)"),
                    p("channels", Kind.I32, "D"),
                    p("headDim", Kind.I32, "d"),
                    p("bits", Kind.I32, "b"),
                    p("form", Kind.I32, "KVQ_FORM_*"),
                    p("topK", Kind.I32, "n_v = ⌊τD⌋+2 with outliers, else 0"),
                    p("entryPool", Kind.POINTER, "[chunks][64 KiB] (SPARSE), else may be null"),
                    p("valueChunkTable", Kind.POINTER, "[B][maxChunks] (SPARSE)"),
                    p("maxChunks", Kind.I32, "row length of the chunk table"),
                    p("poolChunks", Kind.I32, "chunks in entryPool (bounds check)"),
                    p("error", Kind.POINTER, "[1] or null")),
            sig("kvq_pack", "kvq_sinks_append",
                    p("sinks", Kind.POINTER, "[B][2][S][D] fp16, written"),
                    p("sinkCap", Kind.I32, "S"),
                    p("keys", Kind.POINTER, "[n][D] fp32 pre-RoPE keys"),
                    p("values", Kind.POINTER, "[n][D] fp32 values"),
                    p("tokenSeq", Kind.POINTER, "[n] sequence of token t, in [0, B)"),
                    p("tokenSlot", Kind.POINTER, "[n] sink index of token t, in [0, S)"),
                    p("n", Kind.I32, "tokens of this launch (= gridDim.x)"),
                    p("batch", Kind.I32, "B (bounds check of tokenSeq)"),
                    p("seqFirstPos", Kind.POINTER, "[B] RoPE position of each sequence's first token"),
                    p("invFreq", Kind.POINTER, "[d/2] ω_i, fp32"),
                    p("pairing", Kind.I32, "KVQ_ROPE_INTERLEAVED or KVQ_ROPE_ROTATE_HALF"),
                    p("headDim", Kind.I32, "d"),
                    p("kvHeads", Kind.I32, "Hkv"),
                    p("error", Kind.POINTER, "[1] first KVQ_ERR_* code, or null")),
            sig("kvq_baseline", "kvq_fp16_append",
                    p("pool", Kind.POINTER, "[poolPages][pageBytes] page pool, written"),
                    p("pageBytes", Kind.I64, "bytes per page, PageLayout.pageBytes()"),
                    p("keysOff", Kind.I64, "keys fp16 [Hkv][d][P]"),
                    p("valuesOff", Kind.I64, "values fp16 [Hkv][P][d]"),
                    p("pageTable", Kind.POINTER, "[B][maxPages]"),
                    p("maxPages", Kind.I32, "row length of pageTable"),
                    p("poolPages", Kind.I32, "pages in the pool (bounds check)"),
                    p("pageTokens", Kind.I32, "P"),
                    p("keys", Kind.POINTER, "[n][D] fp32 pre-RoPE keys"),
                    p("values", Kind.POINTER, "[n][D] fp32 values"),
                    p("tokenSeq", Kind.POINTER, "[n] sequence of token t, in [0, B)"),
                    p("tokenSlot", Kind.POINTER, "[n] slot of token t in its sequence"),
                    p("n", Kind.I32, "tokens of this launch (= gridDim.x)"),
                    p("batch", Kind.I32, "B (bounds check of tokenSeq)"),
                    p("seqFirstPos", Kind.POINTER, "[B] RoPE position of each sequence's first token"),
                    p("invFreq", Kind.POINTER, "[d/2] ω_i, fp32"),
                    p("pairing", Kind.I32, "KVQ_ROPE_INTERLEAVED or KVQ_ROPE_ROTATE_HALF"),
                    p("headDim", Kind.I32, "d"),
                    p("kvHeads", Kind.I32, "Hkv"),
                    p("error", Kind.POINTER, "[1] first KVQ_ERR_* code, or null")),
            sig("kvq_attend", "kvq_key_scores",
                    p("pool", Kind.POINTER, "page pool"),
                    p("pageBytes", Kind.I64, "bytes per page, PageLayout.pageBytes()"),
                    p("keyCodesOff", Kind.I64, "keyCodes int32 [Gc·b][P]"),
                    p("keyOutChannelOff", Kind.I64, "keyOutChannel int16 [P][Sk] (keySlots > 0)"),
                    p("keyOutValueOff", Kind.I64, "keyOutValue fp16 [P][Sk]"),
                    p("pageTable", Kind.POINTER, "[B][maxPages]"),
                    p("maxPages", Kind.I32, "row length of pageTable"),
                    p("poolPages", Kind.I32, "pages in the pool (bounds check)"),
                    p("pageTokens", Kind.I32, "P"),
                    p("seqPacked", Kind.POINTER, "[B]"),
                    p("seqSinks", Kind.POINTER, "[B]"),
                    p("seqFirstPos", Kind.POINTER, "[B]"),
                    p("sinkCap", Kind.I32, "S"),
                    p("sinks", Kind.POINTER, "[B][2][S][D] or null when S == 0"),
                    p("query", Kind.POINTER, "[B][Hq][d] post-RoPE, unscaled"),
                    p("scale", Kind.F32, "(float)(1/√d)"),
                    p("keyTable", Kind.POINTER, "[D][16]"),
                    p("invFreq", Kind.POINTER, "[d/2]"),
                    p("ropeSteps", Kind.POINTER, "[d/2][T] from kvq_rope_steps"),
                    p("pairing", Kind.I32, "KVQ_ROPE_*"),
                    p("scores", Kind.POINTER, "[B][Hq][scoreStride], written for t < sinks + packed"),
                    p("scoreStride", Kind.I32, "row length of scores (≥ max sinks + packed)"),
                    p("headDim", Kind.I32, "d"),
                    p("kvHeads", Kind.I32, "Hkv"),
                    p("groupSize", Kind.I32, "G"),
                    p("bits", Kind.I32, "b"),
                    p("keySlots", Kind.I32, "Sk (0: no fixed slots)"),
                    p("error", Kind.POINTER, "[1] or null")),
            sig("kvq_attend", "kvq_key_scores_sparse",
                    p("pool", Kind.POINTER, "[poolPages][pageBytes] page pool, read"),
                    p("pageBytes", Kind.I64, "bytes per page, PageLayout.pageBytes()"),
                    p("keyOutStartOff", Kind.I64, "keyOutStart int32 [P+1]"),
                    p("pageTable", Kind.POINTER, "[B][maxPages]"),
                    p("maxPages", Kind.I32, "row length of pageTable"),
                    p("poolPages", Kind.I32, "pages in the pool (bounds check)"),
                    p("pageTokens", Kind.I32, "P"),
                    p("seqPacked", Kind.POINTER, "[B]"),
                    p("seqSinks", Kind.POINTER, "[B]"),
                    p("seqFirstPos", Kind.POINTER, "[B]"),
                    p("sinkCap", Kind.I32, "S"),
                    p("query", Kind.POINTER, "[B][Hq][d] post-RoPE, unscaled"),
                    p("scale", Kind.F32, "(float)(1/√d), multiplied into the query first"),
                    p("invFreq", Kind.POINTER, "[d/2]"),
                    p("pairing", Kind.I32, "KVQ_ROPE_INTERLEAVED or KVQ_ROPE_ROTATE_HALF"),
                    p("entryPool", Kind.POINTER, "[poolChunks][64 KiB] sparse entry chunks"),
                    p("keyChunkTable", Kind.POINTER, "[B][maxChunks]"),
                    p("maxChunks", Kind.I32, "row length of the chunk table"),
                    p("poolChunks", Kind.I32, "chunks in entryPool (bounds check)"),
                    p("scores", Kind.POINTER, "[B][Hq][scoreStride], accumulated"),
                    p("scoreStride", Kind.I32, "row length of scores (≥ max sinks + packed)"),
                    p("headDim", Kind.I32, "d"),
                    p("kvHeads", Kind.I32, "Hkv"),
                    p("groupSize", Kind.I32, "G = Hq / Hkv"),
                    p("error", Kind.POINTER, "[1] first KVQ_ERR_* code, or null")),
            sig("kvq_attend", "kvq_softmax",
                    p("scores", Kind.POINTER, "[B][Hq][scoreStride]"),
                    p("seqPacked", Kind.POINTER, "[B]"),
                    p("seqSinks", Kind.POINTER, "[B]"),
                    p("queryHeads", Kind.I32, "Hq"),
                    p("scoreStride", Kind.I32, "row length of scores (≥ max sinks + packed)")),
            sig("kvq_attend", "kvq_value_partials",
                    p("pool", Kind.POINTER, "[poolPages][pageBytes] page pool, read"),
                    p("pageBytes", Kind.I64, "bytes per page, PageLayout.pageBytes()"),
                    p("valueCodesOff", Kind.I64, "valueCodes int32 [Hkv][P/32·b][d]"),
                    p("valueZeroOff", Kind.I64, "fp16 [P]"),
                    p("valueScaleOff", Kind.I64, "fp16 [P]"),
                    p("valueOutChannelOff", Kind.I64, "int16 [P][Sv] (valueSlots > 0)"),
                    p("valueOutValueOff", Kind.I64, "fp16 [P][Sv]"),
                    p("pageTable", Kind.POINTER, "[B][maxPages]"),
                    p("maxPages", Kind.I32, "row length of pageTable"),
                    p("poolPages", Kind.I32, "pages in the pool (bounds check)"),
                    p("pageTokens", Kind.I32, "P"),
                    p("seqPacked", Kind.POINTER, "[B]"),
                    p("seqSinks", Kind.POINTER, "[B]"),
                    p("weights", Kind.POINTER, "[B][Hq][scoreStride] softmax output"),
                    p("scoreStride", Kind.I32, "row length of scores (≥ max sinks + packed)"),
                    p("valueTable", Kind.POINTER, "[16] c'_V[x mod C]"),
                    p("partials", Kind.POINTER, "[B][Hq][maxTiles][d], written for tiles < ⌈packed/TV⌉"),
                    p("maxTiles", Kind.I32, "tile stride of partials (≥ ⌈max packed / TV⌉)"),
                    p("headDim", Kind.I32, "d"),
                    p("kvHeads", Kind.I32, "Hkv"),
                    p("groupSize", Kind.I32, "G = Hq / Hkv"),
                    p("bits", Kind.I32, "b (2, 3, 4)"),
                    p("valueSlots", Kind.I32, "Sv (0: no fixed slots)"),
                    p("error", Kind.POINTER, "[1] first KVQ_ERR_* code, or null")),
            sig("kvq_attend", "kvq_value_reduce",
                    p("partials", Kind.POINTER, "[B][Hq][maxTiles][d]"),
                    p("maxTiles", Kind.I32, "tile stride of partials (≥ ⌈max packed / TV⌉)"),
                    p("seqPacked", Kind.POINTER, "[B]"),
                    p("seqSinks", Kind.POINTER, "[B]"),
                    p("sinkCap", Kind.I32, "S"),
                    p("sinks", Kind.POINTER, "[B][2][S][D] or null when S == 0"),
                    p("weights", Kind.POINTER, "[B][Hq][scoreStride]"),
                    p("scoreStride", Kind.I32, "row length of scores (≥ max sinks + packed)"),
                    p("out", Kind.POINTER, "[B][Hq][d], written"),
                    p("headDim", Kind.I32, "d"),
                    p("kvHeads", Kind.I32, "Hkv"),
                    p("groupSize", Kind.I32, "G = Hq / Hkv")),
            sig("kvq_attend", "kvq_value_sparse",
                    p("seqPacked", Kind.POINTER, "[B]"),
                    p("seqSinks", Kind.POINTER, "[B]"),
                    p("weights", Kind.POINTER, "[B][Hq][scoreStride]"),
                    p("scoreStride", Kind.I32, "row length of scores (≥ max sinks + packed)"),
                    p("entryPool", Kind.POINTER, "[poolChunks][64 KiB] sparse entry chunks"),
                    p("valueChunkTable", Kind.POINTER, "[B][maxChunks]"),
                    p("maxChunks", Kind.I32, "row length of the chunk table"),
                    p("poolChunks", Kind.I32, "chunks in entryPool (bounds check)"),
                    p("valueSlots", Kind.I32, "Sv = entries per token"),
                    p("out", Kind.POINTER, "[B][Hq][d], accumulated"),
                    p("headDim", Kind.I32, "d"),
                    p("kvHeads", Kind.I32, "Hkv"),
                    p("groupSize", Kind.I32, "G = Hq / Hkv"),
                    p("error", Kind.POINTER, "[1] first KVQ_ERR_* code, or null")),
            sig("kvq_baseline", "kvq_fp16_key_scores",
                    p("pool", Kind.POINTER, "[poolPages][pageBytes] page pool, read"),
                    p("pageBytes", Kind.I64, "bytes per page, PageLayout.pageBytes()"),
                    p("keysOff", Kind.I64, "keys fp16 [Hkv][d][P]"),
                    p("pageTable", Kind.POINTER, "[B][maxPages]"),
                    p("maxPages", Kind.I32, "row length of pageTable"),
                    p("poolPages", Kind.I32, "pages in the pool (bounds check)"),
                    p("pageTokens", Kind.I32, "P"),
                    p("seqTokens", Kind.POINTER, "[B] tokens stored"),
                    p("query", Kind.POINTER, "[B][Hq][d] post-RoPE, unscaled"),
                    p("scale", Kind.F32, "(float)(1/√d), multiplied into the query first"),
                    p("scores", Kind.POINTER, "[B][Hq][scoreStride]"),
                    p("scoreStride", Kind.I32, "row length of scores (≥ max sinks + packed)"),
                    p("headDim", Kind.I32, "d"),
                    p("kvHeads", Kind.I32, "Hkv"),
                    p("groupSize", Kind.I32, "G = Hq / Hkv"),
                    p("error", Kind.POINTER, "[1] first KVQ_ERR_* code, or null")),
            sig("kvq_baseline", "kvq_fp16_value_partials",
                    p("pool", Kind.POINTER, "[poolPages][pageBytes] page pool, read"),
                    p("pageBytes", Kind.I64, "bytes per page, PageLayout.pageBytes()"),
                    p("valuesOff", Kind.I64, "values fp16 [Hkv][P][d]"),
                    p("pageTable", Kind.POINTER, "[B][maxPages]"),
                    p("maxPages", Kind.I32, "row length of pageTable"),
                    p("poolPages", Kind.I32, "pages in the pool (bounds check)"),
                    p("pageTokens", Kind.I32, "P"),
                    p("seqTokens", Kind.POINTER, "[B]"),
                    p("weights", Kind.POINTER, "[B][Hq][scoreStride]"),
                    p("scoreStride", Kind.I32, "row length of scores (≥ max sinks + packed)"),
                    p("partials", Kind.POINTER, "[B][Hq][maxTiles][d]"),
                    p("maxTiles", Kind.I32, "tile stride of partials (≥ ⌈max packed / TV⌉)"),
                    p("headDim", Kind.I32, "d"),
                    p("kvHeads", Kind.I32, "Hkv"),
                    p("groupSize", Kind.I32, "G = Hq / Hkv"),
                    p("error", Kind.POINTER, "[1] first KVQ_ERR_* code, or null")));

    /** The decode v2 ABI (issue 15), in header order; not launched by the v1 backend, see {@link #decodeV2()}. */
    private static final List<Signature> DECODE_V2 = decodeV2Table();

    private static List<Signature> decodeV2Table() {
        List<Signature> plain = List.of(
            sig("kvq_decode", "kvq_decode_packed",
                    p("pool", Kind.POINTER, "[poolPages][pageBytes] page pool (format v2), read"),
                    p("pageBytes", Kind.I64, "PageLayout.pageBytes()"),
                    p("keyCodesOff", Kind.I64, "keyCodes int32 [Kw][P]"),
                    p("keyOutChannelOff", Kind.I64, "keyOutChannel int16 [P][Sk] (keySlots > 0)"),
                    p("keyOutValueOff", Kind.I64, "keyOutValue fp16 [P][Sk] (keySlots > 0)"),
                    p("keyOutHeadEndOff", Kind.I64, "keyOutHeadEnd uint8 [P][Hkv] (keySlots > 0)"),
                    p("valueCodesOff", Kind.I64, "valueCodes int32 [Hkv][P/32][b][d]"),
                    p("valueZeroOff", Kind.I64, "valueZero fp16 [P]"),
                    p("valueScaleOff", Kind.I64, "valueScale fp16 [P]"),
                    p("valueOutChannelOff", Kind.I64, "valueOutChannel int16 [P][Sv] (valueSlots > 0)"),
                    p("valueOutValueOff", Kind.I64, "valueOutValue fp16 [P][Sv] (valueSlots > 0)"),
                    p("valueOutHeadEndOff", Kind.I64, "valueOutHeadEnd uint8 [P][Hkv] (valueSlots > 0)"),
                    p("pageTable", Kind.POINTER, "[B][maxPages]"),
                    p("maxPages", Kind.I32, "row length of pageTable"),
                    p("poolPages", Kind.I32, "pages in the pool (bounds check)"),
                    p("pageTokens", Kind.I32, "P (% 32 == 0; a power of two for the instances)"),
                    p("seqPacked", Kind.POINTER, "[B] packed slots (all in the pages)"),
                    p("seqSinks", Kind.POINTER, "[B] sink tokens stored (0..S)"),
                    p("seqFirstPos", Kind.POINTER, "[B] RoPE position of each sequence's first token"),
                    p("sinkCap", Kind.I32, "S"),
                    p("windowCap", Kind.I32, "N (recent-window ring slots; 0: none)"),
                    p("seqSide", Kind.POINTER, "[B] address of sequence b's side buffer [2][S+N][D] fp16, or null"),
                    p("query", Kind.POINTER, "[B][Hq][d] post-RoPE, unscaled"),
                    p("scale", Kind.F32, "(float)(1/√d), multiplied into the query first"),
                    p("keyTable", Kind.POINTER, "[D][16] z_c + s_c·c'_K[x mod C]"),
                    p("valueTable", Kind.POINTER, "[16] c'_V[x mod C]"),
                    p("invFreq", Kind.POINTER, "[d/2] ω_i, fp32"),
                    p("pairing", Kind.I32, "KVQ_ROPE_INTERLEAVED or KVQ_ROPE_ROTATE_HALF"),
                    p("headDim", Kind.I32, "d"),
                    p("kvHeads", Kind.I32, "Hkv"),
                    p("groupSize", Kind.I32, "G = Hq / Hkv"),
                    p("bits", Kind.I32, "b (2, 3, 4)"),
                    p("keySlots", Kind.I32, "Sk (0: no key outliers), ≤ 255"),
                    p("valueSlots", Kind.I32, "Sv (0: no value outliers), ≤ 255"),
                    p("partialOut", Kind.POINTER, "[B][Hq][splits][d], written"),
                    p("partialStats", Kind.POINTER, "[B][Hq][splits][2] (max, Σp), written"),
                    p("scores", Kind.POINTER, "debug: [B][Hq][scoreStride] or null"),
                    p("scoreStride", Kind.I32, "row length of scores (≥ max sinks + packed)"),
                    p("error", Kind.POINTER, "[1] first KVQ_ERR_* code, or null")),
            sig("kvq_decode", "kvq_decode_fp16",
                    p("pool", Kind.POINTER, "[poolPages][pageBytes] page pool, read"),
                    p("pageBytes", Kind.I64, "bytes per page, PageLayout.pageBytes()"),
                    p("keysOff", Kind.I64, "keys fp16 [Hkv][d][P]"),
                    p("valuesOff", Kind.I64, "values fp16 [Hkv][P][d]"),
                    p("pageTable", Kind.POINTER, "[B][maxPages]"),
                    p("maxPages", Kind.I32, "row length of pageTable"),
                    p("poolPages", Kind.I32, "pages in the pool (bounds check)"),
                    p("pageTokens", Kind.I32, "P (% 32 == 0)"),
                    p("seqTokens", Kind.POINTER, "[B] tokens stored"),
                    p("query", Kind.POINTER, "[B][Hq][d] post-RoPE, unscaled"),
                    p("scale", Kind.F32, "(float)(1/√d), multiplied into the query first"),
                    p("headDim", Kind.I32, "d"),
                    p("kvHeads", Kind.I32, "Hkv"),
                    p("groupSize", Kind.I32, "G = Hq / Hkv"),
                    p("partialOut", Kind.POINTER, "[B][Hq][splits][d], written"),
                    p("partialStats", Kind.POINTER, "[B][Hq][splits][2] (max, Σp), written"),
                    p("scores", Kind.POINTER, "debug: [B][Hq][scoreStride] or null"),
                    p("scoreStride", Kind.I32, "row length of scores (≥ max tokens)"),
                    p("error", Kind.POINTER, "[1] first KVQ_ERR_* code, or null")),
            sig("kvq_decode", "kvq_decode_merge",
                    p("partialOut", Kind.POINTER, "[B][Hq][splits][d]"),
                    p("partialStats", Kind.POINTER, "[B][Hq][splits][2]"),
                    p("splits", Kind.I32, "splits of the decode launch"),
                    p("out", Kind.POINTER, "[B][Hq][d], written"),
                    p("headDim", Kind.I32, "d"),
                    p("queryHeads", Kind.I32, "Hq"),
                    p("error", Kind.POINTER, "[1] first KVQ_ERR_* code (KVQ_ERR_OVERFLOW), or null")),
            sig("kvq_pack_v2", "kvq_pack_keys_v2",
                    p("pool", Kind.POINTER, "[poolPages][pageBytes] page pool, written"),
                    p("pageBytes", Kind.I64, "PageLayout.pageBytes()"),
                    p("keyCodesOff", Kind.I64, "keyCodes int32 [Kw][P]"),
                    p("keyOutChannelOff", Kind.I64, "keyOutChannel int16 [P][Sk] (form FIXED)"),
                    p("keyOutValueOff", Kind.I64, "keyOutValue fp16 [P][Sk] (form FIXED)"),
                    p("keyOutHeadEndOff", Kind.I64, "keyOutHeadEnd uint8 [P][Hkv] (form FIXED)"),
                    p("pageTable", Kind.POINTER, "[B][maxPages]"),
                    p("maxPages", Kind.I32, "row length of pageTable"),
                    p("poolPages", Kind.I32, "pages in the pool (bounds check)"),
                    p("pageTokens", Kind.I32, "P"),
                    p("keys", Kind.POINTER, "[n][D] fp32 pre-RoPE keys"),
                    p("tokenSeq", Kind.POINTER, "[n] sequence of token t, in [0, B)"),
                    p("tokenSlot", Kind.POINTER, "[n] packed slot of token t in its sequence"),
                    p("n", Kind.I32, "tokens of this launch (= gridDim.x)"),
                    p("batch", Kind.I32, "B (bounds check of tokenSeq)"),
                    p("lo", Kind.POINTER, "[D] lower thresholds"),
                    p("hi", Kind.POINTER, "[D] upper thresholds"),
                    p("zero", Kind.POINTER, "[D] z_c (KeyQuantizer.zeroPoints())"),
                    p("scale", Kind.POINTER, "[D] s_c (KeyQuantizer.scales())"),
                    p("keyMid", Kind.POINTER, "[C−1] fp32 midpoints of the search centroids, or [D][stride] per channel"),
                    p("keyMidStride", Kind.I32, "0: one midpoint row for every channel; 16 or 64 (width plan): a row per channel"),
                    p("keyTable", Kind.POINTER, "[D][16] z_c + s_c·c'_K[x mod C] ([D][64] under a width plan)"),
                    p("headDim", Kind.I32, "d"),
                    p("kvHeads", Kind.I32, "Hkv"),
                    p("bits", Kind.I32, "b"),
                    p("keyWords", Kind.I32, "Kw (PageLayout v2)"),
                    p("pairing", Kind.I32, "KVQ_ROPE_INTERLEAVED or KVQ_ROPE_ROTATE_HALF"),
                    p("form", Kind.I32, "KVQ_FORM_NONE or KVQ_FORM_FIXED"),
                    p("cap", Kind.I32, "outliers kept per side (FIXED: ⌊τD⌋+1)"),
                    p("keySlots", Kind.I32, "Sk = 2·cap ≤ 255 (FIXED), else 0"),
                    p("widthPlan", Kind.POINTER, "the layer's width plan (kvq_layout_v2.cuh), or null: width b"),
                    p("error", Kind.POINTER, "[1] first KVQ_ERR_* code, or null")),
            sig("kvq_pack_v2", "kvq_pack_values_v2",
                    p("pool", Kind.POINTER, "[poolPages][pageBytes] page pool, written"),
                    p("pageBytes", Kind.I64, "PageLayout.pageBytes()"),
                    p("valueCodesOff", Kind.I64, "valueCodes int32 [Hkv][P/32][b][d]"),
                    p("valueZeroOff", Kind.I64, "valueZero fp16 [P]"),
                    p("valueScaleOff", Kind.I64, "valueScale fp16 [P]"),
                    p("valueOutChannelOff", Kind.I64, "valueOutChannel int16 [P][Sv] (FIXED)"),
                    p("valueOutValueOff", Kind.I64, "valueOutValue fp16 [P][Sv] (FIXED)"),
                    p("valueOutHeadEndOff", Kind.I64, "valueOutHeadEnd uint8 [P][Hkv] (FIXED)"),
                    p("pageTable", Kind.POINTER, "[B][maxPages]"),
                    p("maxPages", Kind.I32, "row length of pageTable"),
                    p("poolPages", Kind.I32, "pages in the pool (bounds check)"),
                    p("pageTokens", Kind.I32, "P"),
                    p("values", Kind.POINTER, "[n][D] fp32"),
                    p("tokenSeq", Kind.POINTER, "[n] sequence of token t, in [0, B)"),
                    p("tokenSlot", Kind.POINTER, "[n] packed slot of token t in its sequence"),
                    p("n", Kind.I32, "tokens of this launch (= gridDim.x)"),
                    p("batch", Kind.I32, "B (bounds check of tokenSeq)"),
                    p("valueMid", Kind.POINTER, "[C−1] fp32 midpoints of the value search centroids ([7][64] by width under a width plan)"),
                    p("valueTable", Kind.POINTER, "[16] c'_V[x mod C] (reconstruction, Q-Normed; [7][64] by width under a width plan)"),
                    p("headDim", Kind.I32, "d"),
                    p("kvHeads", Kind.I32, "Hkv"),
                    p("bits", Kind.I32, "b"),
                    p("form", Kind.I32, "KVQ_FORM_NONE or KVQ_FORM_FIXED"),
                    p("topK", Kind.I32, "n_v = ⌊τD⌋+2 with outliers, else 0; 2(n_v−1) ≤ 255"),
                    p("widthPlan", Kind.POINTER, "the layer's width plan (kvq_layout_v2.cuh), or null: width b"),
                    p("error", Kind.POINTER, "[1] first KVQ_ERR_* code, or null")),
            sig("kvq_pack_v2", "kvq_side_append",
                    p("side", Kind.POINTER, "[B][2][S+N][D] fp16, written"),
                    p("sinkCap", Kind.I32, "S"),
                    p("windowCap", Kind.I32, "N"),
                    p("keys", Kind.POINTER, "[n][D] fp32 pre-RoPE keys"),
                    p("values", Kind.POINTER, "[n][D] fp32 values"),
                    p("tokenSeq", Kind.POINTER, "[n] sequence of token t, in [0, B)"),
                    p("tokenSlot", Kind.POINTER, "[n] index p of token t in its sequence (sinks included)"),
                    p("n", Kind.I32, "tokens of this launch (= gridDim.x)"),
                    p("batch", Kind.I32, "B (bounds check of tokenSeq)"),
                    p("seqFirstPos", Kind.POINTER, "[B] RoPE position of each sequence's first token"),
                    p("invFreq", Kind.POINTER, "[d/2] ω_i, fp32"),
                    p("pairing", Kind.I32, "KVQ_ROPE_INTERLEAVED or KVQ_ROPE_ROTATE_HALF"),
                    p("headDim", Kind.I32, "d"),
                    p("kvHeads", Kind.I32, "Hkv"),
                    p("error", Kind.POINTER, "[1] first KVQ_ERR_* code, or null")));
        List<Signature> out = new ArrayList<>();
        for (Signature s : plain) {
            out.add(switch (s.name()) {
                case "kvq_decode_packed" -> family(s, packedInstances());
                case "kvq_decode_fp16" -> family(s, fp16Instances());
                default -> s;
            });
            if (s.name().equals("kvq_decode_packed")) {
                out.add(widthGroups(s));
            }
        }
        return List.copyOf(out);
    }

    /** {@value #GROUPS_DECODE_ENTRY}: the generic packed decode's parameters with the width plan after the tables. */
    private static Signature widthGroups(Signature packed) {
        List<Param> params = new ArrayList<>();
        for (Param q : packed.params()) {
            switch (q.name()) {
                case "keyCodesOff" -> params.add(p("keyCodesOff", Kind.I64, "keyCodes int32 [Kw][P], Kw = ⌈Σ w/32⌉"));
                case "valueCodesOff" -> params.add(p("valueCodesOff", Kind.I64,
                        "valueCodes int32 [P/32 · Σ_h W_h] (width groups)"));
                case "keyTable" -> params.add(p("keyTable", Kind.POINTER, "[D][64] z_c + s_c·c'_K,c[x mod 2^w_c]"));
                case "valueTable" -> {
                    params.add(p("valueTable", Kind.POINTER, "[7][64] c'_V,w[x mod 2^w] by width w"));
                    params.add(p("widthPlan", Kind.POINTER, "the layer's width plan (kvq_layout_v2.cuh)"));
                }
                case "bits" -> params.add(p("bits", Kind.I32, "the widest code of the layer (not read)"));
                default -> params.add(q);
            }
        }
        return new Signature(packed.source(), GROUPS_DECODE_ENTRY, params);
    }

    private static final Map<String, Signature> BY_NAME = index();

    private static Map<String, Signature> index() {
        Map<String, Signature> map = new LinkedHashMap<>();
        List<Signature> every = new ArrayList<>(ALL);
        every.addAll(DECODE_V2);
        for (Signature s : every) {
            List<Signature> named = new ArrayList<>(List.of(s));
            for (Instance i : s.instances()) {
                named.add(new Signature(i.source(), i.name(), s.params()));
            }
            for (Signature n : named) {
                if (map.put(n.name(), n) != null) {
                    throw new IllegalStateException("kernel " + n.name() + " is declared twice");
                }
            }
        }
        return map;
    }

    /**
     * Every kernel of the cache the v1 backend launches (the sources {@link #sources()} lists), in header order.
     *
     * @return the signatures, unmodifiable
     */
    public static List<Signature> all() {
        return ALL;
    }

    /**
     * The decode v2 kernels (page format v2; fused decode families, split merge, v2 appends), in header
     * order after {@link #all()}'s. They live in their own sources ({@link #decodeV2Sources()}); the CUDA engine
     * loads those beside {@link #sources()} (the TOKEN_MAJOR_SPARSE form still runs on the v1 kernels).
     *
     * @return the signatures, unmodifiable; the decode families list their specialized instances
     */
    public static List<Signature> decodeV2() {
        return DECODE_V2;
    }

    /**
     * The sources of the decode v2 kernels and their instances, in first-use order.
     *
     * @return source names without extension
     */
    public static List<String> decodeV2Sources() {
        return sourcesOf(DECODE_V2);
    }

    /** The sources of {@code signatures} and of their instances, in first-use order. */
    private static List<String> sourcesOf(List<Signature> signatures) {
        List<String> out = new ArrayList<>();
        for (Signature s : signatures) {
            List<String> mine = new ArrayList<>(List.of(s.source()));
            s.instances().forEach(i -> mine.add(i.source()));
            for (String source : mine) {
                if (!out.contains(source)) {
                    out.add(source);
                }
            }
        }
        return out;
    }

    /**
     * The signature of kernel {@code name}: a kernel of {@link #all()} or {@link #decodeV2()}, or a specialized
     * instance (then with the instance's name and source, and the family's parameters).
     *
     * @param name the kernel's extern "C" name, e.g. {@code kvq_key_scores}
     * @return its signature
     * @throws NoSuchElementException when there is no such kernel
     */
    public static Signature of(String name) {
        Signature s = BY_NAME.get(name);
        if (s == null) {
            throw new NoSuchElementException("no kernel '" + name + "' (have " + BY_NAME.keySet() + ")");
        }
        return s;
    }

    /**
     * The names of the sources the kernels live in, in first-use order.
     *
     * @return source names without extension
     */
    public static List<String> sources() {
        return sourcesOf(ALL);
    }

    /**
     * Dynamic shared memory of {@code kvq_key_scores}: LUT [d][16], scaled queries [G][d], base cos/sin [d/2][2].
     *
     * @param headDim   channels per head
     * @param groupSize query heads per KV head
     * @return bytes of dynamic shared memory per block
     */
    public static int keyScoresSharedBytes(int headDim, int groupSize) {
        return (16 * headDim + groupSize * headDim + headDim) * 4;
    }

    /**
     * Dynamic shared memory of {@code kvq_value_partials}: weights × scales [G][TV], Σ weight × zero [G],
     * cross-lane sums [8][256], fixed-slot residuals [G][d], the value table [16].
     *
     * @param headDim   channels per head
     * @param groupSize query heads per KV head
     * @return bytes of dynamic shared memory per block
     */
    public static int valuePartialsSharedBytes(int headDim, int groupSize) {
        return (groupSize * VTILE + groupSize + 2048 + groupSize * headDim + 16) * 4;
    }

    /**
     * Dynamic shared memory of {@code kvq_fp16_key_scores}: scaled queries [G][d].
     *
     * @param headDim   channels per head
     * @param groupSize query heads per KV head
     * @return bytes of dynamic shared memory per block
     */
    public static int fp16KeyScoresSharedBytes(int headDim, int groupSize) {
        return groupSize * headDim * 4;
    }

    /**
     * Dynamic shared memory of {@code kvq_fp16_value_partials}: weights [G][TV] and cross-lane sums [4][2048].
     *
     * @param headDim   channels per head
     * @param groupSize query heads per KV head
     * @return bytes of dynamic shared memory per block
     */
    public static int fp16ValuePartialsSharedBytes(int headDim, int groupSize) {
        return (groupSize * VTILE + 8192) * 4;
    }

    /**
     * Tiles of {@code kvq_key_scores} for the longest sequence (at least 1, so the sinks are scored).
     *
     * @param maxPacked packed (non-sink) tokens of the longest sequence in the batch
     * @return the grid size along tokens
     */
    public static int keyScoreTiles(int maxPacked) {
        return Math.max(1, (maxPacked + TILE - 1) / TILE);
    }

    /**
     * Tiles (partials) of the value kernels for the longest sequence (at least 1).
     *
     * @param maxPacked packed (non-sink) tokens of the longest sequence in the batch
     * @return the grid size along tokens
     */
    public static int valueTiles(int maxPacked) {
        return Math.max(1, (maxPacked + VTILE - 1) / VTILE);
    }

    /**
     * Blocks of a balanced sparse kernel for {@code maxEntries} nonzeros in the largest sequence (at least 1).
     *
     * @param maxEntries outlier entries of the largest sequence in the launch
     * @return the grid size of the sparse kernel
     */
    public static int sparseBlocks(long maxEntries) {
        long perBlock = (long) SPARSE_PER_THREAD * SPARSE_THREADS;
        return (int) Math.max(1, (maxEntries + perBlock - 1) / perBlock);
    }

    /**
     * The packed decode entry for a shape: the specialized instance {@code kvq_decode_packed_b{b}_g{G}_d{d}}
     * where one exists (b 2–4, G 1/2/4/8, d 64/128/256, P a power of two), else the generic
     * {@code kvq_decode_packed}.
     *
     * @param bits       code width b
     * @param groupSize  query heads per KV head G
     * @param headDim    head dim d
     * @param pageTokens tokens per page P
     * @return the entry name to launch
     */
    public static String packedDecodeEntry(int bits, int groupSize, int headDim, int pageTokens) {
        boolean pow2 = pageTokens >= 32 && (pageTokens & (pageTokens - 1)) == 0;
        return hasPackedInstance(bits, groupSize, headDim) && pow2 ? packedInstanceName(bits, groupSize, headDim)
                : "kvq_decode_packed";
    }

    /**
     * The fp16 decode entry for a shape: {@code kvq_decode_fp16_g{G}_d{d}} where one exists, else the generic
     * {@code kvq_decode_fp16}.
     *
     * @param groupSize query heads per KV head G
     * @param headDim   head dim d
     * @return the entry name to launch
     */
    public static String fp16DecodeEntry(int groupSize, int headDim) {
        return contains(INSTANCE_GROUPS, groupSize) && contains(INSTANCE_HEAD_DIMS, headDim)
                ? fp16InstanceName(groupSize, headDim) : "kvq_decode_fp16";
    }

    private static boolean hasPackedInstance(int bits, int groupSize, int headDim) {
        return contains(INSTANCE_BITS, bits) && contains(INSTANCE_GROUPS, groupSize)
                && contains(INSTANCE_HEAD_DIMS, headDim);
    }

    /**
     * Dynamic shared memory of the packed decode entry {@link #packedDecodeEntry} picks (pow-2 pages): the
     * instance's layout (KvqPackedShape::BYTES, also the PTX constant {@code <entry>_smem}) or the generic
     * kernel's (kvq_decode_packed_generic_bytes).
     *
     * @param bits      code width b
     * @param groupSize query heads per KV head G
     * @param headDim   head dim d
     * @return bytes of dynamic shared memory per block
     */
    public static int packedDecodeSharedBytes(int bits, int groupSize, int headDim) {
        int d = headDim;
        if (!hasPackedInstance(bits, groupSize, headDim)) {
            return genericPackedDecodeSharedBytes(d);
        }
        int g = groupSize;
        int half = d / 2;
        int quads = 32 / (d >= 128 ? 4 : 2);
        int tw = 4 * quads;
        int codes = 1 << bits;
        int fields = 1 << (2 * bits);
        boolean pairTable = bits <= 2 || (bits == 3 && d <= 128);
        int groupBlock = 16 * 3 * 2 + g * 16 * 2 + (pairTable ? 16 * fields * 2 : 32 * codes);
        int valueTable = bits == 4 && d == 256 && g == 8 ? codes : fields * 2;
        boolean blockSums = g == 8 && d == 256;
        int region = (half * 2 + g * tw + 2 * tw + g + (blockSums ? 0 : 2 * g) + 3) / 4 * 4;
        int floats = 8 + d / 32 * groupBlock + half * quads * 2 + valueTable + half + g * d + 2 * g + 2 * g
                + DECODE_WARPS * region;
        return floats * 4;
    }

    /**
     * Dynamic shared memory of the generic packed decode entry {@code kvq_decode_packed}
     * (kvq_decode_packed_generic_bytes; the PTX constants {@code kvq_decode_packed_smem_fixed/_per_d}).
     *
     * @param headDim head dim d
     * @return bytes of dynamic shared memory per block
     */
    public static int genericPackedDecodeSharedBytes(int headDim) {
        return (5304 + 32 * headDim) * 4;
    }

    /** The packed decode entry of caches whose channels have different code widths (a width plan). */
    public static final String GROUPS_DECODE_ENTRY = "kvq_decode_packed_groups";

    /**
     * Dynamic shared memory of {@value #GROUPS_DECODE_ENTRY} (kvq_decode_packed_groups_bytes; the PTX constants
     * {@code kvq_decode_packed_groups_smem_fixed/_per_d}): the generic layout with 64-entry key and value tables
     * and the head's part of the width plan.
     *
     * @param headDim head dim d (even)
     * @return bytes of dynamic shared memory per block
     */
    public static int groupsPackedDecodeSharedBytes(int headDim) {
        return genericPackedDecodeSharedBytes(headDim) + 1920 + 198 * headDim;
    }

    /**
     * Dynamic shared memory of the fp16 decode entry {@link #fp16DecodeEntry} picks (KvqFp16Shape::bytes): the
     * query, the warps' p tiles, the accumulator, and the softmax bookkeeping.
     *
     * @param groupSize query heads per KV head G
     * @param headDim   head dim d
     * @return bytes of dynamic shared memory per block
     */
    public static int fp16DecodeSharedBytes(int groupSize, int headDim) {
        int gm = fp16DecodeEntry(groupSize, headDim).equals("kvq_decode_fp16") ? DECODE_GM : groupSize;
        return (2 * gm * headDim + 1044 * gm) * 4;
    }

    /**
     * A split count for a decode launch: about three blocks per multiprocessor over the batch's KV heads
     * (FlashDecoding's 2–4 × SMs ÷ (B·Hkv)), at most one split per {@value #DECODE_SPLIT_TOKENS} tokens of the
     * longest sequence (a block pass), at least 1.
     *
     * @param multiprocessors the device's SM count
     * @param batch           sequences in the launch B
     * @param kvHeads         KV heads Hkv
     * @param maxTokens       packed tokens of the longest sequence
     * @return the grid's x dimension
     */
    public static int decodeSplits(int multiprocessors, int batch, int kvHeads, int maxTokens) {
        long blocks = (long) batch * kvHeads;
        long want = Math.max(1, (3L * multiprocessors + blocks - 1) / blocks);
        long most = Math.max(1, ((long) maxTokens + DECODE_SPLIT_TOKENS - 1) / DECODE_SPLIT_TOKENS);
        return (int) Math.min(want, most);
    }

    /** Tokens of one block pass of the decode kernels at d ≥ 128 (16 warps × 32): the split granularity. */
    public static final int DECODE_SPLIT_TOKENS = 512;
}
