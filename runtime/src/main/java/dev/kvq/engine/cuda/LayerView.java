package dev.kvq.engine.cuda;

/**
 * The device addresses of one layer as the kernels take them, for one sequence (B = 1) or a batch of a pool's
 * sequences (B ≥ 1, {@code BatchDecoder}): the per-sequence values are separate arrays of B entries each.
 *
 * @param pool        the page pool
 * @param poolPages   pages the pool holds (the kernels' bounds check)
 * @param pageTable   int32 page table [B][maxPages]
 * @param maxPages    length of a page table row
 * @param seqPacked   int32 [B] packed tokens
 * @param seqSinks    int32 [B] sink tokens
 * @param seqFirstPos int64 [B] RoPE position of token 0
 * @param seqSide     int64 [B] device address of each sequence's fp16 side buffer [2][S+N][D] (0: none yet)
 * @param sinks       the side buffer of a single sequence, for its appends (0 when there is none, or for a batch)
 * @param tables      the layer's quantizer tables ({@link KvKernels#tables}; 0 for fp16 pages)
 * @param sparse      the layer's sparse outlier entries (null unless the outliers are TOKEN_MAJOR_SPARSE)
 */
public record LayerView(long pool, int poolPages, long pageTable, int maxPages, long seqPacked, long seqSinks,
                        long seqFirstPos, long seqSide, long sinks, long tables, SparseView sparse) {

    /**
     * The view of one sequence whose counts sit in one metadata record at {@code seqMeta}: int32 packed tokens,
     * int32 sink tokens, int64 RoPE position of token 0, int64 side buffer address (0 before it exists), 8 bytes
     * of padding.
     *
     * @param pool      the page pool
     * @param poolPages pages the pool holds
     * @param pageTable int32 page table [maxPages]
     * @param maxPages  length of the page table row
     * @param seqMeta   the 32-byte metadata record (8-byte aligned)
     * @param sinks     fp16 side buffer [2][S+N][D] (0 when there is none)
     * @param tables    the layer's quantizer tables (0 for fp16 pages)
     * @param sparse    the layer's sparse outlier entries, or null
     */
    public LayerView(long pool, int poolPages, long pageTable, int maxPages, long seqMeta, long sinks, long tables,
                     SparseView sparse) {
        this(pool, poolPages, pageTable, maxPages, seqMeta, seqMeta + 4, seqMeta + 8, seqMeta + 16, sinks, tables,
                sparse);
    }

    /**
     * A single sequence's view without sparse entries (fixed-slot outliers, none, or the fp16 baseline).
     *
     * @param pool      the page pool
     * @param poolPages pages the pool holds
     * @param pageTable int32 page table [maxPages]
     * @param maxPages  length of the page table row
     * @param seqMeta   the 32-byte metadata record
     * @param sinks     fp16 side buffer (0 when there is none)
     * @param tables    the layer's quantizer tables (0 for fp16 pages)
     */
    public LayerView(long pool, int poolPages, long pageTable, int maxPages, long seqMeta, long sinks, long tables) {
        this(pool, poolPages, pageTable, maxPages, seqMeta, sinks, tables, null);
    }
}
