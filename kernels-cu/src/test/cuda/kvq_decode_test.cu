// kvq_decode_test.cu: the fused decode kernels of issue 15 (kvq_decode.cuh) and the format v2 appends
// (kvq_append_v2.cuh), run on the host: every block of every launch executes its real per-thread
// code as fibers (kvq_fiber_team.h), with barriers, warp shuffles and shared-memory atomics. Each
// case packs random data into v2 pages with the v2 pack bodies, decodes with the fused kernels and
// the split merge, and compares against a straightforward double-precision reference decode of the
// same pages (dequantize → RoPE → softmax → values):
//   outputs and debug scores within 1e-4 · max(1, largest |reference|) per (sequence, query head);
//   v2 pages against v1 pages packed by the v1 bodies (validated byte for byte against the Java CPU
//   cache by KernelHostEmulationTest): value parts and key outlier slots identical, every key code
//   equal in the v2 physical order, per-head ends consistent with the slots;
//   the reference's dequantized keys/values close to the original data (so a layout misreading
//   shared by kernel and reference cannot pass).
// Driven by dev.kvq.it.kernels.FusedDecodeHostEmulationTest:
//   kvq_decode_test list            case names, one per line
//   kvq_decode_test run NAME        one case; prints "ok NAME ..." or "FAIL NAME ...", exit 1 on failure
//   kvq_decode_test rope            kvq_rope_angle against fp64 libm at positions up to 10^7
//   kvq_decode_test bytes B G D HKV TOKENS   bytes loaded per token and KV head by the fused decode,
//                                   by kind, and the packed bytes (tests/device/proxies.sh)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "kvq_append_v2.cuh"
#include "kvq_decode.cuh"
#include "kvq_fiber_team.h"

namespace {

using kvq_fibers::FiberBlock;
using kvq_fibers::FiberTeam;

// ------------------------------------------------------------------ random data
struct Rng {
    uint64_t s;
    uint64_t next() {
        uint64_t z = (s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    double uniform() { return (next() >> 11) * (1.0 / 9007199254740992.0); }
    double gauss() {
        double u = uniform() + 1e-300;
        double v = uniform();
        return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
    }
};

// ------------------------------------------------------------------ a case
struct Case {
    std::string name;
    int d, kvHeads, group, bits, pageTokens, sinkCap, windowCap, pairing;
    bool outliers;
    bool fp16;             // fp16 baseline pages instead of packed v2 pages
    bool generic;          // run the generic entry even where an instance exists
    int splits;
    std::vector<int> tokens;          // per sequence, sinks included
    std::vector<long long> firstPos;  // per sequence
    float theta;
};

std::vector<Case> cases() {
    std::vector<Case> c;
    auto add = [&](std::string name, int d, int hkv, int g, int b, int p, int s, int n, int pairing, bool out,
                   int splits, std::vector<int> tok, std::vector<long long> pos, bool generic = false,
                   float theta = 10000.0f) {
        c.push_back(Case{name, d, hkv, g, b, p, s, n, pairing, out, false, generic, splits, tok, pos, theta});
    };
    // specialized instances: d 64/128 (one 256), G 1/2/4/8, b 2/3/4, both pairings, outliers 0/1%,
    // window 0/32, sinks 0/1, positions to 10^7, 1–4 splits, P 32–256, batches of different lengths
    add("b3_g1_d128_mha_1pct_window", 128, 2, 1, 3, 64, 1, 32, KVQ_ROPE_ROTATE_HALF, true, 3, {700, 45, 2},
        {9'999'000LL, 0LL, 5LL}, false, 500000.0f);
    add("b3_g1_d128_plain", 128, 2, 1, 3, 256, 0, 0, KVQ_ROPE_INTERLEAVED, false, 1, {600}, {123LL});
    add("b2_g1_d128_1pct", 128, 1, 1, 2, 128, 1, 0, KVQ_ROPE_INTERLEAVED, true, 4, {900, 130}, {0LL, 10'000'000LL});
    add("b4_g1_d128_1pct_window", 128, 2, 1, 4, 32, 0, 32, KVQ_ROPE_ROTATE_HALF, true, 2, {400, 33}, {77LL, 9'990'000LL});
    add("b3_g2_d128_1pct", 128, 2, 2, 3, 64, 1, 0, KVQ_ROPE_INTERLEAVED, true, 2, {500, 97}, {5LL, 1'000'000LL});
    add("b2_g2_d64_window", 64, 2, 2, 2, 32, 0, 32, KVQ_ROPE_ROTATE_HALF, false, 3, {610, 20}, {0LL, 3LL});
    add("b3_g4_d64_1pct_window_sink", 64, 2, 4, 3, 64, 1, 32, KVQ_ROPE_INTERLEAVED, true, 2, {450, 300},
        {9'999'500LL, 42LL});
    add("b4_g4_d128_1pct", 128, 1, 4, 4, 128, 0, 0, KVQ_ROPE_ROTATE_HALF, true, 1, {333}, {1'234'567LL});
    add("b3_g8_d128_1pct_window", 128, 1, 8, 3, 64, 1, 32, KVQ_ROPE_ROTATE_HALF, true, 3, {520, 64},
        {7'777'777LL, 0LL});
    add("b2_g8_d64_1pct", 64, 2, 8, 2, 256, 0, 0, KVQ_ROPE_INTERLEAVED, true, 2, {700}, {99LL});
    add("b4_g8_d64_window_sink", 64, 1, 8, 4, 32, 1, 32, KVQ_ROPE_INTERLEAVED, false, 4, {300, 10, 1}, {0LL, 5LL, 9LL});
    add("b3_g1_d64_1pct_window_sink", 64, 4, 1, 3, 32, 1, 32, KVQ_ROPE_ROTATE_HALF, true, 2, {260, 70}, {3LL, 10'000'000LL});
    add("b3_g2_d256_1pct", 256, 1, 2, 3, 64, 1, 0, KVQ_ROPE_ROTATE_HALF, true, 2, {300}, {5'000'000LL});
    add("b4_g8_d256_1pct_window", 256, 1, 8, 4, 64, 1, 32, KVQ_ROPE_INTERLEAVED, true, 2, {260, 40},
        {6'000'000LL, 0LL});  // the per-code value table (no pair table at b = 4, d = 256, G = 8)
    add("b3_g1_d128_only_sinks_and_window", 128, 1, 1, 3, 64, 1, 32, KVQ_ROPE_INTERLEAVED, true, 2, {20, 1}, {0LL, 7LL});
    // the generic entry: stories260K's d = 8, odd d and G, a page size that is no power of two
    add("generic_d8_g2_b3_1pct_window_sink", 8, 4, 2, 3, 32, 1, 32, KVQ_ROPE_INTERLEAVED, true, 2, {300, 40},
        {0LL, 9'999'999LL}, true);
    add("generic_d24_g3_b2_p96", 24, 2, 3, 2, 96, 0, 0, KVQ_ROPE_ROTATE_HALF, true, 3, {400, 97}, {11LL, 2'000'000LL},
        true);
    add("generic_d64_g1_b4_window", 64, 2, 1, 4, 64, 1, 32, KVQ_ROPE_ROTATE_HALF, false, 1, {200}, {9'000'000LL},
        true);
    add("generic_d16_g10_b3", 16, 1, 10, 3, 32, 0, 32, KVQ_ROPE_INTERLEAVED, true, 2, {150, 3}, {4LL, 8LL}, true);
    // fp16 baselines (specialized and generic)
    auto addFp16 = [&](std::string name, int d, int hkv, int g, int p, int splits, std::vector<int> tok, bool generic) {
        c.push_back(Case{name, d, hkv, g, 16, p, 0, 0, KVQ_ROPE_ROTATE_HALF, false, true, generic, splits, tok,
                         std::vector<long long>(tok.size(), 1000LL), 10000.0f});
    };
    addFp16("fp16_g1_d128", 128, 2, 1, 64, 2, {500, 37}, false);
    addFp16("fp16_g4_d64", 64, 2, 4, 32, 3, {300, 65}, false);
    addFp16("fp16_g8_d128", 128, 1, 8, 256, 1, {260}, false);
    addFp16("fp16_generic_d24_g3", 24, 2, 3, 96, 2, {200, 9}, true);
    return c;
}

// ------------------------------------------------------------------ the page layout the test uses
// Parts in PageLayout's order, each 64-byte aligned (a stand-in for the Java PageLayout v2, which
// passes its own offsets); v1 the same without the per-head ends and with ⌈D/32⌉·b key words.
struct Layout {
    long long pageBytes = 0;
    long long keyCodes = -1, valueCodes = -1, valueZero = -1, valueScale = -1, keyOutChannel = -1, keyOutValue = -1,
              valueOutChannel = -1, valueOutValue = -1, keyOutHeadEnd = -1, valueOutHeadEnd = -1, keys = -1,
              values = -1;
    int keyWords = 0;
};

long long part(long long& used, long long bytes) {
    used = (used + 63) / 64 * 64;
    long long at = used;
    used += bytes;
    return at;
}

Layout layout(const Case& c, int keySlots, int valueSlots, bool v2) {
    Layout l;
    long long used = 0;
    int D = c.kvHeads * c.d;
    int P = c.pageTokens;
    if (c.fp16) {
        l.keys = part(used, 2LL * D * P);
        l.values = part(used, 2LL * D * P);
    } else {
        l.keyWords = v2 ? kvq_v2_key_words(c.bits, D) : (D + 31) / 32 * c.bits;
        l.keyCodes = part(used, 4LL * l.keyWords * P);
        l.valueCodes = part(used, 4LL * c.kvHeads * (P / 32) * c.bits * c.d);
        l.valueZero = part(used, 2LL * P);
        l.valueScale = part(used, 2LL * P);
        if (keySlots > 0) {
            l.keyOutChannel = part(used, 2LL * P * keySlots);
            l.keyOutValue = part(used, 2LL * P * keySlots);
            l.valueOutChannel = part(used, 2LL * P * valueSlots);
            l.valueOutValue = part(used, 2LL * P * valueSlots);
            if (v2) {
                l.keyOutHeadEnd = part(used, 1LL * P * c.kvHeads);
                l.valueOutHeadEnd = part(used, 1LL * P * c.kvHeads);
            }
        }
    }
    l.pageBytes = (used + 63) / 64 * 64;
    return l;
}

// ------------------------------------------------------------------ one prepared cache
struct Cache {
    Case c;
    int D, hq, S, N, keySlots = 0, valueSlots = 0, cap = 0, topK = 0;
    std::vector<float> keys, values;             // [Σ tokens][D]
    std::vector<long long> rowOf;                // first row of each sequence
    std::vector<int> packed, sinks;
    std::vector<float> lo, hi, zero, scale, keyMid, keyTable, valueMid, valueTable, invFreq;
    std::vector<float> keyBook, valueBook;       // reconstruction codebooks c'_K, c'_V
    Layout l2, l1;
    std::vector<unsigned char> pool2, pool1;     // v2 and v1 (or fp16) pages
    std::vector<int> table;
    int maxPages = 1, poolPages = 0;
    std::vector<uint16_t> side;                  // [B][2][S+N][D]
    std::vector<float> query;                    // [B][Hq][d]
    float scaleQ = 0;
    int error = 0;
};

std::vector<float> codebook(int bits, Rng& rng) {
    int n = 1 << bits;
    std::vector<float> c(n);
    for (int k = 0; k < n; k++) {
        c[k] = (float) (-1.0 + 2.0 * k / (n - 1) + (k > 0 && k < n - 1 ? 0.3 / n * (rng.uniform() - 0.5) : 0.0));
    }
    std::sort(c.begin(), c.end());
    return c;
}

std::vector<float> midpoints(const std::vector<float>& c) {
    std::vector<float> m(c.size() - 1);
    for (size_t i = 0; i + 1 < c.size(); i++) {
        m[i] = (c[i] + c[i + 1]) * 0.5f;
    }
    return m;
}

void build_pages(Cache& k) {
    const Case& c = k.c;
    int B = (int) c.tokens.size();
    std::vector<int> pages(B);
    k.maxPages = 1;
    for (int s = 0; s < B; s++) {
        pages[s] = (k.packed[s] + c.pageTokens - 1) / c.pageTokens;
        k.maxPages = std::max(k.maxPages, pages[s]);
    }
    k.table.assign((size_t) B * k.maxPages, -1);
    k.poolPages = 0;
    for (int p = 0; p < k.maxPages; p++) {
        for (int s = 0; s < B; s++) {
            if (p < pages[s]) k.table[(size_t) s * k.maxPages + p] = k.poolPages++;
        }
    }
    for (int& v : k.table) {
        if (v >= 0) v = k.poolPages - 1 - v;  // reversed: the page table is no identity map
    }
}

Cache prepare(const Case& c) {
    Cache k;
    k.c = c;
    k.D = c.kvHeads * c.d;
    k.hq = c.kvHeads * c.group;
    k.S = c.sinkCap;
    k.N = c.windowCap;
    int B = (int) c.tokens.size();
    int D = k.D;
    Rng rng{0x5eedull + std::hash<std::string>{}(c.name)};
    long long rows = 0;
    for (int s = 0; s < B; s++) {
        k.rowOf.push_back(rows);
        rows += c.tokens[s];
        k.sinks.push_back(std::min(c.tokens[s], k.S));
        k.packed.push_back(c.tokens[s] - k.sinks.back());
    }
    // channels with their own offset and spread, a few heavy-tailed ones (outliers)
    std::vector<double> mu(D), sd(D);
    for (int ch = 0; ch < D; ch++) {
        mu[ch] = 0.5 * rng.gauss();
        sd[ch] = 0.3 + rng.uniform();
    }
    k.keys.resize((size_t) rows * D);
    k.values.resize((size_t) rows * D);
    for (long long t = 0; t < rows; t++) {
        for (int ch = 0; ch < D; ch++) {
            double x = mu[ch] + sd[ch] * rng.gauss();
            if (rng.uniform() < 0.02) x *= 4.0;
            k.keys[t * D + ch] = (float) x;
            double v = 0.8 * rng.gauss();
            if (rng.uniform() < 0.02) v *= 5.0;
            k.values[t * D + ch] = (float) v;
        }
    }
    k.invFreq.resize(c.d / 2);
    for (int i = 0; i < c.d / 2; i++) {
        k.invFreq[i] = (float) std::pow((double) c.theta, -2.0 * i / c.d);
    }
    k.query.resize((size_t) B * k.hq * c.d);
    for (auto& q : k.query) q = (float) rng.gauss();
    k.scaleQ = (float) (1.0 / std::sqrt((double) c.d));
    build_pages(k);
    if (c.fp16) {
        k.l1 = layout(c, 0, 0, false);
        return k;
    }
    // key calibration: per-channel thresholds (1%/99% quantiles with outliers, else min/max)
    k.lo.resize(D);
    k.hi.resize(D);
    for (int ch = 0; ch < D; ch++) {
        std::vector<float> col;
        for (long long t = 0; t < rows; t++) col.push_back(k.keys[t * D + ch]);
        std::sort(col.begin(), col.end());
        size_t n = col.size();
        k.lo[ch] = c.outliers ? col[(size_t) (0.01 * (n - 1))] : col.front();
        k.hi[ch] = c.outliers ? col[(size_t) (0.99 * (n - 1))] : col.back();
        if (k.hi[ch] <= k.lo[ch]) k.hi[ch] = k.lo[ch] + 1.0f;
    }
    k.zero.resize(D);
    k.scale.resize(D);
    for (int ch = 0; ch < D; ch++) {
        k.zero[ch] = kvq_mul(kvq_add(k.hi[ch], k.lo[ch]), 0.5f);
        k.scale[ch] = kvq_mul(kvq_sub(k.hi[ch], k.lo[ch]), 0.5f);
    }
    k.keyBook = codebook(c.bits, rng);
    k.valueBook = codebook(c.bits, rng);
    k.keyMid = midpoints(k.keyBook);
    k.valueMid = midpoints(k.valueBook);
    int C = 1 << c.bits;
    k.keyTable.resize((size_t) D * 16);
    for (int ch = 0; ch < D; ch++) {
        for (int x = 0; x < 16; x++) {
            k.keyTable[(size_t) ch * 16 + x] = kvq_add(k.zero[ch], kvq_mul(k.scale[ch], k.keyBook[x % C]));
        }
    }
    k.valueTable.resize(16);
    for (int x = 0; x < 16; x++) k.valueTable[x] = k.valueBook[x % C];
    if (c.outliers) {
        k.cap = (int) (0.01 * D) + 1;
        k.keySlots = 2 * k.cap;
        k.topK = (int) (0.01 * D) + 2;
        k.valueSlots = 2 * (k.topK - 1);
    }
    k.l2 = layout(c, k.keySlots, k.valueSlots, true);
    k.l1 = layout(c, k.keySlots, k.valueSlots, false);
    return k;
}

/** Appends every token: sinks and the window ring into the side buffer, the rest into the pages. */
void append(Cache& k) {
    const Case& c = k.c;
    int B = (int) c.tokens.size();
    int D = k.D;
    KvqHostTeam team;
    int sideCap = k.S + k.N;
    k.side.assign((size_t) B * 2 * std::max(sideCap, 1) * D, 0);
    KvqRopeStore rs{};
    rs.batch = B;
    rs.seqFirstPos = c.fp16 ? nullptr : nullptr;
    std::vector<long long> firstPos = c.firstPos;
    rs.seqFirstPos = firstPos.data();
    rs.invFreq = k.invFreq.data();
    rs.pairing = c.pairing;
    rs.headDim = c.d;
    rs.kvHeads = c.kvHeads;
    rs.error = &k.error;
    if (c.fp16) {
        k.pool1.assign((size_t) k.poolPages * k.l1.pageBytes, 0);
        for (int s = 0; s < B; s++) {
            for (int i = 0; i < c.tokens[s]; i++) {
                KvqRopeStore one = rs;
                one.keys = k.keys.data() + (k.rowOf[s] + i) * D;
                one.values = k.values.data() + (k.rowOf[s] + i) * D;
                one.tokenSeq = &s;
                one.tokenSlot = &i;
                one.n = 1;
                kvq_fp16_append_token(team, one, k.pool1.data(), k.l1.pageBytes, k.l1.keys, k.l1.values,
                                      k.table.data(), k.maxPages, k.poolPages, c.pageTokens, 0);
            }
        }
        k.packed.assign(c.tokens.begin(), c.tokens.end());  // fp16 pages hold every token
        return;
    }
    for (int s = 0; s < B; s++) {
        for (int p = 0; p < c.tokens[s]; p++) {  // in order, so the ring ends with the last N tokens
            KvqRopeStore one = rs;
            one.keys = k.keys.data() + (k.rowOf[s] + p) * D;
            one.values = k.values.data() + (k.rowOf[s] + p) * D;
            one.tokenSeq = &s;
            one.tokenSlot = &p;
            one.n = 1;
            kvq_side_token(team, one, k.side.data(), k.S, k.N, 0);
        }
    }
    k.pool2.assign((size_t) k.poolPages * k.l2.pageBytes, 0);
    k.pool1.assign((size_t) k.poolPages * k.l1.pageBytes, 0);
    std::vector<int> sel(2 * KVQ_MAX_CAP), sorted(2 * KVQ_MAX_CAP);
    for (int v2 = 0; v2 < 2; v2++) {
        const Layout& l = v2 ? k.l2 : k.l1;
        unsigned char* pool = v2 ? k.pool2.data() : k.pool1.data();
        for (int s = 0; s < B; s++) {
            for (int i = 0; i < k.packed[s]; i++) {
                long long row = k.rowOf[s] + k.sinks[s] + i;
                KvqKeyPack kp{};
                kp.pool = pool; kp.pageBytes = l.pageBytes; kp.keyCodesOff = l.keyCodes;
                kp.keyOutChannelOff = l.keyOutChannel; kp.keyOutValueOff = l.keyOutValue;
                kp.pageTable = k.table.data(); kp.maxPages = k.maxPages; kp.poolPages = k.poolPages;
                kp.pageTokens = c.pageTokens; kp.keys = k.keys.data() + row * D; kp.tokenSeq = &s; kp.tokenSlot = &i;
                kp.n = 1; kp.batch = B; kp.lo = k.lo.data(); kp.hi = k.hi.data(); kp.zero = k.zero.data();
                kp.scale = k.scale.data(); kp.keyMid = k.keyMid.data(); kp.keyTable = k.keyTable.data();
                kp.channels = D; kp.bits = c.bits; kp.form = c.outliers ? KVQ_FORM_FIXED : KVQ_FORM_NONE;
                kp.cap = k.cap; kp.keySlots = k.keySlots; kp.error = &k.error;
                KvqValuePack vp{};
                vp.pool = pool; vp.pageBytes = l.pageBytes; vp.valueCodesOff = l.valueCodes;
                vp.valueZeroOff = l.valueZero; vp.valueScaleOff = l.valueScale;
                vp.valueOutChannelOff = l.valueOutChannel; vp.valueOutValueOff = l.valueOutValue;
                vp.pageTable = k.table.data(); vp.maxPages = k.maxPages; vp.poolPages = k.poolPages;
                vp.pageTokens = c.pageTokens; vp.values = k.values.data() + row * D; vp.tokenSeq = &s;
                vp.tokenSlot = &i; vp.n = 1; vp.batch = B; vp.valueMid = k.valueMid.data();
                vp.valueTable = k.valueTable.data(); vp.channels = D; vp.headDim = c.d; vp.bits = c.bits;
                vp.form = c.outliers ? KVQ_FORM_FIXED : KVQ_FORM_NONE; vp.topK = k.topK; vp.error = &k.error;
                if (v2) {
                    kvq_pack_key_token_v2(team, kp, l.keyOutHeadEnd, c.d, c.kvHeads, l.keyWords, c.pairing, nullptr, 0,
                                          sel.data(), sorted.data());
                    kvq_pack_value_token_v2(team, vp, l.valueOutHeadEnd, c.kvHeads, 0, sel.data(), sorted.data());
                } else {
                    kvq_pack_key_token(team, kp, 0, sel.data(), sorted.data());
                    kvq_pack_value_token(team, vp, 0, sel.data(), sorted.data());
                }
            }
        }
    }
}

// ------------------------------------------------------------------ reading pages (the reference's way)
const unsigned char* page_of(const Cache& k, const std::vector<unsigned char>& pool, const Layout& l, int s, int slot,
                             int* r) {
    int pg = k.table[(size_t) s * k.maxPages + slot / k.c.pageTokens];
    *r = slot % k.c.pageTokens;
    return pool.data() + (size_t) pg * l.pageBytes;
}

uint32_t stream_bits(const unsigned char* page, const Layout& l, int P, int r, long long bit, int width) {
    const uint32_t* w = reinterpret_cast<const uint32_t*>(page + l.keyCodes);
    uint64_t lo = w[kvq_v2_key_word_index((int) (bit >> 5), r, P)];
    uint64_t hi = (bit & 31) + width > 32 ? w[kvq_v2_key_word_index((int) (bit >> 5) + 1, r, P)] : 0;
    return (uint32_t) (((hi << 32) | lo) >> (bit & 31)) & ((1u << width) - 1u);
}

/** The dequantized pre-RoPE key (v2 page) of packed slot i of sequence s: [D]. */
std::vector<double> ref_key(const Cache& k, int s, int i) {
    const Case& c = k.c;
    int r;
    const unsigned char* page = page_of(k, k.pool2, k.l2, s, i, &r);
    std::vector<double> out(k.D);
    for (int h = 0; h < c.kvHeads; h++) {
        for (int j = 0; j < c.d; j++) {
            int phys = kvq_v2_key_physical(c.pairing, j, c.d);
            uint32_t code = stream_bits(page, k.l2, c.pageTokens, r, kvq_v2_key_bit(c.bits, c.d, h, phys), c.bits);
            out[h * c.d + j] = k.keyTable[(size_t) (h * c.d + j) * 16 + code];
        }
    }
    if (k.keySlots > 0) {
        const uint16_t* ch = reinterpret_cast<const uint16_t*>(page + k.l2.keyOutChannel) + (size_t) r * k.keySlots;
        const uint16_t* val = reinterpret_cast<const uint16_t*>(page + k.l2.keyOutValue) + (size_t) r * k.keySlots;
        for (int e = 0; e < k.keySlots; e++) {
            if (e > 0 && ch[e] == 0 && val[e] == 0) break;  // unused slots (0, +0) fill the tail
            out[ch[e]] += kvq_h2f_soft(val[e]);
        }
    }
    return out;
}

/** The dequantized value (v2 page) of packed slot i of sequence s: [D]. */
std::vector<double> ref_value(const Cache& k, int s, int i) {
    const Case& c = k.c;
    int r;
    const unsigned char* page = page_of(k, k.pool2, k.l2, s, i, &r);
    double z = kvq_h2f_soft(reinterpret_cast<const uint16_t*>(page + k.l2.valueZero)[r]);
    double sc = kvq_h2f_soft(reinterpret_cast<const uint16_t*>(page + k.l2.valueScale)[r]);
    const uint32_t* w = reinterpret_cast<const uint32_t*>(page + k.l2.valueCodes);
    std::vector<double> out(k.D);
    int e = r % 32;
    for (int h = 0; h < c.kvHeads; h++) {
        for (int j = 0; j < c.d; j++) {
            int bit = c.bits * e;
            uint64_t lo = w[kvq_v2_value_word_index(h, r / 32, bit >> 5, j, c.pageTokens, c.bits, c.d)];
            uint64_t hi = (bit & 31) + c.bits > 32
                    ? w[kvq_v2_value_word_index(h, r / 32, (bit >> 5) + 1, j, c.pageTokens, c.bits, c.d)] : 0;
            uint32_t code = (uint32_t) (((hi << 32) | lo) >> (bit & 31)) & ((1u << c.bits) - 1u);
            out[h * c.d + j] = z + sc * k.valueTable[code];
        }
    }
    if (k.valueSlots > 0) {
        const uint16_t* ch = reinterpret_cast<const uint16_t*>(page + k.l2.valueOutChannel) + (size_t) r * k.valueSlots;
        const uint16_t* val = reinterpret_cast<const uint16_t*>(page + k.l2.valueOutValue) + (size_t) r * k.valueSlots;
        for (int e2 = 0; e2 < k.valueSlots; e2++) {
            out[ch[e2]] += kvq_h2f_soft(val[e2]);
        }
    }
    return out;
}

struct Reference {
    std::vector<double> scores;  // [B][Hq][stride]
    std::vector<double> out;     // [B][Hq][d]
    int stride;
};

/** dequantize → RoPE (fp64 angle) → softmax → values, in double, from the pages and the side buffer. */
Reference reference(const Cache& k) {
    const Case& c = k.c;
    int B = (int) c.tokens.size();
    int d = c.d;
    Reference ref;
    ref.stride = 0;
    for (int s = 0; s < B; s++) ref.stride = std::max(ref.stride, c.fp16 ? k.packed[s] : k.sinks[s] + k.packed[s]);
    ref.scores.assign((size_t) B * k.hq * ref.stride, 0.0);
    ref.out.assign((size_t) B * k.hq * d, 0.0);
    int sideCap = k.S + k.N;
    for (int s = 0; s < B; s++) {
        int sinks = c.fp16 ? 0 : k.sinks[s];
        int packed = k.packed[s];
        int inWindow = c.fp16 ? 0 : std::min(k.N, packed);
        int quantized = packed - inWindow;
        // every token's key (rotated, [D]) and value, in score order
        std::vector<std::vector<double>> keys, values;
        auto side = [&](int part, int e) {
            std::vector<double> v(k.D);
            for (int ch = 0; ch < k.D; ch++)
                v[ch] = kvq_h2f_soft(k.side[kvq_v2_side_index(s, part, e, ch, sideCap, k.D)]);
            return v;
        };
        for (int e = 0; e < sinks; e++) {
            keys.push_back(side(0, e));
            values.push_back(side(1, e));
        }
        for (int i = 0; i < packed; i++) {
            if (c.fp16) {
                int r;
                const unsigned char* page = page_of(k, k.pool1, k.l1, s, i, &r);
                std::vector<double> kv(k.D), vv(k.D);
                for (int h = 0; h < c.kvHeads; h++)
                    for (int j = 0; j < d; j++) {
                        kv[h * d + j] = kvq_h2f_soft(reinterpret_cast<const uint16_t*>(page + k.l1.keys)
                                                             [((size_t) h * d + j) * c.pageTokens + r]);
                        vv[h * d + j] = kvq_h2f_soft(reinterpret_cast<const uint16_t*>(page + k.l1.values)
                                                             [((size_t) h * c.pageTokens + r) * d + j]);
                    }
                keys.push_back(kv);
                values.push_back(vv);
            } else if (i >= quantized) {
                keys.push_back(side(0, k.S + i % k.N));
                values.push_back(side(1, k.S + i % k.N));
            } else {
                std::vector<double> kk = ref_key(k, s, i);
                long long pos = c.firstPos[s] + k.S + i;
                std::vector<double> rot(k.D);
                for (int h = 0; h < c.kvHeads; h++)
                    for (int pi = 0; pi < d / 2; pi++) {
                        int f;
                        int p;
                        kvq_v2_pair_channels(c.pairing, pi, d, &f, &p);
                        double phi = (double) pos * (double) k.invFreq[pi];
                        double cs = std::cos(phi);
                        double sn = std::sin(phi);
                        rot[h * d + f] = cs * kk[h * d + f] - sn * kk[h * d + p];
                        rot[h * d + p] = sn * kk[h * d + f] + cs * kk[h * d + p];
                    }
                keys.push_back(rot);
                values.push_back(ref_value(k, s, i));
            }
        }
        int n = (int) keys.size();
        for (int q = 0; q < k.hq; q++) {
            int h = q / c.group;
            const float* qv = k.query.data() + ((size_t) s * k.hq + q) * d;
            std::vector<double> sc(n);
            double m = -INFINITY;
            for (int t = 0; t < n; t++) {
                double acc = 0;
                for (int j = 0; j < d; j++) acc += (double) kvq_mul(qv[j], k.scaleQ) * keys[t][h * d + j];
                sc[t] = acc;
                ref.scores[((size_t) s * k.hq + q) * ref.stride + t] = acc;
                m = std::max(m, acc);
            }
            double den = 0;
            for (int t = 0; t < n; t++) den += std::exp(sc[t] - m);
            for (int j = 0; j < d; j++) {
                double num = 0;
                for (int t = 0; t < n; t++) num += std::exp(sc[t] - m) * values[t][h * d + j];
                ref.out[((size_t) s * k.hq + q) * d + j] = n > 0 ? num / den : 0.0;
            }
        }
    }
    return ref;
}

// ------------------------------------------------------------------ the kernels under test
using PackedBody = void (*)(const FiberTeam&, const KvqDecodeArgs&, int, int, int, int, float*);
using Fp16Body = void (*)(const FiberTeam&, const KvqDecodeFp16Args&, int, int, int, int, float*);

struct PackedEntry {
    int b, g, d;
    PackedBody body;
    int smem;
};

#define KVQ_TEST_INSTANCE(B, G, D) \
    PackedEntry{B, G, D, &kvq_decode_packed_block<B, G, D, FiberTeam>, KvqPackedShape<B, G, D>::BYTES}

// the specialized instances the cases use (every one compiled for the host costs build time)
const PackedEntry PACKED[] = {
    KVQ_TEST_INSTANCE(3, 1, 128), KVQ_TEST_INSTANCE(2, 1, 128), KVQ_TEST_INSTANCE(4, 1, 128),
    KVQ_TEST_INSTANCE(3, 2, 128), KVQ_TEST_INSTANCE(2, 2, 64),  KVQ_TEST_INSTANCE(3, 4, 64),
    KVQ_TEST_INSTANCE(4, 4, 128), KVQ_TEST_INSTANCE(3, 8, 128), KVQ_TEST_INSTANCE(2, 8, 64),
    KVQ_TEST_INSTANCE(4, 8, 64),  KVQ_TEST_INSTANCE(3, 1, 64),  KVQ_TEST_INSTANCE(3, 2, 256),
    KVQ_TEST_INSTANCE(4, 8, 256),
};

struct Fp16Entry {
    int g, d;
    Fp16Body body;
    int smem;
};

const Fp16Entry FP16[] = {
    Fp16Entry{1, 128, &kvq_decode_fp16_block<1, 128, FiberTeam>, KvqFp16Shape<1, 128>::bytes(128)},
    Fp16Entry{4, 64, &kvq_decode_fp16_block<4, 64, FiberTeam>, KvqFp16Shape<4, 64>::bytes(64)},
    Fp16Entry{8, 128, &kvq_decode_fp16_block<8, 128, FiberTeam>, KvqFp16Shape<8, 128>::bytes(128)},
};

struct Run {
    std::vector<float> out, scores;
    int stride;
    std::string entry;
};

Run run_decode(Cache& k, int stride) {
    const Case& c = k.c;
    int B = (int) c.tokens.size();
    Run run;
    run.stride = stride;
    run.scores.assign((size_t) B * k.hq * stride, NAN);
    std::vector<float> partialOut((size_t) B * k.hq * c.splits * c.d, NAN);
    std::vector<float> partialStats((size_t) B * k.hq * c.splits * 2, NAN);
    FiberBlock block(KVQ_DECODE_THREADS);
    std::vector<float> smem;
    if (c.fp16) {
        KvqDecodeFp16Args a{};
        a.pool = k.pool1.data(); a.pageBytes = k.l1.pageBytes; a.keysOff = k.l1.keys; a.valuesOff = k.l1.values;
        a.pageTable = k.table.data(); a.maxPages = k.maxPages; a.poolPages = k.poolPages;
        a.pageTokens = c.pageTokens; a.seqTokens = k.packed.data(); a.query = k.query.data(); a.scale = k.scaleQ;
        a.headDim = c.d; a.kvHeads = c.kvHeads; a.groupSize = c.group; a.partialOut = partialOut.data();
        a.partialStats = partialStats.data(); a.scores = run.scores.data(); a.scoreStride = stride;
        a.error = &k.error;
        Fp16Body body = &kvq_decode_fp16_block<0, 0, FiberTeam>;
        int bytes = KvqFp16Shape<0, 0>::bytes(c.d);
        run.entry = "kvq_decode_fp16";
        for (const Fp16Entry& e : FP16) {
            if (!c.generic && e.g == c.group && e.d == c.d) {
                body = e.body;
                bytes = e.smem;
                run.entry = "kvq_decode_fp16_g" + std::to_string(e.g) + "_d" + std::to_string(e.d);
            }
        }
        for (int s = 0; s < B; s++)
            for (int h = 0; h < c.kvHeads; h++)
                for (int sp = 0; sp < c.splits; sp++) {
                    smem.assign(bytes / 4 + 4, NAN);  // NaN: a read of shared memory nobody wrote shows up
                    kvq_fibers::run_block(block, [&](const FiberTeam& t) { body(t, a, sp, c.splits, h, s, smem.data()); });
                }
    } else {
        KvqDecodeArgs a{};
        a.pool = k.pool2.data(); a.pageBytes = k.l2.pageBytes; a.keyCodesOff = k.l2.keyCodes;
        a.keyOutChannelOff = k.l2.keyOutChannel; a.keyOutValueOff = k.l2.keyOutValue;
        a.keyOutHeadEndOff = k.l2.keyOutHeadEnd; a.valueCodesOff = k.l2.valueCodes; a.valueZeroOff = k.l2.valueZero;
        a.valueScaleOff = k.l2.valueScale; a.valueOutChannelOff = k.l2.valueOutChannel;
        a.valueOutValueOff = k.l2.valueOutValue; a.valueOutHeadEndOff = k.l2.valueOutHeadEnd;
        a.pageTable = k.table.data(); a.maxPages = k.maxPages; a.poolPages = k.poolPages; a.pageTokens = c.pageTokens;
        a.seqPacked = k.packed.data(); a.seqSinks = k.sinks.data(); a.seqFirstPos = c.firstPos.data();
        // each sequence's side buffer [2][S+N][D], found through its address as the kernels do
        std::vector<unsigned long long> sides(k.packed.size());
        for (size_t s = 0; s < sides.size(); s++) {
            sides[s] = (unsigned long long) (uintptr_t) (k.side.data() + s * 2 * (size_t) (k.S + k.N) * k.D);
        }
        a.sinkCap = k.S; a.windowCap = k.N; a.seqSide = k.S + k.N > 0 ? sides.data() : nullptr;
        a.query = k.query.data(); a.scale = k.scaleQ; a.keyTable = k.keyTable.data();
        a.valueTable = k.valueTable.data(); a.invFreq = k.invFreq.data(); a.pairing = c.pairing; a.headDim = c.d;
        a.kvHeads = c.kvHeads; a.groupSize = c.group; a.bits = c.bits; a.keySlots = k.keySlots;
        a.valueSlots = k.valueSlots; a.partialOut = partialOut.data(); a.partialStats = partialStats.data();
        a.scores = run.scores.data(); a.scoreStride = stride; a.error = &k.error;
        PackedBody body = &kvq_decode_packed_generic_block<false, FiberTeam>;
        int bytes = kvq_decode_packed_generic_bytes(c.d);
        run.entry = "kvq_decode_packed";
        for (const PackedEntry& e : PACKED) {
            if (!c.generic && e.b == c.bits && e.g == c.group && e.d == c.d) {
                body = e.body;
                bytes = e.smem;
                run.entry = "kvq_decode_packed_b" + std::to_string(e.b) + "_g" + std::to_string(e.g) + "_d"
                        + std::to_string(e.d);
            }
        }
        if (!c.generic && run.entry == "kvq_decode_packed") {
            std::fprintf(stderr, "case %s: no specialized instance compiled into the test\n", c.name.c_str());
            std::exit(2);
        }
        for (int s = 0; s < B; s++)
            for (int h = 0; h < c.kvHeads; h++)
                for (int sp = 0; sp < c.splits; sp++) {
                    smem.assign(bytes / 4 + 4, NAN);  // NaN: a read of shared memory nobody wrote shows up
                    kvq_fibers::run_block(block, [&](const FiberTeam& t) { body(t, a, sp, c.splits, h, s, smem.data()); });
                }
    }
    run.out.assign((size_t) B * k.hq * c.d, NAN);
    for (int s = 0; s < B; s++)
        for (int q = 0; q < k.hq; q++)
            kvq_decode_merge_row(0, 1, partialOut.data(), partialStats.data(), c.splits, run.out.data(), c.d, k.hq, q, s,
                                 nullptr);
    return run;
}

// ------------------------------------------------------------------ checks
struct Report {
    bool ok = true;
    std::string why;
    void fail(const std::string& w) {
        if (ok) why = w;
        ok = false;
    }
};

void check_pages(const Cache& k, Report& rep, double* keyErr, double* valueErr) {
    const Case& c = k.c;
    int B = (int) c.tokens.size();
    int D = k.D;
    int P = c.pageTokens;
    double ke = 0, ve = 0;
    long long kn = 0, vn = 0;
    for (int s = 0; s < B && rep.ok; s++) {
        for (int i = 0; i < k.packed[s] && rep.ok; i++) {
            int r;
            const unsigned char* p2 = page_of(k, k.pool2, k.l2, s, i, &r);
            const unsigned char* p1 = page_of(k, k.pool1, k.l1, s, i, &r);
            // values: codes, z, s, slots are v1's bytes
            auto same = [&](long long o2, long long o1, long long bytes, const char* what) {
                if (std::memcmp(p2 + o2, p1 + o1, (size_t) bytes) != 0)
                    rep.fail(std::string("v2 ") + what + " differs from v1 (page of slot " + std::to_string(i) + ")");
            };
            if (i % P == 0 || i + 1 == k.packed[s]) {  // whole pages once they are complete
                same(k.l2.valueCodes, k.l1.valueCodes, 4LL * c.kvHeads * (P / 32) * c.bits * c.d, "valueCodes");
                same(k.l2.valueZero, k.l1.valueZero, 2LL * P, "valueZero");
                same(k.l2.valueScale, k.l1.valueScale, 2LL * P, "valueScale");
                if (k.keySlots > 0) {
                    same(k.l2.keyOutChannel, k.l1.keyOutChannel, 2LL * P * k.keySlots, "keyOutChannel");
                    same(k.l2.keyOutValue, k.l1.keyOutValue, 2LL * P * k.keySlots, "keyOutValue");
                    same(k.l2.valueOutChannel, k.l1.valueOutChannel, 2LL * P * k.valueSlots, "valueOutChannel");
                    same(k.l2.valueOutValue, k.l1.valueOutValue, 2LL * P * k.valueSlots, "valueOutValue");
                }
                if (c.pairing == KVQ_ROPE_INTERLEAVED && (D * c.bits) % 32 == 0)
                    same(k.l2.keyCodes, k.l1.keyCodes, 4LL * k.l2.keyWords * P, "keyCodes (interleaved: v1's bytes)");
            }
            // every key code: logical channel c at v1 bit b·c equals its v2 physical position
            for (int h = 0; h < c.kvHeads && rep.ok; h++)
                for (int j = 0; j < c.d; j++) {
                    int ch = h * c.d + j;
                    uint32_t v1code = stream_bits(p1, k.l1, P, r, (long long) c.bits * ch, c.bits);
                    uint32_t v2code = stream_bits(p2, k.l2, P, r,
                                                  kvq_v2_key_bit(c.bits, c.d, h, kvq_v2_key_physical(c.pairing, j, c.d)),
                                                  c.bits);
                    if (v1code != v2code) {
                        rep.fail("key code of channel " + std::to_string(ch) + " slot " + std::to_string(i) + ": v1 "
                                 + std::to_string(v1code) + ", v2 " + std::to_string(v2code));
                        break;
                    }
                }
            // per-head ends: head h owns exactly the slots whose channel lies in head h
            for (int side = 0; side < 2 && k.keySlots > 0 && rep.ok; side++) {
                int slots = side == 0 ? k.keySlots : k.valueSlots;
                const uint16_t* ch = reinterpret_cast<const uint16_t*>(
                        p2 + (side == 0 ? k.l2.keyOutChannel : k.l2.valueOutChannel)) + (size_t) r * slots;
                const uint16_t* val = reinterpret_cast<const uint16_t*>(
                        p2 + (side == 0 ? k.l2.keyOutValue : k.l2.valueOutValue)) + (size_t) r * slots;
                const unsigned char* ends = p2 + (side == 0 ? k.l2.keyOutHeadEnd : k.l2.valueOutHeadEnd)
                        + (size_t) r * c.kvHeads;
                (void) val;
                int used = slots;  // values use all Sv slots; keys the capped outliers of each side
                if (side == 0) {
                    long long row = k.rowOf[s] + k.sinks[s] + i;
                    int above = 0;
                    int below = 0;
                    for (int c2 = 0; c2 < D; c2++) {
                        above += k.keys[row * D + c2] > k.hi[c2] ? 1 : 0;
                        below += k.keys[row * D + c2] < k.lo[c2] ? 1 : 0;
                    }
                    used = std::min(above, k.cap) + std::min(below, k.cap);
                }
                for (int h = 0; h < c.kvHeads; h++) {
                    int count = 0;
                    for (int e = 0; e < used; e++) count += ch[e] < (h + 1) * c.d ? 1 : 0;
                    if (ends[h] != count) {
                        rep.fail(std::string(side == 0 ? "key" : "value") + " head end " + std::to_string(h) + " of slot "
                                 + std::to_string(i) + " is " + std::to_string(ends[h]) + ", want "
                                 + std::to_string(count));
                        break;
                    }
                }
            }
            // the reference's dequantization reconstructs the data (within the quantization error)
            std::vector<double> kk = ref_key(k, s, i);
            std::vector<double> vv = ref_value(k, s, i);
            long long row = k.rowOf[s] + k.sinks[s] + i;
            double range = 2.0 * kvq_h2f_soft(reinterpret_cast<const uint16_t*>(p2 + k.l2.valueScale)[r]);
            for (int ch = 0; ch < D; ch++) {
                double x = k.keys[row * D + ch];
                if (x >= k.lo[ch] && x <= k.hi[ch]) {
                    ke += std::fabs(kk[ch] - x) / (k.hi[ch] - k.lo[ch]);
                    kn++;
                }
                if (range > 0) {
                    ve += std::fabs(vv[ch] - k.values[row * D + ch]) / range;  // relative to the token's range
                    vn++;
                }
            }
        }
    }
    *keyErr = kn > 0 ? ke / kn : 0;
    *valueErr = vn > 0 ? ve / vn : 0;
}

int run_case(const Case& c) {
    Cache k = prepare(c);
    append(k);
    Report rep;
    double keyErr = 0;
    double valueErr = 0;
    if (!c.fp16) {
        check_pages(k, rep, &keyErr, &valueErr);
        // mean |error| of a b-bit code: about a quarter of a code step, 1/(4·2^b) of the range; a
        // misread layout gives about a third of the range
        if (rep.ok && keyErr > 0.75 / (1 << c.bits)) rep.fail("reference key reconstruction error " + std::to_string(keyErr));
        if (rep.ok && valueErr > 0.75 / (1 << c.bits)) rep.fail("reference value reconstruction error " + std::to_string(valueErr));
    }
    Reference ref = reference(k);
    Run run = run_decode(k, ref.stride + 3);
    if (k.error != 0) rep.fail("error word " + std::to_string(k.error));
    int B = (int) c.tokens.size();
    double worstOut = 0;
    double worstScore = 0;
    // got[i] vs want[i] for i < count, relative to max(1, largest |want|) of the row
    auto compare = [&](const float* got, const double* want, int count, const std::string& what, double* worst) {
        double big = 1;
        for (int i = 0; i < count; i++) big = std::max(big, std::fabs(want[i]));
        for (int i = 0; i < count; i++) {
            double e = std::fabs(got[i] - want[i]) / big;
            if (!(e <= 1e-4)) {
                rep.fail(what + " " + std::to_string(i) + ": " + std::to_string(got[i]) + " vs " + std::to_string(want[i]));
                return;
            }
            *worst = std::max(*worst, e);
        }
    };
    for (int s = 0; s < B && rep.ok; s++) {
        int n = c.fp16 ? k.packed[s] : k.sinks[s] + k.packed[s];
        for (int q = 0; q < k.hq && rep.ok; q++) {
            std::string row = "s" + std::to_string(s) + " q" + std::to_string(q);
            compare(run.scores.data() + ((size_t) s * k.hq + q) * run.stride,
                    ref.scores.data() + ((size_t) s * k.hq + q) * ref.stride, n, "score " + row + " t", &worstScore);
            compare(run.out.data() + ((size_t) s * k.hq + q) * c.d, ref.out.data() + ((size_t) s * k.hq + q) * c.d, c.d,
                    "out " + row + " j", &worstOut);
        }
    }
    if (rep.ok) {
        std::printf("ok %s entry=%s max_out_err=%.2e max_score_err=%.2e key_recon=%.3f value_recon=%.3f\n",
                    c.name.c_str(), run.entry.c_str(), worstOut, worstScore, keyErr, valueErr);
        return 0;
    }
    std::printf("FAIL %s entry=%s: %s\n", c.name.c_str(), run.entry.c_str(), rep.why.c_str());
    return 1;
}

/** kvq_rope_angle against fp64 libm: positions near 10^7 and random, θ = 5·10^5, d = 128. */
int rope_check() {
    Rng rng{7};
    double worst = 0;
    for (int k = 0; k < 200000; k++) {
        long long pos = k < 100000 ? 10'000'000LL - (long long) (rng.uniform() * 100000) : (long long) (rng.uniform() * 1e7);
        int i = (int) (rng.uniform() * 64);
        float w = (float) std::pow(500000.0, -2.0 * i / 128);
        float2 cs = kvq_rope_angle(pos, w);
        double phi = (double) pos * (double) w;
        worst = std::max(worst, std::max(std::fabs(cs.x - std::cos(phi)), std::fabs(cs.y - std::sin(phi))));
    }
    std::printf("rope max_abs_err=%.3g over 200000 angles at positions up to 1e7\n", worst);
    return worst < 5e-7 ? 0 : 1;
}

/** Bytes loaded per token and KV head by a specialized packed decode, by kind, and the packed bytes. */
int bytes_check(int b, int g, int d, int hkv, int tokens) {
    Case c{"bytes", d, hkv, g, b, 256, 0, 0, KVQ_ROPE_ROTATE_HALF, true, false, false, 1, {tokens}, {1000LL}, 10000.0f};
    Cache k = prepare(c);
    append(k);
    const PackedEntry* entry = nullptr;
    for (const PackedEntry& e : PACKED)
        if (e.b == b && e.g == g && e.d == d) entry = &e;
    if (entry == nullptr) {
        std::fprintf(stderr, "bytes: instance b%d g%d d%d is not compiled into the test\n", b, g, d);
        return 2;
    }
    std::memset(kvq_loaded_bytes, 0, sizeof(kvq_loaded_bytes));
    int stride = tokens + 1;
    std::vector<float> po((size_t) k.hq * c.d), ps((size_t) k.hq * 2);
    KvqDecodeArgs a{};
    a.pool = k.pool2.data(); a.pageBytes = k.l2.pageBytes; a.keyCodesOff = k.l2.keyCodes;
    a.keyOutChannelOff = k.l2.keyOutChannel; a.keyOutValueOff = k.l2.keyOutValue; a.keyOutHeadEndOff = k.l2.keyOutHeadEnd;
    a.valueCodesOff = k.l2.valueCodes; a.valueZeroOff = k.l2.valueZero; a.valueScaleOff = k.l2.valueScale;
    a.valueOutChannelOff = k.l2.valueOutChannel; a.valueOutValueOff = k.l2.valueOutValue;
    a.valueOutHeadEndOff = k.l2.valueOutHeadEnd; a.pageTable = k.table.data(); a.maxPages = k.maxPages;
    a.poolPages = k.poolPages; a.pageTokens = c.pageTokens; a.seqPacked = k.packed.data(); a.seqSinks = k.sinks.data();
    a.seqFirstPos = c.firstPos.data(); a.query = k.query.data(); a.scale = k.scaleQ; a.keyTable = k.keyTable.data();
    a.valueTable = k.valueTable.data(); a.invFreq = k.invFreq.data(); a.pairing = c.pairing; a.headDim = d;
    a.kvHeads = hkv; a.groupSize = g; a.bits = b; a.keySlots = k.keySlots; a.valueSlots = k.valueSlots;
    a.partialOut = po.data(); a.partialStats = ps.data(); a.scores = nullptr; a.scoreStride = stride; a.error = &k.error;
    (void) stride;
    FiberBlock block(KVQ_DECODE_THREADS);
    std::vector<float> smem(entry->smem / 4 + 4);
    for (int h = 0; h < hkv; h++)
        kvq_fibers::run_block(block, [&](const FiberTeam& t) { entry->body(t, a, 0, 1, h, 0, smem.data()); });
    double th = (double) tokens * hkv;
    // packed bytes of one token and KV head: its codes, its share of the per-token parts
    double keyCodes = (double) k.l2.keyWords * 4 / hkv;
    double valueCodes = (double) b * d / 8;
    double scales = 4.0 / hkv;
    double slots = (4.0 * k.keySlots + 4.0 * k.valueSlots) / hkv;
    double ends = 2.0;
    double packed = keyCodes + valueCodes + scales + slots + ends;
    const char* names[KVQ_LD_KINDS] = {"key_codes", "value_codes", "token_scales", "outliers", "side", "fp16",
                                       "setup", "meta"};
    std::printf("{\"instance\": \"kvq_decode_packed_b%d_g%d_d%d\", \"kv_heads\": %d, \"tokens\": %d, "
                "\"packed_bytes_per_token_head\": %.4f, \"loaded_bytes_per_token_head\": {",
                b, g, d, hkv, tokens, packed);
    double total = 0;
    for (int i = 0; i < KVQ_LD_KINDS; i++) {
        std::printf("%s\"%s\": %.4f", i ? ", " : "", names[i], kvq_loaded_bytes[i] / th);
        total += kvq_loaded_bytes[i] / th;
    }
    std::printf("}, \"setup_bytes_per_block\": %lld, \"loaded_total\": %.4f, \"ratio\": %.4f, \"error\": %d}\n",
                kvq_loaded_bytes[KVQ_LD_SETUP] / hkv, total, total / packed, k.error);
    return k.error == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "list") {
        for (const Case& c : cases()) std::printf("%s\n", c.name.c_str());
        return 0;
    }
    if (cmd == "run" && argc == 3) {
        for (const Case& c : cases())
            if (c.name == argv[2]) return run_case(c);
        std::fprintf(stderr, "no case %s\n", argv[2]);
        return 2;
    }
    if (cmd == "all") {
        int failed = 0;
        for (const Case& c : cases()) failed += run_case(c);
        return failed == 0 ? 0 : 1;
    }
    if (cmd == "rope") return rope_check();
    if (cmd == "bytes" && argc == 7)
        return bytes_check(std::atoi(argv[2]), std::atoi(argv[3]), std::atoi(argv[4]), std::atoi(argv[5]),
                           std::atoi(argv[6]));
    std::fprintf(stderr, "usage: kvq_decode_test list | run NAME | all | rope | bytes B G D HKV TOKENS\n");
    return 2;
}
