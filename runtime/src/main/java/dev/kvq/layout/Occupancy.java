package dev.kvq.layout;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.quant.KeyQuantizer;
import dev.kvq.quant.QuantSpec;

/**
 * What a layer holding some number of tokens occupies: sink tokens first ({@link SinkLayout}), every
 * later token packed into a slot of a page ({@link PageLayout}) and the last {@code N} of them also in the
 * fp16 window ring, sparse outlier entries beside the pages ({@link EntryChunks}), and the bytes of each
 * part. Both engines plan their appends and report their memory with this class, so the arithmetic
 * exists once.
 */
public final class Occupancy {
    private final PageLayout layout;
    private final SinkLayout sinks;
    private final int channels;
    private final int valueEntriesPerToken;
    private final long quantizerBytes;

    /**
     * The occupancy rules of a cache of {@code shape} and {@code spec} with pages of {@code layout}.
     *
     * @param shape the attention geometry
     * @param spec the quantization
     * @param layout the page layout of that shape and spec
     */
    public Occupancy(AttentionShape shape, QuantSpec spec, PageLayout layout) {
        this.layout = layout;
        this.sinks = new SinkLayout(shape, spec);
        this.channels = shape.kvChannels();
        this.valueEntriesPerToken = layout.sparseOutliers() ? spec.valueOutliersPerToken(channels) : 0;
        this.quantizerBytes = spec.quantized() ? quantizerBytes(layout.plan()) : 0;
    }

    /**
     * The page layout.
     *
     * @return the layout these rules count in
     */
    public PageLayout layout() {
        return layout;
    }

    /**
     * The sink buffer.
     *
     * @return the sink layout
     */
    public SinkLayout sinks() {
        return sinks;
    }

    /**
     * Sink tokens among {@code stored} tokens.
     *
     * @param stored tokens of the layer
     * @return {@code min(stored, S)}
     */
    public int sinkTokens(int stored) {
        return Math.min(stored, sinks.capacity());
    }

    /**
     * Packed tokens (those after the sinks) among {@code stored} tokens.
     *
     * @param stored tokens of the layer
     * @return {@code max(0, stored − S)}
     */
    public int packedTokens(int stored) {
        return Math.max(0, stored - sinks.capacity());
    }

    /**
     * Packed tokens among {@code stored} tokens that are also in the recent-token window: a decode step
     * reads them from the window's fp16 copy.
     *
     * @param stored tokens of the layer
     * @return {@code min(N, packed)}
     */
    public int windowTokens(int stored) {
        return Math.min(sinks.windowCapacity(), packedTokens(stored));
    }

    /**
     * Packed tokens among {@code stored} tokens that a decode step reads from the pages: those that have
     * left the window. A step reads the sinks, these, then the window: each token once.
     *
     * @param stored tokens of the layer
     * @return {@code packed − min(N, packed)}
     */
    public int pageReadTokens(int stored) {
        return packedTokens(stored) - windowTokens(stored);
    }

    /**
     * Pages that hold {@code packed} packed tokens.
     *
     * @param packed packed tokens
     * @return {@code ⌈packed / P⌉}
     */
    public int pagesFor(long packed) {
        return (int) ((packed + layout.pageTokens() - 1) / layout.pageTokens());
    }

    /**
     * Sparse value entries of {@code packed} packed tokens: a fixed number per token (0 unless the
     * outliers are token-major sparse).
     *
     * @param packed packed tokens
     * @return the entries
     */
    public long valueEntries(long packed) {
        return packed * valueEntriesPerToken;
    }

    /**
     * Where an append of {@code n} tokens after {@code stored} goes.
     *
     * @param newSinks    tokens of the batch that become sinks (the first ones)
     * @param packedAfter packed tokens of the layer after the append
     * @param pagesAfter  pages that hold them
     */
    public record Append(int newSinks, int packedAfter, int pagesAfter) {}

    /**
     * The plan of an append: how many of its tokens become sinks and how many pages the layer then needs.
     *
     * @param stored tokens of the layer before the append
     * @param n      tokens appended
     * @return the plan
     */
    public Append append(int stored, int n) {
        int newSinks = Math.max(0, Math.min(n, sinks.capacity() - stored));
        int packedAfter = packedTokens(stored + n);
        return new Append(newSinks, packedAfter, pagesFor(packedAfter));
    }

    /**
     * Key outliers among tokens {@code [from, to)} of a batch {@code [n][D]} of pre-RoPE keys: elements
     * above the upper or below the lower threshold of their channel, the comparisons the quantizer
     * (and the CUDA pack kernel) makes on the same fp32 numbers, so the count is exact. A sparse layer
     * stores one key entry per outlier.
     *
     * @param keys      the keys quantized with {@code quantizer}
     * @param quantizer the layer's key quantizer
     * @param from      first token counted
     * @param to        end of the tokens counted
     * @return the number of outlier elements
     */
    public long keyOutliers(KeyQuantizer quantizer, float[] keys, int from, int to) {
        float[] lo = new float[channels];
        float[] hi = new float[channels];
        for (int c = 0; c < channels; c++) {
            lo[c] = quantizer.lower(c);
            hi[c] = quantizer.upper(c);
        }
        long count = 0;
        for (int t = from; t < to; t++) {
            int off = t * channels;
            for (int c = 0; c < channels; c++) {
                float x = keys[off + c];
                if (x > hi[c] || x < lo[c]) {
                    count++;
                }
            }
        }
        return count;
    }

    /**
     * A layer's dequantization tables as the CPU keeps them — the key table {@code [D][E]} and one value table
     * of {@code E} entries per value width in use, E = 16, or 64 when a code is wider than 4 bits — and per
     * channel lo, hi, z, s (fp32).
     */
    private static long quantizerBytes(ChannelPlan plan) {
        int d = plan.kvHeads() * plan.headDim();
        long entries = plan.maxWidth() > 4 ? 64 : 16;
        java.util.BitSet widths = new java.util.BitSet();
        for (int c = 0; c < d; c++) {
            widths.set(plan.valueWidth(c));
        }
        return (d + widths.cardinality()) * entries * 4 + 4L * 4 * d;
    }

    /**
     * Per-layer side data of the quantizers as the CPU keeps it (key table, value tables, thresholds,
     * zero-points and scales); 0 for the baselines.
     *
     * @return bytes per layer
     */
    public long quantizerBytes() {
        return quantizerBytes;
    }

    /**
     * The memory report of one layer from what it holds and what is allocated for it.
     *
     * @param tokens       tokens stored, sinks included
     * @param pages        pages allocated (holding tokens or spare)
     * @param entries      sparse outlier entries stored, keys and values together
     * @param entryChunks  entry chunks allocated, keys and values together
     * @param fp16Bytes    bytes allocated for the fp16 side buffer (0, or {@link SinkLayout#bytes()})
     * @param sideBytes    bytes of per-layer tables that do not grow with the context
     * @return codes, scales and outliers of the stored tokens, the sink slots and the window ring of the
     *         side buffer, side data, and the rest of the allocation as slack
     */
    public MemoryReport memory(int tokens, long pages, long entries, long entryChunks, long fp16Bytes, long sideBytes) {
        int packed = packedTokens(tokens);
        int p = layout.pageTokens();
        long codes = layout.bytes(PageLayout.Role.CODES) * packed / p;
        long scales = layout.bytes(PageLayout.Role.SCALES) * packed / p;
        long outliersInPages = (layout.bytes(PageLayout.Role.OUTLIER_SLOTS)
                + layout.bytes(PageLayout.Role.OUTLIER_STARTS)) * packed / p;
        long entryBytes = 4L * entries;
        long slack = pages * layout.pageBytes() - (codes + scales + outliersInPages)
                + entryChunks * EntryChunks.BYTES - entryBytes;
        long sinkBytes = fp16Bytes == 0 ? 0 : sinks.sinkBytes();
        long windowBytes = fp16Bytes == 0 ? 0 : sinks.windowBytes();
        return new MemoryReport(codes, scales, outliersInPages + entryBytes, sinkBytes, windowBytes, sideBytes,
                slack, tokens, channels);
    }
}
