// kvq_decode.cu: the generic fused decode entries (kvq_decode_packed, kvq_decode_packed_groups for width
// plans, kvq_decode_fp16), the specialized fp16 baselines kvq_decode_fp16_g{1,2,4,8}_d{64,128,256}, and
// the split merge (issue 15).
// Signatures, shapes and launch geometry: kvq_kernels.cuh; bodies: kvq_decode.cuh. The packed
// instances live in kvq_decode_b{2,3,4}.cu.

#include "kvq_decode_entries.cuh"

KVQ_DECODE_PACKED_ENTRY(kvq_decode_packed, (kvq_decode_packed_generic_block<false>))

// the generic kernel over a width plan (mixed code widths, kvq_layout_v2.cuh): the packed parameters with the
// plan after the tables
extern "C" __global__ void __launch_bounds__(KVQ_DECODE_THREADS, 2) kvq_decode_packed_groups(
        KVQ_DECODE_PACKED_PARAMS_HEAD, const int* __restrict__ widthPlan, KVQ_DECODE_PACKED_PARAMS_TAIL) {
    extern __shared__ float4 kvq_smem4[];
    KvqDecodeArgs a;
    KVQ_DECODE_PACKED_COPY(a)
    a.widthPlan = widthPlan;
    KvqDecodeBlockTeam team;
    kvq_decode_packed_generic_block<true>(team, a, blockIdx.x, gridDim.x, blockIdx.y, blockIdx.z,
                                          reinterpret_cast<float*>(kvq_smem4));
}
KVQ_DECODE_FP16_ENTRY(kvq_decode_fp16, (kvq_decode_fp16_block<0, 0>))

// the generic entries' dynamic shared memory is fixed + per_d · d bytes (KernelSignatures mirrors it)
extern "C" __constant__ unsigned kvq_decode_packed_smem_fixed = kvq_decode_packed_generic_bytes(0);
extern "C" __constant__ unsigned kvq_decode_packed_smem_per_d = kvq_decode_packed_generic_bytes(1)
        - kvq_decode_packed_generic_bytes(0);
extern "C" __constant__ unsigned kvq_decode_packed_groups_smem_fixed = kvq_decode_packed_groups_bytes(0);
extern "C" __constant__ unsigned kvq_decode_packed_groups_smem_per_d = (kvq_decode_packed_groups_bytes(2)
        - kvq_decode_packed_groups_bytes(0)) / 2;  // d is even: the plan's d/2 pairs are linear in d
extern "C" __constant__ unsigned kvq_decode_fp16_smem_fixed = KvqFp16Shape<0, 0>::bytes(0);
extern "C" __constant__ unsigned kvq_decode_fp16_smem_per_d = KvqFp16Shape<0, 0>::bytes(1) - KvqFp16Shape<0, 0>::bytes(0);

KVQ_DECODE_FP16_INSTANCE(1, 64) KVQ_DECODE_FP16_INSTANCE(2, 64) KVQ_DECODE_FP16_INSTANCE(4, 64)
KVQ_DECODE_FP16_INSTANCE(8, 64) KVQ_DECODE_FP16_INSTANCE(1, 128) KVQ_DECODE_FP16_INSTANCE(2, 128)
KVQ_DECODE_FP16_INSTANCE(4, 128) KVQ_DECODE_FP16_INSTANCE(8, 128) KVQ_DECODE_FP16_INSTANCE(1, 256)
KVQ_DECODE_FP16_INSTANCE(2, 256) KVQ_DECODE_FP16_INSTANCE(4, 256) KVQ_DECODE_FP16_INSTANCE(8, 256)

extern "C" __global__ void __launch_bounds__(KVQ_MERGE_THREADS) kvq_decode_merge(
        const float* __restrict__ partialOut,      // [B][Hq][splits][d]
        const float* __restrict__ partialStats,    // [B][Hq][splits][2]
        int splits,                                // splits of the decode launch
        float* __restrict__ out,                   // [B][Hq][d], written
        int headDim,                               // d
        int queryHeads,                            // Hq
        int* __restrict__ error)                   // [1] first KVQ_ERR_* code (KVQ_ERR_OVERFLOW), or null
{
    kvq_decode_merge_row(threadIdx.x, blockDim.x, partialOut, partialStats, splits, out, headDim, queryHeads,
                         blockIdx.x, blockIdx.y, error);
}
