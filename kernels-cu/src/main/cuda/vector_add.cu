// vector_add: out[i] = a[i] + b[i] for i in [0, n).
//
// The smoke-test kernel of the driver layer: it proves that committed PTX loads through
// cuModuleLoadDataEx, that its entry point keeps an unmangled name (extern "C") and that
// the typed launch marshals pointers and ints in the order the kernel declares them.
// Launch: 1-D grid, any block size; blocks * threads >= n (a grid-stride loop covers the rest).

extern "C" __global__ void vector_add(
        const float* __restrict__ a,   // [n] fp32, device memory, read only
        const float* __restrict__ b,   // [n] fp32, device memory, read only
        float* __restrict__ out,       // [n] fp32, device memory, written; may not alias a or b
        int n)                         // element count, n >= 0
{
    // grid-stride loop, so a capped grid still covers any n
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        out[i] = a[i] + b[i];
    }
}
