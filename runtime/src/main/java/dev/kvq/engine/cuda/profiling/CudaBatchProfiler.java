package dev.kvq.engine.cuda.profiling;

import dev.kvq.engine.CacheSetup;
import dev.kvq.engine.Sequence;
import dev.kvq.engine.cuda.CudaEngine;
import dev.kvq.engine.cuda.CudaSequence;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.QuantSpec;

/**
 * The batched decode of a pool's sequences, for the GPU benchmark harness only (like {@link CudaProfiler}):
 * a CUDA engine with a pool's shared device pages (sized from {@code pageBudget}) and {@code sequences} sequences
 * opened on it directly, without caches around them. Layers are filled by real appends and extended by copying
 * pages on the device; {@link #attend} is the engine's batched step (one decode launch and one merge per layer
 * for all sequences), which the harness times on the wall clock against one long sequence's {@code attend}.
 */
public final class CudaBatchProfiler implements AutoCloseable {
    private final CacheSetup setup;
    private final CudaEngine engine;
    private final CudaSequence[] sequences;
    private final int[][] tokens;   // [sequence][layer]

    private CudaBatchProfiler(CacheSetup setup, int count, long pageBudget) {
        this.setup = setup;
        this.engine = CudaEngine.open(setup, pageBudget, null);   // the harness has no budget for the batch buffers
        this.sequences = new CudaSequence[count];
        this.tokens = new int[count][setup.shape().layers()];
        try {
            for (int i = 0; i < count; i++) {
                sequences[i] = (CudaSequence) engine.open(0, CudaProfiler.UNLIMITED);
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /**
     * {@code sequences} empty sequences sharing one pool's device pages.
     *
     * @param shape       the geometry
     * @param spec        what is stored
     * @param calibration thresholds and codebooks (null for fp16)
     * @param pageTokens  tokens per page
     * @param sequences   how many sequences
     * @param pageBudget  the pool's budget: its device pages are ⌊budget ÷ Σ page bytes⌋ per layer
     * @return the profiler; close it to free its device memory
     */
    public static CudaBatchProfiler open(AttentionShape shape, QuantSpec spec, Calibration calibration, int pageTokens,
                                         int sequences, long pageBudget) {
        return new CudaBatchProfiler(CacheSetup.of(shape, spec, calibration, pageTokens), sequences, pageBudget);
    }

    /**
     * The bytes of one page of {@code layer}.
     *
     * @param layer layer index
     * @return bytes
     */
    public long pageBytes(int layer) {
        return setup.layout(layer).pageBytes();
    }

    /**
     * Appends tokens to {@code layer} of sequence {@code seq}.
     *
     * @param seq    sequence index
     * @param layer  layer index
     * @param keys   pre-RoPE keys {@code [n][D]}
     * @param values values {@code [n][D]}
     */
    public void append(int seq, int layer, float[] keys, float[] values) {
        int n = keys.length / setup.shape().kvChannels();
        sequences[seq].append(layer, tokens[seq][layer], keys, values, n);
        tokens[seq][layer] += n;
    }

    /**
     * Extends {@code layer} of sequence {@code seq} to {@code target} tokens by copying its pages on the device.
     *
     * @param seq    sequence index
     * @param layer  layer index
     * @param target tokens afterwards
     */
    public void repeatPagesTo(int seq, int layer, int target) {
        CudaProfiler.repeatPages(setup, sequences[seq], layer, tokens[seq][layer], target);
        tokens[seq][layer] = target;
    }

    /**
     * One batched decode step of {@code layer} over every sequence (the engine's pool step).
     *
     * @param layer   layer index
     * @param queries {@code [Hq·d]} per sequence
     * @param outs    receive {@code [Hq·d]} per sequence
     */
    public void attend(int layer, float[][] queries, float[][] outs) {
        int[] stored = new int[sequences.length];
        for (int i = 0; i < stored.length; i++) {
            stored[i] = tokens[i][layer];
        }
        engine.attend(layer, (Sequence[]) sequences, stored, queries, outs);
    }

    /** Frees the sequences, then the engine's pages. */
    @Override
    public void close() {
        RuntimeException first = null;
        for (CudaSequence s : sequences) {
            try {
                if (s != null) {
                    s.close();
                }
            } catch (RuntimeException e) {
                first = first == null ? e : first;
            }
        }
        engine.close();
        if (first != null) {
            throw first;
        }
    }
}
