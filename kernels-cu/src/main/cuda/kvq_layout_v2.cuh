// kvq_layout_v2.cuh: the kernel-side view of page format v2 (FORMAT-V2.md; the Java PageLayout and
// ChannelPlan are its definition, docs/FORMATS.md its text). Every index rule of v2 the CUDA kernels use is
// written here once; the kernels and the host reference decode both call these functions. Part
// offsets inside a page are NOT derived here: they are PageLayout.offset(part), passed to the kernels
// as byte offsets, as for v1.
//
// Scope: uniform widths (every key pair and value channel has width b ∈ {2, 3, 4}; the rules below), and
// the width-group plans of a Fisher bit allocation (issue 13: widths 0–6 per key pair and value channel;
// the width plan at the end of this file). Outliers: fixed slots (FIXED_SLOTS) or none.
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

// ============================================================================ width-group plans
// A layer whose channels have different widths (QuantSpec.allocated(): nuqaB, the presets kvq4/kvq3/kvq2)
// stores its codes as FORMAT-V2.md §2–3 say for any widths: keys one little-endian stream per token in
// physical key order (head-major; in a head its RoPE pairs widest first, a pair's two codes adjacent, so
// a pair of width w is one 2w-bit field), values per head and 32-token group as width groups of rows
// [w_g][n_g]. The kernels do not derive that order: they read it from the layer's width plan, int32,
// built once per layer on the host from ChannelPlan (KvKernels.widthPlan), laid out as
//   keyWidth     [D]          logical key channel c → its code width (0–6, equal within a RoPE pair)
//   keyChannel   [D]          physical key position i → logical channel (head-major)
//   keyBit       [D]          physical key position i → first bit o_i of its code in the token's stream
//   keyPairs     [Hkv][d/2]   head h's pairs in physical order: first | partner << 10 | frequency << 20
//                             (in-head channels, first = the RoPE pair's first channel, its code in the
//                             low w bits of the field)
//   keyRuns      [Hkv][8][2]  head h's runs of equal width in that order: (width, pairs); pairs 0 = unused
//   valueWidth   [D]          logical value channel c → its code width
//   valueWord    [D]          logical c → its row-0 word from the start of its head's token group
//                             (the group's word offset + c's position in the group)
//   valueRows    [D]          logical c → n of its width group: words from one bit row to the next
//   valueBefore  [Hkv]        Σ_{h'<h} W_h' (W_h = Σ_{j∈h} w_j value words per head and token group)
//   valueWords   [Hkv]        W_h
//   valueChannel [D]          h·d + physical in-head position i → in-head logical channel
//   valueGroups  [Hkv][8][4]  head h's width groups, widest first: (width, n, position, wordOffset);
//                             n 0 = unused
// Value word of (logical c in head h, page slot r, bit row k): (P/32)·valueBefore[h] + (r/32)·W_h +
// valueWord[c] + k·valueRows[c]; token e = r mod 32 at bits [w·e, w·e + w) of the channel's rows.
// The code tables of such a layer have KVQ_WP_ENTRIES entries per channel (keys [D][64]) or width
// (values [7][64]); a width-0 code reads entry 0 (the zero-point for keys, c'_V[0] for values).

#define KVQ_WP_RUNS 8        // runs / groups per head a plan holds (widths 0–6 give at most 7)
#define KVQ_WP_ENTRIES 64    // table entries per key channel and per value width (2^6)
#define KVQ_WP_MAX_WIDTH 6

enum KvqWidthPlanPart : int {
    KVQ_WP_KEY_WIDTH = 0, KVQ_WP_KEY_CHANNEL, KVQ_WP_KEY_BIT, KVQ_WP_KEY_PAIRS, KVQ_WP_KEY_RUNS, KVQ_WP_VALUE_WIDTH,
    KVQ_WP_VALUE_WORD, KVQ_WP_VALUE_ROWS, KVQ_WP_VALUE_BEFORE, KVQ_WP_VALUE_WORDS, KVQ_WP_VALUE_CHANNEL,
    KVQ_WP_VALUE_GROUPS, KVQ_WP_PARTS
};

/** int32 offset of `part` in the width plan of Hkv heads of d channels (KvKernels.WidthPlan mirrors it). */
KVQ_HD int kvq_wp_offset(int part, int kvHeads, int d) {
    // the sizes of the parts before `part`, as a sum the compiler folds for a constant part (no local array)
    int D = kvHeads * d;
    int dParts = (part > 0) + (part > 1) + (part > 2) + (part > 5) + (part > 6) + (part > 7) + (part > 10);
    return dParts * D + (part > 3) * kvHeads * (d / 2) + (part > 4) * kvHeads * KVQ_WP_RUNS * 2
            + ((part > 8) + (part > 9)) * kvHeads + (part > 11) * kvHeads * KVQ_WP_RUNS * 4;
}

/** Key stream bits per token of a width plan: the end of its last physical channel's code. */
KVQ_HD int kvq_wp_key_bits(const int* plan, int kvHeads, int d) {
    int D = kvHeads * d;
    int last = plan[kvq_wp_offset(KVQ_WP_KEY_CHANNEL, kvHeads, d) + D - 1];
    return plan[kvq_wp_offset(KVQ_WP_KEY_BIT, kvHeads, d) + D - 1] + plan[kvq_wp_offset(KVQ_WP_KEY_WIDTH, kvHeads, d) + last];
}

/**
 * Word k of a token's key stream under a width plan: the codes of the physical channels whose bits meet
 * [32k, 32k + 32) (codeOf(c) gives logical channel c's code). The first such channel comes from a binary
 * search over the channels' end bits, which never decrease along the stream.
 */
template <class CodeOf>
KVQ_HD uint32_t kvq_wp_key_word(const int* plan, int kvHeads, int d, int k, CodeOf codeOf) {
    int D = kvHeads * d;
    const int* width = plan + kvq_wp_offset(KVQ_WP_KEY_WIDTH, kvHeads, d);
    const int* channel = plan + kvq_wp_offset(KVQ_WP_KEY_CHANNEL, kvHeads, d);
    const int* bit = plan + kvq_wp_offset(KVQ_WP_KEY_BIT, kvHeads, d);
    int from = 32 * k;
    int lo = 0;
    int hi = D;
    while (lo < hi) {  // first physical channel whose code ends after bit `from`
        int mid = (lo + hi) >> 1;
        if (bit[mid] + width[channel[mid]] <= from) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    uint32_t word = 0;
    for (int i = lo; i < D && bit[i] < from + 32; i++) {
        int c = channel[i];
        if (width[c] == 0) {
            continue;
        }
        uint32_t code = (uint32_t) codeOf(c);
        int at = bit[i] - from;
        word |= at >= 0 ? code << at : code >> (-at);
    }
    return word;
}
