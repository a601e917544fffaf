// emulated_cuda.cu: a CUDA driver (libcuda.so.1) that runs kvq's cache kernels on the host, so the
// Java CUDA engine (dev.kvq.engine.cuda) can be tested end to end
// on a machine without a GPU: the same launches, arguments, page tables, copies and error words as on
// a device, with the kernels' own bodies (kernels-cu/src/main/cuda/kvq_bodies.cuh) executed block by
// block by a one-thread team (KvqHostTeam), as the kernels' host emulation test does.
//
// "Device memory" is host memory, so device pointers are host pointers and copies are memcpy. Launches
// run synchronously; streams and events are bookkeeping (events record the host clock). Only the
// driver calls kvq makes are provided; kernelParams are unpacked in the order of kvq_kernels.cuh.
// Built by runtime/src/test/emulator/build.sh with nvcc (host compilation only).
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "kvq_append_v2.cuh"
#include "kvq_fiber_team.h"

namespace {

// What kvq asked of the driver, for the host-path checks (issue 15): read with kvq_emu_counters.
enum Counter : int {
    C_CALLS = 0,     // every driver entry point below, but the counters' own
    C_SYNCS,         // cuStreamSynchronize, cuCtxSynchronize, cuEventSynchronize and synchronous copies
    C_ALLOCS,        // cuMemAlloc_v2 and cuMemAllocHost_v2
    C_FREES,         // cuMemFree_v2 and cuMemFreeHost
    C_COPIES,        // copies (sync or async, either way)
    C_BYTES_UP,      // bytes copied host to device
    C_BYTES_DOWN,    // bytes copied device to host
    C_LAUNCHES,      // cuLaunchKernel
    C_COUNT
};
long long counters[C_COUNT] = {};
void count(Counter c, long long n = 1) { __atomic_fetch_add(&counters[c], n, __ATOMIC_RELAXED); }
/** One driver call (and what else it is). */
void call() { count(C_CALLS); }

std::mutex lock;
std::map<uintptr_t, size_t> allocations;
size_t allocated = 0;

/** The emulated device's memory: KVQ_EMULATED_GPU_MIB (MiB), 64 GiB by default; cuMemAlloc fails beyond it. */
size_t total_bytes() {
    static size_t total = [] {
        const char* v = std::getenv("KVQ_EMULATED_GPU_MIB");
        long long mib = v ? std::atoll(v) : 0;
        return mib > 0 ? (size_t) mib << 20 : (size_t) 64 << 30;
    }();
    return total;
}

/** Reads kernel parameters in declaration order: each kernelParams entry points at one value. */
struct Params {
    void** p;
    int i = 0;
    template <class T> T* ptr() { return *reinterpret_cast<T**>(p[i++]); }
    int i32() { return *reinterpret_cast<int*>(p[i++]); }
    long long i64() { return *reinterpret_cast<long long*>(p[i++]); }
    float f32() { return *reinterpret_cast<float*>(p[i++]); }
};

struct Function {
    std::string name;
    int maxDynamicShared = 48 * 1024;  // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
};

/**
 * CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN of the emulated device: KVQ_EMULATED_SHARED_OPTIN
 * (bytes), else sm_90's 227 KiB. Kernels have no static shared memory here, so all of it is dynamic.
 */
int shared_optin() {
    static int optin = [] {
        const char* v = std::getenv("KVQ_EMULATED_SHARED_OPTIN");
        int bytes = v ? std::atoi(v) : 0;
        return bytes > 0 ? bytes : 232448;
    }();
    return optin;
}

struct Event {
    double seconds = 0;
};

double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// ------------------------------------------------------------------ fused decode (fibers)
using kvq_fibers::FiberTeam;
using PackedBody = void (*)(const FiberTeam&, const KvqDecodeArgs&, int, int, int, int, float*);
using Fp16Body = void (*)(const FiberTeam&, const KvqDecodeFp16Args&, int, int, int, int, float*);

#define EMU_PACKED(B, G, D) {"kvq_decode_packed_b" #B "_g" #G "_d" #D, &kvq_decode_packed_block<B, G, D, FiberTeam>},
#define EMU_PACKED_BITS(B) EMU_PACKED(B, 1, 64) EMU_PACKED(B, 2, 64) EMU_PACKED(B, 4, 64) EMU_PACKED(B, 8, 64) \
    EMU_PACKED(B, 1, 128) EMU_PACKED(B, 2, 128) EMU_PACKED(B, 4, 128) EMU_PACKED(B, 8, 128)                   \
    EMU_PACKED(B, 1, 256) EMU_PACKED(B, 2, 256) EMU_PACKED(B, 4, 256) EMU_PACKED(B, 8, 256)
#define EMU_FP16(G, D) {"kvq_decode_fp16_g" #G "_d" #D, &kvq_decode_fp16_block<G, D, FiberTeam>},

/** The packed decode body of entry `name` (the generic kernel or one of the 36 instances); null if none. */
PackedBody packed_body(const std::string& name) {
    static const std::map<std::string, PackedBody> bodies = {
        {"kvq_decode_packed", &kvq_decode_packed_generic_block<false, FiberTeam>},
        {"kvq_decode_packed_groups", &kvq_decode_packed_generic_block<true, FiberTeam>},
        EMU_PACKED_BITS(2) EMU_PACKED_BITS(3) EMU_PACKED_BITS(4)
    };
    auto it = bodies.find(name);
    return it == bodies.end() ? nullptr : it->second;
}

/** The fp16 decode body of entry `name` (generic or one of the 12 instances); null if none. */
Fp16Body fp16_body(const std::string& name) {
    static const std::map<std::string, Fp16Body> bodies = {
        {"kvq_decode_fp16", &kvq_decode_fp16_block<0, 0, FiberTeam>},
        EMU_FP16(1, 64) EMU_FP16(2, 64) EMU_FP16(4, 64) EMU_FP16(8, 64) EMU_FP16(1, 128) EMU_FP16(2, 128)
        EMU_FP16(4, 128) EMU_FP16(8, 128) EMU_FP16(1, 256) EMU_FP16(2, 256) EMU_FP16(4, 256) EMU_FP16(8, 256)
    };
    auto it = bodies.find(name);
    return it == bodies.end() ? nullptr : it->second;
}

/** Runs every block (x, y, z) of a decode grid with `threads` fibers and `shared` bytes of shared memory. */
template <class F>
void run_decode_grid(unsigned threads, unsigned gx, unsigned gy, unsigned gz, unsigned shared, F body) {
    static kvq_fibers::FiberBlock* block = nullptr;  // stacks for 512 fibers: made once
    if (block == nullptr || block->size() != (int) threads) {
        delete block;
        block = new kvq_fibers::FiberBlock((int) threads);
    }
    std::vector<float> smem(shared / 4 + 4);
    for (unsigned z = 0; z < gz; z++)
        for (unsigned y = 0; y < gy; y++)
            for (unsigned x = 0; x < gx; x++) {
                std::fill(smem.begin(), smem.end(), NAN);  // a read of shared memory nobody wrote shows up
                kvq_fibers::run_block(*block, [&](const FiberTeam& t) { body(t, (int) x, (int) y, (int) z, smem.data()); });
            }
}

int launch(const std::string& name, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned shared,
           void** params) {
    KvqHostTeam team;
    std::vector<float> smem(shared / 4 + 1024);
    Params r{params};
    if (name == "kvq_rope_steps") {
        float2* steps = r.ptr<float2>();
        const float* invFreq = r.ptr<const float>();
        int halfDim = r.i32();
        for (int i = 0; i < halfDim; i++)
            for (int t = 0; t < KVQ_TILE; t++) kvq_rope_step(steps, invFreq, i, t);
        return 0;
    }
    if (name == "kvq_pack_keys") {
        KvqKeyPack a{};
        a.pool = r.ptr<unsigned char>(); a.pageBytes = r.i64(); a.keyCodesOff = r.i64();
        a.keyOutChannelOff = r.i64(); a.keyOutValueOff = r.i64();
        a.pageTable = r.ptr<const int>(); a.maxPages = r.i32(); a.poolPages = r.i32(); a.pageTokens = r.i32();
        a.keys = r.ptr<const float>(); a.tokenSeq = r.ptr<const int>(); a.tokenSlot = r.ptr<const int>();
        a.n = r.i32(); a.batch = r.i32();
        a.lo = r.ptr<const float>(); a.hi = r.ptr<const float>(); a.zero = r.ptr<const float>();
        a.scale = r.ptr<const float>(); a.keyMid = r.ptr<const float>(); a.keyTable = r.ptr<const float>();
        a.channels = r.i32(); a.bits = r.i32(); a.form = r.i32(); a.cap = r.i32(); a.keySlots = r.i32();
        a.keyOutCount = r.ptr<int>(); a.error = r.ptr<int>();
        std::vector<int> sel(2 * KVQ_MAX_CAP), sorted(2 * KVQ_MAX_CAP);
        for (unsigned b = 0; b < gx; b++)
            if ((int) b < a.n) kvq_pack_key_token(team, a, b, sel.data(), sorted.data());
        return 0;
    }
    if (name == "kvq_key_sparse_starts") {
        KvqKeyPack a{};
        a.pool = r.ptr<unsigned char>(); a.pageBytes = r.i64(); a.keyOutStartOff = r.i64();
        a.pageTable = r.ptr<const int>(); a.maxPages = r.i32(); a.poolPages = r.i32(); a.pageTokens = r.i32();
        a.tokenSeq = r.ptr<const int>(); a.tokenSlot = r.ptr<const int>(); a.keyOutCount = r.ptr<int>();
        a.n = r.i32(); a.batch = r.i32();
        int* seqKeyEntries = r.ptr<int>();
        a.error = r.ptr<int>();
        kvq_key_sparse_starts_seq(a, seqKeyEntries);  // the kernel's thread 0 of block 0
        return 0;
    }
    if (name == "kvq_key_sparse_entries") {
        KvqKeyPack a{};
        a.pool = r.ptr<unsigned char>(); a.pageBytes = r.i64(); a.keyOutStartOff = r.i64();
        a.pageTable = r.ptr<const int>(); a.maxPages = r.i32(); a.poolPages = r.i32(); a.pageTokens = r.i32();
        a.keys = r.ptr<const float>(); a.tokenSeq = r.ptr<const int>(); a.tokenSlot = r.ptr<const int>();
        a.n = r.i32(); a.batch = r.i32();
        a.lo = r.ptr<const float>(); a.hi = r.ptr<const float>(); a.zero = r.ptr<const float>();
        a.scale = r.ptr<const float>(); a.keyMid = r.ptr<const float>(); a.keyTable = r.ptr<const float>();
        a.channels = r.i32(); a.bits = r.i32(); a.form = KVQ_FORM_SPARSE;
        a.entryPool = r.ptr<unsigned char>(); a.keyChunkTable = r.ptr<const int>(); a.maxChunks = r.i32();
        a.poolChunks = r.i32(); a.error = r.ptr<int>();
        for (unsigned b = 0; b < gx; b++)
            if ((int) b < a.n) kvq_key_sparse_token(team, a, b);
        return 0;
    }
    if (name == "kvq_pack_values") {
        KvqValuePack a{};
        a.pool = r.ptr<unsigned char>(); a.pageBytes = r.i64(); a.valueCodesOff = r.i64(); a.valueZeroOff = r.i64();
        a.valueScaleOff = r.i64(); a.valueOutChannelOff = r.i64(); a.valueOutValueOff = r.i64();
        a.valueOutStartOff = r.i64();
        a.pageTable = r.ptr<const int>(); a.maxPages = r.i32(); a.poolPages = r.i32(); a.pageTokens = r.i32();
        a.values = r.ptr<const float>(); a.tokenSeq = r.ptr<const int>(); a.tokenSlot = r.ptr<const int>();
        a.n = r.i32(); a.batch = r.i32();
        a.valueMid = r.ptr<const float>(); a.valueTable = r.ptr<const float>();
        a.channels = r.i32(); a.headDim = r.i32(); a.bits = r.i32(); a.form = r.i32(); a.topK = r.i32();
        a.entryPool = r.ptr<unsigned char>(); a.valueChunkTable = r.ptr<const int>(); a.maxChunks = r.i32();
        a.poolChunks = r.i32(); a.error = r.ptr<int>();
        std::vector<int> sel(2 * KVQ_MAX_CAP), sorted(2 * KVQ_MAX_CAP);
        for (unsigned b = 0; b < gx; b++)
            if ((int) b < a.n) kvq_pack_value_token(team, a, b, sel.data(), sorted.data());
        return 0;
    }
    if (name == "kvq_sinks_append") {
        KvqRopeStore a{};
        uint16_t* sinks = r.ptr<uint16_t>();
        int sinkCap = r.i32();
        a.keys = r.ptr<const float>(); a.values = r.ptr<const float>(); a.tokenSeq = r.ptr<const int>();
        a.tokenSlot = r.ptr<const int>(); a.n = r.i32(); a.batch = r.i32(); a.seqFirstPos = r.ptr<const long long>();
        a.invFreq = r.ptr<const float>(); a.pairing = r.i32(); a.headDim = r.i32(); a.kvHeads = r.i32();
        a.error = r.ptr<int>();
        for (unsigned b = 0; b < gx; b++)
            if ((int) b < a.n) kvq_sink_token(team, a, sinks, sinkCap, b);
        return 0;
    }
    if (name == "kvq_fp16_append") {
        KvqRopeStore a{};
        unsigned char* pool = r.ptr<unsigned char>();
        long long pageBytes = r.i64();
        long long keysOff = r.i64();
        long long valuesOff = r.i64();
        const int* pageTable = r.ptr<const int>();
        int maxPages = r.i32();
        int poolPages = r.i32();
        int pageTokens = r.i32();
        a.keys = r.ptr<const float>(); a.values = r.ptr<const float>(); a.tokenSeq = r.ptr<const int>();
        a.tokenSlot = r.ptr<const int>(); a.n = r.i32(); a.batch = r.i32(); a.seqFirstPos = r.ptr<const long long>();
        a.invFreq = r.ptr<const float>(); a.pairing = r.i32(); a.headDim = r.i32(); a.kvHeads = r.i32();
        a.error = r.ptr<int>();
        for (unsigned b = 0; b < gx; b++)
            if ((int) b < a.n)
                kvq_fp16_append_token(team, a, pool, pageBytes, keysOff, valuesOff, pageTable, maxPages, poolPages,
                                      pageTokens, b);
        return 0;
    }
    if (name == "kvq_key_scores") {
        KvqStep a{};
        a.pool = r.ptr<const unsigned char>(); a.pageBytes = r.i64();
        a.keyCodesOff = r.i64(); a.keyOutChannelOff = r.i64(); a.keyOutValueOff = r.i64();
        a.pageTable = r.ptr<const int>(); a.maxPages = r.i32(); a.poolPages = r.i32(); a.pageTokens = r.i32();
        a.seqPacked = r.ptr<const int>(); a.seqSinks = r.ptr<const int>(); a.seqFirstPos = r.ptr<const long long>();
        a.sinkCap = r.i32(); a.sinks = r.ptr<const uint16_t>();
        a.query = r.ptr<const float>(); a.scale = r.f32(); a.keyTable = r.ptr<const float>();
        a.invFreq = r.ptr<const float>(); a.ropeSteps = r.ptr<const float2>(); a.pairing = r.i32();
        a.scores = r.ptr<float>(); a.scoreStride = r.i32(); a.headDim = r.i32(); a.kvHeads = r.i32();
        a.groupSize = r.i32(); a.bits = r.i32(); a.keySlots = r.i32(); a.error = r.ptr<int>();
        for (unsigned z = 0; z < gz; z++)
            for (unsigned y = 0; y < gy; y++)
                for (unsigned x = 0; x < gx; x++) kvq_key_scores_block(team, a, x, y, z, smem.data());
        return 0;
    }
    if (name == "kvq_key_scores_sparse") {
        KvqStep a{};
        a.pool = r.ptr<const unsigned char>(); a.pageBytes = r.i64(); a.keyOutStartOff = r.i64();
        a.pageTable = r.ptr<const int>(); a.maxPages = r.i32(); a.poolPages = r.i32(); a.pageTokens = r.i32();
        a.seqPacked = r.ptr<const int>(); a.seqSinks = r.ptr<const int>(); a.seqFirstPos = r.ptr<const long long>();
        a.sinkCap = r.i32(); a.query = r.ptr<const float>(); a.scale = r.f32(); a.invFreq = r.ptr<const float>();
        a.pairing = r.i32();
        a.entryPool = r.ptr<const unsigned char>(); a.keyChunkTable = r.ptr<const int>(); a.maxChunks = r.i32();
        a.poolChunks = r.i32();
        a.scores = r.ptr<float>(); a.scoreStride = r.i32(); a.headDim = r.i32(); a.kvHeads = r.i32();
        a.groupSize = r.i32(); a.error = r.ptr<int>();
        // one thread per (block, thread): global thread gt = blockIdx.x·blockDim.x + threadIdx.x
        for (unsigned y = 0; y < gy; y++)
            for (unsigned long long gt = 0; gt < (unsigned long long) gx * bx; gt++)
                kvq_key_sparse_thread(team, a, y, (long long) gt);
        return 0;
    }
    if (name == "kvq_value_sparse") {
        KvqStep a{};
        a.seqPacked = r.ptr<const int>(); a.seqSinks = r.ptr<const int>(); a.scores = r.ptr<float>();
        a.scoreStride = r.i32();
        a.entryPool = r.ptr<const unsigned char>(); a.valueChunkTable = r.ptr<const int>(); a.maxChunks = r.i32();
        a.poolChunks = r.i32(); a.valueSlots = r.i32(); a.out = r.ptr<float>(); a.headDim = r.i32();
        a.kvHeads = r.i32(); a.groupSize = r.i32(); a.error = r.ptr<int>();
        for (unsigned y = 0; y < gy; y++)
            for (unsigned long long gt = 0; gt < (unsigned long long) gx * bx; gt++)
                kvq_value_sparse_thread(team, a, y, (long long) gt);
        return 0;
    }
    if (name == "kvq_softmax") {
        float* scores = r.ptr<float>();
        const int* seqPacked = r.ptr<const int>();
        const int* seqSinks = r.ptr<const int>();
        int queryHeads = r.i32();
        int stride = r.i32();
        for (unsigned y = 0; y < gy; y++)
            for (unsigned x = 0; x < gx; x++)
                kvq_softmax_block(team, scores, seqPacked, seqSinks, queryHeads, stride, x, y);
        return 0;
    }
    if (name == "kvq_value_partials") {
        KvqStep a{};
        a.pool = r.ptr<const unsigned char>(); a.pageBytes = r.i64();
        a.valueCodesOff = r.i64(); a.valueZeroOff = r.i64(); a.valueScaleOff = r.i64();
        a.valueOutChannelOff = r.i64(); a.valueOutValueOff = r.i64();
        a.pageTable = r.ptr<const int>(); a.maxPages = r.i32(); a.poolPages = r.i32(); a.pageTokens = r.i32();
        a.seqPacked = r.ptr<const int>(); a.seqSinks = r.ptr<const int>();
        a.scores = r.ptr<float>(); a.scoreStride = r.i32(); a.valueTable = r.ptr<const float>();
        a.partials = r.ptr<float>(); a.maxTiles = r.i32(); a.headDim = r.i32(); a.kvHeads = r.i32();
        a.groupSize = r.i32(); a.bits = r.i32(); a.valueSlots = r.i32(); a.error = r.ptr<int>();
        for (unsigned z = 0; z < gz; z++)
            for (unsigned y = 0; y < gy; y++)
                for (unsigned x = 0; x < gx; x++) kvq_value_partials_block(team, a, x, y, z, smem.data());
        return 0;
    }
    if (name == "kvq_value_reduce") {
        KvqStep a{};
        a.partials = r.ptr<float>(); a.maxTiles = r.i32(); a.seqPacked = r.ptr<const int>();
        a.seqSinks = r.ptr<const int>(); a.sinkCap = r.i32(); a.sinks = r.ptr<const uint16_t>();
        a.scores = r.ptr<float>(); a.scoreStride = r.i32(); a.out = r.ptr<float>(); a.headDim = r.i32();
        a.kvHeads = r.i32(); a.groupSize = r.i32();
        for (unsigned y = 0; y < gy; y++)
            for (unsigned x = 0; x < gx; x++) kvq_value_reduce_block(team, a, x, y);
        return 0;
    }
    if (name == "kvq_fp16_key_scores") {
        KvqPlain a{};
        a.pool = r.ptr<const unsigned char>(); a.pageBytes = r.i64(); a.keysOff = r.i64();
        a.pageTable = r.ptr<const int>(); a.maxPages = r.i32(); a.poolPages = r.i32(); a.pageTokens = r.i32();
        a.seqTokens = r.ptr<const int>(); a.query = r.ptr<const float>(); a.scale = r.f32();
        a.scores = r.ptr<float>(); a.scoreStride = r.i32(); a.headDim = r.i32(); a.kvHeads = r.i32();
        a.groupSize = r.i32(); a.error = r.ptr<int>();
        for (unsigned z = 0; z < gz; z++)
            for (unsigned y = 0; y < gy; y++)
                for (unsigned x = 0; x < gx; x++) kvq_fp16_key_scores_block(team, a, x, y, z, smem.data());
        return 0;
    }
    if (name == "kvq_fp16_value_partials") {
        KvqPlain a{};
        a.pool = r.ptr<const unsigned char>(); a.pageBytes = r.i64(); a.valuesOff = r.i64();
        a.pageTable = r.ptr<const int>(); a.maxPages = r.i32(); a.poolPages = r.i32(); a.pageTokens = r.i32();
        a.seqTokens = r.ptr<const int>(); a.scores = r.ptr<float>(); a.scoreStride = r.i32();
        a.partials = r.ptr<float>(); a.maxTiles = r.i32(); a.headDim = r.i32(); a.kvHeads = r.i32();
        a.groupSize = r.i32(); a.error = r.ptr<int>();
        for (unsigned z = 0; z < gz; z++)
            for (unsigned y = 0; y < gy; y++)
                for (unsigned x = 0; x < gx; x++) kvq_fp16_value_partials_block(team, a, x, y, z, smem.data());
        return 0;
    }
    if (name == "kvq_pack_keys_v2") {
        KvqKeyPack a{};
        a.pool = r.ptr<unsigned char>(); a.pageBytes = r.i64(); a.keyCodesOff = r.i64();
        a.keyOutChannelOff = r.i64(); a.keyOutValueOff = r.i64();
        long long headEndOff = r.i64();
        a.pageTable = r.ptr<const int>(); a.maxPages = r.i32(); a.poolPages = r.i32(); a.pageTokens = r.i32();
        a.keys = r.ptr<const float>(); a.tokenSeq = r.ptr<const int>(); a.tokenSlot = r.ptr<const int>();
        a.n = r.i32(); a.batch = r.i32();
        a.lo = r.ptr<const float>(); a.hi = r.ptr<const float>(); a.zero = r.ptr<const float>();
        a.scale = r.ptr<const float>(); a.keyMid = r.ptr<const float>(); a.keyMidStride = r.i32();
        a.keyTable = r.ptr<const float>();
        int headDim = r.i32(); int kvHeads = r.i32();
        a.bits = r.i32(); int keyWords = r.i32(); int pairing = r.i32();
        a.form = r.i32(); a.cap = r.i32(); a.keySlots = r.i32();
        const int* widthPlan = r.ptr<const int>();
        a.error = r.ptr<int>();
        a.channels = headDim * kvHeads;
        if (!kvq_pack_keys_v2_shape_ok(a.channels, headDim, kvHeads, a.bits, keyWords, a.form, a.keySlots,
                                       a.keyMidStride, widthPlan)) {
            kvq_fail(a.error, KVQ_ERR_SHAPE);  // the kernel's own entry check
            return 0;
        }
        if (widthPlan != nullptr) {
            a.keyEntries = KVQ_WP_ENTRIES;
            a.keyWidth = widthPlan + kvq_wp_offset(KVQ_WP_KEY_WIDTH, kvHeads, headDim);
        }
        std::vector<int> sel(2 * KVQ_MAX_CAP), sorted(2 * KVQ_MAX_CAP);
        for (unsigned b = 0; b < gx; b++)
            if ((int) b < a.n)
                kvq_pack_key_token_v2(team, a, headEndOff, headDim, kvHeads, keyWords, pairing, widthPlan, b,
                                      sel.data(), sorted.data());
        return 0;
    }
    if (name == "kvq_pack_values_v2") {
        KvqValuePack a{};
        a.pool = r.ptr<unsigned char>(); a.pageBytes = r.i64(); a.valueCodesOff = r.i64(); a.valueZeroOff = r.i64();
        a.valueScaleOff = r.i64(); a.valueOutChannelOff = r.i64(); a.valueOutValueOff = r.i64();
        long long headEndOff = r.i64();
        a.pageTable = r.ptr<const int>(); a.maxPages = r.i32(); a.poolPages = r.i32(); a.pageTokens = r.i32();
        a.values = r.ptr<const float>(); a.tokenSeq = r.ptr<const int>(); a.tokenSlot = r.ptr<const int>();
        a.n = r.i32(); a.batch = r.i32();
        a.valueMid = r.ptr<const float>(); a.valueTable = r.ptr<const float>();
        a.headDim = r.i32(); int kvHeads = r.i32(); a.bits = r.i32(); a.form = r.i32(); a.topK = r.i32();
        a.plan = r.ptr<const int>(); a.error = r.ptr<int>();
        a.channels = a.headDim * kvHeads;
        if (a.form == KVQ_FORM_SPARSE || (a.topK > 0 && 2 * (a.topK - 1) > KVQ_V2_MAX_SLOTS)) {
            kvq_fail(a.error, KVQ_ERR_SHAPE);
            return 0;
        }
        std::vector<int> sel(2 * KVQ_MAX_CAP), sorted(2 * KVQ_MAX_CAP);
        for (unsigned b = 0; b < gx; b++)
            if ((int) b < a.n) kvq_pack_value_token_v2(team, a, headEndOff, kvHeads, b, sel.data(), sorted.data());
        return 0;
    }
    if (name == "kvq_side_append") {
        KvqRopeStore a{};
        uint16_t* side = r.ptr<uint16_t>();
        int sinkCap = r.i32();
        int windowCap = r.i32();
        a.keys = r.ptr<const float>(); a.values = r.ptr<const float>(); a.tokenSeq = r.ptr<const int>();
        a.tokenSlot = r.ptr<const int>(); a.n = r.i32(); a.batch = r.i32(); a.seqFirstPos = r.ptr<const long long>();
        a.invFreq = r.ptr<const float>(); a.pairing = r.i32(); a.headDim = r.i32(); a.kvHeads = r.i32();
        a.error = r.ptr<int>();
        for (unsigned b = 0; b < gx; b++)
            if ((int) b < a.n) kvq_side_token(team, a, side, sinkCap, windowCap, b);
        return 0;
    }
    if (name.rfind("kvq_decode_packed", 0) == 0) {
        auto body = packed_body(name);
        if (body == nullptr) {
            std::fprintf(stderr, "emulated_cuda: no packed decode instance %s\n", name.c_str());
            return 500;
        }
        KvqDecodeArgs a{};
        a.pool = r.ptr<const unsigned char>(); a.pageBytes = r.i64();
        a.keyCodesOff = r.i64(); a.keyOutChannelOff = r.i64(); a.keyOutValueOff = r.i64(); a.keyOutHeadEndOff = r.i64();
        a.valueCodesOff = r.i64(); a.valueZeroOff = r.i64(); a.valueScaleOff = r.i64();
        a.valueOutChannelOff = r.i64(); a.valueOutValueOff = r.i64(); a.valueOutHeadEndOff = r.i64();
        a.pageTable = r.ptr<const int>(); a.maxPages = r.i32(); a.poolPages = r.i32(); a.pageTokens = r.i32();
        a.seqPacked = r.ptr<const int>(); a.seqSinks = r.ptr<const int>(); a.seqFirstPos = r.ptr<const long long>();
        a.sinkCap = r.i32(); a.windowCap = r.i32(); a.seqSide = r.ptr<const unsigned long long>();
        a.query = r.ptr<const float>(); a.scale = r.f32(); a.keyTable = r.ptr<const float>();
        a.valueTable = r.ptr<const float>();
        a.widthPlan = name == "kvq_decode_packed_groups" ? r.ptr<const int>() : nullptr;
        a.invFreq = r.ptr<const float>(); a.pairing = r.i32();
        a.headDim = r.i32(); a.kvHeads = r.i32(); a.groupSize = r.i32(); a.bits = r.i32(); a.keySlots = r.i32();
        a.valueSlots = r.i32(); a.partialOut = r.ptr<float>(); a.partialStats = r.ptr<float>();
        a.scores = r.ptr<float>(); a.scoreStride = r.i32(); a.error = r.ptr<int>();
        run_decode_grid(bx, gx, gy, gz, shared, [&](const kvq_fibers::FiberTeam& t, int x, int y, int z, float* sm) {
            body(t, a, x, (int) gx, y, z, sm);
        });
        return 0;
    }
    if (name.rfind("kvq_decode_fp16", 0) == 0) {
        auto body = fp16_body(name);
        if (body == nullptr) {
            std::fprintf(stderr, "emulated_cuda: no fp16 decode instance %s\n", name.c_str());
            return 500;
        }
        KvqDecodeFp16Args a{};
        a.pool = r.ptr<const unsigned char>(); a.pageBytes = r.i64(); a.keysOff = r.i64(); a.valuesOff = r.i64();
        a.pageTable = r.ptr<const int>(); a.maxPages = r.i32(); a.poolPages = r.i32(); a.pageTokens = r.i32();
        a.seqTokens = r.ptr<const int>(); a.query = r.ptr<const float>(); a.scale = r.f32(); a.headDim = r.i32();
        a.kvHeads = r.i32(); a.groupSize = r.i32(); a.partialOut = r.ptr<float>(); a.partialStats = r.ptr<float>();
        a.scores = r.ptr<float>(); a.scoreStride = r.i32(); a.error = r.ptr<int>();
        run_decode_grid(bx, gx, gy, gz, shared, [&](const kvq_fibers::FiberTeam& t, int x, int y, int z, float* sm) {
            body(t, a, x, (int) gx, y, z, sm);
        });
        return 0;
    }
    if (name == "kvq_decode_merge") {
        const float* partialOut = r.ptr<const float>();
        const float* partialStats = r.ptr<const float>();
        int splits = r.i32();
        float* out = r.ptr<float>();
        int headDim = r.i32();
        int queryHeads = r.i32();
        int* error = r.ptr<int>();
        for (unsigned y = 0; y < gy; y++)
            for (unsigned x = 0; x < gx; x++)
                kvq_decode_merge_row(0, 1, partialOut, partialStats, splits, out, headDim, queryHeads, x, y, error);
        return 0;
    }
    std::fprintf(stderr, "emulated_cuda: no host emulation of kernel %s\n", name.c_str());
    return 500;  // CUDA_ERROR_NOT_FOUND
}

int copy_up(uint64_t dst, const void* src, size_t n) {
    count(C_COPIES); count(C_BYTES_UP, (long long) n);
    std::memcpy((void*) (uintptr_t) dst, src, n);
    return 0;
}
int copy_down(void* dst, uint64_t src, size_t n) {
    count(C_COPIES); count(C_BYTES_DOWN, (long long) n);
    std::memcpy(dst, (const void*) (uintptr_t) src, n);
    return 0;
}
int copy_within(uint64_t dst, uint64_t src, size_t n) {
    count(C_COPIES);
    std::memmove((void*) (uintptr_t) dst, (const void*) (uintptr_t) src, n);
    return 0;
}

}  // namespace

// ------------------------------------------------------------------ stream capture and graphs
// A capturing stream records its kernel launches and async copies instead of running them; a graph replays the
// record in order. Unlike a GPU, which copies kernel arguments at capture time, a recorded launch keeps the
// caller's argument block and reads it at each replay: kvq never changes a captured block (a graph is captured
// anew when an argument would change), so both behave alike for kvq, and a kvq change that broke that rule
// would show up in the graph tests only on a GPU.
struct Op {
    enum Kind { LAUNCH, UP, DOWN, WITHIN } kind;
    std::string name;   // LAUNCH
    unsigned gx = 0, gy = 0, gz = 0, bx = 0, shared = 0;
    void** params = nullptr;
    uint64_t dst = 0, src = 0;   // copies: device addresses or host pointers
    size_t n = 0;
};
struct Graph {
    std::vector<Op> ops;
};
std::map<void*, Graph*> capturing;   // stream → its capture (guarded by `lock`)

/** The capture `stream` is recording, or null. */
Graph* capture_of(void* stream) {
    std::lock_guard<std::mutex> g(lock);
    auto it = capturing.find(stream);
    return it == capturing.end() ? nullptr : it->second;
}

/** Runs one recorded op. */
int replay(const Op& op) {
    switch (op.kind) {
        case Op::LAUNCH: count(C_LAUNCHES); return launch(op.name, op.gx, op.gy, op.gz, op.bx, op.shared, op.params);
        case Op::UP: return copy_up(op.dst, (const void*) (uintptr_t) op.src, op.n);
        case Op::DOWN: return copy_down((void*) (uintptr_t) op.dst, op.src, op.n);
        case Op::WITHIN: return copy_within(op.dst, op.src, op.n);
    }
    return 1;
}

#define API extern "C" __attribute__((visibility("default")))

API int cuInit(unsigned int) { call(); return 0; }
API int cuDriverGetVersion(int* v) { call(); *v = 13000; return 0; }
API int cuDeviceGetCount(int* n) { call(); *n = 1; return 0; }
API int cuDeviceGet(int* d, int ordinal) { call(); if (ordinal != 0) return 101; *d = 0; return 0; }
API int cuDeviceGetName(char* name, int len, int) { call();
    std::strncpy(name, "kvq emulated GPU (host)", (size_t) len);
    name[len - 1] = 0;
    return 0;
}
API int cuDeviceGetAttribute(int* pi, int attrib, int) { call();
    switch (attrib) {
        case 75: *pi = 9; break;    // compute capability major
        case 76: *pi = 0; break;    // compute capability minor
        case 16: *pi = 1; break;    // multiprocessors
        case 97: *pi = shared_optin(); break;  // max shared memory per block with opt-in
        default: *pi = 0;
    }
    return 0;
}
API int cuDeviceTotalMem_v2(size_t* bytes, int) { call(); *bytes = total_bytes(); return 0; }
API int cuDevicePrimaryCtxRetain(void** ctx, int) { call(); *ctx = (void*) 0x1000; return 0; }
API int cuDevicePrimaryCtxRelease_v2(int) { call(); return 0; }
API int cuCtxSetCurrent(void*) { call(); return 0; }
API int cuCtxSynchronize() { call(); count(C_SYNCS); return 0; }
API int cuMemGetInfo_v2(size_t* free, size_t* total) { call();
    std::lock_guard<std::mutex> g(lock);
    *total = total_bytes();
    *free = total_bytes() - allocated;
    return 0;
}
API int cuMemAlloc_v2(uint64_t* dptr, size_t bytes) { call(); count(C_ALLOCS);
    std::lock_guard<std::mutex> g(lock);
    if (bytes > total_bytes() - allocated) return 2;  // CUDA_ERROR_OUT_OF_MEMORY
    void* p = std::malloc(bytes);
    if (p == nullptr) return 2;
    allocations[(uintptr_t) p] = bytes;
    allocated += bytes;
    *dptr = (uint64_t) (uintptr_t) p;
    return 0;
}
API int cuMemFree_v2(uint64_t dptr) { call(); count(C_FREES);
    std::lock_guard<std::mutex> g(lock);
    auto it = allocations.find((uintptr_t) dptr);
    if (it == allocations.end()) return 1;  // CUDA_ERROR_INVALID_VALUE: not ours, or freed twice
    allocated -= it->second;
    allocations.erase(it);
    std::free((void*) (uintptr_t) dptr);
    return 0;
}
API int cuMemAllocHost_v2(void** p, size_t bytes) { call(); count(C_ALLOCS); *p = std::malloc(bytes); return *p ? 0 : 2; }
API int cuMemFreeHost(void* p) { call(); count(C_FREES); std::free(p); return 0; }
// A synchronous copy waits for the device: it counts as a synchronization as well.
API int cuMemcpyHtoD_v2(uint64_t dst, const void* src, size_t n) { call(); count(C_SYNCS); return copy_up(dst, src, n); }
API int cuMemcpyDtoH_v2(void* dst, uint64_t src, size_t n) { call(); count(C_SYNCS); return copy_down(dst, src, n); }
API int cuMemcpyDtoD_v2(uint64_t dst, uint64_t src, size_t n) { call(); count(C_SYNCS); return copy_within(dst, src, n); }
API int cuMemcpyHtoDAsync_v2(uint64_t dst, const void* src, size_t n, void* s) { call();
    if (Graph* g = capture_of(s)) { g->ops.push_back({Op::UP, "", 0, 0, 0, 0, 0, nullptr, dst, (uint64_t) (uintptr_t) src, n}); return 0; }
    return copy_up(dst, src, n);
}
API int cuMemcpyDtoHAsync_v2(void* dst, uint64_t src, size_t n, void* s) { call();
    if (Graph* g = capture_of(s)) { g->ops.push_back({Op::DOWN, "", 0, 0, 0, 0, 0, nullptr, (uint64_t) (uintptr_t) dst, src, n}); return 0; }
    return copy_down(dst, src, n);
}
API int cuMemcpyDtoDAsync_v2(uint64_t dst, uint64_t src, size_t n, void* s) { call();
    if (Graph* g = capture_of(s)) { g->ops.push_back({Op::WITHIN, "", 0, 0, 0, 0, 0, nullptr, dst, src, n}); return 0; }
    return copy_within(dst, src, n);
}
API int cuMemsetD8_v2(uint64_t dst, unsigned char v, size_t n) { call(); std::memset((void*) (uintptr_t) dst, v, n); return 0; }
API int cuStreamCreate(void** s, unsigned int) { call(); *s = new int(0); return 0; }
API int cuStreamDestroy_v2(void* s) { call(); delete (int*) s; return 0; }
API int cuStreamSynchronize(void* s) { call();
    if (capture_of(s) != nullptr) return 900;   // CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED: a capture cannot wait
    count(C_SYNCS);
    return 0;
}
API int cuStreamBeginCapture_v2(void* s, int) { call();
    std::lock_guard<std::mutex> g(lock);
    if (s == nullptr || capturing.count(s) != 0) return 1;   // the legacy stream, or a capture already running
    capturing[s] = new Graph();
    return 0;
}
API int cuStreamEndCapture(void* s, void** graph) { call();
    std::lock_guard<std::mutex> g(lock);
    auto it = capturing.find(s);
    if (it == capturing.end()) return 1;
    *graph = it->second;
    capturing.erase(it);
    return 0;
}
API int cuGraphInstantiateWithFlags(void** exec, void* graph, unsigned long long) { call();
    *exec = new Graph(*(Graph*) graph);
    return 0;
}
API int cuGraphLaunch(void* exec, void* s) { call();
    if (capture_of(s) != nullptr) return 1;   // not emulated: a graph inside a capture
    for (const Op& op : ((Graph*) exec)->ops) {
        int rc = replay(op);
        if (rc != 0) return rc;
    }
    return 0;
}
API int cuGraphExecDestroy(void* exec) { call(); delete (Graph*) exec; return 0; }
API int cuGraphDestroy(void* graph) { call(); delete (Graph*) graph; return 0; }
API int cuEventCreate(void** e, unsigned int) { call(); *e = new Event(); return 0; }
API int cuEventDestroy_v2(void* e) { call(); delete (Event*) e; return 0; }
API int cuEventRecord(void* e, void*) { call(); ((Event*) e)->seconds = now(); return 0; }
API int cuEventSynchronize(void*) { call(); count(C_SYNCS); return 0; }
API int cuEventElapsedTime_v2(float* ms, void* start, void* end) { call();
    *ms = (float) ((((Event*) end)->seconds - ((Event*) start)->seconds) * 1e3);
    return 0;
}
API int cuModuleLoadDataEx(void** module, const void*, unsigned int, void*, void*) { call(); *module = new int(0); return 0; }
API int cuModuleUnload(void* m) { call(); delete (int*) m; return 0; }
API int cuModuleGetFunction(void** f, void*, const char* name) { call(); *f = new Function{name}; return 0; }
API int cuFuncGetAttribute(int* v, int attrib, void* f) { call();
    switch (attrib) {
        case 0: *v = 1024; break;                                        // max threads per block
        case 1: *v = 0; break;                                           // static shared bytes
        case 8: *v = ((Function*) f)->maxDynamicShared; break;           // max dynamic shared bytes
        default: *v = 32;
    }
    return 0;
}
// Like the driver: only the dynamic shared memory limit is emulated; above the opt-in maximum it is refused.
API int cuFuncSetAttribute(void* f, int attrib, int value) { call();
    if (attrib != 8) return 1;                        // CUDA_ERROR_INVALID_VALUE: not emulated
    if (value < 0 || value > shared_optin()) return 1;
    ((Function*) f)->maxDynamicShared = value;
    return 0;
}
API int cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                       unsigned shared, void* stream, void** params, void**) {
    call();
    if (bx * by * bz == 0 || gx * gy * gz == 0) return 1;
    // a launch above the function's dynamic shared memory limit fails on a GPU; so it does here
    if ((int) shared > ((Function*) f)->maxDynamicShared) {
        std::fprintf(stderr, "emulated_cuda: %s launched with %u bytes of dynamic shared memory, limit %d\n",
                     ((Function*) f)->name.c_str(), shared, ((Function*) f)->maxDynamicShared);
        return 1;
    }
    if (Graph* g = capture_of(stream)) {
        Op op{Op::LAUNCH, ((Function*) f)->name, gx, gy, gz, bx, shared, params, 0, 0, 0};
        g->ops.push_back(op);
        return 0;
    }
    count(C_LAUNCHES);
    return launch(((Function*) f)->name, gx, gy, gz, bx, shared, params);
}
API int cuProfilerStart() { call(); return 0; }
API int cuProfilerStop() { call(); return 0; }
API int cuGetErrorName(int code, const char** s) { call();
    switch (code) {
        case 0: *s = "CUDA_SUCCESS"; return 0;
        case 1: *s = "CUDA_ERROR_INVALID_VALUE"; return 0;
        case 2: *s = "CUDA_ERROR_OUT_OF_MEMORY"; return 0;
        case 500: *s = "CUDA_ERROR_NOT_FOUND"; return 0;
        case 900: *s = "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED"; return 0;
        default: *s = nullptr; return 1;
    }
}
API int cuGetErrorString(int code, const char** s) { call();
    switch (code) {
        case 2: *s = "out of memory"; return 0;
        default: *s = nullptr; return 1;
    }
}

/**
 * The emulated driver's counters (not a CUDA entry point): out[0..7] = driver calls, synchronizations
 * (stream, context, event, and synchronous copies), allocations (device and pinned host), frees, copies,
 * bytes copied host to device, bytes copied device to host, kernel launches, since the library was loaded.
 * Returns how many it wrote (at most `n`).
 */
API int kvq_emu_counters(long long* out, int n) {
    int k = n < C_COUNT ? n : C_COUNT;
    for (int i = 0; i < k; i++) out[i] = __atomic_load_n(&counters[i], __ATOMIC_RELAXED);
    return k;
}
