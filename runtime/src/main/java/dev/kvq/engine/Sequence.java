package dev.kvq.engine;

import dev.kvq.layout.MemoryReport;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;

/**
 * The seam between the cache and a backend: one sequence's keys and values of every layer in the
 * page format ({@code dev.kvq.layout}), stored and attended to by one engine. {@code KvCache} keeps
 * the public API, the validation, the lock, the budget and the token counts, and calls these methods
 * with arguments already checked: shapes match, values are finite and storable, layers are in range
 * and not empty where that matters, {@code stored} is the layer's token count. Calls come one at a
 * time (under the cache's lock).
 *
 * <p>Ownership: the implementation owns every allocation it makes, draws each on the {@link Budget}
 * before making it, and frees all of them once in {@link #close()}.
 */
public interface Sequence extends AutoCloseable {

    /**
     * Appends {@code n} tokens after the {@code stored} tokens of {@code layer}; atomic: on any
     * exception the layer is as it was (allocations may stay as spares, reserved).
     *
     * @param layer       layer index
     * @param stored      tokens the layer holds now
     * @param keysPreRope keys before RoPE, {@code [n][D]}
     * @param values      values, {@code [n][D]}
     * @param n           tokens appended, at least 1
     */
    void append(int layer, int stored, float[] keysPreRope, float[] values, int n);

    /**
     * One decode step: scores, softmax and values over the {@code stored} tokens. {@code out} is only
     * written when the step succeeds.
     *
     * @param layer  layer index
     * @param stored tokens of the layer, at least 1
     * @param query  {@code [Hq·d]}, post-RoPE
     * @param out    receives {@code [Hq·d]}
     * @throws IllegalArgumentException when the scores overflow fp32
     */
    void attend(int layer, int stored, float[] query, float[] out);

    /**
     * The scaled scores {@code q·k_t/√d} of the {@code stored} tokens, {@code scores[q·stored + t]}.
     *
     * @param layer  layer index
     * @param stored tokens of the layer, at least 1
     * @param query  {@code [Hq·d]}, post-RoPE
     * @param scores receives {@code [Hq][stored]}
     */
    void keyScores(int layer, int stored, float[] query, float[] scores);

    /**
     * {@code out[q] = Σ_t weights[q·stored + t]·v_t} over the {@code stored} tokens.
     *
     * @param layer   layer index
     * @param stored  tokens of the layer, at least 1
     * @param weights {@code [Hq][stored]}
     * @param out     receives {@code [Hq·d]}
     */
    void valueMatvec(int layer, int stored, float[] weights, float[] out);

    /**
     * The keys (post-RoPE) or values of the layer as attention sees them, decoded by the reference
     * decoder.
     *
     * @param layer  layer index
     * @param stored tokens of the layer
     * @param tensor keys or values
     * @return {@code [stored][D]}
     */
    float[] decode(int layer, int stored, Tensor tensor);

    /**
     * Page {@code page} of the layer: a read-only view of host pages, or a host copy of device pages.
     *
     * @param layer layer index
     * @param page  a page that holds tokens ({@code Occupancy.pagesFor} of the packed tokens)
     * @return {@code PageLayout.pageBytes()} bytes
     */
    MemorySegment pageBytes(int layer, int page);

    /**
     * Sparse outlier entries the layer holds (0 unless the outliers are token-major sparse).
     *
     * @param layer  layer index
     * @param stored tokens of the layer
     * @param tensor keys or values
     * @return the entry count
     */
    int entries(int layer, int stored, Tensor tensor);

    /**
     * Sparse entry chunk {@code chunk} of the layer, laid out as {@code EntryChunks}: a view on the
     * host or a host copy from the device.
     *
     * @param layer  layer index
     * @param tensor keys or values
     * @param chunk  chunk index
     * @return the chunk's bytes
     * @throws IllegalArgumentException when the layer holds no such chunk
     */
    MemorySegment entryChunk(int layer, Tensor tensor, int chunk);

    /**
     * Bytes by part of one layer, measured from what is allocated for it.
     *
     * @param layer  layer index
     * @param stored tokens of the layer
     * @return the layer's memory report
     */
    MemoryReport memory(int layer, int stored);

    /**
     * Off-heap host bytes this sequence allocated and has not freed (0 for device memory).
     *
     * @return bytes
     */
    long hostBytes();

    /**
     * The layer as host memory for a snapshot.
     *
     * @param layer  layer index
     * @param stored tokens of the layer
     * @return views of the layer's pages, sinks and entry chunks
     * @throws UnsupportedOperationException when the engine keeps its pages elsewhere
     */
    LayerImage image(int layer, int stored);

    /**
     * Maps a snapshot file read-only for {@link #restore}, for as long as this sequence is open.
     *
     * @param file the snapshot, open for reading
     * @return the whole file
     * @throws IOException when it cannot be mapped
     * @throws UnsupportedOperationException when the engine keeps its pages elsewhere
     */
    MemorySegment mapSnapshot(FileChannel file) throws IOException;

    /**
     * Restores a layer of a snapshot into the empty {@code layer}: full pages and chunks are used in
     * place (they are slices of {@link #mapSnapshot}); what later appends write into (the partly
     * filled last page and chunk, the sinks) is copied. The bytes were reserved by the caller.
     *
     * @param layer  an empty layer
     * @param tokens tokens the image holds
     * @param image  the layer's pages, sinks and entries
     */
    void restore(int layer, int tokens, LayerImage image);

    /** Frees every allocation; idempotent. */
    @Override
    void close();
}
