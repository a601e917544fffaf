// kvq_pack.cu: packing kernels of the KV cache (issue 8, kernels 1 and 2): keys and values of n
// tokens quantized in parallel, one block per token, into pages laid out exactly as
// dev.kvq.layout.PageLayout; and the sink tokens, stored rotated in fp16. Signatures, shapes and launch geometry: kvq_kernels.cuh; the bodies
// (shared with the host emulation): kvq_bodies.cuh.

#include "kvq_bodies.cuh"

extern "C" __global__ void kvq_sinks_append(
        __half* __restrict__ sinks,                // [B][2][S][D] fp16, written
        int sinkCap,                               // S
        const float* __restrict__ keys,            // [n][D] fp32 pre-RoPE keys
        const float* __restrict__ values,          // [n][D] fp32 values
        const int* __restrict__ tokenSeq,          // [n] sequence of token t, in [0, B)
        const int* __restrict__ tokenSlot,         // [n] sink index of token t, in [0, S)
        int n,                                     // tokens of this launch (= gridDim.x)
        int batch,                                 // B (bounds check of tokenSeq)
        const long long* __restrict__ seqFirstPos, // [B] RoPE position of each sequence's first token
        const float* __restrict__ invFreq,         // [d/2] ω_i, fp32
        int pairing,                               // KVQ_ROPE_INTERLEAVED or KVQ_ROPE_ROTATE_HALF
        int headDim,                               // d
        int kvHeads,                               // Hkv
        int* __restrict__ error)                  // [1] first KVQ_ERR_* code, or null
{
    KvqBlockTeam team{nullptr};
    KvqRopeStore a{};
    a.keys = keys; a.values = values; a.tokenSeq = tokenSeq; a.tokenSlot = tokenSlot; a.n = n; a.batch = batch;
    a.seqFirstPos = seqFirstPos; a.invFreq = invFreq; a.pairing = pairing; a.headDim = headDim; a.kvHeads = kvHeads;
    a.error = error;
    if ((int) blockIdx.x < n) {
        kvq_sink_token(team, a, reinterpret_cast<uint16_t*>(sinks), sinkCap, blockIdx.x);
    }
}

extern "C" __global__ void kvq_pack_keys(
        unsigned char* __restrict__ pool,          // [poolPages][pageBytes] page pool, written
        long long pageBytes,                       // PageLayout.pageBytes()
        long long keyCodesOff,                     // byte offset of keyCodes int32 [Gc·b][P]
        long long keyOutChannelOff,                // keyOutChannel int16 [P][Sk] (form FIXED)
        long long keyOutValueOff,                  // keyOutValue fp16 [P][Sk] (form FIXED)
        const int* __restrict__ pageTable,         // [B][maxPages]
        int maxPages,                              // row length of pageTable
        int poolPages,                             // pages in the pool (bounds check)
        int pageTokens,                            // P
        const float* __restrict__ keys,            // [n][D] fp32 pre-RoPE keys
        const int* __restrict__ tokenSeq,          // [n] sequence of token t, in [0, B)
        const int* __restrict__ tokenSlot,         // [n] packed slot of token t in its sequence
        int n,                                     // tokens of this launch (= gridDim.x)
        int batch,                                 // B (bounds check of tokenSeq)
        const float* __restrict__ lo,              // [D] lower thresholds
        const float* __restrict__ hi,              // [D] upper thresholds
        const float* __restrict__ zero,            // [D] z_c = (hi+lo)/2 in fp32 (KeyQuantizer.zeroPoints())
        const float* __restrict__ scale,           // [D] s_c = (hi−lo)/2 in fp32 (KeyQuantizer.scales())
        const float* __restrict__ keyMid,          // [C−1] fp32 midpoints of the search centroids
        const float* __restrict__ keyTable,        // [D][16] z_c + s_c·c'_K[x mod C] (CodeTables.keys)
        int channels,                              // D
        int bits,                                  // b
        int form,                                  // KVQ_FORM_*
        int cap,                                   // outliers kept per side (FIXED: ⌊τD⌋+1)
        int keySlots,                              // Sk = 2·cap (FIXED), else 0
        int* __restrict__ keyOutCount,             // [n] uncapped outlier count (SPARSE), else may be null
        int* __restrict__ error)                  // [1] or null
{
    __shared__ uint64_t scratch[32];
    __shared__ int sel[2 * KVQ_MAX_CAP];
    __shared__ int sorted[2 * KVQ_MAX_CAP];
    KvqBlockTeam team{scratch};
    KvqKeyPack a{};
    a.pool = pool; a.pageBytes = pageBytes; a.keyCodesOff = keyCodesOff;
    a.keyOutChannelOff = keyOutChannelOff; a.keyOutValueOff = keyOutValueOff;
    a.pageTable = pageTable; a.maxPages = maxPages; a.poolPages = poolPages; a.pageTokens = pageTokens;
    a.keys = keys; a.tokenSeq = tokenSeq; a.tokenSlot = tokenSlot; a.n = n; a.batch = batch;
    a.lo = lo; a.hi = hi; a.zero = zero; a.scale = scale; a.keyMid = keyMid; a.keyTable = keyTable;
    a.channels = channels; a.bits = bits; a.form = form; a.cap = cap; a.keySlots = keySlots;
    a.keyOutCount = keyOutCount; a.error = error;
    if ((int) blockIdx.x < n) {
        kvq_pack_key_token(team, a, blockIdx.x, sel, sorted);
    }
}

extern "C" __global__ void kvq_key_sparse_starts(
        unsigned char* __restrict__ pool,          // page pool, written
        long long pageBytes,                       // bytes per page, PageLayout.pageBytes()
        long long keyOutStartOff,                  // keyOutStart int32 [P+1]
        const int* __restrict__ pageTable,         // [B][maxPages]
        int maxPages,                              // row length of pageTable
        int poolPages,                             // pages in the pool (bounds check)
        int pageTokens,                            // P
        const int* __restrict__ tokenSeq,          // [n]
        const int* __restrict__ tokenSlot,         // [n]
        const int* __restrict__ keyOutCount,       // [n] from kvq_pack_keys
        int n,                                     // tokens of this launch (= gridDim.x where the grid is per token)
        int batch,                                 // B
        int* __restrict__ seqKeyEntries,           // [B] key entries stored per sequence; read and advanced
        int* __restrict__ error)                  // [1] or null
{
    // one thread walks the tokens in order: a few loads and stores each (see kvq_bodies.cuh)
    if (blockIdx.x != 0 || threadIdx.x != 0) {
        return;
    }
    KvqKeyPack a{};
    a.pool = pool; a.pageBytes = pageBytes; a.keyOutStartOff = keyOutStartOff;
    a.pageTable = pageTable; a.maxPages = maxPages; a.poolPages = poolPages; a.pageTokens = pageTokens;
    a.tokenSeq = tokenSeq; a.tokenSlot = tokenSlot; a.keyOutCount = const_cast<int*>(keyOutCount);
    a.n = n; a.batch = batch; a.error = error;
    kvq_key_sparse_starts_seq(a, seqKeyEntries);
}

extern "C" __global__ void kvq_key_sparse_entries(
        const unsigned char* __restrict__ pool,    // page pool (keyOutStart read)
        long long pageBytes,                       // bytes per page, PageLayout.pageBytes()
        long long keyOutStartOff,                  // byte offset of keyOutStart int32 [P+1]
        const int* __restrict__ pageTable,         // [B][maxPages]
        int maxPages,                              // row length of pageTable
        int poolPages,                             // pages in the pool (bounds check)
        int pageTokens,                            // P
        const float* __restrict__ keys,            // [n][D] fp32 pre-RoPE
        const int* __restrict__ tokenSeq,          // [n]
        const int* __restrict__ tokenSlot,         // [n]
        int n,                                     // tokens of this launch (= gridDim.x where the grid is per token)
        int batch,                                 // B (bounds check of tokenSeq)
        const float* __restrict__ lo,              // [D]
        const float* __restrict__ hi,              // [D]
        const float* __restrict__ zero,            // [D]
        const float* __restrict__ scale,           // [D]
        const float* __restrict__ keyMid,          // [C−1]
        const float* __restrict__ keyTable,        // [D][16]
        int channels,                              // D
        int bits,                                  // b (2, 3, 4)
        unsigned char* __restrict__ entryPool,     // [chunks][64 KiB], written
        const int* __restrict__ keyChunkTable,     // [B][maxChunks]
        int maxChunks,                             // row length of the chunk table
        int poolChunks,                            // chunks in entryPool (bounds check)
        int* __restrict__ error)                  // [1] or null
{
    __shared__ uint64_t scratch[32];
    KvqBlockTeam team{scratch};
    KvqKeyPack a{};
    a.pool = const_cast<unsigned char*>(pool); a.pageBytes = pageBytes; a.keyOutStartOff = keyOutStartOff;
    a.pageTable = pageTable; a.maxPages = maxPages; a.poolPages = poolPages; a.pageTokens = pageTokens;
    a.keys = keys; a.tokenSeq = tokenSeq; a.tokenSlot = tokenSlot; a.n = n; a.batch = batch;
    a.lo = lo; a.hi = hi; a.zero = zero; a.scale = scale; a.keyMid = keyMid; a.keyTable = keyTable;
    a.channels = channels; a.bits = bits; a.form = KVQ_FORM_SPARSE;
    a.entryPool = entryPool; a.keyChunkTable = keyChunkTable; a.maxChunks = maxChunks; a.poolChunks = poolChunks;
    a.error = error;
    if ((int) blockIdx.x < n) {
        kvq_key_sparse_token(team, a, blockIdx.x);
    }
}

extern "C" __global__ void kvq_pack_values(
        unsigned char* __restrict__ pool,          // page pool, written
        long long pageBytes,                       // bytes per page, PageLayout.pageBytes()
        long long valueCodesOff,                   // valueCodes int32 [Hkv][P/32·b][d]
        long long valueZeroOff,                    // valueZero fp16 [P]
        long long valueScaleOff,                   // valueScale fp16 [P]
        long long valueOutChannelOff,              // valueOutChannel int16 [P][Sv] (FIXED)
        long long valueOutValueOff,                // valueOutValue fp16 [P][Sv] (FIXED)
        long long valueOutStartOff,                // valueOutStart int32 [P+1] (SPARSE)
        const int* __restrict__ pageTable,         // [B][maxPages]
        int maxPages,                              // row length of pageTable
        int poolPages,                             // pages in the pool (bounds check)
        int pageTokens,                            // P
        const float* __restrict__ values,          // [n][D] fp32
        const int* __restrict__ tokenSeq,          // [n]
        const int* __restrict__ tokenSlot,         // [n]
        int n,                                     // tokens of this launch (= gridDim.x where the grid is per token)
        int batch,                                 // B (bounds check of tokenSeq)
        const float* __restrict__ valueMid,        // [C−1] fp32 midpoints of the value search centroids
        const float* __restrict__ valueTable,      // [16] c'_V[x mod C] (reconstruction, Q-Normed)
        int channels,                              // D
        int headDim,                               // d
        int bits,                                  // b
        int form,                                  // KVQ_FORM_*
        int topK,                                  // n_v = ⌊τD⌋+2 with outliers, else 0
        unsigned char* __restrict__ entryPool,     // [chunks][64 KiB] (SPARSE), else may be null
        const int* __restrict__ valueChunkTable,   // [B][maxChunks] (SPARSE)
        int maxChunks,                             // row length of the chunk table
        int poolChunks,                            // chunks in entryPool (bounds check)
        int* __restrict__ error)                  // [1] or null
{
    __shared__ uint64_t scratch[32];
    __shared__ int sel[2 * KVQ_MAX_CAP];
    __shared__ int sorted[2 * KVQ_MAX_CAP];
    KvqBlockTeam team{scratch};
    KvqValuePack a{};
    a.pool = pool; a.pageBytes = pageBytes; a.valueCodesOff = valueCodesOff; a.valueZeroOff = valueZeroOff;
    a.valueScaleOff = valueScaleOff; a.valueOutChannelOff = valueOutChannelOff; a.valueOutValueOff = valueOutValueOff;
    a.valueOutStartOff = valueOutStartOff;
    a.pageTable = pageTable; a.maxPages = maxPages; a.poolPages = poolPages; a.pageTokens = pageTokens;
    a.values = values; a.tokenSeq = tokenSeq; a.tokenSlot = tokenSlot; a.n = n; a.batch = batch;
    a.valueMid = valueMid; a.valueTable = valueTable; a.channels = channels; a.headDim = headDim; a.bits = bits;
    a.form = form; a.topK = topK;
    a.entryPool = entryPool; a.valueChunkTable = valueChunkTable; a.maxChunks = maxChunks; a.poolChunks = poolChunks;
    a.error = error;
    if ((int) blockIdx.x < n) {
        kvq_pack_value_token(team, a, blockIdx.x, sel, sorted);
    }
}
