// kvq_decode.cu: the generic fused decode entries (kvq_decode_packed, kvq_decode_fp16), the
// specialized fp16 baselines kvq_decode_fp16_g{1,2,4,8}_d{64,128,256}, and the split merge (issue 15).
// Signatures, shapes and launch geometry: kvq_kernels.cuh; bodies: kvq_decode.cuh. The packed
// instances live in kvq_decode_b{2,3,4}.cu.

#include "kvq_decode_entries.cuh"

KVQ_DECODE_PACKED_ENTRY(kvq_decode_packed, kvq_decode_packed_generic_block)
KVQ_DECODE_FP16_ENTRY(kvq_decode_fp16, (kvq_decode_fp16_block<0, 0>))

// the generic entries' dynamic shared memory is fixed + per_d · d bytes (KernelSignatures mirrors it)
extern "C" __constant__ unsigned kvq_decode_packed_smem_fixed = kvq_decode_packed_generic_bytes(0);
extern "C" __constant__ unsigned kvq_decode_packed_smem_per_d = kvq_decode_packed_generic_bytes(1)
        - kvq_decode_packed_generic_bytes(0);
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
