// kvq_bodies.cuh: the kernel bodies, written against a team (kvq_math.cuh) so the same code runs
// as a CUDA block (kvq_pack.cu, kvq_attend.cu, kvq_baseline.cu) and block by block on the host
// (src/test/cuda/kvq_host_test.cu). The argument structs are internal: the ABI is the flat
// parameter lists of kvq_kernels.cuh, which the __global__ wrappers copy into these structs.
#pragma once

#include "kvq_kernels.cuh"
#include "kvq_layout_v2.cuh"
#include "kvq_math.cuh"

#define KVQ_MAXG 8          // query heads accumulated in registers per pass (larger groups loop)
#define KVQ_MAXG_FP16V 4    // the same for the fp16 value kernel (8 channels per thread)
#define KVQ_MAX_CAP 1024    // most outliers per side one token may keep (shared-memory lists)

KVQ_HD void kvq_fail(int* error, int code) {
    if (error != nullptr) {
#ifdef __CUDA_ARCH__
        atomicCAS(error, 0, code);
#else
        if (*error == 0) {
            *error = code;
        }
#endif
    }
}

/** The pool page holding packed slot `slot` of sequence `seq`, or null (error recorded). */
template <class U>
KVQ_HD U* kvq_page(U* pool, long long pageBytes, const int* pageTable, int seq, int maxPages, int poolPages,
                   int pageTokens, int slot, int* error) {
    int logical = slot / pageTokens;
    if (slot < 0 || logical >= maxPages) {
        kvq_fail(error, KVQ_ERR_PAGE);
        return nullptr;
    }
    int pg = pageTable[(long long) seq * maxPages + logical];
    if (pg < 0 || pg >= poolPages) {
        kvq_fail(error, KVQ_ERR_PAGE);
        return nullptr;
    }
    return pool + (long long) pg * pageBytes;
}

/** The chunk holding sparse entry `entry` of sequence `seq`, or null (error recorded). */
template <class U>
KVQ_HD U* kvq_chunk(U* entryPool, const int* chunkTable, int seq, int maxChunks, int poolChunks, long long entry,
                    int* error) {
    long long k = entry / KVQ_CHUNK;
    if (entry < 0 || k >= maxChunks) {
        kvq_fail(error, KVQ_ERR_CHUNK);
        return nullptr;
    }
    int c = chunkTable[(long long) seq * maxChunks + k];
    if (c < 0 || c >= poolChunks) {
        kvq_fail(error, KVQ_ERR_CHUNK);
        return nullptr;
    }
    return entryPool + (long long) c * (KVQ_CHUNK * 4LL);
}

/** Writes one sparse entry (int16 channel, fp16 value) at `entry`. */
KVQ_HD void kvq_put_entry(unsigned char* chunk, long long entry, int channel, uint16_t value) {
    int at = (int) (entry & (KVQ_CHUNK - 1));
    reinterpret_cast<uint16_t*>(chunk)[at] = (uint16_t) channel;
    reinterpret_cast<uint16_t*>(chunk)[KVQ_CHUNK + at] = value;
}

/** Ranks the `count` distinct channels of list[] ascending into sorted[] (each thread places its own). */
template <class Team>
KVQ_HD void kvq_sort_channels(const Team& team, const int* list, int count, int* sorted) {
    for (int m = team.rank(); m < count; m += team.size()) {
        int c = list[m];
        int pos = 0;
        for (int k = 0; k < count; k++) {
            pos += list[k] < c ? 1 : 0;
        }
        sorted[pos] = c;
    }
}

KVQ_HD bool kvq_contains_sorted(const int* sorted, int count, int c) {
    int lo = 0;
    int hi = count;
    while (lo < hi) {
        int mid = (lo + hi) >> 1;
        if (sorted[mid] < c) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < count && sorted[lo] == c;
}

// ============================================================================ key packing
struct KvqKeyPack {
    unsigned char* pool;
    long long pageBytes, keyCodesOff, keyOutChannelOff, keyOutValueOff, keyOutStartOff;
    const int* pageTable;
    int maxPages, poolPages, pageTokens;
    const float* keys;
    const int* tokenSeq;
    const int* tokenSlot;
    int n, batch;
    const float *lo, *hi, *zero, *scale, *keyMid, *keyTable;
    int channels, bits, form, cap, keySlots;
    int keyMidStride;  // floats between channels' midpoint rows: 0 (one key codebook per layer) or 16 (per channel)
    int keyEntries = 16;            // keyTable entries per channel: 16, or KVQ_WP_ENTRIES under a width plan
    const int* keyWidth = nullptr;  // [D] per-channel widths of a width plan (kvq_layout_v2.cuh); null: `bits`
    int* keyOutCount;
    unsigned char* entryPool;
    const int* keyChunkTable;
    int maxChunks, poolChunks;
    int* error;
};

KVQ_HD int kvq_key_code(const KvqKeyPack& a, const float* x, int c) {
    float u = kvq_key_normalize(x[c], a.zero[c], a.scale[c]);
    int b = a.keyWidth != nullptr ? a.keyWidth[c] : a.bits;
    return kvq_nearest(u, a.keyMid + (long long) c * a.keyMidStride, (1 << b) - 1);
}

/** Token t's page and row, or null when its sequence/slot is invalid (error recorded). */
template <class A>
KVQ_HD unsigned char* kvq_token_page(const A& a, int t, int* row) {
    int seq = a.tokenSeq[t];
    if (seq < 0 || seq >= a.batch) {
        kvq_fail(a.error, KVQ_ERR_SEQ);
        return nullptr;
    }
    int slot = a.tokenSlot[t];
    unsigned char* page = kvq_page(a.pool, a.pageBytes, a.pageTable, seq, a.maxPages, a.poolPages, a.pageTokens,
                                   slot, a.error);
    *row = slot % a.pageTokens;
    return page;
}

/**
 * The fixed-slot key outliers of one token (row r of `page`): the ≤ cap outliers of each side are
 * found by cap rounds of a block-wide max over selection keys strictly below the previous winner;
 * keys are unique (the channel is part of them), so no element is ever picked twice and the result
 * equals the CPU's sort-then-take-cap. They are stored in Sk slots in ascending channel order,
 * unused slots (0, +0). Leaves the sorted channels in sorted[0, count); returns count, or -1 when the
 * cap does not fit (error recorded, nothing stored). Shared: sel, sorted [2·KVQ_MAX_CAP].
 */
template <class Team>
KVQ_HD int kvq_key_fixed_slots(const Team& team, const KvqKeyPack& a, const float* x, unsigned char* page, int r,
                               int* sel, int* sorted) {
    int d = a.channels;
    if (a.cap > KVQ_MAX_CAP || 2 * a.cap > a.keySlots) {
        kvq_fail(a.error, KVQ_ERR_CAP);
        return -1;
    }
    int count = 0;
    for (int side = 0; side < 2; side++) {
        uint64_t prev = ~0ull;
        for (int k = 0; k < a.cap; k++) {
            uint64_t best = 0;
            for (int c = team.rank(); c < d; c += team.size()) {
                float xc = x[c];
                bool out = side == 0 ? xc > a.hi[c] : xc < a.lo[c];
                if (out) {
                    float u = kvq_key_normalize(xc, a.zero[c], a.scale[c]);
                    uint64_t key = kvq_key_rank(side == 0 ? u : -u, c);
                    if (key < prev && key > best) {
                        best = key;
                    }
                }
            }
            best = team.max_u64(best);
            if (best == 0) {
                break;
            }
            if (team.rank() == 0) {
                sel[count] = (int) (0xffffffffu - (uint32_t) best);
            }
            count++;
            prev = best;
        }
    }
    team.sync();
    kvq_sort_channels(team, sel, count, sorted);
    team.sync();
    uint16_t* chs = reinterpret_cast<uint16_t*>(page + a.keyOutChannelOff) + (long long) r * a.keySlots;
    uint16_t* vals = reinterpret_cast<uint16_t*>(page + a.keyOutValueOff) + (long long) r * a.keySlots;
    for (int i = team.rank(); i < a.keySlots; i += team.size()) {
        uint16_t ch = 0;
        uint16_t v = 0;  // unused slots are (0, +0)
        if (i < count) {
            int c = sorted[i];
            int code = kvq_key_code(a, x, c);
            ch = (uint16_t) c;
            v = kvq_f2h(kvq_sub(x[c], a.keyTable[c * a.keyEntries + code]));
        }
        chs[i] = ch;
        vals[i] = v;
    }
    return count;
}

/** kvq_pack_keys for token t. Shared: sel[2·KVQ_MAX_CAP] (selected outlier channels), sorted[same]. */
template <class Team>
KVQ_HD void kvq_pack_key_token(const Team& team, const KvqKeyPack& a, int t, int* sel, int* sorted) {
    int r;
    unsigned char* page = kvq_token_page(a, t, &r);
    if (page == nullptr) {
        return;
    }
    int d = a.channels;
    int b = a.bits;
    long long p = a.pageTokens;
    const float* x = a.keys + (long long) t * d;
    uint32_t* codes = reinterpret_cast<uint32_t*>(page + a.keyCodesOff);
    int words = ((d + 31) / 32) * b;
    for (int w = team.rank(); w < words; w += team.size()) {
        // whole words: a token owns its words, so they are stored, not OR-ed
        codes[w * p + r] = kvq_key_word(w, b, d, [&](int c) { return kvq_key_code(a, x, c); });
    }
    if (a.form == KVQ_FORM_SPARSE) {
        int local = 0;
        for (int c = team.rank(); c < d; c += team.size()) {
            local += (x[c] > a.hi[c] || x[c] < a.lo[c]) ? 1 : 0;
        }
        int total = team.sum_i32(local);
        if (team.rank() == 0 && a.keyOutCount != nullptr) {
            a.keyOutCount[t] = total;
        }
        return;
    }
    if (a.form != KVQ_FORM_FIXED || a.keySlots <= 0) {
        return;
    }
    kvq_key_fixed_slots(team, a, x, page, r, sel, sorted);
}

/**
 * kvq_key_sparse_starts, sequentially (one thread): entry ranges of the tokens in order. The work
 * per token is a few loads and stores, so one thread keeps it simple and exact.
 */
KVQ_HD void kvq_key_sparse_starts_seq(const KvqKeyPack& a, int* seqKeyEntries) {
    for (int t = 0; t < a.n; t++) {
        int r;
        unsigned char* page = kvq_token_page(a, t, &r);
        if (page == nullptr) {
            continue;
        }
        int seq = a.tokenSeq[t];
        int start = seqKeyEntries[seq];
        int end = start + a.keyOutCount[t];
        int* starts = reinterpret_cast<int*>(page + a.keyOutStartOff);
        starts[r] = start;
        starts[r + 1] = end;
        seqKeyEntries[seq] = end;
    }
}

/** kvq_key_sparse_entries for token t: all outliers in channel order from keyOutStart[r]. */
template <class Team>
KVQ_HD void kvq_key_sparse_token(const Team& team, const KvqKeyPack& a, int t) {
    int r;
    unsigned char* page = kvq_token_page(a, t, &r);
    if (page == nullptr) {
        return;
    }
    int seq = a.tokenSeq[t];
    int d = a.channels;
    const float* x = a.keys + (long long) t * d;
    long long start = reinterpret_cast<const int*>(page + a.keyOutStartOff)[r];
    long long done = 0;
    for (int c0 = 0; c0 < d; c0 += team.size()) {
        int c = c0 + team.rank();
        bool out = c < d && (x[c] > a.hi[c] || x[c] < a.lo[c]);
        int round;
        int before = team.prefix_count(out, &round);
        if (out) {
            long long e = start + done + before;
            unsigned char* chunk = kvq_chunk(a.entryPool, a.keyChunkTable, seq, a.maxChunks, a.poolChunks, e, a.error);
            if (chunk != nullptr) {
                int code = kvq_key_code(a, x, c);
                kvq_put_entry(chunk, e, c, kvq_f2h(kvq_sub(x[c], a.keyTable[c * a.keyEntries + code])));
            }
        }
        done += round;
    }
}

// ============================================================================ value packing
struct KvqValuePack {
    unsigned char* pool;
    long long pageBytes, valueCodesOff, valueZeroOff, valueScaleOff, valueOutChannelOff, valueOutValueOff,
            valueOutStartOff;
    const int* pageTable;
    int maxPages, poolPages, pageTokens;
    const float* values;
    const int* tokenSeq;
    const int* tokenSlot;
    int n, batch;
    const float* valueMid;
    const float* valueTable;
    int channels, headDim, bits, form, topK;
    const int* plan = nullptr;  // a width plan (kvq_layout_v2.cuh): valueMid / valueTable are then [7][64] by width
    unsigned char* entryPool;
    const int* valueChunkTable;
    int maxChunks, poolChunks;
    int* error;
};

/** The code an outlier holds in the dense part at width b: the middle one, 2^(b−1) − 1 (0 at width 0). */
KVQ_HD int kvq_value_middle_code(int b) {
    return b > 0 ? (1 << (b - 1)) - 1 : 0;
}

/**
 * The value codes of row r under a width plan: each logical channel c with its own width, midpoints and
 * word position (kvq_layout_v2.cuh); outlier channels (sorted[0, outliers)) hold their width's middle code.
 * As the uniform loop, a token changes only its own bits of the 32-token words, atomically.
 */
template <class Team>
KVQ_HD void kvq_pack_value_codes_wp(const Team& team, const KvqValuePack& a, unsigned char* page, int r,
                                    const float* x, float z, float s, const int* sorted, int outliers) {
    int d = a.channels;
    int headDim = a.headDim;
    int kvHeads = d / headDim;
    const int* width = a.plan + kvq_wp_offset(KVQ_WP_VALUE_WIDTH, kvHeads, headDim);
    const int* word0 = a.plan + kvq_wp_offset(KVQ_WP_VALUE_WORD, kvHeads, headDim);
    const int* rows = a.plan + kvq_wp_offset(KVQ_WP_VALUE_ROWS, kvHeads, headDim);
    const int* before = a.plan + kvq_wp_offset(KVQ_WP_VALUE_BEFORE, kvHeads, headDim);
    const int* headWords = a.plan + kvq_wp_offset(KVQ_WP_VALUE_WORDS, kvHeads, headDim);
    uint32_t* words = reinterpret_cast<uint32_t*>(page + a.valueCodesOff);
    int e = r & 31;
    for (int c = team.rank(); c < d; c += team.size()) {
        int b = width[c];
        if (b == 0) {
            continue;  // no bits: the channel decodes to z + s·c'_V[0]
        }
        int code;
        if (outliers > 0 && kvq_contains_sorted(sorted, outliers, c)) {
            code = kvq_value_middle_code(b);
        } else {
            float u = s > 0.0f ? kvq_div(kvq_sub(x[c], z), s) : 0.0f;
            code = kvq_nearest(u, a.valueMid + b * KVQ_WP_ENTRIES, (1 << b) - 1);
        }
        int h = c / headDim;
        int bit = b * e;
        int shift = bit & 31;
        long long n = rows[c];
        uint32_t* w = words + (long long) (a.pageTokens / 32) * before[h] + (long long) (r >> 5) * headWords[h]
                + word0[c] + (bit >> 5) * n;
        uint32_t mask = (1u << b) - 1u;
        team.atomic_and(w, ~(mask << shift));
        team.atomic_or(w, (uint32_t) code << shift);
        if (shift + b > 32) {
            team.atomic_and(w + n, ~(mask >> (32 - shift)));
            team.atomic_or(w + n, (uint32_t) code >> (32 - shift));
        }
    }
}

/**
 * kvq_pack_values for token t. Shared: sel[2·KVQ_MAX_CAP], sorted[same]. The n_v most extreme
 * elements of each side come from n_v rounds of a block-wide max under (value, channel) (its
 * complement for the bottom side), as ValueQuantizer.selectExtremes orders them.
 */
template <class Team>
KVQ_HD void kvq_pack_value_token(const Team& team, const KvqValuePack& a, int t, int* sel, int* sorted) {
    int r;
    unsigned char* page = kvq_token_page(a, t, &r);
    if (page == nullptr) {
        return;
    }
    int seq = a.tokenSeq[t];
    int slot = a.tokenSlot[t];
    int d = a.channels;
    int b = a.bits;
    int headDim = a.headDim;
    long long p = a.pageTokens;
    const float* x = a.values + (long long) t * d;
    int outliers = a.topK > 0 ? 2 * (a.topK - 1) : 0;
    if (a.topK - 1 > KVQ_MAX_CAP) {
        kvq_fail(a.error, KVQ_ERR_CAP);
        return;
    }
    float lo;
    float hi;
    if (a.topK > 0) {
        int edge[2];
        for (int side = 0; side < 2; side++) {
            uint64_t prev = ~0ull;
            uint64_t best = 0;
            for (int k = 0; k < a.topK; k++) {
                best = 0;
                for (int c = team.rank(); c < d; c += team.size()) {
                    uint64_t key = kvq_value_rank(x[c], c);
                    key = side == 0 ? key : ~key;
                    if (key < prev && key >= best) {
                        best = key;
                    }
                }
                best = team.max_u64(best);
                if (k < a.topK - 1 && team.rank() == 0) {
                    sel[side * (a.topK - 1) + k] = (int) (uint32_t) (side == 0 ? best : ~best);
                }
                prev = best;
            }
            edge[side] = (int) (uint32_t) (side == 0 ? best : ~best);
        }
        hi = x[edge[0]];
        lo = x[edge[1]];
    } else {
        uint32_t top = 0;
        uint32_t bottom = 0;
        for (int c = team.rank(); c < d; c += team.size()) {
            uint32_t k = kvq_total_order(x[c]);
            top = k > top ? k : top;
            bottom = ~k > bottom ? ~k : bottom;
        }
        hi = kvq_from_total_order(team.max_u32(top));
        lo = kvq_from_total_order(~team.max_u32(bottom));
    }
    float z = kvq_fp16_round(kvq_mul(kvq_add(hi, lo), 0.5f));
    float s = kvq_fp16_round(kvq_mul(kvq_sub(hi, lo), 0.5f));
    int middleCode = kvq_value_middle_code(b);
    float middle = kvq_add(z, kvq_mul(s, a.valueTable[middleCode]));
    if (team.rank() == 0) {
        reinterpret_cast<uint16_t*>(page + a.valueZeroOff)[r] = kvq_f2h(z);
        reinterpret_cast<uint16_t*>(page + a.valueScaleOff)[r] = kvq_f2h(s);
        if (a.form == KVQ_FORM_SPARSE) {
            int* starts = reinterpret_cast<int*>(page + a.valueOutStartOff);
            starts[r] = slot * outliers;
            starts[r + 1] = (slot + 1) * outliers;
        }
    }
    team.sync();
    kvq_sort_channels(team, sel, outliers, sorted);
    team.sync();
    int e = r & 31;
    int bit = b * e;
    int shift = bit & 31;
    bool straddle = shift + b > 32;
    long long row = (r >> 5) * b + (bit >> 5);
    uint32_t* words = reinterpret_cast<uint32_t*>(page + a.valueCodesOff);
    long long headWords = (p / 32) * b * headDim;
    if (a.plan != nullptr) {
        kvq_pack_value_codes_wp(team, a, page, r, x, z, s, sorted, outliers);
    }
    for (int c = team.rank(); c < d && a.plan == nullptr; c += team.size()) {
        int code;
        if (outliers > 0 && kvq_contains_sorted(sorted, outliers, c)) {
            code = middleCode;
        } else {
            float u = s > 0.0f ? kvq_div(kvq_sub(x[c], z), s) : 0.0f;
            code = kvq_nearest(u, a.valueMid, (1 << b) - 1);
        }
        int h = c / headDim;
        int j = c - h * headDim;
        uint32_t* w = words + h * headWords + row * headDim + j;
        // 32 tokens share a word, possibly packed by other blocks or launches: change only this
        // token's bits, atomically. Clearing them first makes re-packing a slot exact (an append that
        // failed part-way may have left codes there); each bit has one owner, so the two steps are safe.
        uint32_t mask = (1u << b) - 1u;
        team.atomic_and(w, ~(mask << shift));
        team.atomic_or(w, (uint32_t) code << shift);
        if (straddle) {
            team.atomic_and(w + headDim, ~(mask >> (32 - shift)));
            team.atomic_or(w + headDim, (uint32_t) code >> (32 - shift));
        }
    }
    if (outliers == 0 || a.form == KVQ_FORM_NONE) {
        return;
    }
    for (int i = team.rank(); i < outliers; i += team.size()) {
        int c = sorted[i];
        float mid = middle;
        if (a.plan != nullptr) {
            // the residual is taken against the channel's own middle code at its width (ValueQuantizer)
            int w = a.plan[kvq_wp_offset(KVQ_WP_VALUE_WIDTH, d / headDim, headDim) + c];
            mid = kvq_add(z, kvq_mul(s, a.valueTable[w * KVQ_WP_ENTRIES + kvq_value_middle_code(w)]));
        }
        uint16_t res = kvq_f2h(kvq_sub(x[c], mid));
        if (a.form == KVQ_FORM_FIXED) {
            reinterpret_cast<uint16_t*>(page + a.valueOutChannelOff)[(long long) r * outliers + i] = (uint16_t) c;
            reinterpret_cast<uint16_t*>(page + a.valueOutValueOff)[(long long) r * outliers + i] = res;
        } else {
            long long entry = (long long) slot * outliers + i;
            unsigned char* chunk = kvq_chunk(a.entryPool, a.valueChunkTable, seq, a.maxChunks, a.poolChunks, entry,
                                             a.error);
            if (chunk != nullptr) {
                kvq_put_entry(chunk, entry, c, res);
            }
        }
    }
}

// ============================================================================ rotated fp16 stores
struct KvqRopeStore {
    const float* keys;
    const float* values;
    const int* tokenSeq;
    const int* tokenSlot;
    int n, batch;
    const long long* seqFirstPos;
    const float* invFreq;
    int pairing, headDim, kvHeads;
    int* error;
};

/** Rope.apply for element c of a key vector x at position pos: fp64 angle, fp32 products, no FMA. */
KVQ_HD float kvq_rope_element(const KvqRopeStore& a, const float* x, int c, long long pos) {
    int d = a.headDim;
    int h = c / d;
    int j = c - h * d;
    int pj = kvq_rope_partner(a.pairing, j, d);
    float cs;
    float sn;
    kvq_rope_cos_sin(pos, a.invFreq[kvq_rope_frequency(a.pairing, j, d)], &cs, &sn);
    float xj = kvq_mul(x[c], cs);
    float xp = kvq_mul(x[h * d + pj], sn);
    return kvq_rope_first(a.pairing, j, d) ? kvq_sub(xj, xp) : kvq_add(xj, xp);
}

/** A key k[D] rotated at `pos` and a value v[D], both in fp16, into keyRow[D] and valueRow[D]. */
template <class Team>
KVQ_HD void kvq_store_rotated_rows(const Team& team, const KvqRopeStore& a, const float* k, const float* v,
                                   long long pos, uint16_t* keyRow, uint16_t* valueRow) {
    int dk = a.kvHeads * a.headDim;
    for (int c = team.rank(); c < dk; c += team.size()) {
        keyRow[c] = kvq_f2h(kvq_rope_element(a, k, c, pos));
        valueRow[c] = kvq_f2h(v[c]);
    }
}

/** kvq_sinks_append for token t. */
template <class Team>
KVQ_HD void kvq_sink_token(const Team& team, const KvqRopeStore& a, uint16_t* sinks, int sinkCap, int t) {
    int seq = a.tokenSeq[t];
    int i = a.tokenSlot[t];
    if (seq < 0 || seq >= a.batch || i < 0 || i >= sinkCap) {
        kvq_fail(a.error, seq < 0 || seq >= a.batch ? KVQ_ERR_SEQ : KVQ_ERR_PAGE);
        return;
    }
    int dk = a.kvHeads * a.headDim;
    const float* k = a.keys + (long long) t * dk;
    const float* v = a.values + (long long) t * dk;
    long long pos = a.seqFirstPos[seq] + i;
    uint16_t* keyRow = sinks + ((long long) seq * 2 * sinkCap + i) * dk;
    uint16_t* valueRow = sinks + ((long long) (seq * 2 + 1) * sinkCap + i) * dk;
    kvq_store_rotated_rows(team, a, k, v, pos, keyRow, valueRow);
}

/** kvq_fp16_append for token t. */
template <class Team>
KVQ_HD void kvq_fp16_append_token(const Team& team, const KvqRopeStore& a, unsigned char* pool, long long pageBytes,
                                  long long keysOff, long long valuesOff, const int* pageTable, int maxPages,
                                  int poolPages, int pageTokens, int t) {
    int seq = a.tokenSeq[t];
    if (seq < 0 || seq >= a.batch) {
        kvq_fail(a.error, KVQ_ERR_SEQ);
        return;
    }
    int slot = a.tokenSlot[t];
    unsigned char* page = kvq_page(pool, pageBytes, pageTable, seq, maxPages, poolPages, pageTokens, slot, a.error);
    if (page == nullptr) {
        return;
    }
    int d = a.headDim;
    int dk = a.kvHeads * d;
    long long p = pageTokens;
    int r = slot % pageTokens;
    const float* k = a.keys + (long long) t * dk;
    const float* v = a.values + (long long) t * dk;
    long long pos = a.seqFirstPos[seq] + slot;
    uint16_t* keys = reinterpret_cast<uint16_t*>(page + keysOff);
    uint16_t* values = reinterpret_cast<uint16_t*>(page + valuesOff);
    for (int c = team.rank(); c < dk; c += team.size()) {
        int h = c / d;
        int j = c - h * d;
        keys[((long long) h * d + j) * p + r] = kvq_f2h(kvq_rope_element(a, k, c, pos));
        values[((long long) h * p + r) * d + j] = kvq_f2h(v[c]);
    }
}

// ============================================================================ decode step
struct KvqStep {
    const unsigned char* pool;
    long long pageBytes;
    long long keyCodesOff, keyOutChannelOff, keyOutValueOff, keyOutStartOff;
    long long valueCodesOff, valueZeroOff, valueScaleOff, valueOutChannelOff, valueOutValueOff;
    const int* pageTable;
    int maxPages, poolPages, pageTokens;
    const int* seqPacked;
    const int* seqSinks;
    const long long* seqFirstPos;
    int sinkCap;
    const uint16_t* sinks;          // [B][2][S][D] fp16 bits
    const float* query;
    float scale;
    const float* keyTable;
    const float* invFreq;
    const float2* ropeSteps;
    int pairing;
    float* scores;                  // also the softmax weights
    int scoreStride;
    int headDim, kvHeads, groupSize, bits, keySlots, valueSlots;
    const float* valueTable;
    float* partials;
    int maxTiles;
    float* out;
    const unsigned char* entryPool;
    const int* keyChunkTable;
    const int* valueChunkTable;
    int maxChunks, poolChunks;
    int* error;
};

/** rope step table entry (cos, sin) of r·ω_i: what kvq_rope_steps writes. */
KVQ_HD void kvq_rope_step(float2* steps, const float* invFreq, int i, int r) {
    float c;
    float s;
    kvq_rope_cos_sin(r, invFreq[i], &c, &s);
    steps[i * KVQ_TILE + r] = make_float2(c, s);
}

/**
 * kvq_key_scores for block (tile, h, seq). Shared: lut [d][16], qs [G][d] (scaled queries rotated
 * back by the tile's base angle), base [d/2][2] (cos, sin of the tile's first position).
 */
template <class Team>
KVQ_HD void kvq_key_scores_block(const Team& team, const KvqStep& a, int tile, int h, int seq, float* smem) {
    int packed = a.seqPacked[seq];
    if (tile > 0 && tile * KVQ_TILE >= packed) {
        return;
    }
    int d = a.headDim;
    int half = d / 2;
    int g = a.groupSize;
    int hq = a.kvHeads * g;
    int dk = a.kvHeads * d;
    int sinks = a.seqSinks[seq];
    long long p = a.pageTokens;
    float* lut = smem;
    float* qs = lut + 16 * d;
    float* base = qs + g * d;
    for (int i = team.rank(); i < 16 * d; i += team.size()) {
        lut[i] = a.keyTable[(long long) h * d * 16 + i];
    }
    long long pos0 = a.seqFirstPos[seq] + a.sinkCap + (long long) tile * KVQ_TILE;
    for (int i = team.rank(); i < half; i += team.size()) {
        kvq_rope_cos_sin(pos0, a.invFreq[i], &base[2 * i], &base[2 * i + 1]);
    }
    bool interleaved = a.pairing == KVQ_ROPE_INTERLEAVED;
    team.sync();
    // Scores need q·R(φ_b + φ_r)k = (R(φ_b)ᵀq)·(R(φ_r)k): rotating the queries once by the tile's base
    // angle leaves only the step angle φ_r per token, read from the table without angle addition.
    for (int idx = team.rank(); idx < g * half; idx += team.size()) {
        int q = idx / half;
        int i = idx - q * half;
        int j = interleaved ? 2 * i : i;
        int pj = interleaved ? 2 * i + 1 : i + half;
        const float* qv = a.query + ((long long) seq * hq + h * g + q) * d;
        float qj = kvq_mul(qv[j], a.scale);
        float qp = kvq_mul(qv[pj], a.scale);
        kvq_rotate_query(qj, qp, base[2 * i], base[2 * i + 1], &qs[q * d + j], &qs[q * d + pj]);
    }
    team.sync();
    float* rows = a.scores + (long long) seq * hq * a.scoreStride;
    if (tile == 0) {
        for (int idx = team.rank(); idx < sinks * g; idx += team.size()) {
            int i = idx / g;
            int q = idx - i * g;
            const uint16_t* k = a.sinks + ((long long) seq * 2 * a.sinkCap + i) * dk + (long long) h * d;
            const float* qv = a.query + ((long long) seq * hq + h * g + q) * d;
            float acc = 0.0f;
            for (int j = 0; j < d; j++) {
                acc = kvq_fma(kvq_h2f(k[j]), kvq_mul(qv[j], a.scale), acc);  // sinks are post-RoPE already
            }
            rows[(long long) (h * g + q) * a.scoreStride + i] = acc;
        }
    }
    for (int rr = team.rank(); rr < KVQ_TILE; rr += team.size()) {
        int slot = tile * KVQ_TILE + rr;
        if (slot >= packed) {
            continue;
        }
        const unsigned char* page = kvq_page(a.pool, a.pageBytes, a.pageTable, seq, a.maxPages, a.poolPages,
                                             a.pageTokens, slot, a.error);
        if (page == nullptr) {
            continue;
        }
        int r = slot % a.pageTokens;
        const uint32_t* words = reinterpret_cast<const uint32_t*>(page + a.keyCodesOff) + r;
        for (int g0 = 0; g0 < g; g0 += KVQ_MAXG) {
            float acc[KVQ_MAXG];
#pragma unroll
            for (int q = 0; q < KVQ_MAXG; q++) {
                acc[q] = 0.0f;
            }
            KvqBitReader first;
            KvqBitReader second;
            first.start(words, p, a.bits, h * d);
            second.start(words, p, a.bits, interleaved ? h * d : h * d + half);
            for (int i = 0; i < half; i++) {
                uint32_t cj = first.next();
                uint32_t cp = interleaved ? first.next() : second.next();
                int j = interleaved ? 2 * i : i;
                int pj = interleaved ? 2 * i + 1 : i + half;
                float kj = lut[j * 16 + cj];
                float kp = lut[pj * 16 + cp];
                float2 st = a.ropeSteps[i * KVQ_TILE + rr];
                float c = st.x;
                float sn = st.y;
#pragma unroll
                for (int q = 0; q < KVQ_MAXG; q++) {
                    if (g0 + q < g) {
                        acc[q] = kvq_pair_score(kj, kp, qs[(g0 + q) * d + j], qs[(g0 + q) * d + pj], c, sn, acc[q]);
                    }
                }
            }
            if (a.keySlots > 0) {
                // the token's outliers, in the same thread: no atomics, one store per score
                const uint16_t* chs = reinterpret_cast<const uint16_t*>(page + a.keyOutChannelOff) + (long long) r * a.keySlots;
                const uint16_t* vals = reinterpret_cast<const uint16_t*>(page + a.keyOutValueOff) + (long long) r * a.keySlots;
                for (int i = 0; i < a.keySlots; i++) {
                    int ch = chs[i];
                    if (ch == 0 && i > 0) {
                        break;  // unused slots (0, +0) fill the tail
                    }
                    uint16_t bitsv = vals[i];
                    if (bitsv == 0 || ch / d != h) {
                        continue;
                    }
                    int j = ch - h * d;
                    int f = kvq_rope_frequency(a.pairing, j, d);
                    int pj = kvq_rope_partner(a.pairing, j, d);
                    float2 st = a.ropeSteps[f * KVQ_TILE + rr];
                    float c = st.x;
                    float sn = st.y;
                    float res = kvq_h2f(bitsv);
                    float cr = kvq_mul(c, res);
                    float sr = kvq_mul(kvq_rope_first(a.pairing, j, d) ? sn : -sn, res);
#pragma unroll
                    for (int q = 0; q < KVQ_MAXG; q++) {
                        if (g0 + q < g) {
                            acc[q] = kvq_fma(sr, qs[(g0 + q) * d + pj], kvq_fma(cr, qs[(g0 + q) * d + j], acc[q]));
                        }
                    }
                }
            }
#pragma unroll
            for (int q = 0; q < KVQ_MAXG; q++) {
                if (g0 + q < g) {
                    rows[(long long) (h * g + g0 + q) * a.scoreStride + sinks + slot] = acc[q];
                }
            }
        }
    }
}

/** keyOutStart of packed slot i (0 ≤ i ≤ packed), through the page table; -1 on a bad page. */
KVQ_HD long long kvq_key_start(const KvqStep& a, int seq, int i) {
    int slot = i > 0 ? i - 1 : 0;
    int idx = i > 0 ? (i - 1) % a.pageTokens + 1 : 0;
    const unsigned char* page = kvq_page(a.pool, a.pageBytes, a.pageTable, seq, a.maxPages, a.poolPages,
                                         a.pageTokens, slot, a.error);
    if (page == nullptr) {
        return -1;
    }
    return reinterpret_cast<const int*>(page + a.keyOutStartOff)[idx];
}

/**
 * kvq_key_scores_sparse for global thread `gt` of sequence `seq`: entries
 * [first + gt·K, first + gt·K + K) with K = KVQ_SPARSE_PER_THREAD, their tokens found by binary
 * search over keyOutStart, each added to the scores of its group's query heads.
 */
template <class Team>
KVQ_HD void kvq_key_sparse_thread(const Team& team, const KvqStep& a, int seq, long long gt) {
    int packed = a.seqPacked[seq];
    if (packed <= 0) {
        return;
    }
    long long first = kvq_key_start(a, seq, 0);
    long long total = kvq_key_start(a, seq, packed);
    long long e = first + gt * KVQ_SPARSE_PER_THREAD;
    if (first < 0 || total < 0 || e >= total) {
        return;
    }
    // the last slot whose start is <= e
    int lo = 0;
    int hi = packed - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) >> 1;
        if (kvq_key_start(a, seq, mid) <= e) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    int slot = lo;
    long long next = kvq_key_start(a, seq, slot + 1);
    int d = a.headDim;
    int g = a.groupSize;
    int hq = a.kvHeads * g;
    int sinks = a.seqSinks[seq];
    long long end = e + KVQ_SPARSE_PER_THREAD < total ? e + KVQ_SPARSE_PER_THREAD : total;
    for (; e < end; e++) {
        while (e >= next && slot + 1 < packed) {
            slot++;
            next = kvq_key_start(a, seq, slot + 1);
        }
        const unsigned char* chunk = kvq_chunk(a.entryPool, a.keyChunkTable, seq, a.maxChunks, a.poolChunks, e,
                                               a.error);
        if (chunk == nullptr) {
            continue;
        }
        int at = (int) (e & (KVQ_CHUNK - 1));
        int ch = reinterpret_cast<const uint16_t*>(chunk)[at];
        float res = kvq_h2f(reinterpret_cast<const uint16_t*>(chunk)[KVQ_CHUNK + at]);
        int h = ch / d;
        int j = ch - h * d;
        if (h >= a.kvHeads) {
            continue;
        }
        int f = kvq_rope_frequency(a.pairing, j, d);
        int pj = kvq_rope_partner(a.pairing, j, d);
        float c;
        float sn;
        kvq_rope_cos_sin(a.seqFirstPos[seq] + a.sinkCap + slot, a.invFreq[f], &c, &sn);
        float cr = kvq_mul(c, res);
        float sr = kvq_mul(kvq_rope_first(a.pairing, j, d) ? sn : -sn, res);
        for (int q = h * g; q < (h + 1) * g; q++) {
            const float* qv = a.query + ((long long) seq * hq + q) * d;
            float v = kvq_fma(sr, kvq_mul(qv[pj], a.scale), kvq_mul(cr, kvq_mul(qv[j], a.scale)));
            team.atomic_add(&a.scores[((long long) seq * hq + q) * a.scoreStride + sinks + slot], v);
        }
    }
}

/** kvq_softmax for block (q, seq). */
template <class Team>
KVQ_HD void kvq_softmax_block(const Team& team, float* scores, const int* seqPacked, const int* seqSinks,
                              int queryHeads, int scoreStride, int q, int seq) {
    int n = seqPacked[seq] + seqSinks[seq];
    float* row = scores + ((long long) seq * queryHeads + q) * scoreStride;
    float m = -INFINITY;
    for (int i = team.rank(); i < n; i += team.size()) {
        m = fmaxf(m, row[i]);
    }
    m = team.max_f32(m);
    float local = 0.0f;
    for (int i = team.rank(); i < n; i += team.size()) {
        float e = expf(row[i] - m);
        row[i] = e;
        local += e;
    }
    float inv = 1.0f / team.sum_f32(local);
    for (int i = team.rank(); i < n; i += team.size()) {
        row[i] *= inv;
    }
}

/**
 * kvq_value_partials for block (tile, h, seq). Shared: alpha [G][TV] (weight × token scale),
 * beta [G] (Σ weight × token zero), red [KVQ_MAXG][256] (cross-lane sums), res [G][d] (fixed-slot
 * residuals), lutV [16]. Items are (lane, channel j): `lanes` token-group lanes per channel, so a
 * warp reads a row of consecutive channels (coalesced) and one decode serves all G query heads.
 */
template <class Team>
KVQ_HD void kvq_value_partials_block(const Team& team, const KvqStep& a, int tile, int h, int seq, float* smem) {
    int packed = a.seqPacked[seq];
    int start = tile * KVQ_VTILE;
    if (start >= packed) {
        return;
    }
    int ntok = packed - start < KVQ_VTILE ? packed - start : KVQ_VTILE;
    int d = a.headDim;
    int g = a.groupSize;
    int hq = a.kvHeads * g;
    int b = a.bits;
    int sinks = a.seqSinks[seq];
    long long p = a.pageTokens;
    float* alpha = smem;
    float* beta = alpha + g * KVQ_VTILE;
    float* red = beta + g;
    float* res = red + KVQ_MAXG * 256;
    float* lutV = res + g * d;
    const float* w = a.scores + (long long) seq * hq * a.scoreStride + sinks + start;
    for (int i = team.rank(); i < 16; i += team.size()) {
        lutV[i] = a.valueTable[i];
    }
    for (int idx = team.rank(); idx < g * KVQ_VTILE; idx += team.size()) {
        int q = idx / KVQ_VTILE;
        int rr = idx - q * KVQ_VTILE;
        float v = 0.0f;
        if (rr < ntok) {
            int slot = start + rr;
            const unsigned char* page = kvq_page(a.pool, a.pageBytes, a.pageTable, seq, a.maxPages, a.poolPages,
                                                 a.pageTokens, slot, a.error);
            if (page != nullptr) {
                float sc = kvq_h2f(reinterpret_cast<const uint16_t*>(page + a.valueScaleOff)[slot % a.pageTokens]);
                v = kvq_mul(w[(long long) (h * g + q) * a.scoreStride + rr], sc);
            }
        }
        alpha[idx] = v;
    }
    for (int i = team.rank(); i < g * d; i += team.size()) {
        res[i] = 0.0f;
    }
    for (int q = 0; q < g; q++) {
        float local = 0.0f;
        for (int rr = team.rank(); rr < ntok; rr += team.size()) {
            int slot = start + rr;
            const unsigned char* page = kvq_page(a.pool, a.pageBytes, a.pageTable, seq, a.maxPages, a.poolPages,
                                                 a.pageTokens, slot, a.error);
            if (page != nullptr) {
                float z = kvq_h2f(reinterpret_cast<const uint16_t*>(page + a.valueZeroOff)[slot % a.pageTokens]);
                local = kvq_fma(w[(long long) (h * g + q) * a.scoreStride + rr], z, local);
            }
        }
        float sum = team.sum_f32(local);
        if (team.rank() == 0) {
            beta[q] = sum;
        }
    }
    team.sync();
    if (a.valueSlots > 0) {
        int sv = a.valueSlots;
        for (int idx = team.rank(); idx < ntok * sv; idx += team.size()) {
            int rr = idx / sv;
            int i = idx - rr * sv;
            int slot = start + rr;
            const unsigned char* page = kvq_page(a.pool, a.pageBytes, a.pageTable, seq, a.maxPages, a.poolPages,
                                                 a.pageTokens, slot, a.error);
            if (page == nullptr) {
                continue;
            }
            long long at = (long long) (slot % a.pageTokens) * sv + i;
            int ch = reinterpret_cast<const uint16_t*>(page + a.valueOutChannelOff)[at];
            uint16_t bitsv = reinterpret_cast<const uint16_t*>(page + a.valueOutValueOff)[at];
            if ((ch == 0 && i > 0) || bitsv == 0 || ch / d != h) {
                continue;
            }
            float rv = kvq_h2f(bitsv);
            int j = ch - h * d;
            for (int q = 0; q < g; q++) {
                team.atomic_add(&res[q * d + j], kvq_mul(w[(long long) (h * g + q) * a.scoreStride + rr], rv));
            }
        }
    }
    team.sync();
    int lanes = team.size() >= d ? team.size() / d : 1;
    if (lanes > 8) {
        lanes = 8;  // a tile has 8 token groups
    }
    int groups = (ntok + 31) / 32;
    float* partial = a.partials + ((long long) seq * hq + h * g) * a.maxTiles * d + (long long) tile * d;
    for (int g0 = 0; g0 < g; g0 += KVQ_MAXG) {
        for (int item = team.rank(); item < lanes * d; item += team.size()) {
            int j = item % d;
            int lane = item / d;
            float acc[KVQ_MAXG];
#pragma unroll
            for (int q = 0; q < KVQ_MAXG; q++) {
                acc[q] = 0.0f;
            }
            for (int grp = lane; grp < groups; grp += lanes) {
                int slot0 = start + grp * 32;
                const unsigned char* page = kvq_page(a.pool, a.pageBytes, a.pageTable, seq, a.maxPages, a.poolPages,
                                                     a.pageTokens, slot0, a.error);
                if (page == nullptr) {
                    continue;
                }
                int r0 = slot0 % a.pageTokens;
                const uint32_t* wp = reinterpret_cast<const uint32_t*>(page + a.valueCodesOff)
                        + ((long long) h * (p / 32) * b + (long long) (r0 >> 5) * b) * d + j;
                KvqBitReader reader;
                reader.start(wp, d, b, 0);
                const float* al = alpha + grp * 32;
                for (int e = 0; e < 32; e++) {
                    float cv = lutV[reader.next()];
#pragma unroll
                    for (int q = 0; q < KVQ_MAXG; q++) {
                        if (g0 + q < g) {
                            acc[q] = kvq_fma(al[(g0 + q) * KVQ_VTILE + e], cv, acc[q]);
                        }
                    }
                }
            }
            if (lanes == 1) {
                for (int q = 0; q < KVQ_MAXG && g0 + q < g; q++) {
                    partial[(long long) (g0 + q) * a.maxTiles * d + j] = acc[q] + beta[g0 + q] + res[(g0 + q) * d + j];
                }
            } else {
                for (int q = 0; q < KVQ_MAXG && g0 + q < g; q++) {
                    red[q * 256 + lane * d + j] = acc[q];
                }
            }
        }
        if (lanes > 1) {
            team.sync();
            int qn = g - g0 < KVQ_MAXG ? g - g0 : KVQ_MAXG;
            for (int idx = team.rank(); idx < qn * d; idx += team.size()) {
                int q = idx / d;
                int j = idx - q * d;
                float sum = 0.0f;
                for (int l = 0; l < lanes; l++) {
                    sum += red[q * 256 + l * d + j];
                }
                partial[(long long) (g0 + q) * a.maxTiles * d + j] = sum + beta[g0 + q] + res[(g0 + q) * d + j];
            }
            team.sync();
        }
    }
}

/** kvq_value_reduce for block (q, seq): sinks, then the tiles in order. */
template <class Team>
KVQ_HD void kvq_value_reduce_block(const Team& team, const KvqStep& a, int q, int seq) {
    int d = a.headDim;
    int g = a.groupSize;
    int hq = a.kvHeads * g;
    int h = q / g;
    int sinks = a.seqSinks[seq];
    int packed = a.seqPacked[seq];
    int tiles = (packed + KVQ_VTILE - 1) / KVQ_VTILE;
    const float* w = a.scores + ((long long) seq * hq + q) * a.scoreStride;
    const float* part = a.partials + ((long long) seq * hq + q) * a.maxTiles * d;
    long long dk = (long long) a.kvHeads * d;
    for (int j = team.rank(); j < d; j += team.size()) {
        float acc = 0.0f;
        for (int i = 0; i < sinks; i++) {
            float v = kvq_h2f(a.sinks[((long long) (seq * 2 + 1) * a.sinkCap + i) * dk + (long long) h * d + j]);
            acc = kvq_fma(w[i], v, acc);
        }
        for (int t = 0; t < tiles; t++) {
            acc += part[(long long) t * d + j];
        }
        a.out[((long long) seq * hq + q) * d + j] = acc;
    }
}

/** kvq_value_sparse for global thread `gt` of sequence `seq`: K consecutive entries, token = entry / Sv. */
template <class Team>
KVQ_HD void kvq_value_sparse_thread(const Team& team, const KvqStep& a, int seq, long long gt) {
    int sv = a.valueSlots;
    if (sv <= 0) {
        return;
    }
    long long total = (long long) a.seqPacked[seq] * sv;
    long long e = gt * KVQ_SPARSE_PER_THREAD;
    long long end = e + KVQ_SPARSE_PER_THREAD < total ? e + KVQ_SPARSE_PER_THREAD : total;
    int d = a.headDim;
    int g = a.groupSize;
    int hq = a.kvHeads * g;
    int sinks = a.seqSinks[seq];
    for (; e < end; e++) {
        const unsigned char* chunk = kvq_chunk(a.entryPool, a.valueChunkTable, seq, a.maxChunks, a.poolChunks, e,
                                               a.error);
        if (chunk == nullptr) {
            continue;
        }
        int at = (int) (e & (KVQ_CHUNK - 1));
        int ch = reinterpret_cast<const uint16_t*>(chunk)[at];
        float res = kvq_h2f(reinterpret_cast<const uint16_t*>(chunk)[KVQ_CHUNK + at]);
        int h = ch / d;
        if (h >= a.kvHeads) {
            continue;
        }
        int j = ch - h * d;
        long long slot = e / sv;
        for (int q = h * g; q < (h + 1) * g; q++) {
            float w = a.scores[((long long) seq * hq + q) * a.scoreStride + sinks + slot];
            team.atomic_add(&a.out[((long long) seq * hq + q) * d + j], kvq_mul(w, res));
        }
    }
}

// ============================================================================ fp16 baselines
struct KvqPlain {
    const unsigned char* pool;
    long long pageBytes, keysOff, valuesOff;
    const int* pageTable;
    int maxPages, poolPages, pageTokens;
    const int* seqTokens;
    const float* query;
    float scale;
    float* scores;
    int scoreStride;
    float* partials;
    int maxTiles;
    int headDim, kvHeads, groupSize;
    int* error;
};

/** Two adjacent fp16 values as floats: one 32-bit load on the device. */
KVQ_HD void kvq_load_h2(const uint16_t* p, float* x, float* y) {
#ifdef __CUDA_ARCH__
    float2 f = __half22float2(*reinterpret_cast<const __half2*>(p));
    *x = f.x;
    *y = f.y;
#else
    *x = kvq_h2f(p[0]);
    *y = kvq_h2f(p[1]);
#endif
}

/** kvq_fp16_key_scores for block (tile of 2T tokens, h, seq). Shared: qs [G][d]. */
template <class Team>
KVQ_HD void kvq_fp16_key_scores_block(const Team& team, const KvqPlain& a, int tile, int h, int seq, float* qs) {
    int tokens = a.seqTokens[seq];
    int start = tile * 2 * KVQ_TILE;
    if (start >= tokens) {
        return;
    }
    int d = a.headDim;
    int g = a.groupSize;
    int hq = a.kvHeads * g;
    long long p = a.pageTokens;
    for (int i = team.rank(); i < g * d; i += team.size()) {
        qs[i] = kvq_mul(a.query[((long long) seq * hq + h * g) * d + i], a.scale);
    }
    team.sync();
    float* rows = a.scores + (long long) seq * hq * a.scoreStride;
    for (int pr = team.rank(); pr < KVQ_TILE; pr += team.size()) {
        int slot = start + 2 * pr;
        if (slot >= tokens) {
            continue;
        }
        const unsigned char* page = kvq_page(a.pool, a.pageBytes, a.pageTable, seq, a.maxPages, a.poolPages,
                                             a.pageTokens, slot, a.error);
        if (page == nullptr) {
            continue;
        }
        int r = slot % a.pageTokens;  // even, and P is even: both tokens sit in this page
        const uint16_t* k = reinterpret_cast<const uint16_t*>(page + a.keysOff) + (long long) h * d * p + r;
        bool two = slot + 1 < tokens;
        for (int g0 = 0; g0 < g; g0 += KVQ_MAXG) {
            float acc0[KVQ_MAXG];
            float acc1[KVQ_MAXG];
#pragma unroll
            for (int q = 0; q < KVQ_MAXG; q++) {
                acc0[q] = 0.0f;
                acc1[q] = 0.0f;
            }
            for (int j = 0; j < d; j++) {
                float k0;
                float k1;
                kvq_load_h2(k + j * p, &k0, &k1);
#pragma unroll
                for (int q = 0; q < KVQ_MAXG; q++) {
                    if (g0 + q < g) {
                        float qv = qs[(g0 + q) * d + j];
                        acc0[q] = kvq_fma(k0, qv, acc0[q]);
                        acc1[q] = kvq_fma(k1, qv, acc1[q]);
                    }
                }
            }
#pragma unroll
            for (int q = 0; q < KVQ_MAXG; q++) {
                if (g0 + q < g) {
                    float* row = rows + (long long) (h * g + g0 + q) * a.scoreStride;
                    row[slot] = acc0[q];
                    if (two) {
                        row[slot + 1] = acc1[q];
                    }
                }
            }
        }
    }
}

/** Eight adjacent fp16 values (16-byte aligned) as floats: one 128-bit load on the device. */
KVQ_HD void kvq_load_h8(const uint16_t* p, float* v) {
#ifdef __CUDA_ARCH__
    uint4 raw = *reinterpret_cast<const uint4*>(p);
    const __half2* h2 = reinterpret_cast<const __half2*>(&raw);
#pragma unroll
    for (int i = 0; i < 4; i++) {
        float2 f = __half22float2(h2[i]);
        v[2 * i] = f.x;
        v[2 * i + 1] = f.y;
    }
#else
    for (int i = 0; i < 8; i++) {
        v[i] = kvq_h2f(p[i]);
    }
#endif
}

/**
 * kvq_fp16_value_partials for block (tile, h, seq). Shared: wt [G][TV] softmax weights,
 * red [KVQ_MAXG_FP16V][2048]. Items are (lane, 8-channel column): a row of d fp16 values is read by
 * d/8 threads with 16-byte loads, `lanes` rows in parallel.
 */
template <class Team>
KVQ_HD void kvq_fp16_value_partials_block(const Team& team, const KvqPlain& a, int tile, int h, int seq, float* smem) {
    int tokens = a.seqTokens[seq];
    int start = tile * KVQ_VTILE;
    if (start >= tokens) {
        return;
    }
    int ntok = tokens - start < KVQ_VTILE ? tokens - start : KVQ_VTILE;
    int d = a.headDim;
    int g = a.groupSize;
    int hq = a.kvHeads * g;
    long long p = a.pageTokens;
    int cols = d / 8;
    float* wt = smem;
    float* red = wt + g * KVQ_VTILE;
    const float* w = a.scores + (long long) seq * hq * a.scoreStride + start;
    for (int idx = team.rank(); idx < g * KVQ_VTILE; idx += team.size()) {
        int q = idx / KVQ_VTILE;
        int rr = idx - q * KVQ_VTILE;
        wt[idx] = rr < ntok ? w[(long long) (h * g + q) * a.scoreStride + rr] : 0.0f;
    }
    team.sync();
    int lanes = team.size() >= cols ? team.size() / cols : 1;
    float* partial = a.partials + ((long long) seq * hq + h * g) * a.maxTiles * d + (long long) tile * d;
    for (int g0 = 0; g0 < g; g0 += KVQ_MAXG_FP16V) {
        for (int item = team.rank(); item < lanes * cols; item += team.size()) {
            int col = item % cols;
            int lane = item / cols;
            float acc[KVQ_MAXG_FP16V][8];
#pragma unroll
            for (int q = 0; q < KVQ_MAXG_FP16V; q++) {
#pragma unroll
                for (int k = 0; k < 8; k++) {
                    acc[q][k] = 0.0f;
                }
            }
            for (int rr = lane; rr < ntok; rr += lanes) {
                int slot = start + rr;
                const unsigned char* page = kvq_page(a.pool, a.pageBytes, a.pageTable, seq, a.maxPages, a.poolPages,
                                                     a.pageTokens, slot, a.error);
                if (page == nullptr) {
                    continue;
                }
                const uint16_t* row = reinterpret_cast<const uint16_t*>(page + a.valuesOff)
                        + ((long long) h * p + slot % a.pageTokens) * d + col * 8;
                float v[8];
                kvq_load_h8(row, v);
#pragma unroll
                for (int q = 0; q < KVQ_MAXG_FP16V; q++) {
                    if (g0 + q < g) {
                        float wq = wt[(g0 + q) * KVQ_VTILE + rr];
#pragma unroll
                        for (int k = 0; k < 8; k++) {
                            acc[q][k] = kvq_fma(wq, v[k], acc[q][k]);
                        }
                    }
                }
            }
            for (int q = 0; q < KVQ_MAXG_FP16V && g0 + q < g; q++) {
                for (int k = 0; k < 8; k++) {
                    if (lanes == 1) {
                        partial[(long long) (g0 + q) * a.maxTiles * d + col * 8 + k] = acc[q][k];
                    } else {
                        red[q * 2048 + lane * d + col * 8 + k] = acc[q][k];
                    }
                }
            }
        }
        if (lanes > 1) {
            team.sync();
            int qn = g - g0 < KVQ_MAXG_FP16V ? g - g0 : KVQ_MAXG_FP16V;
            for (int idx = team.rank(); idx < qn * d; idx += team.size()) {
                int q = idx / d;
                int j = idx - q * d;
                float sum = 0.0f;
                for (int l = 0; l < lanes; l++) {
                    sum += red[q * 2048 + l * d + j];
                }
                partial[(long long) (g0 + q) * a.maxTiles * d + j] = sum;
            }
            team.sync();
        }
    }
}
