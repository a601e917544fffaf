// kvq_decode_b4.cu: the specialized 4-bit packed decode instances kvq_decode_packed_b4_g{1,2,4,8}_d{64,128,256}
// (issue 15). Signature: kvq_decode_packed in kvq_kernels.cuh; body: kvq_decode.cuh.

#include "kvq_decode_entries.cuh"

KVQ_DECODE_PACKED_BITS(4)
