package dev.kvq.layout;

/**
 * The entry store of the token-major sparse outlier form: (int16 channel, fp16 value) pairs in
 * chunks of {@value #ENTRIES} entries, each chunk int16 channels {@code [ENTRIES]} then fp16 values
 * {@code [ENTRIES]} (64 KiB), appended in token order; a page's start pointers
 * ({@link PageLayout.Part#KEY_OUT_START}, {@link PageLayout.Part#VALUE_OUT_START}) say which entries
 * are a slot's. Keys and values have one store each per layer. The CUDA kernels' {@code KVQ_CHUNK}
 * is the same number.
 */
public final class EntryChunks {
    private EntryChunks() {}

    /** log2 of {@link #ENTRIES}. */
    public static final int SHIFT = 14;
    /** Entries per chunk. */
    public static final int ENTRIES = 1 << SHIFT;
    /** Bytes per chunk: int16 channels, then fp16 values. */
    public static final long BYTES = ENTRIES * 4L;

    /**
     * The chunk that holds entry {@code entry}.
     *
     * @param entry entry index in the layer's store
     * @return its chunk, from 0
     */
    public static int chunk(int entry) {
        return entry >>> SHIFT;
    }

    /**
     * Byte offset of entry {@code entry}'s channel inside its chunk.
     *
     * @param entry entry index in the layer's store
     * @return the byte offset of its int16 channel
     */
    public static long channelOffset(int entry) {
        return (entry & (ENTRIES - 1)) * 2L;
    }

    /**
     * Byte offset of entry {@code entry}'s value inside its chunk.
     *
     * @param entry entry index in the layer's store
     * @return the byte offset of its fp16 value
     */
    public static long valueOffset(int entry) {
        return (ENTRIES + (entry & (ENTRIES - 1))) * 2L;
    }

    /**
     * Chunks that hold {@code entries} entries.
     *
     * @param entries entries stored
     * @return {@code ⌈entries / ENTRIES⌉}
     */
    public static int chunksFor(long entries) {
        return (int) ((entries + ENTRIES - 1) / ENTRIES);
    }
}
