// kvq_host_test.cu: runs the kernel bodies of kvq_bodies.cuh on the host, block by block, with a
// one-thread team (KvqHostTeam), so the packing and decode-step logic can be checked against the
// Java CPU implementation on a machine without a GPU. Driven by dev.kvq.it.kernels.KernelHostEmulationTest:
//
//   kvq_host_test <input> <output>
//
// Both files are lists of tagged arrays: u8 name length, name, u8 type (0 i32, 1 f32, 2 i64, 3 u8),
// i64 count, little-endian data. The input's "task" (i32) selects what to run:
//   1  fp16 conversions: "floats" → "halves" (kvq_f2h_soft); "halfBits" → "halfFloats" (kvq_h2f_soft)
//   2  RoPE: "positions" i64 [m], "freqs" f32 [m] → "cos","sin" (kvq_rope_cos_sin) and
//      "tileCos","tileSin": cos/sin as the key-score kernel applies them (query rotated by the fp64
//      tile base, key by the fp32 step table)
//   3  nuq cache: the sinks, then every sequence's packed tokens (one batched launch, then one-token
//      decode launches), then one decode step: "sinksOut", "pool", "pageTable", "scores", "out", "error"
//   4  fp16 baseline: append every token, then one decode step: "pool", "pageTable", "scores", "out"
// With "threaded" (i32) = 1, tasks 3 and 4 run every block as its kernel's block size of host threads.
//   5  quantization rules: "x" with "mid" → "codes" (kvq_nearest); "kx","kz","ks" → "normalized"
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kvq_bodies.cuh"

namespace {

// ------------------------------------------------------------------ threaded blocks
// With "threaded" = 1 every block runs as blockDim real host threads (the kernels' block sizes),
// with barriers, shared reductions and atomics, so the parallel decomposition (items per thread,
// cross-lane sums, prefix counts, atomics between threads) is exercised too. Reductions combine in
// rank order, so float sums may differ from the GPU's shuffle tree in the last bits.

/** The shared state of one emulated block: a reusable barrier and reduction slots. */
struct ThreadBlock {
    int size = 0;
    std::mutex m;
    std::condition_variable cv;
    int arrived = 0;
    long generation = 0;
    std::vector<uint64_t> u64 = std::vector<uint64_t>(1024);
    std::vector<float> f32 = std::vector<float>(1024);
    std::vector<int> i32 = std::vector<int>(1024);

    void barrier() {
        std::unique_lock<std::mutex> lock(m);
        long gen = generation;
        if (++arrived == size) {
            arrived = 0;
            generation++;
            cv.notify_all();
        } else {
            cv.wait(lock, [&] { return generation != gen; });
        }
    }
};

/** One host thread of an emulated block. Host only; __host__ __device__ so the bodies type-check. */
struct KvqThreadTeam {
    ThreadBlock* b;
    int r;
    KVQ_HD int rank() const { return r; }
    KVQ_HD int size() const { return b->size; }
    KVQ_HD void sync() const {
#ifndef __CUDA_ARCH__
        b->barrier();
#endif
    }
    template <class T, class Op>
    KVQ_HD T reduce(std::vector<T>& slots, T v, Op op) const {
#ifndef __CUDA_ARCH__
        b->barrier();  // the previous reduction's readers are done with the slots
        slots[r] = v;
        b->barrier();
        T acc = slots[0];
        for (int i = 1; i < b->size; i++) acc = op(acc, slots[i]);
        return acc;
#else
        return v;
#endif
    }
    KVQ_HD uint64_t max_u64(uint64_t v) const {
        return reduce(b->u64, v, [](uint64_t x, uint64_t y) { return x > y ? x : y; });
    }
    KVQ_HD uint32_t max_u32(uint32_t v) const {
        return (uint32_t) reduce(b->u64, (uint64_t) v, [](uint64_t x, uint64_t y) { return x > y ? x : y; });
    }
    KVQ_HD int sum_i32(int v) const { return reduce(b->i32, v, [](int x, int y) { return x + y; }); }
    KVQ_HD float sum_f32(float v) const { return reduce(b->f32, v, [](float x, float y) { return x + y; }); }
    KVQ_HD float max_f32(float v) const { return reduce(b->f32, v, [](float x, float y) { return fmaxf(x, y); }); }
    KVQ_HD int prefix_count(bool flag, int* total) const {
#ifndef __CUDA_ARCH__
        b->barrier();
        b->i32[r] = flag ? 1 : 0;
        b->barrier();
        int before = 0;
        int all = 0;
        for (int i = 0; i < b->size; i++) {
            before += i < r ? b->i32[i] : 0;
            all += b->i32[i];
        }
        *total = all;
        return before;
#else
        return 0;
#endif
    }
    KVQ_HD void atomic_or(uint32_t* p, uint32_t v) const {
#ifndef __CUDA_ARCH__
        __atomic_fetch_or(p, v, __ATOMIC_RELAXED);
#endif
    }
    KVQ_HD void atomic_and(uint32_t* p, uint32_t v) const {
#ifndef __CUDA_ARCH__
        __atomic_fetch_and(p, v, __ATOMIC_RELAXED);
#endif
    }
    KVQ_HD void atomic_add(float* p, float v) const {
#ifndef __CUDA_ARCH__
        uint32_t* bits = reinterpret_cast<uint32_t*>(p);
        uint32_t old = __atomic_load_n(bits, __ATOMIC_RELAXED);
        for (;;) {
            float sum = kvq_bits_float(old) + v;
            if (__atomic_compare_exchange_n(bits, &old, kvq_float_bits(sum), false, __ATOMIC_RELAXED,
                                            __ATOMIC_RELAXED)) {
                break;
            }
        }
#endif
    }
};

bool g_threaded = false;

/** Runs `body(team)` as one block: a one-thread host team, or blockSize real threads. */
template <class F>
void launch(int blockSize, F body) {
    if (!g_threaded) {
        KvqHostTeam team;
        body(team);
        return;
    }
    ThreadBlock block;
    block.size = blockSize;
    std::vector<std::thread> threads;
    threads.reserve(blockSize);
    for (int r = 0; r < blockSize; r++) {
        threads.emplace_back([&block, &body, r] {
            KvqThreadTeam team{&block, r};
            body(team);
        });
    }
    for (auto& t : threads) t.join();
}

struct Array {
    int type = 0;
    std::vector<unsigned char> bytes;
    template <class T> T* as() { return reinterpret_cast<T*>(bytes.data()); }
    template <class T> size_t count() const { return bytes.size() / sizeof(T); }
};

using Arrays = std::map<std::string, Array>;

[[noreturn]] void die(const std::string& why) {
    std::fprintf(stderr, "kvq_host_test: %s\n", why.c_str());
    std::exit(2);
}

Arrays read_arrays(const char* path) {
    FILE* f = std::fopen(path, "rb");
    if (!f) die(std::string("cannot open ") + path);
    Arrays out;
    for (;;) {
        unsigned char len;
        if (std::fread(&len, 1, 1, f) != 1) break;
        std::string name(len, '\0');
        unsigned char type;
        long long count;
        if (std::fread(&name[0], 1, len, f) != len || std::fread(&type, 1, 1, f) != 1
            || std::fread(&count, 8, 1, f) != 1) die("truncated header in " + std::string(path));
        size_t size = type == 3 ? 1 : (type == 2 ? 8 : 4);
        Array a;
        a.type = type;
        a.bytes.resize((size_t) count * size);
        if (count > 0 && std::fread(a.bytes.data(), 1, a.bytes.size(), f) != a.bytes.size()) die("truncated " + name);
        out[name] = std::move(a);
    }
    std::fclose(f);
    return out;
}

void write_array(FILE* f, const std::string& name, int type, const void* data, long long count) {
    unsigned char len = (unsigned char) name.size();
    unsigned char t = (unsigned char) type;
    size_t size = type == 3 ? 1 : (type == 2 ? 8 : 4);
    std::fwrite(&len, 1, 1, f);
    std::fwrite(name.data(), 1, len, f);
    std::fwrite(&t, 1, 1, f);
    std::fwrite(&count, 8, 1, f);
    std::fwrite(data, size, (size_t) count, f);
}

Array& need(Arrays& in, const char* name) {
    auto it = in.find(name);
    if (it == in.end()) die(std::string("input has no array '") + name + "'");
    return it->second;
}
int geti(Arrays& in, const char* name) { return need(in, name).as<int>()[0]; }

void fp16_task(Arrays& in, FILE* out) {
    Array& fl = need(in, "floats");
    size_t n = fl.count<float>();
    std::vector<int> halves(n);
    for (size_t i = 0; i < n; i++) halves[i] = kvq_f2h_soft(fl.as<float>()[i]);
    write_array(out, "halves", 0, halves.data(), (long long) n);
    Array& hb = need(in, "halfBits");
    size_t m = hb.count<int>();
    std::vector<float> fs(m);
    for (size_t i = 0; i < m; i++) fs[i] = kvq_h2f_soft((uint16_t) hb.as<int>()[i]);
    write_array(out, "halfFloats", 1, fs.data(), (long long) m);
}

void rules_task(Arrays& in, FILE* out) {
    Array& x = need(in, "x");
    Array& mid = need(in, "mid");
    size_t n = x.count<float>();
    std::vector<int> codes(n);
    for (size_t i = 0; i < n; i++) codes[i] = kvq_nearest(x.as<float>()[i], mid.as<float>(), (int) mid.count<float>());
    write_array(out, "codes", 0, codes.data(), (long long) n);
    Array& kx = need(in, "kx");
    Array& kz = need(in, "kz");
    Array& ks = need(in, "ks");
    size_t m = kx.count<float>();
    std::vector<float> u(m);
    for (size_t i = 0; i < m; i++) u[i] = kvq_key_normalize(kx.as<float>()[i], kz.as<float>()[i], ks.as<float>()[i]);
    write_array(out, "normalized", 1, u.data(), (long long) m);
}

void rope_task(Arrays& in, FILE* out) {
    Array& pos = need(in, "positions");
    Array& fr = need(in, "freqs");
    size_t m = pos.count<long long>();
    std::vector<float> c(m), s(m), tc(m), ts(m);
    std::vector<float2> steps(KVQ_TILE);
    for (size_t k = 0; k < m; k++) {
        long long p = pos.as<long long>()[k];
        float w = fr.as<float>()[k];
        kvq_rope_cos_sin(p, w, &c[k], &s[k]);
        // the key-score kernel's path: the query rotated back by the tile's fp64 base angle, the key
        // rotated by the fp32 step table; with k = (1, 0) and q = (1, 0) or (0, 1) the score is cos or sin
        long long tileStart = p - p % KVQ_TILE;
        int r = (int) (p - tileStart);
        float bc, bs, qj, qp;
        kvq_rope_cos_sin(tileStart, w, &bc, &bs);
        kvq_rope_step(steps.data(), &w, 0, r);
        kvq_rotate_query(1.0f, 0.0f, bc, bs, &qj, &qp);
        tc[k] = kvq_pair_score(1.0f, 0.0f, qj, qp, steps[r].x, steps[r].y, 0.0f);
        kvq_rotate_query(0.0f, 1.0f, bc, bs, &qj, &qp);
        ts[k] = kvq_pair_score(1.0f, 0.0f, qj, qp, steps[r].x, steps[r].y, 0.0f);
    }
    write_array(out, "cos", 1, c.data(), (long long) m);
    write_array(out, "sin", 1, s.data(), (long long) m);
    write_array(out, "tileCos", 1, tc.data(), (long long) m);
    write_array(out, "tileSin", 1, ts.data(), (long long) m);
}

struct Geometry {
    int batch, channels, headDim, kvHeads, groupSize, queryHeads, bits, pageTokens, sinkCap, form, cap, keySlots,
        topK, valueSlots, pairing;
    long long pageBytes;
    std::vector<long long> off;  // part offsets, see offsetNames
    std::vector<int> tokens;     // [B] tokens per sequence (sinks included)
    std::vector<long long> firstPos;
};

// "offsets" holds the PageLayout part offsets in this order: keyCodes, valueCodes, valueZero, valueScale,
// keyOutChannel, keyOutValue, valueOutChannel, valueOutValue, keyOutStart, valueOutStart, keys, values
// (-1 for a part the layout lacks).

Geometry geometry(Arrays& in) {
    Geometry g;
    g.batch = geti(in, "batch");
    g.channels = geti(in, "channels");
    g.headDim = geti(in, "headDim");
    g.kvHeads = geti(in, "kvHeads");
    g.groupSize = geti(in, "groupSize");
    g.queryHeads = g.kvHeads * g.groupSize;
    g.bits = geti(in, "bits");
    g.pageTokens = geti(in, "pageTokens");
    g.sinkCap = geti(in, "sinkCap");
    g.form = geti(in, "form");
    g.cap = geti(in, "cap");
    g.keySlots = geti(in, "keySlots");
    g.topK = geti(in, "topK");
    g.valueSlots = geti(in, "valueSlots");
    g.pairing = geti(in, "pairing");
    g.pageBytes = need(in, "pageBytes").as<long long>()[0];
    Array& o = need(in, "offsets");
    g.off.assign(o.as<long long>(), o.as<long long>() + 12);
    Array& t = need(in, "seqTokens");
    g.tokens.assign(t.as<int>(), t.as<int>() + g.batch);
    Array& fp = need(in, "firstPos");
    g.firstPos.assign(fp.as<long long>(), fp.as<long long>() + g.batch);
    return g;
}

/** Pages of all sequences interleaved and in reverse, so the page table is no identity map. */
void build_pages(const Geometry& g, const std::vector<int>& packed, int& maxPages, std::vector<int>& table,
                 int& poolPages) {
    maxPages = 1;
    std::vector<int> pages(g.batch);
    for (int s = 0; s < g.batch; s++) {
        pages[s] = (packed[s] + g.pageTokens - 1) / g.pageTokens;
        maxPages = std::max(maxPages, pages[s]);
    }
    table.assign((size_t) g.batch * maxPages, -1);
    poolPages = 0;
    for (int k = 0; k < maxPages; k++) {
        for (int s = 0; s < g.batch; s++) {
            if (k < pages[s]) table[(size_t) s * maxPages + k] = poolPages++;
        }
    }
    for (int& v : table) {
        if (v >= 0) v = poolPages - 1 - v;
    }
}

void decode_step(const Geometry& g, Arrays& in, KvqStep& a, const std::vector<int>& packed,
                 const std::vector<int>& sinks, FILE* out, bool plain, const unsigned char* valuePool) {
    int maxPacked = 0;
    for (int s = 0; s < g.batch; s++) maxPacked = std::max(maxPacked, packed[s]);
    int stride = maxPacked + g.sinkCap + 3;
    std::vector<float> scores((size_t) g.batch * g.queryHeads * stride, 0.0f);
    int maxTiles = std::max(1, (maxPacked + KVQ_VTILE - 1) / KVQ_VTILE);
    std::vector<float> partials((size_t) g.batch * g.queryHeads * maxTiles * g.headDim, 0.0f);
    std::vector<float> result((size_t) g.batch * g.queryHeads * g.headDim, 0.0f);
    a.scores = scores.data();
    a.scoreStride = stride;
    a.partials = partials.data();
    a.maxTiles = maxTiles;
    a.out = result.data();
    KvqHostTeam team;
    std::vector<float> smem(1 << 20);
    if (!plain) {
        std::vector<float2> steps((size_t) g.headDim / 2 * KVQ_TILE);
        for (int i = 0; i < g.headDim / 2; i++)
            for (int r = 0; r < KVQ_TILE; r++) kvq_rope_step(steps.data(), a.invFreq, i, r);
        a.ropeSteps = steps.data();
        int tiles = std::max(1, (maxPacked + KVQ_TILE - 1) / KVQ_TILE);
        for (int s = 0; s < g.batch; s++)
            for (int h = 0; h < g.kvHeads; h++)
                for (int t = 0; t < tiles; t++)
                    launch(KVQ_TILE, [&](auto& tm) { kvq_key_scores_block(tm, a, t, h, s, smem.data()); });
        if (g.form == KVQ_FORM_SPARSE) {
            // every entry-thread of the balanced kernel (threads past the end return at once)
            long long maxThreads = (long long) maxPacked * g.channels / KVQ_SPARSE_PER_THREAD + 1;
            for (int s = 0; s < g.batch; s++)
                for (long long t = 0; t < maxThreads; t++) kvq_key_sparse_thread(team, a, s, t);
        }
        write_array(out, "scores", 1, scores.data(), (long long) scores.size());
        for (int s = 0; s < g.batch; s++)
            for (int q = 0; q < g.queryHeads; q++)
                launch(256, [&](auto& tm) {
                    kvq_softmax_block(tm, scores.data(), packed.data(), sinks.data(), g.queryHeads, stride, q, s);
                });
        int vtiles = maxTiles;
        for (int s = 0; s < g.batch; s++)
            for (int h = 0; h < g.kvHeads; h++)
                for (int t = 0; t < vtiles; t++)
                    launch(256, [&](auto& tm) { kvq_value_partials_block(tm, a, t, h, s, smem.data()); });
    } else {
        KvqPlain p{};
        p.pool = a.pool; p.pageBytes = a.pageBytes; p.keysOff = g.off[10]; p.valuesOff = g.off[11];
        p.pageTable = a.pageTable; p.maxPages = a.maxPages; p.poolPages = a.poolPages; p.pageTokens = a.pageTokens;
        p.seqTokens = packed.data(); p.query = a.query; p.scale = a.scale; p.scores = scores.data();
        p.scoreStride = stride; p.partials = partials.data(); p.maxTiles = maxTiles; p.headDim = g.headDim;
        p.kvHeads = g.kvHeads; p.groupSize = g.groupSize; p.error = a.error;
        int tiles = std::max(1, (maxPacked + 2 * KVQ_TILE - 1) / (2 * KVQ_TILE));
        for (int s = 0; s < g.batch; s++)
            for (int h = 0; h < g.kvHeads; h++)
                for (int t = 0; t < tiles; t++)
                    launch(KVQ_TILE, [&](auto& tm) { kvq_fp16_key_scores_block(tm, p, t, h, s, smem.data()); });
        write_array(out, "scores", 1, scores.data(), (long long) scores.size());
        for (int s = 0; s < g.batch; s++)
            for (int q = 0; q < g.queryHeads; q++)
                launch(256, [&](auto& tm) {
                    kvq_softmax_block(tm, scores.data(), packed.data(), sinks.data(), g.queryHeads, stride, q, s);
                });
        for (int s = 0; s < g.batch; s++)
            for (int h = 0; h < g.kvHeads; h++)
                for (int t = 0; t < maxTiles; t++)
                    launch(256, [&](auto& tm) { kvq_fp16_value_partials_block(tm, p, t, h, s, smem.data()); });
    }
    for (int s = 0; s < g.batch; s++)
        for (int q = 0; q < g.queryHeads; q++)
            launch(g.headDim, [&](auto& tm) { kvq_value_reduce_block(tm, a, q, s); });
    if (!plain && g.form == KVQ_FORM_SPARSE) {
        a.entryPool = valuePool;
        long long maxThreads = (long long) maxPacked * g.valueSlots / KVQ_SPARSE_PER_THREAD + 1;
        for (int s = 0; s < g.batch; s++)
            for (long long t = 0; t < maxThreads; t++) kvq_value_sparse_thread(team, a, s, t);
    }
    write_array(out, "weights", 1, scores.data(), (long long) scores.size());
    write_array(out, "out", 1, result.data(), (long long) result.size());
    write_array(out, "scoreStride", 0, &stride, 1);
}

void cache_task(Arrays& in, FILE* out, bool plain) {
    Geometry g = geometry(in);
    int d = g.channels;
    std::vector<int> packed(g.batch), sinks(g.batch);
    for (int s = 0; s < g.batch; s++) {
        sinks[s] = std::min(g.tokens[s], g.sinkCap);
        packed[s] = g.tokens[s] - sinks[s];
    }
    int maxPages, poolPages;
    std::vector<int> table;
    std::vector<unsigned char> pool;
    build_pages(g, packed, maxPages, table, poolPages);
    pool.assign((size_t) poolPages * g.pageBytes, 0);
    if (in.count("poisonPage")) {
        table[0] = poolPages + 5;  // a page the pool does not have: must be reported, not followed
    }
    int error = 0;
    const float* keys = need(in, "keys").as<float>();
    const float* values = need(in, "values").as<float>();
    std::vector<long long> rowOf(g.batch, 0);  // the token rows of each sequence in keys/values [Σ tokens][D]
    for (int s = 1; s < g.batch; s++) rowOf[s] = rowOf[s - 1] + g.tokens[s - 1];
    KvqRopeStore rs{};
    rs.keys = keys; rs.values = values; rs.batch = g.batch; rs.seqFirstPos = g.firstPos.data();
    rs.invFreq = need(in, "invFreq").as<float>(); rs.pairing = g.pairing; rs.headDim = g.headDim;
    rs.kvHeads = g.kvHeads; rs.error = &error;
    std::vector<uint16_t> sinkBuf((size_t) g.batch * 2 * g.sinkCap * d, 0);
    {
        // one launch over every sink token / every fp16 token, tokens addressed by their rows
        std::vector<int> seq, slot;
        for (int s = 0; s < g.batch; s++)
            for (int i = 0; i < (plain ? packed[s] : sinks[s]); i++) {
                seq.push_back(s);
                slot.push_back(i);
            }
        for (size_t t = 0; t < seq.size(); t++) {
            // the launch's token t is row rowOf[seq] + slot of the inputs: point the store at that row
            KvqRopeStore one = rs;
            one.keys = keys + (rowOf[seq[t]] + slot[t]) * d;
            one.values = values + (rowOf[seq[t]] + slot[t]) * d;
            one.tokenSeq = &seq[t];
            one.tokenSlot = &slot[t];
            one.n = 1;
            if (plain) {
                launch(128, [&](auto& tm) {
                    kvq_fp16_append_token(tm, one, pool.data(), g.pageBytes, g.off[10], g.off[11], table.data(),
                                          maxPages, poolPages, g.pageTokens, 0);
                });
            } else {
                launch(128, [&](auto& tm) { kvq_sink_token(tm, one, sinkBuf.data(), g.sinkCap, 0); });
            }
        }
    }
    if (!plain) {
        write_array(out, "sinksOut", 0, sinkBuf.data(), (long long) (sinkBuf.size() / 2));
    }
    std::vector<int> seqKeyEntries(g.batch, 0);
    int chunksPerSeq = 0;
    std::vector<unsigned char> keyChunks, valueChunks;
    std::vector<int> keyChunkTable, valueChunkTable;
    if (g.form == KVQ_FORM_SPARSE) {
        int maxPacked = 0;
        for (int s = 0; s < g.batch; s++) maxPacked = std::max(maxPacked, packed[s]);
        long long most = (long long) maxPacked * d;
        chunksPerSeq = (int) (most / KVQ_CHUNK + 1);
        keyChunks.assign((size_t) g.batch * chunksPerSeq * KVQ_CHUNK * 4, 0);
        valueChunks.assign(keyChunks.size(), 0);
        for (int s = 0; s < g.batch; s++)
            for (int k = 0; k < chunksPerSeq; k++) {
                // reversed, so the chunk table is no identity map either
                keyChunkTable.push_back(g.batch * chunksPerSeq - 1 - (s * chunksPerSeq + k));
                valueChunkTable.push_back(s * chunksPerSeq + k);
            }
    }
    std::vector<int> sel(2 * KVQ_MAX_CAP), sorted(2 * KVQ_MAX_CAP);
    if (!plain) {
        const int decodeTail = 3;  // the last packed tokens of each sequence arrive one launch at a time
        for (int round = 0; round <= decodeTail; round++) {
            std::vector<int> seq, slot;
            std::vector<float> k, v;
            for (int s = 0; s < g.batch; s++) {
                int bulk = std::max(0, packed[s] - decodeTail);
                int from = round == 0 ? 0 : bulk + round - 1;
                int to = round == 0 ? bulk : std::min(packed[s], bulk + round);
                for (int i = from; i < to; i++) {
                    seq.push_back(s);
                    slot.push_back(i);
                    const float* kr = keys + (rowOf[s] + sinks[s] + i) * d;
                    const float* vr = values + (rowOf[s] + sinks[s] + i) * d;
                    k.insert(k.end(), kr, kr + d);
                    v.insert(v.end(), vr, vr + d);
                }
            }
            int n = (int) seq.size();
            if (n == 0) continue;
            KvqKeyPack kp{};
            kp.pool = pool.data(); kp.pageBytes = g.pageBytes; kp.keyCodesOff = g.off[0];
            kp.keyOutChannelOff = g.off[4]; kp.keyOutValueOff = g.off[5]; kp.keyOutStartOff = g.off[8];
            kp.pageTable = table.data(); kp.maxPages = maxPages; kp.poolPages = poolPages; kp.pageTokens = g.pageTokens;
            kp.keys = k.data(); kp.tokenSeq = seq.data(); kp.tokenSlot = slot.data(); kp.n = n; kp.batch = g.batch;
            kp.lo = need(in, "lo").as<float>(); kp.hi = need(in, "hi").as<float>();
            kp.zero = need(in, "zero").as<float>(); kp.scale = need(in, "scale").as<float>();
            kp.keyMid = need(in, "keyMid").as<float>(); kp.keyTable = need(in, "keyTable").as<float>();
            kp.channels = d; kp.bits = g.bits; kp.form = g.form; kp.cap = g.cap; kp.keySlots = g.keySlots;
            std::vector<int> counts(n, 0);
            kp.keyOutCount = counts.data();
            kp.entryPool = keyChunks.data(); kp.keyChunkTable = keyChunkTable.data(); kp.maxChunks = chunksPerSeq;
            kp.poolChunks = g.batch * chunksPerSeq; kp.error = &error;
            for (int t = 0; t < n; t++)
                launch(KVQ_PACK_THREADS, [&](auto& tm) { kvq_pack_key_token(tm, kp, t, sel.data(), sorted.data()); });
            if (g.form == KVQ_FORM_SPARSE) {
                kvq_key_sparse_starts_seq(kp, seqKeyEntries.data());
                for (int t = 0; t < n; t++)
                    launch(KVQ_PACK_THREADS, [&](auto& tm) { kvq_key_sparse_token(tm, kp, t); });
            }
            KvqValuePack vp{};
            vp.pool = pool.data(); vp.pageBytes = g.pageBytes; vp.valueCodesOff = g.off[1]; vp.valueZeroOff = g.off[2];
            vp.valueScaleOff = g.off[3]; vp.valueOutChannelOff = g.off[6]; vp.valueOutValueOff = g.off[7];
            vp.valueOutStartOff = g.off[9];
            vp.pageTable = table.data(); vp.maxPages = maxPages; vp.poolPages = poolPages; vp.pageTokens = g.pageTokens;
            vp.values = v.data(); vp.tokenSeq = seq.data(); vp.tokenSlot = slot.data(); vp.n = n; vp.batch = g.batch;
            vp.valueMid = need(in, "valueMid").as<float>(); vp.valueTable = need(in, "valueTable").as<float>();
            vp.channels = d; vp.headDim = g.headDim; vp.bits = g.bits; vp.form = g.form; vp.topK = g.topK;
            vp.entryPool = valueChunks.data(); vp.valueChunkTable = valueChunkTable.data(); vp.maxChunks = chunksPerSeq;
            vp.poolChunks = g.batch * chunksPerSeq; vp.error = &error;
            for (int t = 0; t < n; t++)
                launch(KVQ_PACK_THREADS, [&](auto& tm) { kvq_pack_value_token(tm, vp, t, sel.data(), sorted.data()); });
        }
    }
    write_array(out, "pool", 3, pool.data(), (long long) pool.size());
    write_array(out, "pageTable", 0, table.data(), (long long) table.size());
    write_array(out, "maxPages", 0, &maxPages, 1);
    KvqStep a{};
    a.pool = pool.data(); a.pageBytes = g.pageBytes;
    a.keyCodesOff = g.off[0]; a.valueCodesOff = g.off[1]; a.valueZeroOff = g.off[2]; a.valueScaleOff = g.off[3];
    a.keyOutChannelOff = g.off[4]; a.keyOutValueOff = g.off[5]; a.valueOutChannelOff = g.off[6];
    a.valueOutValueOff = g.off[7]; a.keyOutStartOff = g.off[8];
    a.pageTable = table.data(); a.maxPages = maxPages; a.poolPages = poolPages; a.pageTokens = g.pageTokens;
    a.seqPacked = packed.data(); a.seqSinks = sinks.data(); a.seqFirstPos = g.firstPos.data(); a.sinkCap = g.sinkCap;
    a.sinks = g.sinkCap > 0 ? sinkBuf.data() : nullptr;
    a.query = need(in, "query").as<float>();
    a.scale = need(in, "scale1").as<float>()[0];
    if (!plain) {
        a.keyTable = need(in, "keyTable").as<float>();
        a.invFreq = need(in, "invFreq").as<float>();
        a.valueTable = need(in, "valueTable").as<float>();
    }
    a.pairing = g.pairing; a.headDim = g.headDim; a.kvHeads = g.kvHeads; a.groupSize = g.groupSize; a.bits = g.bits;
    a.keySlots = g.form == KVQ_FORM_FIXED ? g.keySlots : 0;
    a.valueSlots = g.form == KVQ_FORM_NONE ? 0 : g.valueSlots;
    a.entryPool = nullptr;
    a.error = &error;
    if (g.form == KVQ_FORM_SPARSE) {
        // keys and values have their own chunk pools here (one launch each, like the kernels)
        a.entryPool = keyChunks.data();
        a.keyChunkTable = keyChunkTable.data();
        a.valueChunkTable = valueChunkTable.data();
        a.maxChunks = chunksPerSeq;
        a.poolChunks = g.batch * chunksPerSeq;
    }
    decode_step(g, in, a, packed, sinks, out, plain, valueChunks.data());
    write_array(out, "error", 0, &error, 1);
    if (g.form == KVQ_FORM_SPARSE) {
        write_array(out, "seqKeyEntries", 0, seqKeyEntries.data(), g.batch);
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) die("usage: kvq_host_test <input> <output>");
    Arrays in = read_arrays(argv[1]);
    FILE* out = std::fopen(argv[2], "wb");
    if (!out) die(std::string("cannot write ") + argv[2]);
    int task = geti(in, "task");
    g_threaded = in.count("threaded") && geti(in, "threaded") != 0;
    switch (task) {
        case 1: fp16_task(in, out); break;
        case 2: rope_task(in, out); break;
        case 3: cache_task(in, out, false); break;
        case 4: cache_task(in, out, true); break;
        case 5: rules_task(in, out); break;
        default: die("unknown task " + std::to_string(task));
    }
    std::fclose(out);
    return 0;
}
