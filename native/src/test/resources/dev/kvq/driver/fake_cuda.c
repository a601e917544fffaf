/*
 * A fake CUDA driver (libcuda.so.1) for tests on machines without a GPU. Compiled with gcc at
 * test time; -DFAKE_CUINIT_RESULT=n and -DFAKE_MEMALLOC_RESULT=n choose the variant. "Device
 * memory" is host memory from malloc, so copies through the Java layer can be checked for real.
 * fake_native_calls counts the memory calls, so tests can prove that misuse never reached here.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef FAKE_CUINIT_RESULT
#define FAKE_CUINIT_RESULT 0
#endif
#ifndef FAKE_MEMALLOC_RESULT
#define FAKE_MEMALLOC_RESULT 0
#endif

long fake_native_calls = 0;
long fake_frees = 0;

int cuInit(unsigned int flags) { (void) flags; return FAKE_CUINIT_RESULT; }
int cuDriverGetVersion(int *v) { *v = 13000; return 0; }
int cuDeviceGetCount(int *n) { *n = 1; return 0; }
int cuDeviceGet(int *d, int ordinal) { if (ordinal != 0) return 101; *d = 0; return 0; }
int cuDeviceGetName(char *name, int len, int dev) {
    (void) dev; strncpy(name, "kvq fake GPU", (size_t) len); name[len - 1] = 0; return 0;
}
int cuDeviceGetAttribute(int *pi, int attrib, int dev) {
    (void) dev;
    switch (attrib) {
        case 75: *pi = 9; break;    /* compute capability major */
        case 76: *pi = 0; break;    /* compute capability minor */
        case 16: *pi = 132; break;  /* multiprocessors */
        default: *pi = 0;
    }
    return 0;
}
int cuDeviceTotalMem_v2(size_t *bytes, int dev) { (void) dev; *bytes = (size_t) 141 << 30; return 0; }
int cuDevicePrimaryCtxRetain(void **ctx, int dev) { (void) dev; *ctx = (void *) 0x1000; return 0; }
int cuDevicePrimaryCtxRelease_v2(int dev) { (void) dev; return 0; }
int cuCtxSetCurrent(void *ctx) { (void) ctx; return 0; }

int cuMemAlloc_v2(uint64_t *dptr, size_t bytes) {
    fake_native_calls++;
    if (FAKE_MEMALLOC_RESULT != 0) return FAKE_MEMALLOC_RESULT;
    void *p = malloc(bytes);
    if (p == NULL) return 2;
    *dptr = (uint64_t) (uintptr_t) p;
    return 0;
}
int cuMemFree_v2(uint64_t dptr) { fake_native_calls++; fake_frees++; free((void *) (uintptr_t) dptr); return 0; }
int cuMemcpyHtoD_v2(uint64_t dst, const void *src, size_t n) {
    fake_native_calls++; memcpy((void *) (uintptr_t) dst, src, n); return 0;
}
int cuMemcpyDtoH_v2(void *dst, uint64_t src, size_t n) {
    fake_native_calls++; memcpy(dst, (const void *) (uintptr_t) src, n); return 0;
}
int cuMemcpyDtoD_v2(uint64_t dst, uint64_t src, size_t n) {
    fake_native_calls++; memmove((void *) (uintptr_t) dst, (const void *) (uintptr_t) src, n); return 0;
}
int cuMemsetD8_v2(uint64_t dst, unsigned char v, size_t n) {
    fake_native_calls++; memset((void *) (uintptr_t) dst, v, n); return 0;
}
int cuMemAllocHost_v2(void **pp, size_t bytes) { fake_native_calls++; *pp = malloc(bytes); return *pp ? 0 : 2; }
int cuMemFreeHost(void *p) { fake_native_calls++; fake_frees++; free(p); return 0; }

int cuGetErrorName(int error, const char **s) {
    switch (error) {
        case 0: *s = "CUDA_SUCCESS"; return 0;
        case 1: *s = "CUDA_ERROR_INVALID_VALUE"; return 0;
        case 2: *s = "CUDA_ERROR_OUT_OF_MEMORY"; return 0;
        case 100: *s = "CUDA_ERROR_NO_DEVICE"; return 0;
        default: *s = NULL; return 1;
    }
}
int cuGetErrorString(int error, const char **s) {
    switch (error) {
        case 2: *s = "out of memory"; return 0;
        case 100: *s = "no CUDA-capable device is detected"; return 0;
        default: *s = NULL; return 1;
    }
}
