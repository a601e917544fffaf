// kvq_attend.cu: the decode step over packed pages (issue 8, kernels 3 to 5): fused key scores with
// RoPE and fixed-slot residuals, the balanced sparse residual passes, softmax, and the split value
// matvec with its reduction; plus the RoPE step table. Signatures, shapes and launch geometry:
// kvq_kernels.cuh; the bodies (shared with the host emulation): kvq_bodies.cuh.

#include "kvq_bodies.cuh"

extern "C" __global__ void kvq_rope_steps(
        float2* __restrict__ steps,          // [d/2][T] (cos, sin), written
        const float* __restrict__ invFreq,   // [d/2] ω_i, fp32 (Rope.invFreq())
        int halfDim)                        // d/2
{
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k < halfDim * KVQ_TILE) {
        kvq_rope_step(steps, invFreq, k / KVQ_TILE, k % KVQ_TILE);
    }
}

extern "C" __global__ void kvq_key_scores(
        const unsigned char* __restrict__ pool,    // page pool
        long long pageBytes,                       // bytes per page, PageLayout.pageBytes()
        long long keyCodesOff,                     // keyCodes int32 [Gc·b][P]
        long long keyOutChannelOff,                // keyOutChannel int16 [P][Sk] (keySlots > 0)
        long long keyOutValueOff,                  // keyOutValue fp16 [P][Sk]
        const int* __restrict__ pageTable,         // [B][maxPages]
        int maxPages,                              // row length of pageTable
        int poolPages,                             // pages in the pool (bounds check)
        int pageTokens,                            // P
        const int* __restrict__ seqPacked,         // [B]
        const int* __restrict__ seqSinks,          // [B]
        const long long* __restrict__ seqFirstPos, // [B]
        int sinkCap,                               // S
        const __half* __restrict__ sinks,          // [B][2][S][D] or null when S == 0
        const float* __restrict__ query,           // [B][Hq][d] post-RoPE, unscaled
        float scale,                               // (float)(1/√d)
        const float* __restrict__ keyTable,        // [D][16]
        const float* __restrict__ invFreq,         // [d/2]
        const float2* __restrict__ ropeSteps,      // [d/2][T] from kvq_rope_steps
        int pairing,                               // KVQ_ROPE_*
        float* __restrict__ scores,                // [B][Hq][scoreStride], written for t < sinks + packed
        int scoreStride,                           // row length of scores (≥ max sinks + packed)
        int headDim,                               // d
        int kvHeads,                               // Hkv
        int groupSize,                             // G
        int bits,                                  // b
        int keySlots,                              // Sk (0: no fixed slots)
        int* __restrict__ error)                  // [1] or null
{
    extern __shared__ float smem[];
    __shared__ uint64_t scratch[32];
    KvqBlockTeam team{scratch};
    KvqStep a{};
    a.pool = pool; a.pageBytes = pageBytes;
    a.pageTable = pageTable; a.maxPages = maxPages; a.poolPages = poolPages; a.pageTokens = pageTokens;
    a.seqPacked = seqPacked; a.seqSinks = seqSinks;
    a.keyCodesOff = keyCodesOff; a.keyOutChannelOff = keyOutChannelOff; a.keyOutValueOff = keyOutValueOff;
    a.seqFirstPos = seqFirstPos; a.sinkCap = sinkCap; a.sinks = reinterpret_cast<const uint16_t*>(sinks);
    a.query = query; a.scale = scale; a.keyTable = keyTable; a.invFreq = invFreq; a.ropeSteps = ropeSteps;
    a.pairing = pairing; a.scores = scores; a.scoreStride = scoreStride; a.headDim = headDim; a.kvHeads = kvHeads;
    a.groupSize = groupSize; a.bits = bits; a.keySlots = keySlots; a.error = error;
    kvq_key_scores_block(team, a, blockIdx.x, blockIdx.y, blockIdx.z, smem);
}

extern "C" __global__ void kvq_key_scores_sparse(
        const unsigned char* __restrict__ pool,    // [poolPages][pageBytes] page pool, read
        long long pageBytes,                       // bytes per page, PageLayout.pageBytes()
        long long keyOutStartOff,                  // keyOutStart int32 [P+1]
        const int* __restrict__ pageTable,         // [B][maxPages]
        int maxPages,                              // row length of pageTable
        int poolPages,                             // pages in the pool (bounds check)
        int pageTokens,                            // P
        const int* __restrict__ seqPacked,         // [B]
        const int* __restrict__ seqSinks,          // [B]
        const long long* __restrict__ seqFirstPos, // [B]
        int sinkCap,                               // S
        const float* __restrict__ query,           // [B][Hq][d] post-RoPE, unscaled
        float scale,                               // (float)(1/√d), multiplied into the query first
        const float* __restrict__ invFreq,         // [d/2]
        int pairing,                               // KVQ_ROPE_INTERLEAVED or KVQ_ROPE_ROTATE_HALF
        const unsigned char* __restrict__ entryPool,// [poolChunks][64 KiB] sparse entry chunks
        const int* __restrict__ keyChunkTable,     // [B][maxChunks]
        int maxChunks,                             // row length of the chunk table
        int poolChunks,                            // chunks in entryPool (bounds check)
        float* __restrict__ scores,                // [B][Hq][scoreStride], accumulated
        int scoreStride,                           // row length of scores (≥ max sinks + packed)
        int headDim,                               // d
        int kvHeads,                               // Hkv
        int groupSize,                             // G = Hq / Hkv
        int* __restrict__ error)                  // [1] first KVQ_ERR_* code, or null
{
    KvqBlockTeam team{nullptr};
    KvqStep a{};
    a.pool = pool; a.pageBytes = pageBytes;
    a.pageTable = pageTable; a.maxPages = maxPages; a.poolPages = poolPages; a.pageTokens = pageTokens;
    a.seqPacked = seqPacked; a.seqSinks = seqSinks;
    a.keyOutStartOff = keyOutStartOff; a.seqFirstPos = seqFirstPos; a.sinkCap = sinkCap;
    a.query = query; a.scale = scale; a.invFreq = invFreq; a.pairing = pairing;
    a.entryPool = entryPool; a.keyChunkTable = keyChunkTable; a.maxChunks = maxChunks; a.poolChunks = poolChunks;
    a.scores = scores; a.scoreStride = scoreStride; a.headDim = headDim; a.kvHeads = kvHeads; a.groupSize = groupSize;
    a.error = error;
    kvq_key_sparse_thread(team, a, blockIdx.y, (long long) blockIdx.x * blockDim.x + threadIdx.x);
}

extern "C" __global__ void kvq_softmax(
        float* __restrict__ scores,                // [B][Hq][scoreStride]
        const int* __restrict__ seqPacked,         // [B]
        const int* __restrict__ seqSinks,          // [B]
        int queryHeads,                            // Hq
        int scoreStride)                          // row length of scores (≥ max sinks + packed)
{
    __shared__ uint64_t scratch[32];
    KvqBlockTeam team{scratch};
    kvq_softmax_block(team, scores, seqPacked, seqSinks, queryHeads, scoreStride, blockIdx.x, blockIdx.y);
}

extern "C" __global__ void kvq_value_partials(
        const unsigned char* __restrict__ pool,    // [poolPages][pageBytes] page pool, read
        long long pageBytes,                       // bytes per page, PageLayout.pageBytes()
        long long valueCodesOff,                   // valueCodes int32 [Hkv][P/32·b][d]
        long long valueZeroOff,                    // fp16 [P]
        long long valueScaleOff,                   // fp16 [P]
        long long valueOutChannelOff,              // int16 [P][Sv] (valueSlots > 0)
        long long valueOutValueOff,                // fp16 [P][Sv]
        const int* __restrict__ pageTable,         // [B][maxPages]
        int maxPages,                              // row length of pageTable
        int poolPages,                             // pages in the pool (bounds check)
        int pageTokens,                            // P
        const int* __restrict__ seqPacked,         // [B]
        const int* __restrict__ seqSinks,          // [B]
        const float* __restrict__ weights,         // [B][Hq][scoreStride] softmax output
        int scoreStride,                           // row length of scores (≥ max sinks + packed)
        const float* __restrict__ valueTable,      // [16] c'_V[x mod C]
        float* __restrict__ partials,              // [B][Hq][maxTiles][d], written for tiles < ⌈packed/TV⌉
        int maxTiles,                              // tile stride of partials (≥ ⌈max packed / TV⌉)
        int headDim,                               // d
        int kvHeads,                               // Hkv
        int groupSize,                             // G = Hq / Hkv
        int bits,                                  // b (2, 3, 4)
        int valueSlots,                            // Sv (0: no fixed slots)
        int* __restrict__ error)                  // [1] first KVQ_ERR_* code, or null
{
    extern __shared__ float smem[];
    __shared__ uint64_t scratch[32];
    KvqBlockTeam team{scratch};
    KvqStep a{};
    a.pool = pool; a.pageBytes = pageBytes;
    a.pageTable = pageTable; a.maxPages = maxPages; a.poolPages = poolPages; a.pageTokens = pageTokens;
    a.seqPacked = seqPacked; a.seqSinks = seqSinks;
    a.valueCodesOff = valueCodesOff; a.valueZeroOff = valueZeroOff; a.valueScaleOff = valueScaleOff;
    a.valueOutChannelOff = valueOutChannelOff; a.valueOutValueOff = valueOutValueOff;
    a.scores = const_cast<float*>(weights); a.scoreStride = scoreStride; a.valueTable = valueTable;
    a.partials = partials; a.maxTiles = maxTiles; a.headDim = headDim; a.kvHeads = kvHeads; a.groupSize = groupSize;
    a.bits = bits; a.valueSlots = valueSlots; a.error = error;
    kvq_value_partials_block(team, a, blockIdx.x, blockIdx.y, blockIdx.z, smem);
}

extern "C" __global__ void kvq_value_reduce(
        const float* __restrict__ partials,        // [B][Hq][maxTiles][d]
        int maxTiles,                              // tile stride of partials (≥ ⌈max packed / TV⌉)
        const int* __restrict__ seqPacked,         // [B]
        const int* __restrict__ seqSinks,          // [B]
        int sinkCap,                               // S
        const __half* __restrict__ sinks,          // [B][2][S][D] or null when S == 0
        const float* __restrict__ weights,         // [B][Hq][scoreStride]
        int scoreStride,                           // row length of scores (≥ max sinks + packed)
        float* __restrict__ out,                   // [B][Hq][d], written
        int headDim,                               // d
        int kvHeads,                               // Hkv
        int groupSize)                            // G = Hq / Hkv
{
    KvqBlockTeam team{nullptr};
    KvqStep a{};
    a.partials = const_cast<float*>(partials); a.maxTiles = maxTiles; a.seqPacked = seqPacked; a.seqSinks = seqSinks;
    a.sinkCap = sinkCap; a.sinks = reinterpret_cast<const uint16_t*>(sinks); a.scores = const_cast<float*>(weights);
    a.scoreStride = scoreStride; a.out = out; a.headDim = headDim; a.kvHeads = kvHeads; a.groupSize = groupSize;
    kvq_value_reduce_block(team, a, blockIdx.x, blockIdx.y);
}

extern "C" __global__ void kvq_value_sparse(
        const int* __restrict__ seqPacked,         // [B]
        const int* __restrict__ seqSinks,          // [B]
        const float* __restrict__ weights,         // [B][Hq][scoreStride]
        int scoreStride,                           // row length of scores (≥ max sinks + packed)
        const unsigned char* __restrict__ entryPool,// [poolChunks][64 KiB] sparse entry chunks
        const int* __restrict__ valueChunkTable,   // [B][maxChunks]
        int maxChunks,                             // row length of the chunk table
        int poolChunks,                            // chunks in entryPool (bounds check)
        int valueSlots,                            // Sv = entries per token
        float* __restrict__ out,                   // [B][Hq][d], accumulated
        int headDim,                               // d
        int kvHeads,                               // Hkv
        int groupSize,                             // G = Hq / Hkv
        int* __restrict__ error)                  // [1] first KVQ_ERR_* code, or null
{
    KvqBlockTeam team{nullptr};
    KvqStep a{};
    a.seqPacked = seqPacked; a.seqSinks = seqSinks; a.scores = const_cast<float*>(weights); a.scoreStride = scoreStride;
    a.entryPool = entryPool; a.valueChunkTable = valueChunkTable; a.maxChunks = maxChunks; a.poolChunks = poolChunks;
    a.valueSlots = valueSlots; a.out = out; a.headDim = headDim; a.kvHeads = kvHeads; a.groupSize = groupSize;
    a.error = error;
    kvq_value_sparse_thread(team, a, blockIdx.y, (long long) blockIdx.x * blockDim.x + threadIdx.x);
}
