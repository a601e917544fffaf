package dev.kvq.engine.cpu;

import dev.kvq.layout.EntryChunks;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * One layer's host entry store of the token-major sparse outlier form, in chunks laid out as
 * {@link EntryChunks}. Entries are appended in token order; chunks never move, so an append costs
 * O(nnz) and nothing is copied.
 */
final class SparseEntries {
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED;

    private final List<MemorySegment> chunks = new ArrayList<>();
    private int size;

    int size() {
        return size;
    }

    int capacity() {
        return chunks.size() * EntryChunks.ENTRIES;
    }

    /** Chunks allocated (holding entries or spare). */
    int chunks() {
        return chunks.size();
    }

    /** Chunks needed so that {@code more} entries fit. */
    int chunksNeeded(long more) {
        long need = size + more - capacity();
        return need <= 0 ? 0 : EntryChunks.chunksFor(need);
    }

    void addChunk(MemorySegment chunk) {
        chunks.add(chunk);
    }

    /** The chunks that hold entries (a snapshot writes these; spare capacity beyond them is not saved). */
    List<MemorySegment> usedChunks() {
        return chunks.subList(0, EntryChunks.chunksFor(size));
    }

    /** Takes over restored chunks holding {@code entries} entries; the store must be empty. */
    void restore(List<MemorySegment> restored, int entries) {
        if (size != 0 || !chunks.isEmpty() || (long) restored.size() * EntryChunks.ENTRIES < entries) {
            throw new IllegalStateException("restoring " + entries + " entries in " + restored.size()
                    + " chunks into a store that holds " + size);
        }
        chunks.addAll(restored);
        size = entries;
    }

    void add(int channel, short value) {
        MemorySegment c = chunks.get(EntryChunks.chunk(size));
        c.set(SHORT, EntryChunks.channelOffset(size), (short) channel);
        c.set(SHORT, EntryChunks.valueOffset(size), value);
        size++;
    }

    int channel(int entry) {
        return chunks.get(EntryChunks.chunk(entry)).get(SHORT, EntryChunks.channelOffset(entry));
    }

    short value(int entry) {
        return chunks.get(EntryChunks.chunk(entry)).get(SHORT, EntryChunks.valueOffset(entry));
    }
}
