package dev.kvq.cache;

import java.lang.foreign.MemorySegment;
import dev.kvq.layout.MemoryReport;

/**
 * The device half of a {@link KvCache} on a non-CPU backend. {@code KvCache} keeps the public API,
 * validates every argument and counts tokens per layer; an implementation stores the pages on its
 * device and computes there. Arguments arrive validated: shapes match, values are finite and in fp16
 * range, layers are in range and not empty where that matters.
 *
 * <p>Ownership: the implementation owns every device allocation it makes and frees them exactly once
 * in {@link #close()}; allocations are drawn from the cache's budget through {@link Budget} before
 * they are made, and returned on failure, like the host pages.
 */
interface DeviceCache extends AutoCloseable {

    /** The cache's budget, as the device cache sees it. */
    interface Budget {
        /** Reserves {@code bytes} or throws {@link CacheBudgetExceededException}. */
        void reserve(long bytes, int layer, int tokens);

        /** Returns bytes reserved earlier. */
        void unreserve(long bytes);
    }

    /**
     * Appends {@code n} tokens after {@code stored} tokens of {@code layer} (pre-RoPE keys and values
     * {@code [n][kvChannels]}); atomic: on any exception nothing changed but spare allocations.
     */
    void append(int layer, int stored, float[] keysPreRope, float[] values, int n);

    /** One decode step: scores, softmax and values, on the device; {@code out} is filled. */
    void attend(int layer, int stored, float[] query, float[] out);

    /** Scaled key scores {@code [queryHeads][stored]} into {@code scores}. */
    void keyScores(int layer, int stored, float[] query, float[] scores);

    /** {@code out[q] = Σ_t weights[q][t]·v_t} over the {@code stored} tokens. */
    void valueMatvec(int layer, int stored, float[] weights, float[] out);

    /** Keys (post-RoPE) or values of the layer as attention sees them, {@code [stored][kvChannels]}. */
    float[] decode(int layer, int stored, boolean keys);

    /** Pages of the layer that hold tokens. */
    int pages(int layer);

    /** A host copy of page {@code page} of {@code layer}, laid out as {@link PageLayout}. */
    MemorySegment pageBytes(int layer, int page);

    /**
     * Sparse outlier entries (TOKEN_MAJOR_SPARSE) of {@code layer} holding {@code stored} tokens: key
     * entries, or value entries; 0 for other forms.
     */
    default int entries(int layer, int stored, boolean keys) {
        return 0;
    }

    /**
     * A host copy of sparse entry chunk {@code chunk} of {@code layer} (keys or values), laid out as
     * {@link SparseEntries} (int16 channels [CHUNK], then fp16 values [CHUNK]).
     *
     * @throws IllegalArgumentException when the layer has no such chunk
     */
    default MemorySegment entryChunk(int layer, boolean keys, int chunk) {
        throw new IllegalArgumentException("this device cache stores no sparse entry chunks");
    }

    /** Memory by part over all layers, from what is allocated on the device. */
    MemoryReport memory(int[] stored);

    /** Frees every device allocation; idempotent. */
    @Override
    void close();
}
