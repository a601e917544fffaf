// kvq_append_v2.cuh: the append bodies of page format v2 (kvq_layout_v2.cuh): keys with RoPE pairs
// adjacent and per-head outlier ends, values (v1's bytes at uniform width; width groups under a width
// plan) with per-head ends, and
// the fp16 side buffer (sinks + recent-window ring). They reuse the v1 bodies for everything the two
// formats share (codes, outlier selection, rotated fp16 rows).
#pragma once

#include "kvq_bodies.cuh"
#include "kvq_layout_v2.cuh"

/**
 * Per-head ends of a fixed-slot list whose count channels sorted[0, count) ascend: ends[h] = number of
 * channels below (h+1)·d, as uint8 (count ≤ 255 is checked by the callers).
 */
template <class Team>
KVQ_HD void kvq_v2_store_head_ends(const Team& team, unsigned char* ends, int kvHeads, int d, const int* sorted,
                                   int count) {
    for (int h = team.rank(); h < kvHeads; h += team.size()) {
        int limit = (h + 1) * d;
        int lo = 0;
        int hi = count;
        while (lo < hi) {  // first index whose channel is ≥ limit
            int mid = (lo + hi) >> 1;
            if (sorted[mid] < limit) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        ends[h] = (unsigned char) lo;
    }
}

/** The entry check of kvq_pack_keys_v2: a form, slot count, stream length and midpoint stride it writes. */
KVQ_HD bool kvq_pack_keys_v2_shape_ok(int channels, int headDim, int kvHeads, int bits, int keyWords, int form,
                                      int keySlots, int keyMidStride, const int* plan) {
    if (form == KVQ_FORM_SPARSE || keySlots > KVQ_V2_MAX_SLOTS) {
        return false;
    }
    if (plan == nullptr) {
        return keyWords == kvq_v2_key_words(bits, channels) && (keyMidStride == 0 || keyMidStride == 16);
    }
    return keyMidStride == KVQ_WP_ENTRIES && keyWords == (kvq_wp_key_bits(plan, kvHeads, headDim) + 31) / 32;
}

/**
 * kvq_pack_keys_v2 for token t; under a width plan (`plan` non-null, a.keyWidth its key widths) the words
 * come from the plan's physical order and bit offsets. Shared: sel, sorted [2·KVQ_MAX_CAP].
 */
template <class Team>
KVQ_HD void kvq_pack_key_token_v2(const Team& team, const KvqKeyPack& a, long long headEndOff, int headDim,
                                  int kvHeads, int keyWords, int pairing, const int* plan, int t, int* sel,
                                  int* sorted) {
    int r;
    unsigned char* page = kvq_token_page(a, t, &r);
    if (page == nullptr) {
        return;
    }
    const float* x = a.keys + (long long) t * a.channels;
    uint32_t* codes = reinterpret_cast<uint32_t*>(page + a.keyCodesOff);
    for (int w = team.rank(); w < keyWords && plan != nullptr; w += team.size()) {
        codes[kvq_v2_key_word_index(w, r, a.pageTokens)] = kvq_wp_key_word(plan, kvHeads, headDim, w, [&](int c) {
            return kvq_key_code(a, x, c);
        });
    }
    for (int w = team.rank(); w < keyWords && plan == nullptr; w += team.size()) {
        // physical channel pc of the stream holds the code of logical channel h·d + logical(pc − h·d)
        codes[kvq_v2_key_word_index(w, r, a.pageTokens)] = kvq_key_word(w, a.bits, a.channels, [&](int pc) {
            int h = pc / headDim;
            return kvq_key_code(a, x, h * headDim + kvq_v2_key_logical(pairing, pc - h * headDim, headDim));
        });
    }
    if (a.form != KVQ_FORM_FIXED || a.keySlots <= 0) {
        return;
    }
    int count = kvq_key_fixed_slots(team, a, x, page, r, sel, sorted);
    if (count >= 0) {
        kvq_v2_store_head_ends(team, page + headEndOff + (long long) r * kvHeads, kvHeads, headDim, sorted, count);
    }
}

/** kvq_pack_values_v2 for token t: kvq_pack_value_token, then the per-head ends of its outliers. */
template <class Team>
KVQ_HD void kvq_pack_value_token_v2(const Team& team, const KvqValuePack& a, long long headEndOff, int kvHeads, int t,
                                    int* sel, int* sorted) {
    kvq_pack_value_token(team, a, t, sel, sorted);
    int outliers = a.topK > 0 ? 2 * (a.topK - 1) : 0;
    if (a.form != KVQ_FORM_FIXED || outliers == 0 || a.topK - 1 > KVQ_MAX_CAP) {
        return;
    }
    int r;
    unsigned char* page = kvq_token_page(a, t, &r);
    if (page == nullptr) {
        return;
    }
    team.sync();
    kvq_v2_store_head_ends(team, page + headEndOff + (long long) r * kvHeads, kvHeads, a.headDim, sorted, outliers);
}

/** kvq_side_append for token t. */
template <class Team>
KVQ_HD void kvq_side_token(const Team& team, const KvqRopeStore& a, uint16_t* side, int sinkCap, int windowCap, int t) {
    int seq = a.tokenSeq[t];
    int p = a.tokenSlot[t];
    if (seq < 0 || seq >= a.batch || p < 0) {
        kvq_fail(a.error, seq < 0 || seq >= a.batch ? KVQ_ERR_SEQ : KVQ_ERR_PAGE);
        return;
    }
    int e = kvq_v2_side_slot(p, sinkCap, windowCap);
    if (e < 0) {
        return;  // past the sinks without a window: not stored
    }
    int dk = a.kvHeads * a.headDim;
    int cap = sinkCap + windowCap;
    kvq_store_rotated_rows(team, a, a.keys + (long long) t * dk, a.values + (long long) t * dk, a.seqFirstPos[seq] + p,
                           side + kvq_v2_side_index(seq, 0, e, 0, cap, dk), side + kvq_v2_side_index(seq, 1, e, 0, cap, dk));
}
