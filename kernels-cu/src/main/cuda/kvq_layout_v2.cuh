// kvq_layout_v2.cuh: the kernel-side view of page format v2 (the agreed draft, FORMAT-V2.md; the Java
// PageLayout v2 is its definition once it exists). Every index rule of v2 the CUDA kernels use is
// written here once; the kernels and the host reference decode both call these functions. Part
// offsets inside a page are NOT derived here: they are PageLayout.offset(part), passed to the kernels
// as byte offsets, as for v1.
//
// Scope: uniform widths (every key pair and value channel has width b ∈ {2, 3, 4}); the width-group
// plans of issue 13 are not handled by these kernels. Outliers: fixed slots (FIXED_SLOTS) or none.
//
// Notation: D = Hkv·d channels per token, P = page tokens (% 32 == 0), S = sink capacity,
// N = recent-window capacity, Sk / Sv = fixed key / value outlier slots per token.
//
//   keyCodes        int32 [Kw][P]        word k of slot r at k·P + r (tokens contiguous, as v1);
//                                        Kw = ⌈D·b/32⌉. Per token one little-endian bit stream in
//                                        PHYSICAL key order: head-major, and inside head h each RoPE
//                                        pair (first, partner) adjacent, pairs by frequency index:
//                                        physical channel 2i = first of pair i, 2i+1 = its partner.
//                                        INTERLEAVED: pair i = (2i, 2i+1), so physical = logical (v1).
//                                        ROTATE_HALF: pair i = (i, i + d/2).
//                                        Physical channel i of head h: stream bits [b·(h·d + i), +b);
//                                        stream bit B is bit B mod 32 of word ⌊B/32⌋. So pair i of
//                                        head h is ONE 2b-bit field at bit 2b·(h·d/2 + i): low b bits
//                                        the first channel's code, high b bits the partner's.
//   valueCodes      int32 [Hkv][P/32][b][d]   word of (head h, token group tg, bit row w, channel j)
//                                        at ((h·P/32 + tg)·b + w)·d + j; per channel and token group
//                                        a 32·b-bit stream along tokens, token e at bits [b·e, +b).
//                                        (= v1 [Hkv][P/32·b][d], byte for byte.) Two adjacent tokens
//                                        (2m, 2m+1) are one 2b-bit field at bit 2b·m.
//   valueZero       fp16 [P]             per-token zero-point z_t (whole D vector, spec §4)
//   valueScale      fp16 [P]             per-token scale s_t
//   keyOutChannel   int16 [P][Sk]        slot i of row r at r·Sk + i: ascending LOGICAL channel
//   keyOutValue     fp16  [P][Sk]        (c = h·d + j), unused slots (0, +0) at the end (as v1)
//   keyOutHeadEnd   uint8 [P][Hkv]       end (exclusive) of head h's slots in row r's list, at
//                                        r·Hkv + h; head h owns slots [end[h−1], end[h]), end[−1] = 0
//   valueOutChannel / valueOutValue / valueOutHeadEnd: the same for values ([P][Sv], [P][Hkv])
//   side buffer     fp16 [2][S+N][D]     per sequence (the decode kernels find sequence b's at seqSide[b];
//                                        kvq_side_append writes [B] of them back to back): post-RoPE keys
//                                        [S+N][D], then values [S+N][D],
//                                        LOGICAL channel order. Slots [0, S): the sinks. Slots
//                                        [S, S+N): the recent-token ring: packed slot i (the token at
//                                        index S + i of its sequence) lives in ring slot S + (i mod N).
//                                        Every packed slot is also in the pages; a decode step reads
//                                        sinks, packed slots [0, packed − inWindow) from the pages and
//                                        the last inWindow = min(N, packed) slots from the ring.
#pragma once

#include "kvq_kernels.cuh"
#include "kvq_math.cuh"

#define KVQ_V2_MAX_SLOTS 255    // Sk, Sv ≤ 255: the per-head ends are uint8 (FORMAT-V2 §4)

/** In-head physical key channel of logical in-head channel j (the inverse of kvq_v2_key_logical). */
KVQ_HD int kvq_v2_key_physical(int pairing, int j, int d) {
    if (pairing == KVQ_ROPE_INTERLEAVED) {
        return j;
    }
    return j < d / 2 ? 2 * j : 2 * (j - d / 2) + 1;
}

/** Logical in-head channel of physical key channel i: the first (i even) or partner (i odd) of pair i/2. */
KVQ_HD int kvq_v2_key_logical(int pairing, int i, int d) {
    if (pairing == KVQ_ROPE_INTERLEAVED) {
        return i;
    }
    return (i & 1) == 0 ? i / 2 : i / 2 + d / 2;
}

/** Logical in-head channels (first, partner) of RoPE pair i; its frequency index is i. */
KVQ_HD void kvq_v2_pair_channels(int pairing, int i, int d, int* first, int* partner) {
    *first = kvq_v2_key_logical(pairing, 2 * i, d);
    *partner = kvq_v2_key_logical(pairing, 2 * i + 1, d);
}

/** Bit of physical channel i of head h in a token's key stream (uniform width b). */
KVQ_HD long long kvq_v2_key_bit(int bits, int d, int h, int i) {
    return (long long) bits * ((long long) h * d + i);
}

/** Key words per token, Kw = ⌈D·b/32⌉ (uniform width). */
KVQ_HD int kvq_v2_key_words(int bits, int channels) {
    return (channels * bits + 31) / 32;
}

/** int32 index (from keyCodes) of word k of row r. */
KVQ_HD long long kvq_v2_key_word_index(int k, int r, int pageTokens) {
    return (long long) k * pageTokens + r;
}

/** int32 index (from valueCodes) of (head h, token group tg, bit row w, channel j). */
KVQ_HD long long kvq_v2_value_word_index(int h, int tg, int w, int j, int pageTokens, int bits, int d) {
    return (((long long) h * (pageTokens / 32) + tg) * bits + w) * d + j;
}

/** The slot range [*begin, *end) of head h in row r of a fixed-slot list with per-head ends [P][Hkv]. */
KVQ_HD void kvq_v2_head_slots(const unsigned char* headEnd, int r, int kvHeads, int h, int* begin, int* end) {
    const unsigned char* row = headEnd + (long long) r * kvHeads;
    *begin = h > 0 ? row[h - 1] : 0;
    *end = row[h];
}

/** Side-buffer slot of the token at index p of its sequence (p < S: sink p; else ring slot), or -1 if none. */
KVQ_HD int kvq_v2_side_slot(long long p, int sinkCap, int windowCap) {
    if (p < sinkCap) {
        return (int) p;
    }
    return windowCap > 0 ? sinkCap + (int) ((p - sinkCap) % windowCap) : -1;
}

/** fp16 index (from the side buffer) of channel c of side slot e, keys (part 0) or values (part 1). */
KVQ_HD long long kvq_v2_side_index(int seq, int part, int e, int c, int sideCap, int channels) {
    return (((long long) seq * 2 + part) * sideCap + e) * channels + c;
}
