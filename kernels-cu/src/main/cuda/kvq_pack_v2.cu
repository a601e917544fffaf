// kvq_pack_v2.cu: appends into page format v2 (issue 15): keys with RoPE pairs adjacent and per-head
// outlier ends, values with per-head ends, and the fp16 side buffer (sinks + recent window); one code
// width, or the width groups of a width plan (issue 13).
// Signatures, shapes and launch geometry: kvq_kernels.cuh; bodies: kvq_append_v2.cuh.

#include "kvq_append_v2.cuh"

extern "C" __global__ void kvq_pack_keys_v2(
        unsigned char* __restrict__ pool,          // [poolPages][pageBytes] page pool, written
        long long pageBytes,                       // PageLayout.pageBytes()
        long long keyCodesOff,                     // keyCodes int32 [Kw][P]
        long long keyOutChannelOff,                // keyOutChannel int16 [P][Sk] (form FIXED)
        long long keyOutValueOff,                  // keyOutValue fp16 [P][Sk] (form FIXED)
        long long keyOutHeadEndOff,                // keyOutHeadEnd uint8 [P][Hkv] (form FIXED)
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
        const float* __restrict__ zero,            // [D] z_c (KeyQuantizer.zeroPoints())
        const float* __restrict__ scale,           // [D] s_c (KeyQuantizer.scales())
        const float* __restrict__ keyMid,          // [C−1] fp32 midpoints of the search centroids, or [D][stride] per channel
        int keyMidStride,                          // 0: one midpoint row for every channel; 16 or 64 (width plan): a row per channel
        const float* __restrict__ keyTable,        // [D][16] z_c + s_c·c'_K[x mod C] ([D][64] under a width plan)
        int headDim,                               // d
        int kvHeads,                               // Hkv
        int bits,                                  // b
        int keyWords,                              // Kw (PageLayout v2)
        int pairing,                               // KVQ_ROPE_INTERLEAVED or KVQ_ROPE_ROTATE_HALF
        int form,                                  // KVQ_FORM_NONE or KVQ_FORM_FIXED
        int cap,                                   // outliers kept per side (FIXED: ⌊τD⌋+1)
        int keySlots,                              // Sk = 2·cap ≤ 255 (FIXED), else 0
        const int* __restrict__ widthPlan,         // the layer's width plan (kvq_layout_v2.cuh), or null: width b
        int* __restrict__ error)                  // [1] first KVQ_ERR_* code, or null
{
    __shared__ uint64_t scratch[32];
    __shared__ int sel[2 * KVQ_MAX_CAP];
    __shared__ int sorted[2 * KVQ_MAX_CAP];
    KvqBlockTeam team{scratch};
    int channels = headDim * kvHeads;
    if (!kvq_pack_keys_v2_shape_ok(channels, headDim, kvHeads, bits, keyWords, form, keySlots, keyMidStride,
                                   widthPlan)) {
        kvq_fail(error, KVQ_ERR_SHAPE);
        return;
    }
    KvqKeyPack a{};
    a.pool = pool; a.pageBytes = pageBytes; a.keyCodesOff = keyCodesOff; a.keyOutChannelOff = keyOutChannelOff;
    a.keyOutValueOff = keyOutValueOff; a.pageTable = pageTable; a.maxPages = maxPages; a.poolPages = poolPages;
    a.pageTokens = pageTokens; a.keys = keys; a.tokenSeq = tokenSeq; a.tokenSlot = tokenSlot; a.n = n; a.batch = batch;
    a.lo = lo; a.hi = hi; a.zero = zero; a.scale = scale; a.keyMid = keyMid; a.keyMidStride = keyMidStride;
    a.keyTable = keyTable;
    a.channels = channels; a.bits = bits; a.form = form; a.cap = cap; a.keySlots = keySlots; a.error = error;
    if (widthPlan != nullptr) {
        a.keyEntries = KVQ_WP_ENTRIES;
        a.keyWidth = widthPlan + kvq_wp_offset(KVQ_WP_KEY_WIDTH, kvHeads, headDim);
    }
    if ((int) blockIdx.x < n) {
        kvq_pack_key_token_v2(team, a, keyOutHeadEndOff, headDim, kvHeads, keyWords, pairing, widthPlan, blockIdx.x,
                              sel, sorted);
    }
}

extern "C" __global__ void kvq_pack_values_v2(
        unsigned char* __restrict__ pool,          // [poolPages][pageBytes] page pool, written
        long long pageBytes,                       // PageLayout.pageBytes()
        long long valueCodesOff,                   // valueCodes int32 [Hkv][P/32][b][d]
        long long valueZeroOff,                    // valueZero fp16 [P]
        long long valueScaleOff,                   // valueScale fp16 [P]
        long long valueOutChannelOff,              // valueOutChannel int16 [P][Sv] (FIXED)
        long long valueOutValueOff,                // valueOutValue fp16 [P][Sv] (FIXED)
        long long valueOutHeadEndOff,              // valueOutHeadEnd uint8 [P][Hkv] (FIXED)
        const int* __restrict__ pageTable,         // [B][maxPages]
        int maxPages,                              // row length of pageTable
        int poolPages,                             // pages in the pool (bounds check)
        int pageTokens,                            // P
        const float* __restrict__ values,          // [n][D] fp32
        const int* __restrict__ tokenSeq,          // [n] sequence of token t, in [0, B)
        const int* __restrict__ tokenSlot,         // [n] packed slot of token t in its sequence
        int n,                                     // tokens of this launch (= gridDim.x)
        int batch,                                 // B (bounds check of tokenSeq)
        const float* __restrict__ valueMid,        // [C−1] fp32 midpoints of the value search centroids ([7][64] by width under a width plan)
        const float* __restrict__ valueTable,      // [16] c'_V[x mod C] (reconstruction, Q-Normed; [7][64] by width under a width plan)
        int headDim,                               // d
        int kvHeads,                               // Hkv
        int bits,                                  // b
        int form,                                  // KVQ_FORM_NONE or KVQ_FORM_FIXED
        int topK,                                  // n_v = ⌊τD⌋+2 with outliers, else 0; 2(n_v−1) ≤ 255
        const int* __restrict__ widthPlan,         // the layer's width plan (kvq_layout_v2.cuh), or null: width b
        int* __restrict__ error)                  // [1] first KVQ_ERR_* code, or null
{
    __shared__ uint64_t scratch[32];
    __shared__ int sel[2 * KVQ_MAX_CAP];
    __shared__ int sorted[2 * KVQ_MAX_CAP];
    KvqBlockTeam team{scratch};
    if (form == KVQ_FORM_SPARSE || (topK > 0 && 2 * (topK - 1) > KVQ_V2_MAX_SLOTS)) {
        kvq_fail(error, KVQ_ERR_SHAPE);
        return;
    }
    KvqValuePack a{};
    a.pool = pool; a.pageBytes = pageBytes; a.valueCodesOff = valueCodesOff; a.valueZeroOff = valueZeroOff;
    a.valueScaleOff = valueScaleOff; a.valueOutChannelOff = valueOutChannelOff; a.valueOutValueOff = valueOutValueOff;
    a.pageTable = pageTable; a.maxPages = maxPages; a.poolPages = poolPages; a.pageTokens = pageTokens;
    a.values = values; a.tokenSeq = tokenSeq; a.tokenSlot = tokenSlot; a.n = n; a.batch = batch;
    a.valueMid = valueMid; a.valueTable = valueTable; a.channels = headDim * kvHeads; a.headDim = headDim;
    a.bits = bits; a.form = form; a.topK = topK; a.plan = widthPlan; a.error = error;
    if ((int) blockIdx.x < n) {
        kvq_pack_value_token_v2(team, a, valueOutHeadEndOff, kvHeads, blockIdx.x, sel, sorted);
    }
}

extern "C" __global__ void kvq_side_append(
        __half* __restrict__ side,                 // [B][2][S+N][D] fp16, written
        int sinkCap,                               // S
        int windowCap,                             // N
        const float* __restrict__ keys,            // [n][D] fp32 pre-RoPE keys
        const float* __restrict__ values,          // [n][D] fp32 values
        const int* __restrict__ tokenSeq,          // [n] sequence of token t, in [0, B)
        const int* __restrict__ tokenSlot,         // [n] index p of token t in its sequence (sinks included)
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
        kvq_side_token(team, a, reinterpret_cast<uint16_t*>(side), sinkCap, windowCap, blockIdx.x);
    }
}
