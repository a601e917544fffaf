package dev.kvq.engine;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * One layer of one sequence as host memory laid out as the page format: what a snapshot writes and
 * restores, and what the reference decoder reads. Segments may be views of an engine's memory (valid
 * while the engine is open and unchanged) or of a mapped snapshot.
 *
 * @param pages        the pages that hold packed tokens, {@code PageLayout.pageBytes()} each
 * @param sinks        the sink buffer ({@code SinkLayout}), or null while the layer has none
 * @param keyEntries   sparse key outlier entries stored (0 unless token-major sparse)
 * @param keyChunks    the entry chunks that hold them ({@code EntryChunks})
 * @param valueEntries sparse value outlier entries stored
 * @param valueChunks  the entry chunks that hold them
 */
public record LayerImage(List<MemorySegment> pages, MemorySegment sinks, int keyEntries,
                         List<MemorySegment> keyChunks, int valueEntries, List<MemorySegment> valueChunks) {

    /**
     * The entry chunks of {@code tensor}.
     *
     * @param tensor keys or values
     * @return the chunks holding its entries
     */
    public List<MemorySegment> chunks(Tensor tensor) {
        return tensor == Tensor.KEYS ? keyChunks : valueChunks;
    }
}
