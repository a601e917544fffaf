package dev.kvq.engine;

/**
 * One backend's engine for the caches of one {@link CacheSetup}: a standalone cache has one of its
 * own, a pool one for all its sequences. It owns what its sequences may share and opens each
 * sequence's state ({@link Sequence}). Work that spans sequences (a decode step over a whole batch,
 * one device page pool per pool) belongs here; today every call goes through a {@link Sequence}.
 *
 * <p>Two implementations: {@code dev.kvq.engine.cpu.CpuEngine} (Vector API kernels over host pages)
 * and {@code dev.kvq.engine.cuda.CudaEngine} (device pages, kvq's PTX kernels). Which one a cache gets,
 * and the fallback to the CPU when CUDA cannot serve it, is decided in {@code dev.kvq.cache.Engines}.
 */
public interface Engine extends AutoCloseable {

    /**
     * Opens the state of one sequence, empty.
     *
     * @param firstPosition RoPE position of the sequence's first token
     * @param budget        the sequence's budget, charged before every allocation
     * @return the sequence, owned by the caller
     * @throws RuntimeException when the engine cannot hold a sequence here (the caller may fall back)
     */
    Sequence open(long firstPosition, Budget budget);

    /** Frees what the engine shares between its sequences; they are closed first. Idempotent. */
    @Override
    void close();
}
