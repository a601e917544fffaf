// kvq_math.cuh: the per-element rules of the cache, as __host__ __device__ inline functions, and
// the "team" abstraction the kernel bodies (kvq_bodies.cuh) are written against.
//
// Why a team: a kernel body written as `for (i = team.rank(); i < n; i += team.size())` plus a few
// team reductions runs unchanged on the GPU (team = the thread block) and on the host (team = one
// thread that walks every index). The host test program (src/test/cuda/kvq_host_test.cu) runs the
// very same bodies block by block on the CPU and compares their bytes and numbers with the Java
// implementation; only the team's parallel reductions and the intrinsics below differ on a GPU.
#pragma once

#include <cuda_fp16.h>
#include <stdint.h>
#ifndef __CUDA_ARCH__
#include <math.h>
#include <string.h>
#endif

#define KVQ_HD __host__ __device__ __forceinline__

// ------------------------------------------------------------------ exact fp32 arithmetic
// The packers must reproduce Java's float arithmetic bit for bit: no FMA contraction, IEEE
// division. nvcc contracts a*b+c into an FMA by default, so every product/sum that feeds stored
// bytes goes through these (the host build uses -ffp-contract=off).
KVQ_HD float kvq_mul(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}
KVQ_HD float kvq_add(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fadd_rn(a, b);
#else
    return a + b;
#endif
}
KVQ_HD float kvq_sub(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fsub_rn(a, b);
#else
    return a - b;
#endif
}
KVQ_HD float kvq_div(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fdiv_rn(a, b);
#else
    return a / b;
#endif
}
KVQ_HD float kvq_fma(float a, float b, float c) {
#ifdef __CUDA_ARCH__
    return __fmaf_rn(a, b, c);
#else
    return fmaf(a, b, c);
#endif
}

KVQ_HD uint32_t kvq_float_bits(float x) {
#ifdef __CUDA_ARCH__
    return __float_as_uint(x);
#else
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
#endif
}
KVQ_HD float kvq_bits_float(uint32_t u) {
#ifdef __CUDA_ARCH__
    return __uint_as_float(u);
#else
    float x;
    memcpy(&x, &u, 4);
    return x;
#endif
}

// ------------------------------------------------------------------ fp16 (Float.floatToFloat16 / float16ToFloat)
// Software round-to-nearest-even conversion for the host; the device uses the IEEE intrinsics,
// which define the same function. The host tests check the software form against Java.
KVQ_HD uint16_t kvq_f2h_soft(float x) {
    uint32_t u = kvq_float_bits(x);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t mag = u & 0x7fffffffu;
    if (mag >= 0x7f800000u) {                        // inf or NaN (NaN keeps a quiet payload bit)
        return (uint16_t) (sign | 0x7c00u | (mag > 0x7f800000u ? 0x200u | ((mag >> 13) & 0x3ffu) : 0u));
    }
    if (mag >= 0x477ff000u) {                        // rounds to >= 65520: overflow to infinity
        return (uint16_t) (sign | 0x7c00u);
    }
    if (mag < 0x33000001u) {                         // <= 2^-25: rounds to zero (ties to even 0)
        return (uint16_t) sign;
    }
    int exp = (int) (mag >> 23) - 127;
    uint32_t mant = (mag & 0x7fffffu) | 0x800000u;   // 24-bit significand
    int shift;                                       // bits to drop from the 24-bit significand
    uint32_t base;
    if (exp < -14) {                                 // subnormal half: value = m·2^-24
        shift = -exp - 1;                            // 13 + (-14 - exp)
        base = 0;
    } else {
        shift = 13;
        base = (uint32_t) (exp + 15) << 10;
        mant &= 0x7fffffu;                           // drop the hidden bit, carried into base below
    }
    uint32_t kept = mant >> shift;
    uint32_t rest = mant & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    uint32_t r = base + kept;
    if (rest > half || (rest == half && (kept & 1u))) {
        r++;                                         // may carry into the exponent: still correct
    }
    return (uint16_t) (sign | r);
}

KVQ_HD float kvq_h2f_soft(uint16_t h) {
    uint32_t sign = (uint32_t) (h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu;
    uint32_t m = h & 0x3ffu;
    if (e == 0x1f) {
        return kvq_bits_float(sign | 0x7f800000u | (m << 13));
    }
    if (e == 0) {
        if (m == 0) {
            return kvq_bits_float(sign);
        }
        float v = (float) m * (1.0f / 16777216.0f);  // m·2^-24, exact
        return sign ? -v : v;
    }
    return kvq_bits_float(sign | ((e + 112u) << 23) | (m << 13));
}

KVQ_HD uint16_t kvq_f2h(float x) {
#ifdef __CUDA_ARCH__
    return __half_as_ushort(__float2half_rn(x));
#else
    return kvq_f2h_soft(x);
#endif
}

KVQ_HD float kvq_h2f(uint16_t h) {
#ifdef __CUDA_ARCH__
    return __half2float(__ushort_as_half(h));
#else
    return kvq_h2f_soft(h);
#endif
}

/** Fp16.round: the float that storing x in fp16 and reading it back gives. */
KVQ_HD float kvq_fp16_round(float x) {
    return kvq_h2f(kvq_f2h(x));
}

// ------------------------------------------------------------------ quantization rules
/** Codebook.nearest: the number of fp32 midpoints strictly below x (ties to the lower code). */
KVQ_HD int kvq_nearest(float x, const float* mid, int count) {
    int code = 0;
    for (int i = 0; i < count; i++) {
        code += mid[i] < x ? 1 : 0;
    }
    return code;
}

/** KeyQuantizer.normalize: (x − z)/s, or 0/±inf for a constant channel (s == 0). */
KVQ_HD float kvq_key_normalize(float x, float z, float s) {
    float d = kvq_sub(x, z);
    if (s > 0.0f) {
        return kvq_div(d, s);
    }
    return d == 0.0f ? 0.0f : (d > 0.0f ? kvq_bits_float(0x7f800000u) : kvq_bits_float(0xff800000u));
}

/** WeightedKMeans.orderedBits: float bits as an int that orders like the floats, −0 merged into +0. */
KVQ_HD int32_t kvq_ordered_bits(float v) {
    int32_t b = (int32_t) kvq_float_bits(v == 0.0f ? 0.0f : v);
    return b >= 0 ? b : b ^ 0x7fffffff;
}

/** The same order as an unsigned number (sign bit flipped), for unsigned 64-bit selection keys. */
KVQ_HD uint32_t kvq_ordered_u32(float v) {
    return (uint32_t) kvq_ordered_bits(v) ^ 0x80000000u;
}

/** Key outlier selection key: larger is kept first (distance descending, then lower channel). */
KVQ_HD uint64_t kvq_key_rank(float distance, int channel) {
    return ((uint64_t) kvq_ordered_u32(distance) << 32) | (uint32_t) (0xffffffffu - (uint32_t) channel);
}

/** Value top-k key under the total order (value, channel); ~key orders the bottom side. */
KVQ_HD uint64_t kvq_value_rank(float value, int channel) {
    return ((uint64_t) kvq_ordered_u32(value) << 32) | (uint32_t) channel;
}

/** The Java Math.min/max order of finite floats (−0 below +0) as an unsigned key. */
KVQ_HD uint32_t kvq_total_order(float v) {
    uint32_t b = kvq_float_bits(v);
    return (b & 0x80000000u) ? ~b : b | 0x80000000u;
}
KVQ_HD float kvq_from_total_order(uint32_t k) {
    return kvq_bits_float((k & 0x80000000u) ? k & 0x7fffffffu : ~k);
}

// ------------------------------------------------------------------ bit packing (spec §8.1)
/** Element e of a b-bit group whose words are w0 (bits 0..31) and w1 (next word): BitPacking.unpack. */
KVQ_HD uint32_t kvq_unpack(uint32_t w0, uint32_t w1, int bits, int e) {
    int bit = bits * e;
    int shift = bit & 31;
    uint32_t v = w0 >> shift;
    if (shift + bits > 32) {
        v |= w1 << (32 - shift);
    }
    return v & ((1u << bits) - 1u);
}

/**
 * Word w of a token's key bit stream: the groups of 32 channels are b words each, so the whole
 * key vector is one little-endian stream along channels and word w holds channels
 * [⌊32w/b⌋, ⌈(32w+32)/b⌉). codeOf(c) gives the code of channel c; channels ≥ D are zero.
 */
template <class CodeOf>
KVQ_HD uint32_t kvq_key_word(int w, int bits, int channels, CodeOf codeOf) {
    int first = (32 * w) / bits;
    int last = (32 * w + 31) / bits;                 // inclusive
    if (last >= channels) {
        last = channels - 1;
    }
    uint32_t word = 0;
    for (int c = first; c <= last; c++) {
        uint32_t code = (uint32_t) codeOf(c);
        int bit = bits * c - 32 * w;
        word |= bit >= 0 ? code << bit : code >> (-bit);
    }
    return word;
}

/** A sequential reader of a b-bit code stream whose words sit `stride` words apart. */
struct KvqBitReader {
    const uint32_t* word;  // next word to load
    long long stride;      // distance between consecutive words of the stream, in words
    uint64_t buf;
    int avail;
    int bits;
    uint32_t mask;

    /** Positions the reader at element `element` of the stream starting at `base`. */
    KVQ_HD void start(const uint32_t* base, long long strideWords, int b, int element) {
        stride = strideWords;
        bits = b;
        mask = (1u << b) - 1u;
        int bit = b * element;
        word = base + (long long) (bit >> 5) * stride;
        buf = (uint64_t) (*word >> (bit & 31));
        avail = 32 - (bit & 31);
        word += stride;
    }

    /** The next code; a word is loaded only when this code needs its bits, so never past the stream. */
    KVQ_HD uint32_t next() {
        if (avail < bits) {
            buf |= (uint64_t) (*word) << avail;
            word += stride;
            avail += 32;
        }
        uint32_t c = (uint32_t) buf & mask;
        buf >>= bits;
        avail -= bits;
        return c;
    }
};

// ------------------------------------------------------------------ RoPE
/**
 * cos/sin of the exact angle pos·ω, formed in fp64 (exact for pos < 2^29: a 24-bit mantissa times a
 * 29-bit integer fits in 53 bits) and evaluated with fp64 sin/cos, then rounded to fp32: the CPU's
 * Rope.angle + Math.cos/sin. Used once per (block, frequency) by the key-score kernels, so its cost
 * is amortized over a tile of tokens.
 */
KVQ_HD void kvq_rope_cos_sin(long long pos, float invFreq, float* c, float* s) {
    double phi = (double) pos * (double) invFreq;
    double sd, cd;
#ifdef __CUDA_ARCH__
    sincos(phi, &sd, &cd);
#else
    sd = sin(phi);
    cd = cos(phi);
#endif
    *c = (float) cd;
    *s = (float) sd;
}

/**
 * The query pair (q_j, q_p) rotated back by the base angle: (R(φ_b)ᵀq). Then a key pair rotated by
 * φ_b + φ_r scores as the rotated query against the key rotated by φ_r alone.
 */
KVQ_HD void kvq_rotate_query(float qj, float qp, float cosBase, float sinBase, float* outJ, float* outP) {
    *outJ = kvq_fma(cosBase, qj, kvq_mul(sinBase, qp));
    *outP = kvq_fma(cosBase, qp, -kvq_mul(sinBase, qj));
}

/**
 * acc + q·RoPE(k) for one channel pair (j first of the pair, p its partner) at angle (cos c, sin s):
 * c·(k_j q_j + k_p q_p) + s·(k_j q_p − k_p q_j), the CPU kernels' form (PageKernels).
 */
KVQ_HD float kvq_pair_score(float kj, float kp, float qj, float qp, float c, float s, float acc) {
    float x = kvq_fma(kp, qp, kvq_mul(kj, qj));
    float y = kvq_fma(-kp, qj, kvq_mul(kj, qp));
    return kvq_fma(s, y, kvq_fma(c, x, acc));
}

/** RopePairing.partner / frequencyIndex / isFirstOfPair for in-head channel j. */
KVQ_HD int kvq_rope_partner(int pairing, int j, int headDim) {
    return pairing == 0 ? (j ^ 1) : (j < headDim / 2 ? j + headDim / 2 : j - headDim / 2);
}
KVQ_HD int kvq_rope_frequency(int pairing, int j, int headDim) {
    return pairing == 0 ? (j >> 1) : (j % (headDim / 2));
}
KVQ_HD bool kvq_rope_first(int pairing, int j, int headDim) {
    return pairing == 0 ? (j & 1) == 0 : j < headDim / 2;
}

// ------------------------------------------------------------------ teams
/**
 * One host thread playing a whole block: reductions are identities, loops cover every index.
 * (Marked __host__ __device__ only so the bodies type-check for both sides; it runs on the host.)
 */
struct KvqHostTeam {
    KVQ_HD int rank() const { return 0; }
    KVQ_HD int size() const { return 1; }
    KVQ_HD void sync() const {}
    KVQ_HD uint64_t max_u64(uint64_t v) const { return v; }
    KVQ_HD uint32_t max_u32(uint32_t v) const { return v; }
    KVQ_HD int sum_i32(int v) const { return v; }
    KVQ_HD float sum_f32(float v) const { return v; }
    KVQ_HD float max_f32(float v) const { return v; }
    /** Exclusive count of set flags at lower ranks in this round; *total = flags in the round. */
    KVQ_HD int prefix_count(bool flag, int* total) const {
        *total = flag ? 1 : 0;
        return 0;
    }
    KVQ_HD void atomic_or(uint32_t* p, uint32_t v) const { *p |= v; }
    KVQ_HD void atomic_and(uint32_t* p, uint32_t v) const { *p &= v; }
    KVQ_HD void atomic_add(float* p, float v) const { *p += v; }
};

#ifdef __CUDACC__
/**
 * The thread block as a team. Reductions: a warp shuffle tree, then warp 0 combines the per-warp
 * results in warp order, so float sums are deterministic for a given block size. `scratch` is
 * 32 × 8 bytes of shared memory owned by the team.
 */
struct KvqBlockTeam {
    uint64_t* scratch;

    __device__ int rank() const { return threadIdx.x; }
    __device__ int size() const { return blockDim.x; }
    __device__ void sync() const { __syncthreads(); }

    template <class T, class Op>
    __device__ T reduce(T v, Op op) const {
        for (int o = 16; o > 0; o >>= 1) {
            v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
        }
        T* s = reinterpret_cast<T*>(scratch);
        int warps = (blockDim.x + 31) >> 5;
        __syncthreads();                              // scratch may still be read by a previous call
        if ((threadIdx.x & 31) == 0) {
            s[threadIdx.x >> 5] = v;
        }
        __syncthreads();
        T r = s[0];
        for (int i = 1; i < warps; i++) {
            r = op(r, s[i]);
        }
        return r;
    }
    __device__ uint64_t max_u64(uint64_t v) const {
        return reduce(v, [](uint64_t a, uint64_t b) { return a > b ? a : b; });
    }
    __device__ uint32_t max_u32(uint32_t v) const {
        return reduce(v, [](uint32_t a, uint32_t b) { return a > b ? a : b; });
    }
    __device__ int sum_i32(int v) const {
        return reduce(v, [](int a, int b) { return a + b; });
    }
    __device__ float sum_f32(float v) const {
        return reduce(v, [](float a, float b) { return a + b; });
    }
    __device__ float max_f32(float v) const {
        return reduce(v, [](float a, float b) { return fmaxf(a, b); });
    }
    __device__ int prefix_count(bool flag, int* total) const {
        unsigned ballot = __ballot_sync(0xffffffffu, flag);
        int lane = threadIdx.x & 31;
        int warp = threadIdx.x >> 5;
        int warps = (blockDim.x + 31) >> 5;
        int* s = reinterpret_cast<int*>(scratch);
        __syncthreads();
        if (lane == 0) {
            s[warp] = __popc(ballot);
        }
        __syncthreads();
        int before = 0;
        int all = 0;
        for (int i = 0; i < warps; i++) {
            int c = s[i];
            before += i < warp ? c : 0;
            all += c;
        }
        *total = all;
        return before + __popc(ballot & ((1u << lane) - 1u));
    }
    __device__ void atomic_or(uint32_t* p, uint32_t v) const { atomicOr(p, v); }
    __device__ void atomic_and(uint32_t* p, uint32_t v) const { atomicAnd(p, v); }
    __device__ void atomic_add(float* p, float v) const { atomicAdd(p, v); }
};
#endif
