// kvq_decode_entries.cuh: the __global__ wrappers of the decode families, as macros, so every instance
// of a family has exactly the parameters of its generic entry in kvq_kernels.cuh (the compiler checks
// the generic definition against that prototype). Included by kvq_decode*.cu only.
#pragma once

#include "kvq_decode.cuh"

#define KVQ_DECODE_PACKED_PARAMS_HEAD                                                                         \
    const unsigned char* __restrict__ pool, long long pageBytes, long long keyCodesOff, long long keyOutChannelOff, \
            long long keyOutValueOff, long long keyOutHeadEndOff, long long valueCodesOff, long long valueZeroOff, \
            long long valueScaleOff, long long valueOutChannelOff, long long valueOutValueOff,                \
            long long valueOutHeadEndOff, const int* __restrict__ pageTable, int maxPages, int poolPages,      \
            int pageTokens, const int* __restrict__ seqPacked, const int* __restrict__ seqSinks,               \
            const long long* __restrict__ seqFirstPos, int sinkCap, int windowCap,                             \
            const unsigned long long* __restrict__ seqSide,                                                   \
            const float* __restrict__ query, float scale, const float* __restrict__ keyTable,                  \
            const float* __restrict__ valueTable

#define KVQ_DECODE_PACKED_PARAMS_TAIL                                                                         \
    const float* __restrict__ invFreq, int pairing, int headDim, int kvHeads, int groupSize, int bits, int keySlots, \
            int valueSlots, float* __restrict__ partialOut, float* __restrict__ partialStats,                  \
            float* __restrict__ scores, int scoreStride, int* __restrict__ error

#define KVQ_DECODE_PACKED_PARAMS KVQ_DECODE_PACKED_PARAMS_HEAD, KVQ_DECODE_PACKED_PARAMS_TAIL

/** Copies the parameters every packed decode entry has into KvqDecodeArgs a (no width plan). */
#define KVQ_DECODE_PACKED_COPY(a)                                                                             \
    a.pool = pool; a.pageBytes = pageBytes; a.keyCodesOff = keyCodesOff;                                      \
    a.keyOutChannelOff = keyOutChannelOff; a.keyOutValueOff = keyOutValueOff;                                 \
    a.keyOutHeadEndOff = keyOutHeadEndOff; a.valueCodesOff = valueCodesOff; a.valueZeroOff = valueZeroOff;    \
    a.valueScaleOff = valueScaleOff; a.valueOutChannelOff = valueOutChannelOff;                               \
    a.valueOutValueOff = valueOutValueOff; a.valueOutHeadEndOff = valueOutHeadEndOff;                         \
    a.pageTable = pageTable; a.maxPages = maxPages; a.poolPages = poolPages; a.pageTokens = pageTokens;        \
    a.seqPacked = seqPacked; a.seqSinks = seqSinks; a.seqFirstPos = seqFirstPos; a.sinkCap = sinkCap;         \
    a.windowCap = windowCap; a.seqSide = seqSide; a.query = query;                                            \
    a.scale = scale; a.keyTable = keyTable; a.valueTable = valueTable; a.invFreq = invFreq;                   \
    a.pairing = pairing; a.headDim = headDim; a.kvHeads = kvHeads; a.groupSize = groupSize; a.bits = bits;    \
    a.keySlots = keySlots; a.valueSlots = valueSlots; a.widthPlan = nullptr; a.partialOut = partialOut;       \
    a.partialStats = partialStats; a.scores = scores; a.scoreStride = scoreStride; a.error = error;

/** A packed decode entry NAME running BODY(team, args, split, splits, h, seq, smem). */
#define KVQ_DECODE_PACKED_ENTRY(NAME, BODY)                                                                   \
    extern "C" __global__ void __launch_bounds__(KVQ_DECODE_THREADS, 2) NAME(KVQ_DECODE_PACKED_PARAMS) {     \
        extern __shared__ float4 kvq_smem4[];                                                                 \
        KvqDecodeArgs a;                                                                                      \
        KVQ_DECODE_PACKED_COPY(a)                                                                             \
        KvqDecodeBlockTeam team;                                                                              \
        BODY(team, a, blockIdx.x, gridDim.x, blockIdx.y, blockIdx.z, reinterpret_cast<float*>(kvq_smem4));    \
    }

/** kvq_decode_packed_b{B}_g{G}_d{D} and its shared-memory size constant. */
#define KVQ_DECODE_PACKED_INSTANCE(B, G, D)                                                                   \
    KVQ_DECODE_PACKED_ENTRY(kvq_decode_packed_b##B##_g##G##_d##D, (kvq_decode_packed_block<B, G, D>))         \
    extern "C" __constant__ unsigned kvq_decode_packed_b##B##_g##G##_d##D##_smem = KvqPackedShape<B, G, D>::BYTES;

#define KVQ_DECODE_PACKED_BITS(B)                                                                             \
    KVQ_DECODE_PACKED_INSTANCE(B, 1, 64) KVQ_DECODE_PACKED_INSTANCE(B, 2, 64)                                 \
    KVQ_DECODE_PACKED_INSTANCE(B, 4, 64) KVQ_DECODE_PACKED_INSTANCE(B, 8, 64)                                 \
    KVQ_DECODE_PACKED_INSTANCE(B, 1, 128) KVQ_DECODE_PACKED_INSTANCE(B, 2, 128)                               \
    KVQ_DECODE_PACKED_INSTANCE(B, 4, 128) KVQ_DECODE_PACKED_INSTANCE(B, 8, 128)                               \
    KVQ_DECODE_PACKED_INSTANCE(B, 1, 256) KVQ_DECODE_PACKED_INSTANCE(B, 2, 256)                               \
    KVQ_DECODE_PACKED_INSTANCE(B, 4, 256) KVQ_DECODE_PACKED_INSTANCE(B, 8, 256)

#define KVQ_DECODE_FP16_PARAMS                                                                                \
    const unsigned char* __restrict__ pool, long long pageBytes, long long keysOff, long long valuesOff,      \
            const int* __restrict__ pageTable, int maxPages, int poolPages, int pageTokens,                    \
            const int* __restrict__ seqTokens, const float* __restrict__ query, float scale, int headDim,      \
            int kvHeads, int groupSize, float* __restrict__ partialOut, float* __restrict__ partialStats,      \
            float* __restrict__ scores, int scoreStride, int* __restrict__ error

#define KVQ_DECODE_FP16_ENTRY(NAME, BODY)                                                                     \
    extern "C" __global__ void __launch_bounds__(KVQ_DECODE_THREADS, 2) NAME(KVQ_DECODE_FP16_PARAMS) {       \
        extern __shared__ float4 kvq_smem4[];                                                                 \
        KvqDecodeFp16Args a;                                                                                  \
        a.pool = pool; a.pageBytes = pageBytes; a.keysOff = keysOff; a.valuesOff = valuesOff;                 \
        a.pageTable = pageTable; a.maxPages = maxPages; a.poolPages = poolPages; a.pageTokens = pageTokens;    \
        a.seqTokens = seqTokens; a.query = query; a.scale = scale; a.headDim = headDim; a.kvHeads = kvHeads;  \
        a.groupSize = groupSize; a.partialOut = partialOut; a.partialStats = partialStats; a.scores = scores; \
        a.scoreStride = scoreStride; a.error = error;                                                         \
        KvqDecodeBlockTeam team;                                                                              \
        BODY(team, a, blockIdx.x, gridDim.x, blockIdx.y, blockIdx.z, reinterpret_cast<float*>(kvq_smem4));    \
    }

#define KVQ_DECODE_FP16_INSTANCE(G, D)                                                                        \
    KVQ_DECODE_FP16_ENTRY(kvq_decode_fp16_g##G##_d##D, (kvq_decode_fp16_block<G, D>))                         \
    extern "C" __constant__ unsigned kvq_decode_fp16_g##G##_d##D##_smem = KvqFp16Shape<G, D>::bytes(D);
