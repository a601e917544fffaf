package dev.kvq.engine;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.layout.EntryChunks;
import dev.kvq.layout.Occupancy;
import dev.kvq.layout.PageLayout.Part;
import dev.kvq.layout.PageLayout;
import dev.kvq.layout.SinkLayout;
import dev.kvq.quant.Fp16;
import dev.kvq.quant.LayerCalibration;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * Decodes a layer in the page format (v2, {@link PageLayout}) back to floats with plain scalar code,
 * independent of both engines' attention kernels: the oracle the kernels are tested against (keys post-RoPE, residuals
 * added). The CPU engine decodes its own pages with it; the CUDA engine decodes a host copy of its
 * device pages.
 */
public final class ReferenceDecoder {
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;

    private ReferenceDecoder() {}

    /**
     * The keys (post-RoPE) or values of one layer as a decode step reads them: the sinks and the tokens
     * in the recent-token window from the fp16 side buffer, the other tokens decoded from the pages.
     *
     * @param setup         the cache's setup
     * @param layer         layer index (for its calibration and layout)
     * @param firstPosition RoPE position of the sequence's first token
     * @param stored        tokens the layer holds
     * @param image         the layer's pages, side buffer and entries
     * @param tensor        keys or values
     * @return {@code [stored][D]}
     */
    public static float[] decode(CacheSetup setup, int layer, long firstPosition, int stored, LayerImage image,
                                 Tensor tensor) {
        AttentionShape shape = setup.shape();
        boolean keys = tensor == Tensor.KEYS;
        int d = shape.kvChannels();
        int headDim = shape.headDim();
        float[] out = new float[stored * d];
        Occupancy occupancy = setup.occupancy(layer);
        SinkLayout side = occupancy.sinks();
        int sinks = occupancy.sinkTokens(stored);
        int fromPages = occupancy.pageReadTokens(stored);
        for (int t = 0; t < stored; t++) {
            if (t >= sinks && t < sinks + fromPages) {
                continue;
            }
            int slot = side.slot(t);
            for (int c = 0; c < d; c++) {
                long at = keys ? side.keyOffset(slot, c) : side.valueOffset(slot, c);
                out[t * d + c] = Fp16.decode(image.sinks().get(SHORT, at));
            }
        }
        PageLayout layout = setup.layout(layer);
        LayerCalibration calibration = setup.layer(layer);
        int p = layout.pageTokens();
        float[] pre = new float[d];
        for (int slot = 0; slot < fromPages; slot++) {
            MemorySegment page = image.pages().get(slot / p);
            int r = slot % p;
            int t = sinks + slot;
            if (calibration == null) {
                int width = layout.elementBytes();
                long base = layout.offset(keys ? Part.KEYS : Part.VALUES);
                for (int c = 0; c < d; c++) {
                    int h = c / headDim;
                    int j = c % headDim;
                    long at = base + (keys ? layout.keyElement(h, j, r) : layout.valueElement(h, r, j)) * width;
                    out[t * d + c] = width == 2 ? Fp16.decode(page.get(SHORT, at)) : page.get(FLOAT, at);
                }
                continue;
            }
            if (keys) {
                for (int c = 0; c < d; c++) {
                    pre[c] = calibration.keys().dequantize(c, layout.keyCode(page, r, c));
                }
            } else {
                float zero = Fp16.decode(page.get(SHORT, layout.offset(Part.VALUE_ZERO) + r * 2L));
                float scale = Fp16.decode(page.get(SHORT, layout.offset(Part.VALUE_SCALE) + r * 2L));
                for (int c = 0; c < d; c++) {
                    pre[c] = zero + scale * calibration.valueCodebook(c).dequant(layout.valueCode(page, r, c));
                }
            }
            if (setup.spec().hasOutliers()) {
                addResiduals(layout, image, page, r, tensor, pre, shape.kvHeads());
            }
            if (keys) {
                shape.rope().apply(pre, 0, shape.kvHeads(), firstPosition + t);
            }
            System.arraycopy(pre, 0, out, t * d, d);
        }
        return out;
    }

    /**
     * Adds slot r's outlier residuals, head by head through the per-head ends of its list; a channel outside
     * the head whose range holds it means corrupt ends (attention would add it to the wrong head).
     */
    private static void addResiduals(PageLayout layout, LayerImage image, MemorySegment page, int r, Tensor tensor,
                                     float[] pre, int kvHeads) {
        boolean keys = tensor == Tensor.KEYS;
        Part ends = keys ? Part.KEY_OUT_HEAD_END : Part.VALUE_OUT_HEAD_END;
        int headDim = layout.plan().headDim();
        boolean sparse = layout.sparseOutliers();
        List<MemorySegment> chunks = image.chunks(tensor);
        long starts = layout.offsetOrZero(keys ? Part.KEY_OUT_START : Part.VALUE_OUT_START);
        long channels = layout.offsetOrZero(keys ? Part.KEY_OUT_CHANNEL : Part.VALUE_OUT_CHANNEL);
        long values = layout.offsetOrZero(keys ? Part.KEY_OUT_VALUE : Part.VALUE_OUT_VALUE);
        int from = sparse ? page.get(INT, starts + r * 4L) : 0;
        if (sparse && page.get(INT, starts + (r + 1) * 4L) - from != layout.headEnd(page, ends, r, kvHeads - 1)) {
            throw new IllegalStateException("slot " + r + "'s outlier entries and its head ends disagree");
        }
        for (int h = 0; h < kvHeads; h++) {
            for (int i = layout.headEnd(page, ends, r, h - 1); i < layout.headEnd(page, ends, r, h); i++) {
                int channel;
                float residual;
                if (sparse) {
                    MemorySegment chunk = chunks.get(EntryChunks.chunk(from + i));
                    channel = chunk.get(SHORT, EntryChunks.channelOffset(from + i));
                    residual = Fp16.decode(chunk.get(SHORT, EntryChunks.valueOffset(from + i)));
                } else {
                    long at = (keys ? layout.keySlot(r, i) : layout.valueSlot(r, i)) * 2;
                    channel = page.get(SHORT, channels + at);
                    residual = Fp16.decode(page.get(SHORT, values + at));
                }
                if (channel / headDim != h) {
                    throw new IllegalStateException("slot " + r + " lists outlier channel " + channel + " among head " + h
                            + "'s");
                }
                pre[channel] += residual;
            }
        }
    }
}
