// kvq_baseline.cu: the fp16 baselines (issue 8, kernel 6): their append, and key scores over fp16
// post-RoPE keys and the value matvec over fp16 values, with vectorized, coalesced loads, so the
// comparison with the packed kernels is fair. Reduce with kvq_value_reduce (kvq_attend.cu).
// Signatures, shapes and launch geometry: kvq_kernels.cuh; bodies: kvq_bodies.cuh.

#include "kvq_bodies.cuh"

extern "C" __global__ void kvq_fp16_append(
        unsigned char* __restrict__ pool,          // [poolPages][pageBytes] page pool, written
        long long pageBytes,                       // bytes per page, PageLayout.pageBytes()
        long long keysOff,                         // keys fp16 [Hkv][d][P]
        long long valuesOff,                       // values fp16 [Hkv][P][d]
        const int* __restrict__ pageTable,         // [B][maxPages]
        int maxPages,                              // row length of pageTable
        int poolPages,                             // pages in the pool (bounds check)
        int pageTokens,                            // P
        const float* __restrict__ keys,            // [n][D] fp32 pre-RoPE keys
        const float* __restrict__ values,          // [n][D] fp32 values
        const int* __restrict__ tokenSeq,          // [n] sequence of token t, in [0, B)
        const int* __restrict__ tokenSlot,         // [n] slot of token t in its sequence
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
        kvq_fp16_append_token(team, a, pool, pageBytes, keysOff, valuesOff, pageTable, maxPages, poolPages, pageTokens,
                              blockIdx.x);
    }
}

extern "C" __global__ void kvq_fp16_key_scores(
        const unsigned char* __restrict__ pool,    // [poolPages][pageBytes] page pool, read
        long long pageBytes,                       // bytes per page, PageLayout.pageBytes()
        long long keysOff,                         // keys fp16 [Hkv][d][P]
        const int* __restrict__ pageTable,         // [B][maxPages]
        int maxPages,                              // row length of pageTable
        int poolPages,                             // pages in the pool (bounds check)
        int pageTokens,                            // P
        const int* __restrict__ seqTokens,         // [B] tokens stored
        const float* __restrict__ query,           // [B][Hq][d] post-RoPE, unscaled
        float scale,                               // (float)(1/√d), multiplied into the query first
        float* __restrict__ scores,                // [B][Hq][scoreStride]
        int scoreStride,                           // row length of scores (≥ max sinks + packed)
        int headDim,                               // d
        int kvHeads,                               // Hkv
        int groupSize,                             // G = Hq / Hkv
        int* __restrict__ error)                  // [1] first KVQ_ERR_* code, or null
{
    extern __shared__ float smem[];
    KvqBlockTeam team{nullptr};
    KvqPlain a{};
    a.pool = pool; a.pageBytes = pageBytes;
    a.pageTable = pageTable; a.maxPages = maxPages; a.poolPages = poolPages; a.pageTokens = pageTokens;
    a.seqTokens = seqTokens; a.scoreStride = scoreStride; a.headDim = headDim; a.kvHeads = kvHeads;
    a.groupSize = groupSize; a.error = error;
    a.keysOff = keysOff; a.query = query; a.scale = scale; a.scores = scores;
    kvq_fp16_key_scores_block(team, a, blockIdx.x, blockIdx.y, blockIdx.z, smem);
}

extern "C" __global__ void kvq_fp16_value_partials(
        const unsigned char* __restrict__ pool,    // [poolPages][pageBytes] page pool, read
        long long pageBytes,                       // bytes per page, PageLayout.pageBytes()
        long long valuesOff,                       // values fp16 [Hkv][P][d]
        const int* __restrict__ pageTable,         // [B][maxPages]
        int maxPages,                              // row length of pageTable
        int poolPages,                             // pages in the pool (bounds check)
        int pageTokens,                            // P
        const int* __restrict__ seqTokens,         // [B]
        const float* __restrict__ weights,         // [B][Hq][scoreStride]
        int scoreStride,                           // row length of scores (≥ max sinks + packed)
        float* __restrict__ partials,              // [B][Hq][maxTiles][d]
        int maxTiles,                              // tile stride of partials (≥ ⌈max packed / TV⌉)
        int headDim,                               // d
        int kvHeads,                               // Hkv
        int groupSize,                             // G = Hq / Hkv
        int* __restrict__ error)                  // [1] first KVQ_ERR_* code, or null
{
    extern __shared__ float smem[];
    KvqBlockTeam team{nullptr};
    KvqPlain a{};
    a.pool = pool; a.pageBytes = pageBytes;
    a.pageTable = pageTable; a.maxPages = maxPages; a.poolPages = poolPages; a.pageTokens = pageTokens;
    a.seqTokens = seqTokens; a.scoreStride = scoreStride; a.headDim = headDim; a.kvHeads = kvHeads;
    a.groupSize = groupSize; a.error = error;
    a.valuesOff = valuesOff; a.scores = const_cast<float*>(weights); a.partials = partials; a.maxTiles = maxTiles;
    kvq_fp16_value_partials_block(team, a, blockIdx.x, blockIdx.y, blockIdx.z, smem);
}
