package dev.kvq.engine;

/**
 * One backend's engine for the caches of one {@link CacheSetup}: a standalone cache has one of its
 * own, a pool one for all its sequences. It owns what its sequences may share and opens each
 * sequence's state ({@link Sequence}). Work that spans sequences belongs here: a decode step over a batch of
 * sequences ({@link #attend(int, Sequence[], int[], float[][], float[][])}) and, on CUDA, the device page pool
 * a pool's sequences share.
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

    /**
     * One decode step of {@code layer} for several of this engine's sequences, arguments checked as for
     * {@link Sequence#attend}: {@code outs[i]} receives sequence i's output for {@code queries[i]}. An engine that
     * can runs them as one batch (the CUDA engine of a pool: one launch for all); by default each in turn.
     *
     * @param layer   layer index
     * @param seqs    sequences opened by this engine, distinct
     * @param stored  tokens of the layer per sequence, each at least 1
     * @param queries {@code [Hq·d]} per sequence, post-RoPE
     * @param outs    receive {@code [Hq·d]} per sequence; written only when the whole step succeeds
     * @throws IllegalArgumentException when the scores of a sequence overflow fp32
     */
    default void attend(int layer, Sequence[] seqs, int[] stored, float[][] queries, float[][] outs) {
        float[][] staged = new float[seqs.length][];
        for (int i = 0; i < seqs.length; i++) {
            staged[i] = new float[outs[i].length];
            seqs[i].attend(layer, stored[i], queries[i], staged[i]);
        }
        for (int i = 0; i < seqs.length; i++) {
            System.arraycopy(staged[i], 0, outs[i], 0, outs[i].length);
        }
    }

    /** Frees what the engine shares between its sequences; they are closed first. Idempotent. */
    @Override
    void close();
}
