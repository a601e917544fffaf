// kvq_kernels.cuh: the kernel ABI of the KV cache (issue 8). Every entry point the Java backend
// (dev.kvq.engine.cuda) launches is declared here with extern "C" linkage, a shape comment on
// every parameter and its launch geometry. dev.kvq.kernels.KernelSignatures mirrors this file and a
// test checks it against the PTX, so the two cannot drift apart silently.
//
// ---------------------------------------------------------------------------------------------
// Notation
//   B      sequences in the batch              Hkv   KV heads          d   head dim (8..256, % 8 == 0)
//   D      Hkv·d channels of a KV vector       Hq    query heads       G   Hq / Hkv (GQA group)
//   b      bits (2, 3, 4)                      C     2^b codes         P   page tokens (% 32 == 0)
//   Gc     ⌈D/32⌉ key channel groups           S     sink capacity (n_sink) of the cache
//   Sk     fixed key outlier slots per token   Sv    fixed value outlier slots per token
//   n      tokens packed by one launch         maxPages   page-table row length
//   T      KVQ_TILE = 128 tokens (key-score tile)          TV   KVQ_VTILE = 256 tokens (value tile)
//
// Device layout (mirrors dev.kvq.layout.PageLayout byte for byte)
//   pool       one allocation per layer: page p occupies bytes [p·pageBytes, (p+1)·pageBytes).
//              The part offsets (keyCodesOff, ...) are PageLayout.offset(part), in bytes from the
//              page start; a part a launch does not use may be passed as 0.
//   pageTable  int32 [B][maxPages]: logical page k of sequence s is pool page pageTable[s·maxPages+k]
//              (FlashInfer/vLLM style; no pointer arrays). Packed slot i of sequence s lives in
//              logical page i / P at row r = i % P.
//   seqPacked  int32 [B] packed tokens of each sequence (tokens stored beyond the sinks).
//   seqSinks   int32 [B] sink tokens stored (0..S).
//   seqFirstPos int64 [B] RoPE position of each sequence's first token (the cache's first position);
//              packed slot i sits at position seqFirstPos[s] + S + i.
//   sinks      fp16 [B][2][S][D]: per sequence, post-RoPE keys [S][D] then values [S][D], exactly
//              the CPU's sink segment.
//   entryPool  sparse outlier entries (TOKEN_MAJOR_SPARSE) in chunks of KVQ_CHUNK = 16384 entries,
//              each chunk 64 KiB: int16 channel [KVQ_CHUNK] then fp16 value [KVQ_CHUNK]
//              (dev.kvq.layout.EntryChunks). Entry e of sequence s lives in pool chunk
//              chunkTable[s·maxChunks + e / KVQ_CHUNK]; keys and values use separate chunk tables.
//   scores     fp32 [B][Hq][scoreStride]: index t < seqSinks[s] is sink t, then packed slot i at
//              seqSinks[s] + i (the CPU's order). After kvq_softmax they are the weights.
//   error      int32 [1], may be null: the first detected bad index (KVQ_ERR_*) is stored there
//              (atomicCAS from 0) and the offending token/entry is skipped. The host checks it after
//              appends; decode steps need not read it.
//
// Numbers follow the CPU exactly where the bytes matter (packing): fp32 IEEE division, no FMA
// contraction (explicit __fmul_rn/__fadd_rn), midpoints with ties to the lower code, fp16 round to
// nearest even. Scores and outputs are fp32 with a different summation order than the CPU.
//
// Appends: kvq_sinks_append (the first S tokens), kvq_pack_keys + kvq_pack_values (the rest; with
// TOKEN_MAJOR_SPARSE also kvq_key_sparse_starts + kvq_key_sparse_entries). New pages (and chunks)
// must be zeroed before their first pack (cuMemsetD8Async): value codes are OR-ed into them.
// fp16 baseline: kvq_fp16_append.
// A decode step is, on one stream, with no host round trip:
//   kvq_key_scores → [kvq_key_scores_sparse] → kvq_softmax → kvq_value_partials →
//   kvq_value_reduce → [kvq_value_sparse]
// (fp16 baseline: kvq_fp16_key_scores → kvq_softmax → kvq_fp16_value_partials → kvq_value_reduce).
// kvq_rope_steps fills the position-independent step table once per (layer geometry, RoPE table).
// ---------------------------------------------------------------------------------------------
#pragma once

#include <cuda_fp16.h>

#define KVQ_TILE 128            // tokens per block of the key-score kernels
#define KVQ_VTILE 256           // tokens per block of the value kernels (one partial per tile)
#define KVQ_CHUNK 16384         // sparse entries per chunk (EntryChunks.ENTRIES)
#define KVQ_PACK_THREADS 256    // block size of the pack kernels
#define KVQ_SPARSE_PER_THREAD 8 // nonzeros per thread of the balanced sparse kernels
#define KVQ_SPARSE_THREADS 256  // block size of the balanced sparse kernels

#define KVQ_ERR_PAGE 1          // a page-table entry outside [0, poolPages) or a slot beyond maxPages·P
#define KVQ_ERR_CHUNK 2         // an entry beyond maxChunks·KVQ_CHUNK or a chunk index outside the pool
#define KVQ_ERR_SEQ 3           // a token's sequence index outside [0, B)
#define KVQ_ERR_CAP 4           // more outliers per side than KVQ_MAX_CAP (1024), or cap > Sk/2
#define KVQ_ERR_SHAPE 5         // a decode instance launched for a shape it was not built for (bits, G, d, P)
#define KVQ_ERR_SLOT 6          // a v2 outlier list whose per-head ends or channels are inconsistent
#define KVQ_ERR_OVERFLOW 7      // decode: a score or an output overflowed fp32 (the query is too large for the keys)

#define KVQ_FORM_NONE 0         // no outliers
#define KVQ_FORM_FIXED 1        // QuantSpec.OutlierForm.FIXED_SLOTS
#define KVQ_FORM_SPARSE 2       // QuantSpec.OutlierForm.TOKEN_MAJOR_SPARSE

#define KVQ_ROPE_INTERLEAVED 0  // RopePairing.INTERLEAVED: channels (2i, 2i+1), frequency i
#define KVQ_ROPE_ROTATE_HALF 1  // RopePairing.ROTATE_HALF: channels (i, i+d/2), frequency i

// ===================================== RoPE step table =========================================
// steps[i·T + r] = (cos(r·ω_i), sin(r·ω_i)) for r in [0, T): the angle addition table of the key
// score kernels. Angles and their sine/cosine are formed in fp64 (once per geometry), then rounded.
// Grid: ⌈(d/2)·T / 256⌉ blocks of 256 threads, no shared memory.
extern "C" __global__ void kvq_rope_steps(
        float2* __restrict__ steps,          // [d/2][T] (cos, sin), written
        const float* __restrict__ invFreq,   // [d/2] ω_i, fp32 (Rope.invFreq())
        int halfDim);                        // d/2

// ======================================== packing ==============================================
// Keys of n tokens: per-channel nearest code of (k − z_c)/s_c, the Gc·b words of each token's slot
// written whole (tokens own their words), and with the fixed-slot form the ≤ cap largest outliers
// per side (by |u|, ties to the lower channel) as fp16 residuals k − keyTable[c][code] in Sk slots
// sorted by channel, unused slots (0, +0). For the sparse form pass form = KVQ_FORM_SPARSE: the
// uncapped outlier count of token t goes to keyOutCount[t] and kvq_key_sparse_starts /
// kvq_key_sparse_entries write the entries. Keys are pre-RoPE and must be fp16-range finite
// (the Java side checks that before upload, like KeyQuantizer).
// Grid: n blocks of KVQ_PACK_THREADS threads; static shared memory only.
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
        int* __restrict__ error);                  // [1] or null

// Token-major sparse keys, step 2: start pointers. Tokens must be grouped by sequence with
// ascending consecutive slots (as appends produce them). entry start of token t =
// seqKeyEntries[seq] + counts of the earlier tokens of that sequence; writes keyOutStart[r] and
// keyOutStart[r+1] in the pages and advances seqKeyEntries.
// Grid: 1 block (any size; thread 0 walks the tokens in order: a few loads and stores per token).
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
        int* __restrict__ error);                  // [1] or null

// Token-major sparse keys, step 3: every outlier of token t (x > hi_c or x < lo_c, uncapped) as
// (channel, fp16 k − keyTable[c][code]) at entries [keyOutStart[r], keyOutStart[r+1]), ascending
// channels. Grid: n blocks of KVQ_PACK_THREADS threads; static shared memory only.
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
        int* __restrict__ error);                  // [1] or null

// Values of n tokens: per token the top-k rule (n_v = topK; hi/lo = n_v-th largest/smallest under
// (value, channel); the n_v − 1 beyond each side are outliers with the middle code C/2 − 1), z and
// s rounded to fp16 and stored, codes put into the token-packed words with atomicAnd + atomicOr of
// the token's own bits (32 tokens share a word, appends of one group arrive in different launches,
// and a slot may be re-packed after a failed append; new pages start zeroed),
// outliers as fp16 v − (z + s·c'_V[mid]) in Sv fixed slots (ascending channels) or as sparse
// entries [slot·Sv, (slot+1)·Sv) with valueOutStart[r] = slot·Sv, valueOutStart[r+1] = (slot+1)·Sv.
// topK = 0: min/max, no outliers. Grid: n blocks of KVQ_PACK_THREADS threads; static shared only.
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
        int* __restrict__ error);                  // [1] or null

// Sink tokens (positions < S of a nuq cache) and fp16-baseline tokens are stored rotated: the key
// element j becomes k_j·cos − k_p·sin (j first of its pair) or k_j·cos + k_p·sin, with cos/sin of the
// exact angle pos·ω in fp64 rounded to fp32 and fp32 products without FMA (Rope.apply), then fp16.
//
// kvq_sinks_append: token t is sink i = tokenSlot[t] (< S) of sequence tokenSeq[t], at position
// seqFirstPos[s] + i; writes sinks[s][0][i][·] (post-RoPE keys) and sinks[s][1][i][·] (values).
// Grid: n blocks of 128 threads; no shared memory.
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
        int* __restrict__ error);                  // [1] first KVQ_ERR_* code, or null

// kvq_fp16_append: the fp16 baseline's append. Token t is slot tokenSlot[t] of sequence
// tokenSeq[t] (fp16 caches have no sinks: slot = position − seqFirstPos); writes keys[h][j][r]
// (post-RoPE) and values[h][r][j] of its page. Grid: n blocks of 128 threads; no shared memory.
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
        int* __restrict__ error);                  // [1] first KVQ_ERR_* code, or null

// ===================================== decode step =============================================
// Scaled scores q·RoPE(k)·scale of every stored token (sinks and packed slots) for all query heads.
// The CPU multiplies the query by scale = (float)(1/√d) first (CpuAttention.scores); so does this.
// Block (tile, h, s) decodes tokens [tile·T, tile·T+T) of KV head h of sequence s once and serves all
// G query heads of the group from that read; the fixed-slot key outliers of the same tokens are
// added in the same thread before the single store (no atomics). Blocks with tile == 0 also score
// the sinks. RoPE: q·R(φ_b + φ_r)k = (R(φ_b)ᵀq)·(R(φ_r)k): the G queries are rotated once by the
// tile's base angle (cos/sin in fp64, d/2 per block) and each token reads (cos, sin)(r·ω) from the
// step table.
// Grid: (⌈max seqPacked / T⌉ (at least 1), Hkv, B); block T threads;
// dynamic shared memory = (16·d + G·d + d) · 4 bytes (LUT, scaled queries, base cos/sin);
// above 48 KiB the host must raise CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES.
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
        int* __restrict__ error);                  // [1] or null

// Sparse key residuals (TOKEN_MAJOR_SPARSE), the balanced pass: thread k of sequence s takes
// entries [k·KVQ_SPARSE_PER_THREAD, +KVQ_SPARSE_PER_THREAD) of the sequence, finds their tokens by
// a binary search over keyOutStart, and adds res·(cos·q_j + σ·sin·q_partner)·… for each query head
// of the channel's group with atomicAdd (several threads may share a token). Runs after
// kvq_key_scores on the same stream. Angles per entry in fp64.
// Grid: (⌈max entries / (KVQ_SPARSE_PER_THREAD·KVQ_SPARSE_THREADS)⌉ (at least 1), B);
// block KVQ_SPARSE_THREADS; no shared memory. "max entries" is the largest key entry count of a
// sequence; the host knows it from its appends (it counts outliers to size the chunk tables, as
// Occupancy.keyOutliers does), an upper bound is fine (extra threads return at once).
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
        int* __restrict__ error);                  // [1] first KVQ_ERR_* code, or null

// Numerically stable fp32 softmax in place over scores[s][q][0, seqSinks[s] + seqPacked[s]).
// Grid: (Hq, B); block 256 threads; static shared memory.
extern "C" __global__ void kvq_softmax(
        float* __restrict__ scores,                // [B][Hq][scoreStride]
        const int* __restrict__ seqPacked,         // [B]
        const int* __restrict__ seqSinks,          // [B]
        int queryHeads,                            // Hq
        int scoreStride);                          // row length of scores (≥ max sinks + packed)

// Packed values, split over token tiles: block (tile, h, s) computes for each query head q of the
// group and channel j: Σ_{r in tile} w_r·(z_r + s_r·c'_V[code]) + the fixed-slot residuals
// w_r·res of the tile's tokens, into partials[s][q][tile][j]. One decode of the packed words serves
// the G query heads. Residuals are added through shared-memory atomics (order may vary in the last
// bits). Grid: (⌈max seqPacked / TV⌉ (at least 1), Hkv, B); block 256 threads; dynamic shared
// memory = (G·TV + G + 2048 + G·d + 16) · 4 bytes (weights×scales, Σ weight×zero, cross-lane sums
// [8][256], residuals, the value LUT); above 48 KiB the host raises the dynamic shared memory limit.
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
        int* __restrict__ error);                  // [1] first KVQ_ERR_* code, or null

// out[s][q][j] = Σ_i w_i·sinkValue_i[j] + Σ_tiles partials[s][q][tile][j] in tile order
// (deterministic). Grid: (Hq, B); block = d threads (8..256); no shared memory.
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
        int groupSize);                            // G = Hq / Hkv

// Sparse value residuals (TOKEN_MAJOR_SPARSE): every token has exactly Sv entries, entry e of a
// sequence belongs to slot e / Sv, so each thread takes KVQ_SPARSE_PER_THREAD consecutive entries
// and adds w·res to out with atomicAdd. Runs after kvq_value_reduce.
// Grid: (⌈max seqPacked·Sv / (KVQ_SPARSE_PER_THREAD·KVQ_SPARSE_THREADS)⌉ (at least 1), B);
// block KVQ_SPARSE_THREADS; no shared memory.
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
        int* __restrict__ error);                  // [1] first KVQ_ERR_* code, or null

// ===================================== fp16 baselines ==========================================
// Scores over fp16 post-RoPE keys keys[h][j][r] (PageLayout FP16 pages, no sinks): each thread
// owns two adjacent tokens (one half2 load per channel row, coalesced across the warp) and serves
// all G query heads. Grid: (⌈max seqTokens / (2·T)⌉ (at least 1), Hkv, B); block T threads;
// dynamic shared memory = G·d·4 bytes.
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
        int* __restrict__ error);                  // [1] first KVQ_ERR_* code, or null

// fp16 value matvec over values[h][r][j], split over tiles of TV tokens like kvq_value_partials
// (reduce with kvq_value_reduce, sinkCap 0): each thread loads 8 channels of one token row at once
// (16-byte loads, coalesced along the row). Grid: (⌈max seqTokens / TV⌉ (at least 1), Hkv, B);
// block 256 threads; dynamic shared memory = (G·TV + 8192) · 4 bytes (weights, cross-lane sums [4][2048]).
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
        int* __restrict__ error);                  // [1] first KVQ_ERR_* code, or null

// ============================================================================================
// Decode v2 (issue 15): fused FlashDecoding-style decode over page format v2 (kvq_layout_v2.cuh
// gives the shapes and index rules), the split merge, fp16 baselines of the same structure, and the
// v2 appends. Added next to the v1 kernels above, which stay as they are.
//
// Decode step: kvq_decode_packed_* (or kvq_decode_fp16_*) → kvq_decode_merge, on one stream. The
// decode kernels are FAMILIES: the entry named here is the generic fallback; the specialized
// instances have the same parameters and are named
//   kvq_decode_packed_b{b}_g{G}_d{d}   b ∈ {2,3,4}, G ∈ {1,2,4,8}, d ∈ {64,128,256}, P a power of two
//   kvq_decode_fp16_g{G}_d{d}          G ∈ {1,2,4,8}, d ∈ {64,128,256}
// and each instance's dynamic shared memory is the PTX constant <entry>_smem (u32 bytes).
// An instance launched for another shape (or pages of 2 GiB or more) sets KVQ_ERR_SHAPE and does nothing.
// Launch geometry (all decode kernels): grid (splits, Hkv, B), block KVQ_DECODE_THREADS = 512,
// dynamic shared memory per the constant / KernelSignatures; above 48 KiB the host raises
// CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES. splits ≥ 1 is free (≈ 2–4 × SMs ÷ (B·Hkv));
// block (k, h, s) takes the k-th of `splits` equal ranges of the sequence's packed slots read from
// the pages (in tiles of 32 or 64), and split 0 also the sinks and the recent window.
// Outputs per (s, q, split): partialOut [d] = Σ p·v (unnormalized, p relative to the split's max),
// partialStats [2] = (max score, Σ p); a split without tokens writes (−inf, 0) and zeros.
// Debug: with scores ≠ null every score (scaled q·k, before softmax) is written at index t < sinks
// for sink t, sinks + i for packed slot i (window slots included), as kvq_key_scores orders them.

// Packed decode over format v2 pages (fixed-slot or no outliers; uniform width b).
extern "C" __global__ void kvq_decode_packed(
        const unsigned char* __restrict__ pool,    // [poolPages][pageBytes] page pool (format v2), read
        long long pageBytes,                       // PageLayout.pageBytes()
        long long keyCodesOff,                     // keyCodes int32 [Kw][P]
        long long keyOutChannelOff,                // keyOutChannel int16 [P][Sk] (keySlots > 0)
        long long keyOutValueOff,                  // keyOutValue fp16 [P][Sk] (keySlots > 0)
        long long keyOutHeadEndOff,                // keyOutHeadEnd uint8 [P][Hkv] (keySlots > 0)
        long long valueCodesOff,                   // valueCodes int32 [Hkv][P/32][b][d]
        long long valueZeroOff,                    // valueZero fp16 [P]
        long long valueScaleOff,                   // valueScale fp16 [P]
        long long valueOutChannelOff,              // valueOutChannel int16 [P][Sv] (valueSlots > 0)
        long long valueOutValueOff,                // valueOutValue fp16 [P][Sv] (valueSlots > 0)
        long long valueOutHeadEndOff,              // valueOutHeadEnd uint8 [P][Hkv] (valueSlots > 0)
        const int* __restrict__ pageTable,         // [B][maxPages]
        int maxPages,                              // row length of pageTable
        int poolPages,                             // pages in the pool (bounds check)
        int pageTokens,                            // P (% 32 == 0; a power of two for the instances)
        const int* __restrict__ seqPacked,         // [B] packed slots (all in the pages)
        const int* __restrict__ seqSinks,          // [B] sink tokens stored (0..S)
        const long long* __restrict__ seqFirstPos, // [B] RoPE position of each sequence's first token
        int sinkCap,                               // S
        int windowCap,                             // N (recent-window ring slots; 0: none)
        const unsigned long long* __restrict__ seqSide, // [B] address of sequence b's side buffer [2][S+N][D] fp16, or null
        const float* __restrict__ query,           // [B][Hq][d] post-RoPE, unscaled
        float scale,                               // (float)(1/√d), multiplied into the query first
        const float* __restrict__ keyTable,        // [D][16] z_c + s_c·c'_K[x mod C]
        const float* __restrict__ valueTable,      // [16] c'_V[x mod C]
        const float* __restrict__ invFreq,         // [d/2] ω_i, fp32
        int pairing,                               // KVQ_ROPE_INTERLEAVED or KVQ_ROPE_ROTATE_HALF
        int headDim,                               // d
        int kvHeads,                               // Hkv
        int groupSize,                             // G = Hq / Hkv
        int bits,                                  // b (2, 3, 4)
        int keySlots,                              // Sk (0: no key outliers), ≤ 255
        int valueSlots,                            // Sv (0: no value outliers), ≤ 255
        float* __restrict__ partialOut,            // [B][Hq][splits][d], written
        float* __restrict__ partialStats,          // [B][Hq][splits][2] (max, Σp), written
        float* __restrict__ scores,                // debug: [B][Hq][scoreStride] or null
        int scoreStride,                           // row length of scores (≥ max sinks + packed)
        int* __restrict__ error);                  // [1] first KVQ_ERR_* code, or null

// Packed decode over format v2 pages whose channels have different widths (a width plan: a Fisher bit
// allocation, kvq_layout_v2.cuh), else as kvq_decode_packed: keys by the head's width runs, values by its
// width groups, the width fixed inside each loop. Dynamic shared memory: the PTX constants
// kvq_decode_packed_groups_smem_fixed + d · kvq_decode_packed_groups_smem_per_d.
extern "C" __global__ void kvq_decode_packed_groups(
        const unsigned char* __restrict__ pool,    // [poolPages][pageBytes] page pool (format v2), read
        long long pageBytes,                       // PageLayout.pageBytes()
        long long keyCodesOff,                     // keyCodes int32 [Kw][P], Kw = ⌈Σ w/32⌉
        long long keyOutChannelOff,                // keyOutChannel int16 [P][Sk] (keySlots > 0)
        long long keyOutValueOff,                  // keyOutValue fp16 [P][Sk] (keySlots > 0)
        long long keyOutHeadEndOff,                // keyOutHeadEnd uint8 [P][Hkv] (keySlots > 0)
        long long valueCodesOff,                   // valueCodes int32 [P/32 · Σ_h W_h] (width groups)
        long long valueZeroOff,                    // valueZero fp16 [P]
        long long valueScaleOff,                   // valueScale fp16 [P]
        long long valueOutChannelOff,              // valueOutChannel int16 [P][Sv] (valueSlots > 0)
        long long valueOutValueOff,                // valueOutValue fp16 [P][Sv] (valueSlots > 0)
        long long valueOutHeadEndOff,              // valueOutHeadEnd uint8 [P][Hkv] (valueSlots > 0)
        const int* __restrict__ pageTable,         // [B][maxPages]
        int maxPages,                              // row length of pageTable
        int poolPages,                             // pages in the pool (bounds check)
        int pageTokens,                            // P (% 32 == 0; a power of two for the instances)
        const int* __restrict__ seqPacked,         // [B] packed slots (all in the pages)
        const int* __restrict__ seqSinks,          // [B] sink tokens stored (0..S)
        const long long* __restrict__ seqFirstPos, // [B] RoPE position of each sequence's first token
        int sinkCap,                               // S
        int windowCap,                             // N (recent-window ring slots; 0: none)
        const unsigned long long* __restrict__ seqSide, // [B] address of sequence b's side buffer [2][S+N][D] fp16, or null
        const float* __restrict__ query,           // [B][Hq][d] post-RoPE, unscaled
        float scale,                               // (float)(1/√d), multiplied into the query first
        const float* __restrict__ keyTable,        // [D][64] z_c + s_c·c'_K,c[x mod 2^w_c]
        const float* __restrict__ valueTable,      // [7][64] c'_V,w[x mod 2^w] by width w
        const int* __restrict__ widthPlan,         // the layer's width plan (kvq_layout_v2.cuh)
        const float* __restrict__ invFreq,         // [d/2] ω_i, fp32
        int pairing,                               // KVQ_ROPE_INTERLEAVED or KVQ_ROPE_ROTATE_HALF
        int headDim,                               // d
        int kvHeads,                               // Hkv
        int groupSize,                             // G = Hq / Hkv
        int bits,                                  // the widest code of the layer (not read)
        int keySlots,                              // Sk (0: no key outliers), ≤ 255
        int valueSlots,                            // Sv (0: no value outliers), ≤ 255
        float* __restrict__ partialOut,            // [B][Hq][splits][d], written
        float* __restrict__ partialStats,          // [B][Hq][splits][2] (max, Σp), written
        float* __restrict__ scores,                // debug: [B][Hq][scoreStride] or null
        int scoreStride,                           // row length of scores (≥ max sinks + packed)
        int* __restrict__ error);                  // [1] first KVQ_ERR_* code, or null

// fp16 baseline decode over fp16 pages (keys post-RoPE [Hkv][d][P], values [Hkv][P][d]; no sinks).
extern "C" __global__ void kvq_decode_fp16(
        const unsigned char* __restrict__ pool,    // [poolPages][pageBytes] page pool, read
        long long pageBytes,                       // bytes per page, PageLayout.pageBytes()
        long long keysOff,                         // keys fp16 [Hkv][d][P]
        long long valuesOff,                       // values fp16 [Hkv][P][d]
        const int* __restrict__ pageTable,         // [B][maxPages]
        int maxPages,                              // row length of pageTable
        int poolPages,                             // pages in the pool (bounds check)
        int pageTokens,                            // P (% 32 == 0)
        const int* __restrict__ seqTokens,         // [B] tokens stored
        const float* __restrict__ query,           // [B][Hq][d] post-RoPE, unscaled
        float scale,                               // (float)(1/√d), multiplied into the query first
        int headDim,                               // d
        int kvHeads,                               // Hkv
        int groupSize,                             // G = Hq / Hkv
        float* __restrict__ partialOut,            // [B][Hq][splits][d], written
        float* __restrict__ partialStats,          // [B][Hq][splits][2] (max, Σp), written
        float* __restrict__ scores,                // debug: [B][Hq][scoreStride] or null
        int scoreStride,                           // row length of scores (≥ max tokens)
        int* __restrict__ error);                  // [1] first KVQ_ERR_* code, or null

// out[s][q] = Σ_k e^{m_k−M}·partialOut_k / Σ_k e^{m_k−M}·l_k over the splits in order (0 for a
// sequence without tokens); an overflowed score or output records KVQ_ERR_OVERFLOW. Grid (Hq, B); block
// KVQ_MERGE_THREADS = 128; no shared memory.
extern "C" __global__ void kvq_decode_merge(
        const float* __restrict__ partialOut,      // [B][Hq][splits][d]
        const float* __restrict__ partialStats,    // [B][Hq][splits][2]
        int splits,                                // splits of the decode launch
        float* __restrict__ out,                   // [B][Hq][d], written
        int headDim,                               // d
        int queryHeads,                            // Hq
        int* __restrict__ error);                  // [1] first KVQ_ERR_* code (KVQ_ERR_OVERFLOW), or null

// Keys of n tokens into format v2 pages: the codes of kvq_pack_keys in the v2 physical order (RoPE
// pairs adjacent, Kw = ⌈D·b/32⌉ words per slot, written whole), the fixed-slot outliers exactly as
// kvq_pack_keys, plus keyOutHeadEnd. With a width plan each channel has its width (0–6), place and
// midpoints from the plan (Kw = ⌈Σ w/32⌉). Grid: n blocks of KVQ_PACK_THREADS; static shared memory only.
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
        int* __restrict__ error);                  // [1] first KVQ_ERR_* code, or null

// Values of n tokens into format v2 pages: exactly kvq_pack_values (uniform width: v2 value codes,
// z/s and fixed slots are v1's bytes) plus valueOutHeadEnd; with a width plan the codes go to their
// width groups (an outlier's residual against its own width's middle code). Grid: n blocks of
// KVQ_PACK_THREADS.
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
        int* __restrict__ error);                  // [1] first KVQ_ERR_* code, or null

// Sinks and the recent window (format v2 §5): token t at index p = tokenSlot[t] of its sequence goes,
// RoPE-rotated at position seqFirstPos + p and in fp16, to side slot p (p < S) or S + (p − S) mod N
// (p ≥ S, N > 0); with N = 0 tokens past the sinks are not stored. One launch must not hold two
// tokens of a sequence with the same side slot (send at most the last N non-sink tokens).
// Grid: n blocks of 128 threads; no shared memory.
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
        int* __restrict__ error);                  // [1] first KVQ_ERR_* code, or null
