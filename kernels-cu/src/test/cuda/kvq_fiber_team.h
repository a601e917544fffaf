// kvq_fiber_team.h: runs a CUDA block of the decode kernels on the host with every thread as a fiber
// (ucontext), so the kernel bodies of kvq_decode.cuh execute as written: per-thread code, block
// barriers, __syncwarp, warp shuffles and butterfly reductions, shared-memory atomics. All fibers of
// a block run on the calling OS thread, round robin, switching only at barriers; that makes runs
// deterministic and lets a barrier that not every thread reaches be reported (it would hang a GPU)
// instead of hanging. Reductions reproduce the GPU's xor butterfly order, so every lane of a group
// ends with the same bits, as on the device.
#pragma once

#include <ucontext.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

#include "kvq_decode.cuh"

namespace kvq_fibers {

/** One emulated block: blockDim fibers, their stacks, the barrier state and the lanes' exchange slots. */
class FiberBlock {
  public:
    static constexpr size_t STACK = 256 * 1024;  // the bodies keep small arrays; the host build is unoptimized-ish
    static constexpr int SLOTS = 64;             // floats per lane for shuffles and reductions

    explicit FiberBlock(int threads) : size_(threads) {
        if (threads <= 0 || threads % 32 != 0) {
            std::fprintf(stderr, "kvq_fibers: a block must be whole warps, got %d threads\n", threads);
            std::exit(3);
        }
        stacks_.resize((size_t) threads * STACK);
        ctx_.resize(threads);
        done_.assign(threads, 0);
        warpGen_.assign(threads / 32, 0);
        warpArrived_.assign(threads / 32, 0);
        slots_.assign((size_t) threads * SLOTS, 0.0f);
        islots_.assign(threads, 0);
    }

    /** Runs body(rank) for every thread of one block to completion. */
    void run(const std::function<void(int)>& body) {
        body_ = &body;
        std::fill(done_.begin(), done_.end(), 0);
        std::fill(warpArrived_.begin(), warpArrived_.end(), 0);
        blockArrived_ = 0;
        for (int r = 0; r < size_; r++) {
            getcontext(&ctx_[r]);
            ctx_[r].uc_stack.ss_sp = stacks_.data() + (size_t) r * STACK;
            ctx_[r].uc_stack.ss_size = STACK;
            ctx_[r].uc_link = &sched_;
            makecontext(&ctx_[r], reinterpret_cast<void (*)()>(&FiberBlock::entry), 2,
                        (int) (reinterpret_cast<uintptr_t>(this) & 0xffffffffu),
                        (int) (reinterpret_cast<uintptr_t>(this) >> 32));
        }
        int remaining = size_;
        live_ = size_;
        long idle = 0;  // consecutive switches without a barrier release or a finished thread
        while (remaining > 0) {
            for (int r = 0; r < size_; r++) {
                if (done_[r]) {
                    continue;
                }
                long before = progress_;
                current_ = r;
                swapcontext(&sched_, &ctx_[r]);
                if (finished_) {
                    finished_ = false;
                    done_[r] = 1;
                    remaining--;
                    live_--;
                    progress_++;
                    if (blockArrived_ > 0 && blockArrived_ == live_) {  // exited threads do not hold a barrier
                        blockArrived_ = 0;
                        blockGen_++;
                    }
                }
                idle = progress_ == before ? idle + 1 : 0;
                if (idle > 4L * size_) {
                    std::fprintf(stderr, "kvq_fibers: deadlock: %d threads wait at a barrier the others never reach "
                                         "(a barrier inside divergent control flow)\n", remaining);
                    std::exit(4);
                }
            }
        }
    }

    int rank() const { return current_; }
    int size() const { return size_; }

    void syncBlock() {
        long gen = blockGen_;
        if (++blockArrived_ == live_) {
            blockArrived_ = 0;
            blockGen_++;
            progress_++;
            return;
        }
        while (blockGen_ == gen) {
            yield();
        }
    }

    void syncWarp() {
        int w = current_ >> 5;
        long gen = warpGen_[w];
        if (++warpArrived_[w] == 32) {
            warpArrived_[w] = 0;
            warpGen_[w]++;
            progress_++;
            return;
        }
        while (warpGen_[w] == gen) {
            yield();
        }
    }

    float* slots(int rank) { return slots_.data() + (size_t) rank * SLOTS; }
    int& islot(int rank) { return islots_[rank]; }

  private:
    static void entry(int lo, int hi) {
        FiberBlock* self = reinterpret_cast<FiberBlock*>((uintptr_t) (unsigned) lo | ((uintptr_t) (unsigned) hi << 32));
        (*self->body_)(self->current_);
        self->finished_ = true;  // uc_link returns to the scheduler
    }

    void yield() { swapcontext(&ctx_[current_], &sched_); }

    int size_;
    std::vector<char> stacks_;
    std::vector<ucontext_t> ctx_;
    ucontext_t sched_;
    std::vector<int> done_;
    int current_ = 0;
    int live_ = 0;
    bool finished_ = false;
    long progress_ = 0;
    long blockGen_ = 0;
    int blockArrived_ = 0;
    std::vector<long> warpGen_;
    std::vector<int> warpArrived_;
    std::vector<float> slots_;
    std::vector<int> islots_;
    const std::function<void(int)>* body_ = nullptr;
};

/**
 * The decode kernels' team on the host: one fiber of a FiberBlock. Method for method the device's
 * KvqDecodeBlockTeam. (__host__ __device__ only so the bodies type-check for both sides.)
 */
struct FiberTeam {
    FiberBlock* b;
    int r;

    KVQ_HD int rank() const { return r; }
    KVQ_HD int size() const {
#ifndef __CUDA_ARCH__
        return b->size();
#else
        return 0;
#endif
    }
    KVQ_HD int lane() const { return r & 31; }
    KVQ_HD int warp() const { return r >> 5; }
    KVQ_HD void sync() const {
#ifndef __CUDA_ARCH__
        b->syncBlock();
#endif
    }
    KVQ_HD void syncwarp() const {
#ifndef __CUDA_ARCH__
        b->syncWarp();
#endif
    }

    /** The xor butterfly over groups of WIDTH lanes, in the device's order of additions. */
    template <int N, int WIDTH>
    KVQ_HD void warp_sum(float* v) const {
#ifndef __CUDA_ARCH__
        static_assert(N <= FiberBlock::SLOTS, "exchange slots");
        b->syncWarp();  // the slots' previous readers are done
        float* mine = b->slots(r);
        for (int i = 0; i < N; i++) {
            mine[i] = v[i];
        }
        b->syncWarp();
        int base = (r & ~31) + ((r & 31) / WIDTH) * WIDTH;
        float cur[32];
        float next[32];
        for (int i = 0; i < N; i++) {
            for (int l = 0; l < WIDTH; l++) {
                cur[l] = b->slots(base + l)[i];
            }
            for (int o = WIDTH / 2; o > 0; o >>= 1) {
                for (int l = 0; l < WIDTH; l++) {
                    next[l] = cur[l] + cur[l ^ o];
                }
                for (int l = 0; l < WIDTH; l++) {
                    cur[l] = next[l];
                }
            }
            v[i] = cur[(r & 31) % WIDTH];
        }
#endif
    }

    template <int N>
    KVQ_HD void warp_max(float* v) const {
#ifndef __CUDA_ARCH__
        static_assert(N <= FiberBlock::SLOTS, "exchange slots");
        b->syncWarp();
        float* mine = b->slots(r);
        for (int i = 0; i < N; i++) {
            mine[i] = v[i];
        }
        b->syncWarp();
        for (int i = 0; i < N; i++) {
            float m = -INFINITY;
            for (int l = 0; l < 32; l++) {
                m = fmaxf(m, b->slots((r & ~31) + l)[i]);
            }
            v[i] = m;
        }
#endif
    }

    KVQ_HD int shfl(int v, int src) const {
#ifndef __CUDA_ARCH__
        b->syncWarp();
        b->islot(r) = v;
        b->syncWarp();
        return b->islot((r & ~31) + (src & 31));
#else
        return v;
#endif
    }

    KVQ_HD void atomic_add_shared(float* p, float v) const { *p += v; }
};

/** Runs one block of `threads` fibers: body(team) per thread. */
template <class F>
void run_block(FiberBlock& block, F body) {
    std::function<void(int)> f = [&](int rank) {
        FiberTeam team{&block, rank};
        body(team);
    };
    block.run(f);
}

}  // namespace kvq_fibers
