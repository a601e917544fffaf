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
     * One kernel.
     *
     * @param source the {@code .cu} source (without extension) it lives in, i.e. its PTX resource
     * @param name   the unmangled entry name
     * @param params its parameters in launch order
     */
    public record Signature(String source, String name, List<Param> params) {
        /** Validates and copies the fields. */
        public Signature {
            Objects.requireNonNull(source, "source");
            Objects.requireNonNull(name, "name");
            params = List.copyOf(params);
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

    private static final Map<String, Signature> BY_NAME = index();

    private static Map<String, Signature> index() {
        Map<String, Signature> map = new LinkedHashMap<>();
        for (Signature s : ALL) {
            if (map.put(s.name(), s) != null) {
                throw new IllegalStateException("kernel " + s.name() + " is declared twice");
            }
        }
        return map;
    }

    /**
     * Every kernel of the cache, in header order.
     *
     * @return the signatures, unmodifiable
     */
    public static List<Signature> all() {
        return ALL;
    }

    /**
     * The signature of kernel {@code name}.
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
        List<String> out = new ArrayList<>();
        for (Signature s : ALL) {
            if (!out.contains(s.source())) {
                out.add(s.source());
            }
        }
        return out;
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
}
