package dev.kvq.engine.cuda;

/**
 * The device addresses of one layer's token-major sparse outlier entries, as the sparse kernels take
 * them (B = 1): a key and a value entry pool, each of 64 KiB chunks ({@code KVQ_CHUNK} entries:
 * int16 channels, then fp16 values) with an int32 chunk table [maxChunks], and the layer's running
 * key entry count, which {@code kvq_key_sparse_starts} reads and advances.
 *
 * @param keyPool          key entry chunks
 * @param keyPoolChunks    chunks the key pool holds (the kernels' bounds check)
 * @param keyChunkTable    int32 [keyMaxChunks]: logical chunk k of the keys is pool chunk table[k]
 * @param keyMaxChunks     length of the key chunk table row
 * @param valuePool        value entry chunks
 * @param valuePoolChunks  chunks the value pool holds
 * @param valueChunkTable  int32 [valueMaxChunks]
 * @param valueMaxChunks   length of the value chunk table row
 * @param seqKeyEntries    int32 [1]: key entries stored so far
 */
public record SparseView(long keyPool, int keyPoolChunks, long keyChunkTable, int keyMaxChunks, long valuePool,
                         int valuePoolChunks, long valueChunkTable, int valueMaxChunks, long seqKeyEntries) {}
