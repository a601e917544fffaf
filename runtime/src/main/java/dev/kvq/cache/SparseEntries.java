package dev.kvq.cache;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * The entry store of the token-major sparse outlier form: (int16 channel, fp16 value) pairs in
 * fixed-size chunks, appended in token order; tokens find theirs through the pages' start pointers.
 * Chunks never move, so an append costs O(nnz) and nothing is copied.
 */
final class SparseEntries {
    static final int CHUNK_SHIFT = 14;
    static final int CHUNK = 1 << CHUNK_SHIFT;            // entries per chunk
    static final long CHUNK_BYTES = CHUNK * 4L;            // int16 channel [CHUNK] · fp16 value [CHUNK]
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED;

    private final List<MemorySegment> chunks = new ArrayList<>();
    private int size;

    int size() {
        return size;
    }

    int capacity() {
        return chunks.size() * CHUNK;
    }

    long allocatedBytes() {
        return chunks.size() * CHUNK_BYTES;
    }

    /** Chunks needed so that {@code more} entries fit. */
    int chunksNeeded(long more) {
        long need = size + more - capacity();
        return need <= 0 ? 0 : (int) ((need + CHUNK - 1) / CHUNK);
    }

    void addChunk(MemorySegment chunk) {
        chunks.add(chunk);
    }

    /** The chunks that hold entries (a snapshot writes these; spare capacity beyond them is not saved). */
    List<MemorySegment> usedChunks() {
        return chunks.subList(0, (int) ((size + CHUNK - 1L) / CHUNK));
    }

    /** Takes over restored chunks holding {@code entries} entries; the store must be empty. */
    void restore(List<MemorySegment> restored, int entries) {
        if (size != 0 || !chunks.isEmpty() || (long) restored.size() * CHUNK < entries) {
            throw new IllegalStateException("restoring " + entries + " entries in " + restored.size()
                    + " chunks into a store that holds " + size);
        }
        chunks.addAll(restored);
        size = entries;
    }

    void add(int channel, short value) {
        MemorySegment c = chunks.get(size >>> CHUNK_SHIFT);
        int at = size & (CHUNK - 1);
        c.set(SHORT, at * 2L, (short) channel);
        c.set(SHORT, (CHUNK + at) * 2L, value);
        size++;
    }

    int channel(int entry) {
        return chunks.get(entry >>> CHUNK_SHIFT).get(SHORT, (entry & (CHUNK - 1)) * 2L);
    }

    short value(int entry) {
        return chunks.get(entry >>> CHUNK_SHIFT).get(SHORT, (CHUNK + (entry & (CHUNK - 1))) * 2L);
    }
}
