// kvq_decode.cuh: the fused decode step (FlashDecoding style) over page format v2 and over fp16
// pages, and the split merge. Bodies are written against a "warp team" (KvqDecodeBlockTeam on the
// GPU; the host emulation runs the same bodies with every thread as a fiber, see
// src/test/cuda/kvq_fiber_team.h), so the same code is checked on a machine without a GPU.
//
// One block per (split, KV head, sequence). A split is a contiguous range of the sequence's packed
// tokens; the block walks it in passes of WARPS warp tiles. Per pass:
//   keys    every warp scores its tile of TW tokens for the G query heads of the KV head (all heads
//           from one read of the codes), adds the head's own key outliers (format v2 per-head
//           ends), and keeps each token's scores in one owning lane;
//   softmax block-wide running max per query head (two barriers), the value accumulator rescaled,
//           p = exp(score − max), α = p·s_t into the warp's shared tile, Σp and Σp·z_t kept per lane;
//           the head's own value outliers added as p·residual to the shared accumulator;
//   values  the same warp decodes the value codes of the same tokens and adds Σ α·c'[code] to the
//           shared accumulator (shared-memory atomics; no global atomics).
// Split 0 first walks the fp16 side tokens (sinks, recent window) the same way, one per warp.
// The block writes its unnormalized partial (acc + Σp·z), running max and Σp; kvq_decode_merge
// combines the splits with log-sum-exp. Scores reach global memory only when a debug buffer is given.
//
// RoPE: score = q·R(φ)k with φ = (position)·ω. A warp tile's base angle is formed once per pass
// (exact fp64 angle, reduced by π/2 in fp64, fp32 polynomials: kvq_rope_angle); a token quad's
// offset and the token's offset inside its quad come from two position-independent tables
// (quad steps [d/2][QUADS], in-quad steps [d/2][4]), so no table is per position. With G ≤ 2 the
// query pair is rotated back by the quad's base (per pair and quad) and the key by the in-quad step;
// with G ≥ 4 the full angle is composed per token and the key rotated once for all heads.
#pragma once

#include "kvq_bodies.cuh"
#include "kvq_layout_v2.cuh"

#define KVQ_DECODE_THREADS 512  // block size of every fused decode kernel (static_asserted below)
#define KVQ_DECODE_WARPS 16
#define KVQ_DECODE_GM 8         // query heads one pass of a generic kernel serves (larger groups loop)
#define KVQ_MERGE_THREADS 128   // block size of kvq_decode_merge

// ------------------------------------------------------------------ instrumented global loads
// Every global load of the decode bodies goes through kvq_load, so the host emulation can count
// the bytes a kernel reads, by kind (tests/device/proxies.sh reports them against the packed bytes).
enum KvqLoadKind : int {
    KVQ_LD_KEY_CODES = 0,   // keyCodes words
    KVQ_LD_VALUE_CODES,     // valueCodes words
    KVQ_LD_TOKEN_SCALES,    // valueZero / valueScale
    KVQ_LD_OUTLIERS,        // per-head ends, slot channels and values
    KVQ_LD_SIDE,            // sinks and recent window (fp16 side buffer)
    KVQ_LD_FP16,            // fp16 baseline pages
    KVQ_LD_SETUP,           // once per block: query, key/value tables, RoPE frequencies
    KVQ_LD_META,            // page table, per-sequence counts and positions
    KVQ_LD_KINDS
};

/** Bytes loaded per kind by the host emulation (fibers run on one thread, so plain counters suffice). */
inline long long kvq_loaded_bytes[KVQ_LD_KINDS] = {};

template <class T>
KVQ_HD T kvq_load(const T* p, int kind) {
#ifdef __CUDA_ARCH__
    (void) kind;
    return __ldg(p);
#else
    kvq_loaded_bytes[kind] += (long long) sizeof(T);
    return *p;
#endif
}

KVQ_HD float kvq_exp(float x) {
#ifdef __CUDA_ARCH__
    return __expf(x);
#else
    return expf(x);
#endif
}

/** Bits [sh, sh + 32) of the 64-bit value hi:lo (sh < 32). */
KVQ_HD uint32_t kvq_funnel(uint32_t lo, uint32_t hi, int sh) {
#ifdef __CUDA_ARCH__
    return __funnelshift_r(lo, hi, sh);
#else
    return (uint32_t) ((((uint64_t) hi << 32) | lo) >> sh);
#endif
}

KVQ_HD int kvq_log2(int x) {
#ifdef __CUDA_ARCH__
    return __ffs(x) - 1;
#else
    return __builtin_ctz((unsigned) x);
#endif
}

/** Eight fp16 values from one 16-byte word. */
KVQ_HD void kvq_unpack_h8(uint4 u, float* v) {
    uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        v[2 * i] = kvq_h2f((uint16_t) (w[i] & 0xffffu));
        v[2 * i + 1] = kvq_h2f((uint16_t) (w[i] >> 16));
    }
}

// ------------------------------------------------------------------ RoPE angles
/**
 * (cos, sin) of pos·ω. The angle is exact in fp64 (pos < 2^29), reduced by π/2 with a two-part
 * Cody–Waite step (FMA), then evaluated by fp32 minimax polynomials on [−π/4, π/4] and the
 * quadrant. No slow path and no stack (unlike fp64 sincos); |error| of the result ≈ 1e-7
 * (checked in the host emulation against fp64 libm up to positions 10^7).
 */
KVQ_HD float2 kvq_rope_angle(long long pos, float invFreq) {
    double phi = (double) pos * (double) invFreq;
    double n = rint(phi * 0.63661977236758134308);   // 2/π
    double r = fma(-n, 1.5707963267948966192, phi);  // π/2, high part
    r = fma(-n, 6.123233995736766036e-17, r);        // π/2, low part
    float x = (float) r;
    float z = x * x;
    float sn = fmaf(fmaf(fmaf(-1.9515295891e-4f, z, 8.3321608736e-3f), z, -1.6666654611e-1f), z * x, x);
    float cs = fmaf(fmaf(fmaf(2.443315711809948e-5f, z, -1.388731625493765e-3f), z, 4.166664568298827e-2f), z * z,
                    fmaf(-0.5f, z, 1.0f));
    int quadrant = (int) ((long long) n & 3);
    float c = quadrant == 0 ? cs : quadrant == 1 ? -sn : quadrant == 2 ? -cs : sn;
    float s = quadrant == 0 ? sn : quadrant == 1 ? cs : quadrant == 2 ? -sn : -cs;
    return make_float2(c, s);
}

/** The angle sum: (cos, sin) of a + b. */
KVQ_HD float2 kvq_rot(float2 a, float2 b) {
    return make_float2(fmaf(a.x, b.x, -(a.y * b.y)), fmaf(a.y, b.x, a.x * b.y));
}

// ------------------------------------------------------------------ teams with warps
#ifdef __CUDACC__
/**
 * The thread block with its warps, for the decode bodies. Reductions are xor butterflies, so every
 * lane of a group ends with the same bits.
 */
struct KvqDecodeBlockTeam {
    __device__ int rank() const { return threadIdx.x; }
    __device__ int size() const { return blockDim.x; }
    __device__ int lane() const { return threadIdx.x & 31; }
    __device__ int warp() const { return threadIdx.x >> 5; }
    __device__ void sync() const { __syncthreads(); }
    __device__ void syncwarp() const { __syncwarp(); }
    /** v[0, N) summed over each group of WIDTH consecutive lanes (WIDTH a power of two ≤ 32). */
    template <int N, int WIDTH>
    __device__ void warp_sum(float* v) const {
#pragma unroll
        for (int o = WIDTH / 2; o > 0; o >>= 1) {
#pragma unroll
            for (int i = 0; i < N; i++) {
                v[i] += __shfl_xor_sync(0xffffffffu, v[i], o);
            }
        }
    }
    /** v[0, N) maximized over the warp. */
    template <int N>
    __device__ void warp_max(float* v) const {
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
#pragma unroll
            for (int i = 0; i < N; i++) {
                v[i] = fmaxf(v[i], __shfl_xor_sync(0xffffffffu, v[i], o));
            }
        }
    }
    __device__ int shfl(int v, int src) const { return __shfl_sync(0xffffffffu, v, src); }
    __device__ void atomic_add_shared(float* p, float v) const { atomicAdd(p, v); }
};
#endif

// ------------------------------------------------------------------ arguments
/** kvq_decode_packed* parameters (kvq_kernels.cuh), copied by the wrappers. */
struct KvqDecodeArgs {
    const unsigned char* pool;
    long long pageBytes;
    long long keyCodesOff, keyOutChannelOff, keyOutValueOff, keyOutHeadEndOff;
    long long valueCodesOff, valueZeroOff, valueScaleOff, valueOutChannelOff, valueOutValueOff, valueOutHeadEndOff;
    const int* pageTable;
    int maxPages, poolPages, pageTokens;
    const int* seqPacked;
    const int* seqSinks;
    const long long* seqFirstPos;
    int sinkCap, windowCap;
    const unsigned long long* seqSide;  // [B] address of each sequence's side buffer [2][S+N][D] fp16
    const float* query;
    float scale;
    const float* keyTable;
    const float* valueTable;
    const float* invFreq;
    int pairing, headDim, kvHeads, groupSize, bits, keySlots, valueSlots;
    const int* widthPlan;           // kvq_decode_packed_groups: the layer's width plan (kvq_layout_v2.cuh)
    float* partialOut;
    float* partialStats;
    float* scores;
    int scoreStride;
    int* error;
};

/** kvq_decode_fp16* parameters. */
struct KvqDecodeFp16Args {
    const unsigned char* pool;
    long long pageBytes, keysOff, valuesOff;
    const int* pageTable;
    int maxPages, poolPages, pageTokens;
    const int* seqTokens;
    const float* query;
    float scale;
    int headDim, kvHeads, groupSize;
    float* partialOut;
    float* partialStats;
    float* scores;
    int scoreStride;
    int* error;
};

/** Where one block writes its partial: out [B][Hq][splits][d], stats [B][Hq][splits][2]. */
struct KvqPartialSink {
    float* out;
    float* stats;
    int seq, queryHeads, split, splits, headDim;
};

/**
 * A page address the optimizer cannot split or keep: otherwise it hoists pool + partOffset for every
 * part out of the pass loop, which costs two registers per part for the whole loop (and spills at
 * 64). Pages are below 2 GiB (pageBytes fits an int; PageLayout bounds P and D).
 */
KVQ_HD const unsigned char* kvq_page_base(const unsigned char* pool, int pg, long long pageBytes) {
#ifdef __CUDA_ARCH__
    const unsigned char* p;
    asm volatile("mad.wide.s32 %0, %1, %2, %3;" : "=l"(p) : "r"(pg), "r"((int) pageBytes), "l"(pool));
    return p;
#else
    return pool + (long long) pg * pageBytes;
#endif
}

/** Pool page index of packed slot `slot` of `seq`, or -1 (error recorded) when the table points outside. */
KVQ_HD int kvq_page_entry(const int* pageTable, int maxPages, int poolPages, int seq, int logical, int* error) {
    if (logical < 0 || logical >= maxPages) {
        kvq_fail(error, KVQ_ERR_PAGE);
        return -1;
    }
    int pg = kvq_load(pageTable + (long long) seq * maxPages + logical, KVQ_LD_META);
    if (pg < 0 || pg >= poolPages) {
        kvq_fail(error, KVQ_ERR_PAGE);
        return -1;
    }
    return pg;
}

// ------------------------------------------------------------------ shared steps of every decode kernel
/**
 * One online-softmax step of a block pass. Every thread brings lm[0, GM): the maxima of the scores it
 * owns (−inf for none; entries ≥ gn unused). Afterwards mf[q] = running max M_q and mf[GM + q] =
 * exp(M_old − M_q), and acc [gn][accStride] and the running sums [2][GM] (of every warp at
 * sums + w·sstride, or of the block when sstride is 0) have been multiplied by that factor. Two
 * barriers: the
 * first publishes the warp maxima (warp w's at wmax + w·wstride), the second the new maxima (and
 * orders the rescale before any thread adds to acc again).
 */
template <int GM, class Team>
KVQ_HD void kvq_softmax_step(const Team& team, float* lm, int gn, float* wmax, int wstride, float* mf, float* acc,
                             int accStride, float* sums, int sstride) {
    team.template warp_max<GM>(lm);
    int lane = team.lane();
    int warp = team.warp();
    int warps = team.size() >> 5;
    if (lane == 0) {
#pragma unroll
        for (int q = 0; q < GM; q++) {
            wmax[warp * wstride + q] = lm[q];
        }
    }
    team.sync();
    if (warp == 0) {
        #pragma unroll 1
        for (int q = lane; q < gn; q += 32) {
            float old = mf[q];
            float m = old;
            #pragma unroll 1
            for (int w = 0; w < warps; w++) {
                m = fmaxf(m, wmax[w * wstride + q]);
            }
            float f = m == -INFINITY ? 1.0f : kvq_exp(old - m);
            mf[q] = m;
            mf[GM + q] = f;
            #pragma unroll 1
            for (int w = 0; w < (sstride == 0 ? 1 : warps); w++) {
                sums[w * sstride + q] *= f;
                sums[w * sstride + GM + q] *= f;
            }
        }
        team.syncwarp();
        #pragma unroll 1
        for (int idx = lane; idx < gn * accStride; idx += 32) {
            acc[idx] *= mf[GM + idx / accStride];
        }
    }
    team.sync();
}

/**
 * Running Σp and Σp·z per query head live in shared memory, [2][GM] per warp (then lane q·(32/GM),
 * kvq_head_lane, is the only writer of head q's entries) or once for the block (then it adds its
 * warp's share with a shared-memory atomic: the rescale factor is the same for every warp).
 */
template <int GM>
KVQ_HD bool kvq_head_lane(int lane, int* q) {
    *q = lane / (32 / GM);
    return lane % (32 / GM) == 0;
}

/**
 * Adds a warp tile's Σ_t p[q][t] and Σ_t p[q][t]·z_t (zt[t] = z_t, or null: no zero-points) to the
 * block's running sums: the 32/GM lanes of a head split the tile, then a butterfly and one atomic.
 */
template <int GM, class Team>
KVQ_HD void kvq_tile_sums(const Team& team, const float* pt, const float* zt, int tw, float* sums, bool shared) {
    constexpr int LANES = 32 / GM;
    const int lane = team.lane();
    int q;
    const bool owner = kvq_head_lane<GM>(lane, &q);
    float v[2] = {0.0f, 0.0f};
#pragma unroll 1
    for (int t = lane % LANES; t < tw; t += LANES) {
        float p = pt[q * tw + t];
        v[0] += p;
        v[1] += zt != nullptr ? p * zt[t] : 0.0f;
    }
    team.template warp_sum<2, LANES>(v);
    if (owner && shared) {
        team.atomic_add_shared(&sums[q], v[0]);
        team.atomic_add_shared(&sums[GM + q], v[1]);
    } else if (owner) {
        sums[q] += v[0];
        sums[GM + q] += v[1];
    }
}

KVQ_HD float kvq_softmax_p(float score, float m) {
    return score == -INFINITY ? 0.0f : kvq_exp(score - m);
}

/**
 * The end of a block: the running sums of all warps (at sums + w·sstride; sstride 0: one set for the
 * block) into total [2GM], then out = acc + Σp·z (the zero-points' share, equal for every channel)
 * and stats = (running max, Σp).
 */
template <int GM, class Team>
KVQ_HD void kvq_decode_finish(const Team& team, const KvqPartialSink& o, int q0, int gn, const float* acc,
                              const float* mf, const float* sums, int sstride, float* total) {
    int warps = team.size() >> 5;
    team.sync();
    #pragma unroll 1
    for (int k = team.rank(); k < 2 * GM; k += team.size()) {
        float s = 0.0f;
        #pragma unroll 1
        for (int w = 0; w < (sstride == 0 ? 1 : warps); w++) {
            s += sums[w * sstride + k];
        }
        total[k] = s;
    }
    team.sync();
    int d = o.headDim;
    #pragma unroll 1
    for (int idx = team.rank(); idx < gn * d; idx += team.size()) {
        int q = idx / d;
        int j = idx - q * d;
        long long row = ((long long) o.seq * o.queryHeads + q0 + q) * o.splits + o.split;
        o.out[row * d + j] = acc[idx] + total[GM + q];
    }
    #pragma unroll 1
    for (int q = team.rank(); q < gn; q += team.size()) {
        long long row = ((long long) o.seq * o.queryHeads + q0 + q) * o.splits + o.split;
        o.stats[row * 2] = mf[q];
        o.stats[row * 2 + 1] = total[q];
    }
}

/** The per-sequence counts a block needs (format v2 §5). */
struct KvqDecodeSeq {
    int packed;      // packed slots (all in the pages)
    int sinks;       // sink tokens stored
    int inWindow;    // the last inWindow packed slots are read from the recent window instead
    int quantized;   // packed − inWindow: slots read from the pages
    long long pos0;  // RoPE position of packed slot 0
    int tile0;       // this block's first packed tile (specialized kernel; see kvq_split_tiles)
    int tile1;       // its end
};

/** Shared-memory floats kept for a block's KvqDecodeSeq (read there at each use, not held in registers). */
#define KVQ_SEQ_FLOATS 8

KVQ_HD KvqDecodeSeq kvq_decode_seq(const KvqDecodeArgs& a, int seq) {
    KvqDecodeSeq s;
    s.packed = kvq_load(a.seqPacked + seq, KVQ_LD_META);
    s.sinks = kvq_load(a.seqSinks + seq, KVQ_LD_META);
    s.inWindow = s.packed < a.windowCap ? s.packed : a.windowCap;
    s.quantized = s.packed - s.inWindow;
    s.pos0 = kvq_load(a.seqFirstPos + seq, KVQ_LD_META) + a.sinkCap;
    return s;
}

/** The packed split [*first, *end) of a block, in tiles of `tile` tokens over `tokens` tokens. */
KVQ_HD void kvq_split_tiles(int tokens, int tile, int split, int splits, int* first, int* end) {
    int tiles = (tokens + tile - 1) / tile;
    int chunk = (tiles + splits - 1) / splits;
    int a = split * chunk;
    int b = a + chunk < tiles ? a + chunk : tiles;
    *first = a;
    *end = b > a ? b : a;
}

/**
 * Calls use(jj, residual) for the head's own fixed-slot outliers of row r (format v2 §4: slots
 * [end[h−1], end[h]) of the row's list, in-head channel jj); each is read once. Slots that contradict
 * their ends record KVQ_ERR_SLOT and are skipped.
 */
template <class Use>
KVQ_HD void kvq_head_slots(const KvqDecodeArgs& a, const unsigned char* page, long long endOff, long long channelOff,
                           long long valueOff, int slots, int r, int h, int d, Use use) {
    const unsigned char* ends = page + endOff + (long long) r * a.kvHeads;
    int e0 = h > 0 ? kvq_load(ends + h - 1, KVQ_LD_OUTLIERS) : 0;
    int e1 = kvq_load(ends + h, KVQ_LD_OUTLIERS);
    if (e1 > slots || e0 > e1) {
        kvq_fail(a.error, KVQ_ERR_SLOT);
        return;
    }
    const uint16_t* chs = reinterpret_cast<const uint16_t*>(page + channelOff) + (long long) r * slots;
    const uint16_t* vals = reinterpret_cast<const uint16_t*>(page + valueOff) + (long long) r * slots;
    #pragma unroll 1
    for (int e = e0; e < e1; e++) {
        int jj = (int) kvq_load(chs + e, KVQ_LD_OUTLIERS) - h * d;
        float res = kvq_h2f(kvq_load(vals + e, KVQ_LD_OUTLIERS));
        if (jj < 0 || jj >= d) {
            kvq_fail(a.error, KVQ_ERR_SLOT);
            continue;
        }
        use(jj, res);
    }
}

/**
 * The head's own key outliers of row r added to the owned scores sc[0, gn): a residual Δ on a pair's
 * first channel adds Δ·(c·q_first + s·q_partner), on its partner Δ·(c·q_partner − s·q_first), with
 * (c, s) = angle(pair) of this token; qat(q, pair) points at the scaled query pair (first, partner).
 */
template <int GM, class Query, class Angle>
KVQ_HD void kvq_key_outliers(const KvqDecodeArgs& a, const unsigned char* page, int r, int h, int d, int gn,
                             Query qat, Angle angle, float* sc) {
    kvq_head_slots(a, page, a.keyOutHeadEndOff, a.keyOutChannelOff, a.keyOutValueOff, a.keySlots, r, h, d,
                   [&](int jj, float res) {
        int phys = kvq_v2_key_physical(a.pairing, jj, d);
        int i = phys >> 1;
        float2 cs = angle(i);
        float cr = cs.x * res;
        float sr = cs.y * res;
#pragma unroll
        for (int q = 0; q < GM; q++) {
            if (q < gn) {
                const float* qq = qat(q, i);
                sc[q] += (phys & 1) ? cr * qq[1] - sr * qq[0] : cr * qq[0] + sr * qq[1];
            }
        }
    });
}

/** The head's own value outliers of row r: acc[q][j] += p_q·residual (shared-memory atomics). */
template <int GM, class Team>
KVQ_HD void kvq_value_outliers(const Team& team, const KvqDecodeArgs& a, const unsigned char* page, int r, int h,
                               int d, int gn, const float* p, float* acc) {
    kvq_head_slots(a, page, a.valueOutHeadEndOff, a.valueOutChannelOff, a.valueOutValueOff, a.valueSlots, r, h, d,
                   [&](int jj, float res) {
#pragma unroll
        for (int q = 0; q < GM; q++) {
            if (q < gn) {
                team.atomic_add_shared(&acc[q * d + jj], p[q] * res);
            }
        }
    });
}

/** Token scale and zero-point of row r (fp16). */
KVQ_HD void kvq_token_scales(const KvqDecodeArgs& a, const unsigned char* page, int r, float* z, float* s) {
    *z = kvq_h2f(kvq_load(reinterpret_cast<const uint16_t*>(page + a.valueZeroOff) + r, KVQ_LD_TOKEN_SCALES));
    *s = kvq_h2f(kvq_load(reinterpret_cast<const uint16_t*>(page + a.valueScaleOff) + r, KVQ_LD_TOKEN_SCALES));
}

/**
 * Split 0's fp16 side tokens (format v2 §5): the sinks, then the last inWindow packed slots from the
 * recent-window ring, one token per warp and pass, through the same online softmax. Lanes take
 * 8-channel columns (16-byte loads). qat(q, pair) points at the scaled query pair (first, partner),
 * read here per logical channel.
 */
template <int GM, class Team, class Query>
KVQ_HD void kvq_side_passes(const Team& team, const KvqDecodeArgs& a, const KvqDecodeSeq& sq, int h, int seq,
                            int d, int q0, int gn, Query qat, float* wmax, int wstride, float* mf, float* acc,
                            float* sums0, int sstride) {
    float* sums = sums0 + team.warp() * sstride;
    int myHead;
    const bool headLane = kvq_head_lane<GM>(team.lane(), &myHead);
    int lane = team.lane();
    int warps = team.size() >> 5;
    int count = sq.sinks + sq.inWindow;
    int passes = (count + warps - 1) / warps;
    int sideCap = a.sinkCap + a.windowCap;
    int dk = a.kvHeads * d;
    int hq = a.kvHeads * a.groupSize;
    // this sequence's own side buffer [2][S+N][D] (read only when it holds tokens, so count > 0 here)
    const uint16_t* side = count > 0
            ? reinterpret_cast<const uint16_t*>(kvq_load(a.seqSide + seq, KVQ_LD_META)) : nullptr;
    #pragma unroll 1
    for (int pass = 0; pass < passes; pass++) {
        int e = pass * warps + team.warp();
        bool valid = e < count;
        int sideSlot = 0;
        int scoreAt = e;
        if (valid && e >= sq.sinks) {
            int i = sq.quantized + (e - sq.sinks);  // packed slot
            sideSlot = a.sinkCap + i % a.windowCap;
            scoreAt = sq.sinks + i;
        } else {
            sideSlot = e;
        }
        float s[GM];
#pragma unroll
        for (int q = 0; q < GM; q++) {
            s[q] = 0.0f;
        }
        if (valid) {
            const uint16_t* krow = side + kvq_v2_side_index(0, 0, sideSlot, h * d, sideCap, dk);
            #pragma unroll 1
            for (int c8 = lane; c8 < d / 8; c8 += 32) {
                float k[8];
                kvq_unpack_h8(kvq_load(reinterpret_cast<const uint4*>(krow + 8 * c8), KVQ_LD_SIDE), k);
#pragma unroll
                for (int x = 0; x < 8; x++) {
                    int phys = kvq_v2_key_physical(a.pairing, 8 * c8 + x, d);
#pragma unroll
                    for (int q = 0; q < GM; q++) {
                        if (q < gn) {
                            s[q] = fmaf(qat(q, phys >> 1)[phys & 1], k[x], s[q]);
                        }
                    }
                }
            }
        }
        team.template warp_sum<GM, 32>(s);
        float lm[GM];
#pragma unroll
        for (int q = 0; q < GM; q++) {
            lm[q] = valid && q < gn ? s[q] : -INFINITY;
        }
        if (valid && lane == 0 && a.scores != nullptr) {
            for (int q = 0; q < gn; q++) {
                a.scores[((long long) seq * hq + h * a.groupSize + q0 + q) * a.scoreStride + scoreAt] = s[q];
            }
        }
        kvq_softmax_step<GM>(team, lm, gn, wmax, wstride, mf, acc, d, sums0, sstride);
        float p[GM];
#pragma unroll
        for (int q = 0; q < GM; q++) {
            p[q] = valid && q < gn ? kvq_softmax_p(s[q], mf[q]) : 0.0f;
            if (headLane && q == myHead && p[q] != 0.0f) {
                if (sstride == 0) {
                    team.atomic_add_shared(&sums[q], p[q]);
                } else {
                    sums[q] += p[q];
                }
            }
        }
        if (valid) {
            const uint16_t* vrow = side + kvq_v2_side_index(0, 1, sideSlot, h * d, sideCap, dk);
            #pragma unroll 1
            for (int c8 = lane; c8 < d / 8; c8 += 32) {
                float v[8];
                kvq_unpack_h8(kvq_load(reinterpret_cast<const uint4*>(vrow + 8 * c8), KVQ_LD_SIDE), v);
#pragma unroll
                for (int q = 0; q < GM; q++) {
                    if (q < gn) {
#pragma unroll
                        for (int x = 0; x < 8; x++) {
                            team.atomic_add_shared(&acc[q * d + 8 * c8 + x], p[q] * v[x]);
                        }
                    }
                }
            }
        }
    }
}

// ============================================================================ specialized packed decode
/** Compile-time shape of a specialized packed decode instance (bits B, group G, head dim D). */
template <int B, int G, int D>
struct KvqPackedShape {
    static_assert(B >= 2 && B <= 4, "2, 3 or 4 bits");
    static_assert(D == 64 || D == 128 || D == 256, "head dim 64, 128 or 256");
    static_assert(G == 1 || G == 2 || G == 4 || G == 8, "1, 2, 4 or 8 query heads per KV head");
    static constexpr int THREADS = KVQ_DECODE_THREADS;
    static constexpr int WARPS = KVQ_DECODE_WARPS;
    static_assert(THREADS == 32 * WARPS, "whole warps");
    static constexpr int HALF = D / 2;
    static constexpr int LW = D >= 128 ? 4 : 2;    // key lanes per token quad (split the head's channel groups)
    static constexpr int GPL = D / 32 / LW;        // 32-channel groups per key lane
    static constexpr int QUADS = 32 / LW;          // token quads per warp tile
    static constexpr int TW = 4 * QUADS;           // tokens per warp tile (one or two value token groups)
    static constexpr int OWN = 4 / LW;             // tokens a lane owns after the key reduction
    static constexpr int TG = TW / 32;             // value token groups per warp tile
    static constexpr int VLANES = 32 / TG;         // value lanes per token group
    // channels per value column: 4 (one 16-byte load per bit row) at G = 1; 2 (8-byte loads) at G ≥ 2,
    // where 4·G accumulators, the rows and the pair-table entries do not fit 64 registers together
    static constexpr int VC = G == 1 ? 4 : 2;
    static constexpr int VCOLS = D / VC / VLANES;  // value columns per lane
    static_assert(VCOLS >= 1 && QUADS * LW == 32 && GPL >= 1, "lane layout");
    static constexpr int CODES = 1 << B;
    static constexpr int FIELDS = 1 << (2 * B);   // codes of a pair (keys) or of two tokens (values)
    // pair tables where they fit the shared-memory budget of 50% occupancy on sm_80; else per channel
    static constexpr bool PAIR_TABLE = B <= 2 || (B == 3 && D <= 128);
    // G ≤ 2: rotate the query pair by the quad base, the key by the in-quad step; else compose the angle
    static constexpr bool ROTATE_QUERY = G <= 2;
    // The register budget is 64 (2 blocks of 512 threads per SM = 50% occupancy); these keep every
    // instance within it at sm_80 and sm_90 (ptxas -v, no spills), checked by ptxas-report.sh:
    //   KT tokens per sweep of a key group: 4 (one 16-byte load per word) at G ≤ 2; 1 (4-byte loads,
    //      the same bytes; the sweep's rotation work is per token) at G ≥ 4, where 4·G accumulators do
    //      not fit with the rows, tables and query pairs;
    //   HG query heads per key sweep: G, but 4 at G = 8 (the pairs are decoded once per half);
    //   VG query heads per value pass: G, but 4 at G = 8.
    static constexpr int KT = G >= 4 ? 1 : 4;
    static constexpr int HG = G >= 8 ? 4 : G;
    static constexpr int VG = G >= 8 ? 4 : G;
    static constexpr int QS = 2;                      // floats per quad-step entry: (c, s)
    static constexpr int QY = 2;                      // floats per query pair: (q_first, q_partner)
    // shared memory, in floats, in this order (float4 parts first, so every part stays aligned)
    // per 32-channel group g (16 pairs), one block (one base register in the key loop):
    //   in-quad steps [16][3] (c, s) of t·ω, t = 1..3; query pairs [G][16] (QY floats each);
    //   key table rows [16][FIELDS] (first, partner) or per channel [32][CODES]
    static constexpr int GB_IS = 0;
    static constexpr int GB_QY = 16 * 3 * 2;
    static constexpr int GB_KT = GB_QY + G * 16 * QY;
    static constexpr int GBLOCK = GB_KT + (PAIR_TABLE ? 16 * FIELDS * 2 : 32 * CODES);
    static constexpr int GROUPS = D / 32;
    static constexpr int QSTEPS = HALF * QUADS * QS;  // [d/2][QUADS] of 4·quad·ω
    // value pair table (c'[a], c'[b]) of two tokens' codes; per code at b = 4, d = 256, G = 8, whose
    // 2 KiB pair table would break the sm_80 budget of two blocks per SM
    static constexpr bool VALUE_PAIRS = !(B == 4 && D == 256 && G == 8);
    static constexpr int VLUT = VALUE_PAIRS ? FIELDS * 2 : CODES;
    static constexpr int FREQ = HALF;                 // ω_i, read from global memory once per block
    static constexpr int ACC = G * D;                 // [G][d] value accumulator
    static constexpr int MF = 2 * G;                  // running max, rescale factor
    // running Σp, Σp·z per head: per warp (in the regions) but for the block at G = 8 with d = 256,
    // where the regions' 1 KiB would break the sm_80 budget (then with shared-memory atomics)
    static constexpr bool BLOCK_SUMS = G == 8 && D == 256;
    static constexpr int SUMS = 2 * G;                // the block's sums, or the totals at the end
    // per warp, one region (one base register): tile base angles [d/2] (c, s), p [G][TW], z_t [TW],
    // s_t [TW], warp maxima [G], running sums [2][G] (unless BLOCK_SUMS); padded to 16 bytes
    static constexpr int W_WBASE = 0;
    static constexpr int W_PT = HALF * 2;
    static constexpr int W_ZT = W_PT + G * TW;
    static constexpr int W_ST = W_ZT + TW;
    static constexpr int W_MAX = W_ST + TW;
    static constexpr int W_SUMS = W_MAX + G;
    static constexpr int REGION = (W_SUMS + (BLOCK_SUMS ? 0 : 2 * G) + 3) / 4 * 4;
    static constexpr int FLOATS = KVQ_SEQ_FLOATS + GROUPS * GBLOCK + QSTEPS + VLUT + FREQ + ACC + MF + SUMS
            + WARPS * REGION;
    // during setup the warp regions hold the head's key table [d][CODES] and the value table [CODES]
    static_assert(WARPS * REGION >= D * CODES + CODES, "setup scratch");
    static constexpr int BYTES = FLOATS * 4;
};

/**
 * A field of WIDTH bits at bit WIDTH·index of a 32-channel group's B words (column t), times 2^SCALE:
 * the byte offset of its table entry. Positions are compile-time after unrolling, so this is a shift
 * and a mask (a funnel shift and a mask where the field straddles two words).
 */
template <int B, int WIDTH, int SCALE, int N>
KVQ_HD uint32_t kvq_field(const uint32_t (&w)[B][N], int index, int t) {
    const int bit = WIDTH * index;
    const int wi = bit >> 5;
    const int sh = bit & 31;
    const uint32_t mask = ((1u << WIDTH) - 1u) << SCALE;
    if (sh + WIDTH <= 32) {
        return (sh >= SCALE ? w[wi][t] >> (sh - SCALE) : w[wi][t] << (SCALE - sh)) & mask;
    }
    return kvq_funnel(w[wi][t], w[wi + 1][t], sh - SCALE) & mask;
}

/**
 * A shared-memory byte address the optimizer treats as opaque, so the rows of a table read in an
 * unrolled loop stay "base register + immediate" instead of being re-derived from the lane index.
 */
struct KvqShared {
#ifdef __CUDA_ARCH__
    uint32_t a;
#else
    const char* a;
#endif
};

KVQ_HD KvqShared kvq_shared(const void* p) {
#ifdef __CUDA_ARCH__
    uint32_t a = (uint32_t) __cvta_generic_to_shared(p);
    asm("" : "+r"(a));
    return KvqShared{a};
#else
    return KvqShared{static_cast<const char*>(p)};
#endif
}

template <class T>
KVQ_HD T kvq_lds(KvqShared s, uint32_t off) {
#ifdef __CUDA_ARCH__
    return *reinterpret_cast<const T*>(__cvta_shared_to_generic(s.a + off));
#else
    return *reinterpret_cast<const T*>(s.a + off);
#endif
}

/**
 * The dequantized key pair (first, partner) of pair m of a 32-channel group, column tt of its words:
 * one pair-table entry, or two per-channel entries (group block kG, see KvqPackedShape).
 */
template <class S, int B, int N>
KVQ_HD void kvq_key_pair(KvqShared kG, const uint32_t (&w)[B][N], int m, int tt, float* kj, float* kp) {
    if (S::PAIR_TABLE) {
        float2 kv = kvq_lds<float2>(kG, (S::GB_KT + m * S::FIELDS * 2) * 4 + kvq_field<B, 2 * B, 3>(w, m, tt));
        *kj = kv.x;
        *kp = kv.y;
    } else {
        *kj = kvq_lds<float>(kG, (S::GB_KT + (2 * m) * S::CODES) * 4 + kvq_field<B, B, 2>(w, 2 * m, tt));
        *kp = kvq_lds<float>(kG, (S::GB_KT + (2 * m + 1) * S::CODES) * 4 + kvq_field<B, B, 2>(w, 2 * m + 1, tt));
    }
}

KVQ_HD bool kvq_decode_shape_ok(const KvqDecodeArgs& a, int b, int g, int d, bool pow2Pages) {
    bool ok = a.headDim == d && a.groupSize == g && a.bits == b && a.pageTokens >= 32 && a.pageTokens % 32 == 0
            && a.pageBytes > 0 && a.pageBytes <= 0x7fffffffLL  // kvq_page_base multiplies in 32 bits
            && (!pow2Pages || (a.pageTokens & (a.pageTokens - 1)) == 0) && a.keySlots >= 0
            && a.keySlots <= KVQ_V2_MAX_SLOTS && a.valueSlots >= 0 && a.valueSlots <= KVQ_V2_MAX_SLOTS
            && (a.sinkCap + a.windowCap == 0 || a.seqSide != nullptr);
    if (!ok) {
        kvq_fail(a.error, KVQ_ERR_SHAPE);
    }
    return ok;
}

/** The scaled query of head q in physical pair order, `stride` floats per pair: (first, partner[, −first, 0]). */
KVQ_HD void kvq_store_query(const KvqDecodeArgs& a, float* qry, int stride, int seq, int h, int q0, int gn, int d,
                            int rank, int size) {
    int half = d / 2;
    int hq = a.kvHeads * a.groupSize;
#pragma unroll 1
    for (int e = rank; e < gn * half; e += size) {
        int q = e / half;
        int first;
        int partner;
        kvq_v2_pair_channels(a.pairing, e % half, d, &first, &partner);
        const float* qv = a.query + ((long long) seq * hq + h * a.groupSize + q0 + q) * d;
        float qf = kvq_mul(kvq_load(qv + first, KVQ_LD_SETUP), a.scale);
        qry[e * stride] = qf;
        qry[e * stride + 1] = kvq_mul(kvq_load(qv + partner, KVQ_LD_SETUP), a.scale);
        if (stride == 4) {
            qry[e * stride + 2] = -qf;
            qry[e * stride + 3] = 0.0f;
        }
    }
}

/**
 * kvq_decode_packed_b{B}_g{G}_d{D} for block (split, h, seq). Shared memory: KvqPackedShape::BYTES.
 */
template <int B, int G, int D, class Team>
KVQ_HD void kvq_decode_packed_block(const Team& team, const KvqDecodeArgs& a, int split, int splits, int h, int seq,
                                    float* smem) {
    using S = KvqPackedShape<B, G, D>;
    if (!kvq_decode_shape_ok(a, B, G, D, true)) {
        return;
    }
    KvqDecodeSeq* sq = reinterpret_cast<KvqDecodeSeq*>(smem);
    float* gblocks = smem + KVQ_SEQ_FLOATS;
    float* qsteps = gblocks + S::GROUPS * S::GBLOCK;
    float2* vlut = reinterpret_cast<float2*>(qsteps + S::QSTEPS);
    float* freq = qsteps + S::QSTEPS + S::VLUT;
    float* acc = freq + S::FREQ;
    float* mf = acc + S::ACC;
    float* total = mf + S::MF;
    float* regions = total + S::SUMS;
    // warp w's running Σp, Σp·z at sums0 + w·sstride (the block's when BLOCK_SUMS)
    float* sums0 = S::BLOCK_SUMS ? total : regions + S::W_SUMS;
    constexpr int sstride = S::BLOCK_SUMS ? 0 : S::REGION;

    const int rank = team.rank();
    const int lane = team.lane();
    const int warp = team.warp();
    const int hq = a.kvHeads * G;
    const int P = a.pageTokens;
    const int pshift = kvq_log2(P);
    if (rank == 0) {
        *sq = kvq_decode_seq(a, seq);
        kvq_split_tiles(sq->quantized, S::TW, split, splits, &sq->tile0, &sq->tile1);
    }

    // ---- once per block: RoPE step tables, key and value tables, the scaled query. Every global value
    // is read once: first into shared memory (the tables into the warp regions, free until the passes)
    float* kstage = regions;                  // [d][CODES] this head's key table, logical channels
    float* vstage = regions + D * S::CODES;   // [CODES] value codebook
    const float* kt = a.keyTable + (long long) h * D * 16;
#pragma unroll 1
    for (int e = rank; e < D * S::CODES; e += S::THREADS) {
        kstage[e] = kvq_load(kt + (e / S::CODES) * 16 + e % S::CODES, KVQ_LD_SETUP);
    }
    for (int e = rank; e < S::CODES; e += S::THREADS) {
        vstage[e] = kvq_load(a.valueTable + e, KVQ_LD_SETUP);
    }
    for (int i = rank; i < S::HALF; i += S::THREADS) {
        freq[i] = kvq_load(a.invFreq + i, KVQ_LD_SETUP);
    }
    team.sync();
    // pair i sits in group block i / 16 at row i % 16
    auto gblock = [&](int i) { return gblocks + (i >> 4) * S::GBLOCK; };
    auto qat = [&](int q, int i) { return gblock(i) + S::GB_QY + (q * 16 + (i & 15)) * S::QY; };
    auto istep = [&](int i, int t) { return reinterpret_cast<float2*>(gblock(i) + S::GB_IS) + (i & 15) * 3 + t - 1; };
#pragma unroll 1
    for (int e = rank; e < S::HALF * 3; e += S::THREADS) {
        *istep(e / 3, e % 3 + 1) = kvq_rope_angle(e % 3 + 1, freq[e / 3]);
    }
#pragma unroll 1
    for (int e = rank; e < S::HALF * S::QUADS; e += S::THREADS) {
        float2 cs = kvq_rope_angle(4 * (e % S::QUADS), freq[e / S::QUADS]);
        qsteps[e * S::QS] = cs.x;
        qsteps[e * S::QS + 1] = cs.y;
    }
    if (S::PAIR_TABLE) {
#pragma unroll 1
        for (int e = rank; e < S::HALF * S::FIELDS; e += S::THREADS) {
            int i = e / S::FIELDS;
            int f = e % S::FIELDS;
            int first;
            int partner;
            kvq_v2_pair_channels(a.pairing, i, D, &first, &partner);
            reinterpret_cast<float2*>(gblock(i) + S::GB_KT)[(i & 15) * S::FIELDS + f] = make_float2(
                    kstage[first * S::CODES + (f & (S::CODES - 1))], kstage[partner * S::CODES + (f >> B)]);
        }
    } else {
#pragma unroll 1
        for (int e = rank; e < D * S::CODES; e += S::THREADS) {
            int pc = e / S::CODES;  // physical channel
            int lc = kvq_v2_key_logical(a.pairing, pc, D);
            gblock(pc >> 1)[S::GB_KT + (pc & 31) * S::CODES + e % S::CODES] = kstage[lc * S::CODES + e % S::CODES];
        }
    }
#pragma unroll 1
    for (int e = rank; e < S::VLUT / 2 * (S::VALUE_PAIRS ? 1 : 0); e += S::THREADS) {
        vlut[e] = make_float2(vstage[e & (S::CODES - 1)], vstage[e >> B]);
    }
    for (int e = rank; e < (S::VALUE_PAIRS ? 0 : S::CODES); e += S::THREADS) {
        reinterpret_cast<float*>(vlut)[e] = vstage[e];
    }
#pragma unroll 1
    for (int e = rank; e < G * S::HALF; e += S::THREADS) {
        int q = e / S::HALF;
        int i = e % S::HALF;
        int first;
        int partner;
        kvq_v2_pair_channels(a.pairing, i, D, &first, &partner);
        const float* qv = a.query + ((long long) seq * hq + h * G + q) * D;
        float qf = kvq_mul(kvq_load(qv + first, KVQ_LD_SETUP), a.scale);
        float* qq = qat(q, i);
        qq[0] = qf;
        qq[1] = kvq_mul(kvq_load(qv + partner, KVQ_LD_SETUP), a.scale);
        if (S::QY == 4) {
            qq[2] = -qf;
            qq[3] = 0.0f;
        }
    }
#pragma unroll 1
    for (int e = rank; e < S::ACC; e += S::THREADS) {
        acc[e] = 0.0f;
    }
    for (int q = rank; q < G; q += S::THREADS) {
        mf[q] = -INFINITY;
        mf[G + q] = 1.0f;
    }
    float* region = regions + warp * S::REGION;
    float* sums = sums0 + warp * sstride;
    float2* wb = reinterpret_cast<float2*>(region + S::W_WBASE);
    float* pt = region + S::W_PT;
    float* zt = region + S::W_ZT;   // z_t of the tile's tokens
    float* st = region + S::W_ST;   // s_t
    team.sync();  // the staged tables in the regions are consumed
    if (team.lane() < 2 * G && (!S::BLOCK_SUMS || warp == 0)) {
        sums[team.lane()] = 0.0f;
    }
    team.sync();

    if (split == 0) {
        kvq_side_passes<G>(team, a, *sq, h, seq, D, 0, G, qat, regions + S::W_MAX, S::REGION, mf, acc, sums0, sstride);
    }

    // the pass bounds stay in shared memory (read at each use): fewer registers live across the loop
    const int quad = lane / S::LW;
    const int wl = lane % S::LW;
    const int headWord = h * (B * D / 32);
#pragma unroll 1
    for (int pass = 0; sq->tile0 + pass * S::WARPS < sq->tile1; pass++) {
        const int tile = sq->tile0 + pass * S::WARPS + warp;
        const bool tileValid = tile < sq->tile1;
        const int tileStart = tile * S::TW;
        // the tile's page(s): at most 2 (TW = 64 with P = 32), loaded by lanes 0/1, broadcast by shuffle
        int pgv = -1;
        if (tileValid && lane < 2) {
            int slot = tileStart + lane * P;
            if ((lane == 0 || P < S::TW) && slot < sq->quantized) {
                pgv = kvq_page_entry(a.pageTable, a.maxPages, a.poolPages, seq, slot >> pshift, a.error);
            }
        }
        if (tileValid) {
            const long long pos = sq->pos0 + tileStart;
#pragma unroll 1
            for (int i = lane; i < S::HALF; i += 32) {
                wb[i] = kvq_rope_angle(pos, freq[i]);
            }
        }
        team.syncwarp();

        // ---- keys: lane (quad, wl) scores tokens 4·quad..+3 over its channel groups
        const int slot0 = tileStart + 4 * quad;
        // a 32-token tile lies in one page (P ≥ 32): one entry serves keys and values
        const int pgK = team.shfl(pgv, S::TW == 32 ? 0 : (slot0 - tileStart) >> pshift);
        const bool quadValid = tileValid && slot0 < sq->quantized && pgK >= 0;
        const int r0 = slot0 & (P - 1);
        const unsigned char* page = kvq_page_base(a.pool, pgK < 0 ? 0 : pgK, a.pageBytes);
        const uint32_t* kc = reinterpret_cast<const uint32_t*>(page + a.keyCodesOff) + r0;
#pragma unroll 1
        for (int sweep = 0; sweep < (4 / S::KT) * (G / S::HG); sweep++) {
            const int th = (sweep / (G / S::HG)) * S::KT;   // first token of this sweep
            const int h0 = (sweep % (G / S::HG)) * S::HG;   // first query head of this sweep
            float kacc[S::KT][S::HG];
#pragma unroll
            for (int t = 0; t < S::KT; t++) {
#pragma unroll
                for (int q = 0; q < S::HG; q++) {
                    kacc[t][q] = 0.0f;
                }
            }
            if (quadValid) {
#pragma unroll 1
                for (int gg = 0; gg < S::GPL; gg++) {
                    const int g = wl * S::GPL + gg;
                    const uint32_t* wp = kc + (long long) (headWord + g * B) * P;
                    // word k is loaded where pair (32k)/(2b) first needs it, which keeps fewer words live
                    uint32_t w[B][S::KT];
                    auto loadWord = [&](int k) {
                        if (S::KT == 4) {
                            uint4 u = kvq_load(reinterpret_cast<const uint4*>(wp + (long long) k * P), KVQ_LD_KEY_CODES);
                            w[k][0] = u.x;
                            w[k][1] = u.y;
                            w[k][S::KT - 2] = u.z;
                            w[k][S::KT - 1] = u.w;
                        } else if (S::KT == 2) {
                            uint2 u = kvq_load(reinterpret_cast<const uint2*>(wp + (long long) k * P + th), KVQ_LD_KEY_CODES);
                            w[k][0] = u.x;
                            w[k][S::KT - 1] = u.y;
                        } else {
                            w[k][0] = kvq_load(wp + (long long) k * P + th, KVQ_LD_KEY_CODES);
                        }
                    };
                    // the group's 16 pairs: every row below is a constant offset from these bases
                    const KvqShared kG = kvq_shared(gblocks + g * S::GBLOCK);
                    const KvqShared kWB = kvq_shared(wb + g * 16);
                    const KvqShared kQS = kvq_shared(qsteps + (g * 16 * S::QUADS + quad) * S::QS);
#ifdef KVQ_PTX_MARKERS
                    asm volatile("// KVQ_MARK key_pairs_begin");
#endif
#pragma unroll
                    for (int m = 0; m < 16; m++) {
#pragma unroll
                        for (int k = 0; k < B; k++) {
                            if (m == 32 * k / (2 * B)) {
                                loadWord(k);
                            }
                        }
                        const float2 wv = kvq_lds<float2>(kWB, m * 8);
                        if (S::ROTATE_QUERY) {
                            // quad base = warp base + 4·quad·ω; the query rotated back by it once per pair,
                            // each key by its in-quad step t·ω (pre-negated entries: no negations)
                            const float2 qs = kvq_lds<float2>(kQS, m * S::QUADS * 8);
                            const float bx = fmaf(wv.x, qs.x, -(wv.y * qs.y));
                            const float by = fmaf(wv.y, qs.x, wv.x * qs.y);
                            float qj[G];
                            float qp[G];
#pragma unroll
                            for (int q = 0; q < G; q++) {
                                const float2 qq = kvq_lds<float2>(kG, (S::GB_QY + (q * 16 + m) * 2) * 4);
                                qj[q] = fmaf(bx, qq.x, by * qq.y);
                                qp[q] = fmaf(bx, qq.y, -(by * qq.x));
                            }
#pragma unroll
                            for (int tt = 0; tt < S::KT; tt++) {
                                const int t = th + tt;
                                float kj;
                                float kp;
                                kvq_key_pair<S>(kG, w, m, tt, &kj, &kp);
                                float krj = kj;
                                float krp = kp;
                                if (t > 0) {
                                    const float2 st = kvq_lds<float2>(kG, (S::GB_IS + (m * 3 + t - 1) * 2) * 4);
                                    krj = fmaf(st.x, kj, -(st.y * kp));
                                    krp = fmaf(st.y, kj, st.x * kp);
                                }
#pragma unroll
                                for (int q = 0; q < G; q++) {
                                    kacc[tt][q] = fmaf(qj[q], krj, fmaf(qp[q], krp, kacc[tt][q]));
                                }
                            }
                        } else {
                            // the full angle per token, the key rotated once for all G heads
                            const float2 base = kvq_rot(wv, kvq_lds<float2>(kQS, m * S::QUADS * 8));
                            float krj[S::KT];
                            float krp[S::KT];
#pragma unroll
                            for (int tt = 0; tt < S::KT; tt++) {
                                const int t = th + tt;
                                float kj;
                                float kp;
                                kvq_key_pair<S>(kG, w, m, tt, &kj, &kp);
                                float2 ang = base;
                                if (t > 0) {
                                    ang = kvq_rot(base, kvq_lds<float2>(kG, (S::GB_IS + (m * 3 + t - 1) * 2) * 4));
                                }
                                krj[tt] = fmaf(ang.x, kj, -(ang.y * kp));
                                krp[tt] = fmaf(ang.y, kj, ang.x * kp);
                            }
#pragma unroll
                            for (int q = 0; q < S::HG; q++) {
                                const float2 qq = kvq_lds<float2>(kG, (S::GB_QY + ((h0 + q) * 16 + m) * 2) * 4);
#pragma unroll
                                for (int tt = 0; tt < S::KT; tt++) {
                                    kacc[tt][q] = fmaf(qq.x, krj[tt], fmaf(qq.y, krp[tt], kacc[tt][q]));
                                }
                            }
                        }
                    }
#ifdef KVQ_PTX_MARKERS
                    asm volatile("// KVQ_MARK key_pairs_end");
#endif
                }
            }
            team.template warp_sum<S::KT * S::HG, S::LW>(&kacc[0][0]);
            // token t belongs to key lane t mod LW; its raw scores wait in the p tile
#pragma unroll
            for (int tt = 0; tt < S::KT; tt++) {
                const int t = th + tt;
                if (t % S::LW == wl) {
#pragma unroll
                    for (int q = 0; q < S::HG; q++) {
                        pt[(h0 + q) * S::TW + 4 * quad + t] = kacc[tt][q];
                    }
                }
            }
        }
        page = kvq_page_base(a.pool, pgK < 0 ? 0 : pgK, a.pageBytes);

        // ---- owned tokens (their scores wait in the p tile): outliers, debug scores, online softmax,
        // p, value outliers; one token at a time, so no scores are held across the block barriers
        float lm[G];
#pragma unroll
        for (int q = 0; q < G; q++) {
            lm[q] = -INFINITY;
        }
#pragma unroll
        for (int u = 0; u < S::OWN; u++) {
            const int tOwn = wl + S::LW * u;
            const int slot = slot0 + tOwn;
            const bool valid = quadValid && slot < sq->quantized;
            float* ps = pt + 4 * quad + tOwn;
            float sc[G];
#pragma unroll
            for (int q = 0; q < G; q++) {
                sc[q] = ps[q * S::TW];
            }
            if (valid) {
                if (a.keySlots > 0) {
                    kvq_key_outliers<G>(a, page, r0 + tOwn, h, D, G, qat, [&](int i) {
                        const float* qs = qsteps + (i * S::QUADS + quad) * S::QS;
                        float2 ang = kvq_rot(wb[i], make_float2(qs[0], qs[1]));
                        if (tOwn > 0) {
                            ang = kvq_rot(ang, *istep(i, tOwn));
                        }
                        return ang;
                    }, sc);
                }
                if (a.scores != nullptr) {
#pragma unroll
                    for (int q = 0; q < G; q++) {
                        a.scores[((long long) seq * hq + h * G + q) * a.scoreStride + sq->sinks + slot] = sc[q];
                    }
                }
            }
#pragma unroll
            for (int q = 0; q < G; q++) {
                ps[q * S::TW] = valid ? sc[q] : -INFINITY;
                lm[q] = fmaxf(lm[q], valid ? sc[q] : -INFINITY);
            }
        }
        kvq_softmax_step<G>(team, lm, G, regions + S::W_MAX, S::REGION, mf, acc, D, sums0, sstride);
#pragma unroll
        for (int u = 0; u < S::OWN; u++) {
            const int tOwn = wl + S::LW * u;
            const int slot = slot0 + tOwn;
            const bool valid = quadValid && slot < sq->quantized;
            float* ps = pt + 4 * quad + tOwn;
            float p[G];
            float z = 0.0f;
            float s = 0.0f;
            if (valid) {
                kvq_token_scales(a, page, r0 + tOwn, &z, &s);
            }
            zt[4 * quad + tOwn] = z;
            st[4 * quad + tOwn] = s;
#pragma unroll
            for (int q = 0; q < G; q++) {
                p[q] = valid ? kvq_softmax_p(ps[q * S::TW], mf[q]) : 0.0f;
                ps[q * S::TW] = p[q];
            }
            if (valid && a.valueSlots > 0) {
                kvq_value_outliers<G>(team, a, page, r0 + tOwn, h, D, G, p, acc);
            }
        }
        team.syncwarp();
        kvq_tile_sums<G>(team, pt, zt, S::TW, sums, S::BLOCK_SUMS);

        // ---- values: lane (token group, 4-channel columns) over the same tokens
        const int tg = lane / S::VLANES;
        const int gslot = tileStart + 32 * tg;
        const int pgV = S::TW == 32 ? pgK : team.shfl(pgv, (gslot - tileStart) >> pshift);
        if (tileValid && gslot < sq->quantized && pgV >= 0) {
            const unsigned char* vpage = kvq_page_base(a.pool, pgV, a.pageBytes);
            const int rg = (gslot & (P - 1)) >> 5;
            const uint32_t* vc = reinterpret_cast<const uint32_t*>(vpage + a.valueCodesOff)
                    + (long long) ((h * (P >> 5) + rg) * B) * D;
            const KvqShared vP = kvq_shared(pt + 32 * tg);
            const KvqShared vS = kvq_shared(st + 32 * tg);
            const KvqShared vL = kvq_shared(vlut);
#pragma unroll 1
            for (int vq = 0; vq < S::VCOLS; vq++) {
                const int c0 = S::VC * ((lane % S::VLANES) * S::VCOLS + vq);
                // row k is loaded where token pair (32k)/(2b) first needs it (fewer rows live)
                uint32_t w[B][S::VC];
#pragma unroll 1
                for (int q0 = 0; q0 < G; q0 += S::VG) {
                    float vacc[S::VC][S::VG];
#pragma unroll
                    for (int c = 0; c < S::VC; c++) {
#pragma unroll
                        for (int q = 0; q < S::VG; q++) {
                            vacc[c][q] = 0.0f;
                        }
                    }
#ifdef KVQ_PTX_MARKERS
                    asm volatile("// KVQ_MARK value_pairs_begin");
#endif
#pragma unroll
                    for (int m = 0; m < 16; m++) {
#pragma unroll
                        for (int k = 0; k < B; k++) {
                            if (m == 32 * k / (2 * B) && q0 == 0) {
                                if (S::VC == 4) {
                                    uint4 u = kvq_load(reinterpret_cast<const uint4*>(vc + k * D + c0), KVQ_LD_VALUE_CODES);
                                    w[k][0] = u.x;
                                    w[k][1] = u.y;
                                    w[k][S::VC - 2] = u.z;
                                    w[k][S::VC - 1] = u.w;
                                } else {
                                    uint2 u = kvq_load(reinterpret_cast<const uint2*>(vc + k * D + c0), KVQ_LD_VALUE_CODES);
                                    w[k][0] = u.x;
                                    w[k][S::VC - 1] = u.y;
                                }
                            }
                        }
                        // tokens 2m, 2m+1: α = p·s_t, times the pair table's (c'[a], c'[b]) per column
                        float2 cv[S::VC];
#pragma unroll
                        for (int c = 0; c < S::VC; c++) {
                            if (S::VALUE_PAIRS) {
                                cv[c] = kvq_lds<float2>(vL, kvq_field<B, 2 * B, 3>(w, m, c));
                            } else {
                                cv[c] = make_float2(kvq_lds<float>(vL, kvq_field<B, B, 2>(w, 2 * m, c)),
                                                    kvq_lds<float>(vL, kvq_field<B, B, 2>(w, 2 * m + 1, c)));
                            }
                        }
                        const float2 ss = kvq_lds<float2>(vS, m * 8);
#pragma unroll
                        for (int q = 0; q < S::VG; q++) {
                            const float2 pp = kvq_lds<float2>(vP, ((q0 + q) * S::TW + 2 * m) * 4);
                            const float ax = pp.x * ss.x;
                            const float ay = pp.y * ss.y;
#pragma unroll
                            for (int c = 0; c < S::VC; c++) {
                                vacc[c][q] = fmaf(ax, cv[c].x, fmaf(ay, cv[c].y, vacc[c][q]));
                            }
                        }
                    }
#ifdef KVQ_PTX_MARKERS
                    asm volatile("// KVQ_MARK value_pairs_end");
#endif
#pragma unroll
                    for (int c = 0; c < S::VC; c++) {
#pragma unroll
                        for (int q = 0; q < S::VG; q++) {
                            team.atomic_add_shared(&acc[(q0 + q) * D + c0 + c], vacc[c][q]);
                        }
                    }
                }
            }
        }
    }
    KvqPartialSink o{a.partialOut, a.partialStats, seq, hq, split, splits, D};
    kvq_decode_finish<G>(team, o, h * G, G, acc, mf, sums0, sstride, total);
}

// ============================================================================ generic packed decode
/** Shared memory of kvq_decode_packed (the generic fallback), in bytes, for head dim d. */
KVQ_HD constexpr int kvq_decode_packed_generic_bytes(int d) {
    return (KVQ_SEQ_FLOATS + KVQ_DECODE_GM * d                   // block counts; qry [GM][d/2] (first, partner)
            + 16 * d + 16                                        // key table [d][16], value table [16]
            + KVQ_DECODE_WARPS * 32 * 2                          // z, s [WARPS][2][32]
            + KVQ_DECODE_WARPS * KVQ_DECODE_GM * 32              // p [WARPS][GM][32]
            + KVQ_DECODE_GM * d                                  // acc [GM][d]
            + KVQ_DECODE_WARPS * KVQ_DECODE_GM + 2 * KVQ_DECODE_GM  // warp maxima, (max, factor)
            + 2 * KVQ_DECODE_GM) * 4;                            // running Σp, Σp·z
}

/**
 * Shared memory of kvq_decode_packed_groups (width plans), in bytes, for head dim d: the generic layout with
 * 64-entry tables (keys [d][64], values [7][64]) and the head's part of the plan (pairs [d/2], runs [8][2],
 * value channels [d], groups [8][4]).
 */
KVQ_HD constexpr int kvq_decode_packed_groups_bytes(int d) {
    return kvq_decode_packed_generic_bytes(d)
            + ((KVQ_WP_ENTRIES - 16) * d + ((KVQ_WP_MAX_WIDTH + 1) * KVQ_WP_ENTRIES - 16)
               + d / 2 + KVQ_WP_RUNS * 2 + d + KVQ_WP_RUNS * 4) * 4;
}

/**
 * Scores of one token's key codes under a width plan: head h's pairs run by run, the width fixed inside
 * each run's loop, each pair one 2w-bit field at the run's running bit (a width-0 run reads nothing: its
 * channels are their zero-points, entry 0 of the table). pair(k, kj, kp, first, partner, frequency) gets
 * the dequantized pre-RoPE pair. Words are loaded once each (the fields walk the stream in order).
 */
template <class Pair>
KVQ_HD void kvq_wp_key_fields(const uint32_t* codes, int pageTokens, int headBit, const int* runs,
                              const int* pairs, const float* lut, Pair pair) {
    int bit = headBit;
    int k = 0;
    int curIndex = -1;
    uint32_t cur = 0;
    #pragma unroll 1
    for (int run = 0; run < KVQ_WP_RUNS; run++) {
        const int w = runs[2 * run];
        const int count = runs[2 * run + 1];
        if (count == 0) {
            break;
        }
        const int fieldBits = 2 * w;
        const uint32_t mask = (1u << w) - 1u;
        #pragma unroll 1
        for (int end = k + count; k < end; k++) {
            uint32_t f = 0;
            if (w > 0) {
                int index = bit >> 5;
                int sh = bit & 31;
                if (index != curIndex) {
                    curIndex = index;
                    cur = kvq_load(codes + (long long) index * pageTokens, KVQ_LD_KEY_CODES);
                }
                f = cur >> sh;
                if (sh + fieldBits > 32) {
                    curIndex = index + 1;
                    cur = kvq_load(codes + (long long) curIndex * pageTokens, KVQ_LD_KEY_CODES);
                    f |= cur << (32 - sh);
                }
                bit += fieldBits;
            }
            const int packedPair = pairs[k];
            const int first = packedPair & 1023;
            const int partner = (packedPair >> 10) & 1023;
            pair(lut[first * KVQ_WP_ENTRIES + (f & mask)], lut[partner * KVQ_WP_ENTRIES + ((f >> w) & mask)],
                 packedPair >> 20);
        }
    }
}

/**
 * kvq_decode_packed (generic fallback: any head dim d ≤ 256 that is a multiple of 8, any G, any page
 * size P that is a multiple of 32) for block (split, h, seq). One lane per token for keys (a 2b-bit
 * pair reader over 4-byte words; exact RoPE angle per token and pair), one lane per channel for
 * values; query heads in passes of KVQ_DECODE_GM (the codes are decoded again per pass). Slower
 * than the specialized instances; the same online softmax, side tokens, outliers and partials.
 * GROUPS: kvq_decode_packed_groups, the same over a width plan (kvq_layout_v2.cuh): keys by the head's
 * width runs (kvq_wp_key_fields), values by its width groups, each loop with its width fixed, 64-entry
 * tables; the accumulator stays in logical channel order, so outliers, side tokens and the partials are
 * the uniform kernel's.
 */
template <bool GROUPS, class Team>
KVQ_HD void kvq_decode_packed_generic_block(const Team& team, const KvqDecodeArgs& a, int split, int splits, int h,
                                            int seq, float* smem) {
    constexpr int GM = KVQ_DECODE_GM;
    constexpr int TW = 32;
    constexpr int KE = GROUPS ? KVQ_WP_ENTRIES : 16;                       // key table entries per channel
    constexpr int VE = GROUPS ? (KVQ_WP_MAX_WIDTH + 1) * KVQ_WP_ENTRIES : 16;  // value table floats
    const int d = a.headDim;
    const int b = a.bits;
    const int G = a.groupSize;
    const bool widthOk = GROUPS ? a.widthPlan != nullptr : b >= 2 && b <= 4;
    if (d < 8 || d > 256 || d % 8 != 0 || !widthOk || G < 1 || !kvq_decode_shape_ok(a, b, G, d, false)) {
        kvq_fail(a.error, KVQ_ERR_SHAPE);
        return;
    }
    const int warps = team.size() >> 5;
    const int half = d / 2;
    KvqDecodeSeq* sq = reinterpret_cast<KvqDecodeSeq*>(smem);
    float* qry = smem + KVQ_SEQ_FLOATS;  // [GM][d/2] (first, partner) scaled query pairs
    float* lut = qry + GM * d;
    float* vtab = lut + KE * d;
    float* zsAll = vtab + VE;
    float* ptAll = zsAll + warps * 2 * TW;
    float* acc = ptAll + warps * GM * TW;
    float* wmax = acc + GM * d;
    float* mf = wmax + warps * GM;
    float* sums = mf + 2 * GM;
    // GROUPS: head h's part of the width plan (pairs [d/2], runs [8][2], value channels [d], groups [8][4])
    int* wpPairs = reinterpret_cast<int*>(sums + 2 * GM);
    int* wpRuns = wpPairs + d / 2;
    int* wpValueChannel = wpRuns + 2 * KVQ_WP_RUNS;
    int* wpGroups = wpValueChannel + d;
    const int rank = team.rank();
    const int lane = team.lane();
    const int warp = team.warp();
    const int hq = a.kvHeads * G;
    const int P = a.pageTokens;
    if (rank == 0) {
        *sq = kvq_decode_seq(a, seq);
    }
    const uint32_t cm = (1u << b) - 1u;
    #pragma unroll 1
    for (int e = rank; e < KE * d; e += team.size()) {
        lut[e] = kvq_load(a.keyTable + (long long) h * d * KE + e, KVQ_LD_SETUP);
    }
    #pragma unroll 1
    for (int e = rank; e < VE; e += team.size()) {
        vtab[e] = kvq_load(a.valueTable + e, KVQ_LD_SETUP);
    }
    int headBit = 0;      // GROUPS: the head's first key stream bit
    int valueBefore = 0;  // GROUPS: Σ_{h'<h} W_h'
    int valueWords = 0;   // GROUPS: W_h
    if (GROUPS) {
        const int* plan = a.widthPlan;
        const int kv = a.kvHeads;
        #pragma unroll 1
        for (int e = rank; e < d / 2; e += team.size()) {
            wpPairs[e] = kvq_load(plan + kvq_wp_offset(KVQ_WP_KEY_PAIRS, kv, d) + h * (d / 2) + e, KVQ_LD_SETUP);
        }
        #pragma unroll 1
        for (int e = rank; e < 2 * KVQ_WP_RUNS; e += team.size()) {
            wpRuns[e] = kvq_load(plan + kvq_wp_offset(KVQ_WP_KEY_RUNS, kv, d) + h * 2 * KVQ_WP_RUNS + e, KVQ_LD_SETUP);
        }
        #pragma unroll 1
        for (int e = rank; e < d; e += team.size()) {
            wpValueChannel[e] = kvq_load(plan + kvq_wp_offset(KVQ_WP_VALUE_CHANNEL, kv, d) + h * d + e, KVQ_LD_SETUP);
        }
        #pragma unroll 1
        for (int e = rank; e < 4 * KVQ_WP_RUNS; e += team.size()) {
            wpGroups[e] = kvq_load(plan + kvq_wp_offset(KVQ_WP_VALUE_GROUPS, kv, d) + h * 4 * KVQ_WP_RUNS + e,
                                   KVQ_LD_SETUP);
        }
        headBit = kvq_load(plan + kvq_wp_offset(KVQ_WP_KEY_BIT, kv, d) + h * d, KVQ_LD_SETUP);
        valueBefore = kvq_load(plan + kvq_wp_offset(KVQ_WP_VALUE_BEFORE, kv, d) + h, KVQ_LD_SETUP);
        valueWords = kvq_load(plan + kvq_wp_offset(KVQ_WP_VALUE_WORDS, kv, d) + h, KVQ_LD_SETUP);
    }
    float* pt = ptAll + warp * GM * TW;
    float* zt = zsAll + warp * 2 * TW;
    float* st = zt + TW;
    auto qat = [&](int q, int i) { return qry + (q * half + i) * 2; };
    for (int q0 = 0; q0 < G; q0 += GM) {
        const int gn = G - q0 < GM ? G - q0 : GM;
                kvq_store_query(a, qry, 2, seq, h, q0, gn, d, rank, team.size());
#pragma unroll 1
        for (int e = rank; e < GM * d; e += team.size()) {
            acc[e] = 0.0f;
        }
        #pragma unroll 1
        for (int q = rank; q < GM; q += team.size()) {
            mf[q] = -INFINITY;
            mf[GM + q] = 1.0f;
            sums[q] = 0.0f;
            sums[GM + q] = 0.0f;
        }
        team.sync();
        if (split == 0) {
            kvq_side_passes<GM>(team, a, *sq, h, seq, d, q0, gn, qat, wmax, GM, mf, acc, sums, 0);
        }
        int tile0;
        int tile1;
        kvq_split_tiles(sq->quantized, TW, split, splits, &tile0, &tile1);
        const int passes = (tile1 - tile0 + warps - 1) / warps;
        #pragma unroll 1
        for (int pass = 0; pass < passes; pass++) {
            const int tile = tile0 + pass * warps + warp;
            const bool tileValid = tile < tile1;
            const int tileStart = tile * TW;
            int pgv = -1;
            if (tileValid && lane == 0) {
                pgv = kvq_page_entry(a.pageTable, a.maxPages, a.poolPages, seq, tileStart / P, a.error);
            }
            const int pg = team.shfl(pgv, 0);
            const int slot = tileStart + lane;
            const bool valid = tileValid && pg >= 0 && slot < sq->quantized;
            const int r = slot % P;
            const unsigned char* page = a.pool + (long long) (pg < 0 ? 0 : pg) * a.pageBytes;
            const long long pos = sq->pos0 + slot;
            float s[GM];
#pragma unroll
            for (int q = 0; q < GM; q++) {
                s[q] = 0.0f;
            }
            if (valid) {
                // one pre-RoPE key pair (frequency i) rotated to the token's position, scored for every head
                auto addPair = [&](float kj, float kp, int i) {
                    float2 cs = kvq_rope_angle(pos, kvq_load(a.invFreq + i, KVQ_LD_SETUP));
                    float krj = cs.x * kj - cs.y * kp;
                    float krp = cs.y * kj + cs.x * kp;
#pragma unroll
                    for (int q = 0; q < GM; q++) {
                        if (q < gn) {
                            const float* qq = qry + (q * half + i) * 2;
                            s[q] = fmaf(qq[0], krj, fmaf(qq[1], krp, s[q]));
                        }
                    }
                };
                if (GROUPS) {
                    kvq_wp_key_fields(reinterpret_cast<const uint32_t*>(page + a.keyCodesOff) + r, P, headBit, wpRuns,
                                      wpPairs, lut, addPair);
                } else {
                    KvqBitReader rd;
                    rd.start(reinterpret_cast<const uint32_t*>(page + a.keyCodesOff) + r, P, 2 * b, h * half);
                    for (int i = 0; i < half; i++) {
                        uint32_t f = rd.next();
                        int first;
                        int partner;
                        kvq_v2_pair_channels(a.pairing, i, d, &first, &partner);
                        addPair(lut[first * 16 + (f & cm)], lut[partner * 16 + (f >> b)], i);
                    }
                }
                if (a.keySlots > 0) {
                    kvq_key_outliers<GM>(a, page, r, h, d, gn, qat, [&](int i) {
                        return kvq_rope_angle(pos, kvq_load(a.invFreq + i, KVQ_LD_SETUP));
                    }, s);
                }
                if (a.scores != nullptr) {
                    for (int q = 0; q < gn; q++) {
                        a.scores[((long long) seq * hq + h * G + q0 + q) * a.scoreStride + sq->sinks + slot] = s[q];
                    }
                }
            }
            float lm[GM];
#pragma unroll
            for (int q = 0; q < GM; q++) {
                lm[q] = valid && q < gn ? s[q] : -INFINITY;
            }
            kvq_softmax_step<GM>(team, lm, gn, wmax, GM, mf, acc, d, sums, 0);
            float p[GM];
            float z = 0.0f;
            float sc = 0.0f;
            if (valid) {
                kvq_token_scales(a, page, r, &z, &sc);
            }
            zt[lane] = z;
            st[lane] = sc;
#pragma unroll
            for (int q = 0; q < GM; q++) {
                p[q] = valid && q < gn ? kvq_softmax_p(s[q], mf[q]) : 0.0f;
                pt[q * TW + lane] = p[q];
            }
            if (valid && a.valueSlots > 0) {
                kvq_value_outliers<GM>(team, a, page, r, h, d, gn, p, acc);
            }
            team.syncwarp();
            kvq_tile_sums<GM>(team, pt, zt, TW, sums, true);
            if (tileValid && pg >= 0 && tileStart < sq->quantized) {
                const int rg = (tileStart % P) / 32;
                if (GROUPS) {
                    // the head's width groups, widest first, the width fixed inside each group's loop
                    const uint32_t* vc = reinterpret_cast<const uint32_t*>(page + a.valueCodesOff)
                            + (long long) (P / 32) * valueBefore + (long long) rg * valueWords;
                    #pragma unroll 1
                    for (int g = 0; g < KVQ_WP_RUNS && wpGroups[4 * g + 1] > 0; g++) {
                        const int w = wpGroups[4 * g];
                        const int n = wpGroups[4 * g + 1];
                        const int position = wpGroups[4 * g + 2];
                        const uint32_t* rows = vc + wpGroups[4 * g + 3];
                        const float* table = vtab + w * KVQ_WP_ENTRIES;
                        #pragma unroll 1
                        for (int i = lane; i < n; i += 32) {
                            // a 0-bit reader yields code 0 (table[0], c'_V[0]) and reads only its start word:
                            // width 0 has no rows, so it starts on a word of the plan in shared memory
                            KvqBitReader rd;
                            rd.start(w > 0 ? rows + i : reinterpret_cast<const uint32_t*>(wpGroups), n, w, 0);
                            float v[GM];
#pragma unroll
                            for (int q = 0; q < GM; q++) {
                                v[q] = 0.0f;
                            }
                            for (int e = 0; e < TW; e++) {
                                float cv = table[rd.next()] * st[e];
#pragma unroll
                                for (int q = 0; q < GM; q++) {
                                    v[q] = fmaf(pt[q * TW + e], cv, v[q]);
                                }
                            }
                            const int j = wpValueChannel[position + i];
                            for (int q = 0; q < gn; q++) {
                                team.atomic_add_shared(&acc[q * d + j], v[q]);
                            }
                        }
                    }
                } else {
                    const uint32_t* vc = reinterpret_cast<const uint32_t*>(page + a.valueCodesOff)
                            + ((long long) h * (P / 32) + rg) * b * d;
                    #pragma unroll 1
                    for (int j = lane; j < d; j += 32) {
                        KvqBitReader rd;
                        rd.start(vc + j, d, b, 0);
                        float v[GM];
#pragma unroll
                        for (int q = 0; q < GM; q++) {
                            v[q] = 0.0f;
                        }
                        for (int e = 0; e < TW; e++) {
                            float cv = vtab[rd.next()] * st[e];
#pragma unroll
                            for (int q = 0; q < GM; q++) {
                                v[q] = fmaf(pt[q * TW + e], cv, v[q]);
                            }
                        }
                        for (int q = 0; q < gn; q++) {
                            team.atomic_add_shared(&acc[q * d + j], v[q]);
                        }
                    }
                }
            }
        }
        KvqPartialSink o{a.partialOut, a.partialStats, seq, hq, split, splits, d};
        kvq_decode_finish<GM>(team, o, h * G + q0, gn, acc, mf, sums, 0, sums);
        team.sync();
    }
}

// ============================================================================ fp16 baseline decode
/**
 * Shape of the fp16 fused decode (GT, DT = 0: runtime group / head dim, the generic entry). Keys fp16
 * [Hkv][d][P] (tokens contiguous): a lane reads KTOK tokens of a channel row per load, CL lanes split
 * the channels. Values fp16 [Hkv][P][d]: a lane reads VCH channels of a token row per load. Loads are
 * 16 bytes at G ≤ 2 and 8 bytes at G ≥ 4 (the same bytes; 4·G accumulators per lane fit 64 registers).
 */
template <int GT, int DT>
struct KvqFp16Shape {
    static constexpr int THREADS = KVQ_DECODE_THREADS;
    static constexpr int WARPS = KVQ_DECODE_WARPS;
    static_assert(THREADS == 32 * WARPS, "whole warps");
    static constexpr int GM = GT != 0 ? GT : KVQ_DECODE_GM;
    static constexpr int TW = 64;                  // tokens per warp tile
    static constexpr int KTOK = GM <= 2 ? 8 : 4;   // tokens per key load (uint4 or uint2 of fp16)
    static constexpr int CL = 32 / (TW / KTOK);    // key lanes per token group (split the channels)
    static constexpr int OWN = KTOK / CL;          // tokens a lane owns after the key reduction
    static constexpr int KH = GM <= 4 ? GM : 4;    // query heads per key sweep
    static constexpr int VCH = GM <= 2 ? 8 : 4;    // channels per value load
    static constexpr int VH = GM <= 4 ? GM : GT != 0 ? 4 : 2;  // query heads per value pass (generic: 2)
    static_assert(OWN * CL == KTOK && CL >= 1, "lane layout");
    /** Shared memory in bytes for head dim d: query, p tile, accumulator, warp maxima, (max, factor), sums. */
    static KVQ_HD constexpr int bytes(int d) {
        return (GM * d + WARPS * GM * TW + GM * d + WARPS * GM + 2 * GM + 2 * GM) * 4;
    }
};

/** N fp16 values (N = 8: 16 bytes, N = 4: 8 bytes, aligned) as floats. */
template <int N>
KVQ_HD void kvq_load_h(const uint16_t* p, float* v) {
    if (N == 8) {
        kvq_unpack_h8(kvq_load(reinterpret_cast<const uint4*>(p), KVQ_LD_FP16), v);
    } else {
        uint2 u = kvq_load(reinterpret_cast<const uint2*>(p), KVQ_LD_FP16);
        uint32_t w[2] = {u.x, u.y};
#pragma unroll
        for (int i = 0; i < 2; i++) {
            v[2 * i] = kvq_h2f((uint16_t) (w[i] & 0xffffu));
            v[2 * i + 1] = kvq_h2f((uint16_t) (w[i] >> 16));
        }
    }
}

template <int GT, int DT, class Team>
KVQ_HD void kvq_decode_fp16_block(const Team& team, const KvqDecodeFp16Args& a, int split, int splits, int h, int seq,
                                  float* smem) {
    using S = KvqFp16Shape<GT, DT>;
    constexpr int GM = S::GM;
    constexpr int TW = S::TW;
    const int d = DT != 0 ? DT : a.headDim;
    const int G = GT != 0 ? GT : a.groupSize;
    const int P = a.pageTokens;
    if (a.headDim != d || a.groupSize != G || d < 8 || d > 256 || d % 8 != 0 || G < 1 || P < 32 || P % 32 != 0
        || a.pageBytes <= 0 || a.pageBytes > 0x7fffffffLL) {
        kvq_fail(a.error, KVQ_ERR_SHAPE);
        return;
    }
    float* qs = smem;                       // [GM][d] scaled query
    float* ptAll = qs + GM * d;             // [WARPS][GM][TW] softmax numerators p
    float* acc = ptAll + S::WARPS * GM * TW;
    float* wmax = acc + GM * d;
    float* mf = wmax + S::WARPS * GM;
    float* sums = mf + 2 * GM;
    const int rank = team.rank();
    const int lane = team.lane();
    const int warp = team.warp();
    const int hq = a.kvHeads * G;
    const int tokens = kvq_load(a.seqTokens + seq, KVQ_LD_META);
    float* pt = ptAll + warp * GM * TW;
    const int kgrp = lane / S::CL;          // key lane: token group (KTOK tokens) and channel lane
    const int cl = lane % S::CL;
    const int lpr = d / S::VCH < 32 ? d / S::VCH : 32;   // value lanes per token row
    const int tsub = 32 / lpr;
#pragma unroll 1
    for (int q0 = 0; q0 < G; q0 += GM) {
        const int gn = G - q0 < GM ? G - q0 : GM;
#pragma unroll 1
        for (int e = rank; e < gn * d; e += S::THREADS) {
            qs[e] = kvq_mul(kvq_load(a.query + ((long long) seq * hq + h * G + q0) * d + e, KVQ_LD_SETUP), a.scale);
        }
#pragma unroll 1
        for (int e = rank; e < GM * d; e += S::THREADS) {
            acc[e] = 0.0f;
        }
        for (int q = rank; q < GM; q += S::THREADS) {
            mf[q] = -INFINITY;
            mf[GM + q] = 1.0f;
            sums[q] = 0.0f;
            sums[GM + q] = 0.0f;  // stays 0: fp16 values have no zero-points
        }
        team.sync();
        int tile0;
        int tile1;
        kvq_split_tiles(tokens, TW, split, splits, &tile0, &tile1);
        const int passes = (tile1 - tile0 + S::WARPS - 1) / S::WARPS;
#pragma unroll 1
        for (int pass = 0; pass < passes; pass++) {
            const int tile = tile0 + pass * S::WARPS + warp;
            const bool tileValid = tile < tile1;
            const int tileStart = tile * TW;
            // a 64-token tile touches at most two pages (P ≥ 32): lanes 0 and 1 load them
            const int lg0 = tileStart / P;
            const int boundary = (lg0 + 1) * P;
            int pgv = -1;
            if (tileValid && (lane == 0 || (lane == 1 && boundary < tileStart + TW && boundary < tokens))) {
                pgv = kvq_page_entry(a.pageTable, a.maxPages, a.poolPages, seq, lg0 + lane, a.error);
            }
            const int pg0 = team.shfl(pgv, 0);
            const int pg1 = team.shfl(pgv, 1);
            // ---- keys: lane (kgrp, cl) over channels [cl·d/CL, (cl+1)·d/CL) of KTOK tokens
            const int slot0 = tileStart + S::KTOK * kgrp;
            const bool first = slot0 < boundary;
            const int pgK = first ? pg0 : pg1;
            const bool grpValid = tileValid && slot0 < tokens && pgK >= 0;
            const int r0 = slot0 - (first ? lg0 : lg0 + 1) * P;
#pragma unroll
            for (int kq0 = 0; kq0 < GM; kq0 += S::KH) {
                float kacc[S::KTOK][S::KH];
#pragma unroll
                for (int t = 0; t < S::KTOK; t++) {
#pragma unroll
                    for (int q = 0; q < S::KH; q++) {
                        kacc[t][q] = 0.0f;
                    }
                }
                if (grpValid && kq0 < gn) {
                    const uint16_t* kr = reinterpret_cast<const uint16_t*>(kvq_page_base(a.pool, pgK, a.pageBytes)
                                                                           + a.keysOff)
                            + (long long) h * d * P + r0;
                    const int jc = d / S::CL;
#pragma unroll 4
                    for (int jj = 0; jj < jc; jj++) {
                        const int j = cl * jc + jj;
                        float k[S::KTOK];
                        kvq_load_h<S::KTOK>(kr + (long long) j * P, k);
#pragma unroll
                        for (int q = 0; q < S::KH; q++) {
                            if (kq0 + q < gn) {
                                const float qv = qs[(kq0 + q) * d + j];
#pragma unroll
                                for (int t = 0; t < S::KTOK; t++) {
                                    kacc[t][q] = fmaf(qv, k[t], kacc[t][q]);
                                }
                            }
                        }
                    }
                }
                team.template warp_sum<S::KTOK * S::KH, S::CL>(&kacc[0][0]);
                // token t of the group belongs to lane t mod CL; raw scores wait in the p tile
#pragma unroll
                for (int t = 0; t < S::KTOK; t++) {
                    if (t % S::CL == cl) {
#pragma unroll
                        for (int q = 0; q < S::KH; q++) {
                            pt[(kq0 + q) * TW + S::KTOK * kgrp + t] = kacc[t][q];
                        }
                    }
                }
            }
            float lm[GM];
#pragma unroll
            for (int q = 0; q < GM; q++) {
                lm[q] = -INFINITY;
            }
#pragma unroll
            for (int u = 0; u < S::OWN; u++) {
                const int tt = S::KTOK * kgrp + cl + S::CL * u;
                const int slot = tileStart + tt;
                const bool valid = grpValid && slot < tokens;
#pragma unroll
                for (int q = 0; q < GM; q++) {
                    float sc = pt[q * TW + tt];
                    if (valid && q < gn && a.scores != nullptr) {
                        a.scores[((long long) seq * hq + h * G + q0 + q) * a.scoreStride + slot] = sc;
                    }
                    sc = valid && q < gn ? sc : -INFINITY;
                    pt[q * TW + tt] = sc;
                    lm[q] = fmaxf(lm[q], sc);
                }
            }
            kvq_softmax_step<GM>(team, lm, gn, wmax, GM, mf, acc, d, sums, 0);
#pragma unroll
            for (int u = 0; u < S::OWN; u++) {
                const int tt = S::KTOK * kgrp + cl + S::CL * u;
#pragma unroll
                for (int q = 0; q < GM; q++) {
                    pt[q * TW + tt] = q < gn ? kvq_softmax_p(pt[q * TW + tt], mf[q]) : 0.0f;
                }
            }
            team.syncwarp();
            kvq_tile_sums<GM>(team, pt, nullptr, TW, sums, true);
            // ---- values: lane (token sub-row, VCH-channel column) over the same tokens
            const int co = lane % lpr;
            const int ts = lane / lpr;
            if (tileValid && ts < tsub) {
#pragma unroll
                for (int vq0 = 0; vq0 < GM; vq0 += S::VH) {
                    if (vq0 < gn) {
#pragma unroll 1
                        for (int cc = co; cc < d / S::VCH; cc += lpr) {
                            float vacc[S::VCH][S::VH];
#pragma unroll
                            for (int x = 0; x < S::VCH; x++) {
#pragma unroll
                                for (int q = 0; q < S::VH; q++) {
                                    vacc[x][q] = 0.0f;
                                }
                            }
#pragma unroll 1
                            for (int t = ts; t < TW; t += tsub) {
                                const int slot = tileStart + t;
                                const bool in0 = slot < boundary;
                                const int pgT = in0 ? pg0 : pg1;
                                if (slot >= tokens || pgT < 0) {
                                    break;
                                }
                                const int r = slot - (in0 ? lg0 : lg0 + 1) * P;
                                const uint16_t* vr = reinterpret_cast<const uint16_t*>(
                                        kvq_page_base(a.pool, pgT, a.pageBytes) + a.valuesOff)
                                        + ((long long) h * P + r) * d + S::VCH * cc;
                                float v[S::VCH];
                                kvq_load_h<S::VCH>(vr, v);
#pragma unroll
                                for (int q = 0; q < S::VH; q++) {
                                    const float w = pt[(vq0 + q) * TW + t];
#pragma unroll
                                    for (int x = 0; x < S::VCH; x++) {
                                        vacc[x][q] = fmaf(w, v[x], vacc[x][q]);
                                    }
                                }
                            }
#pragma unroll
                            for (int q = 0; q < S::VH; q++) {
                                if (vq0 + q < gn) {
#pragma unroll
                                    for (int x = 0; x < S::VCH; x++) {
                                        team.atomic_add_shared(&acc[(vq0 + q) * d + S::VCH * cc + x], vacc[x][q]);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        KvqPartialSink o{a.partialOut, a.partialStats, seq, hq, split, splits, d};
        kvq_decode_finish<GM>(team, o, h * G + q0, gn, acc, mf, sums, 0, sums);
        team.sync();
    }
}

// ============================================================================ split merge
/**
 * kvq_decode_merge for (q, seq): out = Σ_k e^{m_k − M}·o_k / Σ_k e^{m_k − M}·l_k over the splits
 * in order (deterministic); a sequence with no tokens gives 0. Threads (rank, size) split channels.
 * A split whose running max is +Inf or NaN or whose Σp is not finite (a score overflowed fp32, or the query
 * held NaN) or an output that is not finite records KVQ_ERR_OVERFLOW, so the host learns of it from the error
 * word alone (no statistics copied back). Scores that overflow to −Inf only count as zero weight here.
 */
KVQ_HD void kvq_decode_merge_row(int rank, int size, const float* partialOut, const float* partialStats, int splits,
                                 float* out, int d, int hq, int q, int seq, int* error) {
    const long long row = ((long long) seq * hq + q) * splits;
    float m = -INFINITY;
    bool overflow = false;
    #pragma unroll 1
    for (int k = 0; k < splits; k++) {
        float mk = kvq_load(partialStats + (row + k) * 2, KVQ_LD_META);
        overflow |= mk != mk || mk == INFINITY;   // fmaxf would drop a NaN
        m = fmaxf(m, mk);
    }
    float den = 0.0f;
    #pragma unroll 1
    for (int k = 0; k < splits; k++) {
        float mk = kvq_load(partialStats + (row + k) * 2, KVQ_LD_META);
        float lk = kvq_load(partialStats + (row + k) * 2 + 1, KVQ_LD_META);
        // NaN scores leave the max at −Inf (fmaxf drops them) but Σp at NaN
        overflow |= !(lk <= 3.402823466e38f);
        if (mk != -INFINITY) {
            den += kvq_exp(mk - m) * lk;
        }
    }
    #pragma unroll 1
    for (int j = rank; j < d; j += size) {
        float num = 0.0f;
        #pragma unroll 1
        for (int k = 0; k < splits; k++) {
            float mk = kvq_load(partialStats + (row + k) * 2, KVQ_LD_META);
            if (mk != -INFINITY) {
                num += kvq_exp(mk - m) * kvq_load(partialOut + (row + k) * d + j, KVQ_LD_META);
            }
        }
        float o = den > 0.0f ? num / den : 0.0f;
        overflow |= !(fabsf(o) <= 3.402823466e38f);   // ±Inf or NaN
        out[((long long) seq * hq + q) * d + j] = o;
    }
    if (overflow) {
        kvq_fail(error, KVQ_ERR_OVERFLOW);
    }
}
