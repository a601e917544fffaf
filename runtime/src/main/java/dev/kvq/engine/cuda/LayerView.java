package dev.kvq.engine.cuda;

/**
 * The device addresses of one layer of one sequence, as the kernels take them (B = 1).
 *
 * @param pool      the page pool
 * @param poolPages pages the pool holds (the kernels' bounds check)
 * @param pageTable int32 page table [maxPages]
 * @param maxPages  length of the page table row
 * @param seqMeta   16 bytes: int32 packed tokens, int32 sink tokens, int64 RoPE position of token 0
 * @param sinks     fp16 sinks [2][S][D] (0 when there are none)
 * @param tables    the layer's quantizer tables ({@link KvKernels#tables}; 0 for fp16 pages)
 * @param sparse    the layer's sparse outlier entries (null unless the outliers are TOKEN_MAJOR_SPARSE)
 */
public record LayerView(long pool, int poolPages, long pageTable, int maxPages, long seqMeta, long sinks,
                        long tables, SparseView sparse) {

    /**
     * A view without sparse entries (fixed-slot outliers, none, or the fp16 baseline).
     *
     * @param pool      the page pool
     * @param poolPages pages the pool holds
     * @param pageTable int32 page table [maxPages]
     * @param maxPages  length of the page table row
     * @param seqMeta   16 bytes of per-sequence counts and first position
     * @param sinks     fp16 sinks (0 when there are none)
     * @param tables    the layer's quantizer tables (0 for fp16 pages)
     */
    public LayerView(long pool, int poolPages, long pageTable, int maxPages, long seqMeta, long sinks, long tables) {
        this(pool, poolPages, pageTable, maxPages, seqMeta, sinks, tables, null);
    }

    /** Address of {@code seqPacked [1]}. */
    public long seqPacked() {
        return seqMeta;
    }

    /** Address of {@code seqSinks [1]}. */
    public long seqSinks() {
        return seqMeta + 4;
    }

    /** Address of {@code seqFirstPos [1]} (8-byte aligned when {@code seqMeta} is). */
    public long seqFirstPos() {
        return seqMeta + 8;
    }
}
