package dev.kvq.engine;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.layout.EntryChunks;
import dev.kvq.layout.PageLayout.Part;
import dev.kvq.layout.PageLayout;
import dev.kvq.layout.SinkLayout;
import dev.kvq.quant.BitPacking;
import dev.kvq.quant.Fp16;
import dev.kvq.quant.LayerCalibration;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * Decodes a layer in the page format back to floats with plain scalar code, independent of both
 * engines' attention kernels: the oracle the kernels are tested against (keys post-RoPE, residuals
 * added). The CPU engine decodes its own pages with it; the CUDA engine decodes a host copy of its
 * device pages.
 */
public final class ReferenceDecoder {
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;

    private ReferenceDecoder() {}

    /**
     * The keys (post-RoPE) or values of one layer.
     *
     * @param setup         the cache's setup
     * @param layer         layer index (for its calibration)
     * @param firstPosition RoPE position of the sequence's first token
     * @param stored        tokens the layer holds
     * @param image         the layer's pages, sinks and entries
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
        SinkLayout sinkLayout = setup.occupancy().sinks();
        int sinks = setup.occupancy().sinkTokens(stored);
        for (int t = 0; t < sinks; t++) {
            for (int c = 0; c < d; c++) {
                long at = keys ? sinkLayout.keyOffset(t, c) : sinkLayout.valueOffset(t, c);
                out[t * d + c] = Fp16.decode(image.sinks().get(SHORT, at));
            }
        }
        PageLayout layout = setup.layout();
        LayerCalibration calibration = setup.layer(layer);
        int p = layout.pageTokens();
        int b = layout.bits();
        float[] pre = new float[d];
        int packed = setup.occupancy().packedTokens(stored);
        for (int slot = 0; slot < packed; slot++) {
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
                long codes = layout.offset(Part.KEY_CODES) / 4;
                for (int c = 0; c < d; c++) {
                    int code = BitPacking.unpack(page, codes + layout.keyWord(c >>> 5, 0, r), p, b, c & 31);
                    pre[c] = calibration.keys().dequantize(c, code);
                }
            } else {
                float zero = Fp16.decode(page.get(SHORT, layout.offset(Part.VALUE_ZERO) + r * 2L));
                float scale = Fp16.decode(page.get(SHORT, layout.offset(Part.VALUE_SCALE) + r * 2L));
                long codes = layout.offset(Part.VALUE_CODES) / 4;
                for (int c = 0; c < d; c++) {
                    int h = c / headDim;
                    int j = c % headDim;
                    long base = codes + layout.valueWord(h, (r >>> 5) * b, j, headDim);
                    int code = BitPacking.unpack(page, base, headDim, b, r & 31);
                    pre[c] = zero + scale * calibration.values().dequant(code);
                }
            }
            if (setup.spec().hasOutliers()) {
                addResiduals(layout, image, page, r, tensor, pre);
            }
            if (keys) {
                for (int h = 0; h < shape.kvHeads(); h++) {
                    shape.rope().apply(pre, h * headDim, firstPosition + t);
                }
            }
            System.arraycopy(pre, 0, out, t * d, d);
        }
        return out;
    }

    private static void addResiduals(PageLayout layout, LayerImage image, MemorySegment page, int r, Tensor tensor,
                                     float[] pre) {
        boolean keys = tensor == Tensor.KEYS;
        if (layout.sparseOutliers()) {
            long starts = layout.offset(keys ? Part.KEY_OUT_START : Part.VALUE_OUT_START);
            List<MemorySegment> chunks = image.chunks(tensor);
            int from = page.get(INT, starts + r * 4L);
            int to = page.get(INT, starts + (r + 1) * 4L);
            for (int e = from; e < to; e++) {
                MemorySegment chunk = chunks.get(EntryChunks.chunk(e));
                pre[chunk.get(SHORT, EntryChunks.channelOffset(e))] += Fp16.decode(chunk.get(SHORT,
                        EntryChunks.valueOffset(e)));
            }
            return;
        }
        int slots = keys ? layout.keySlots() : layout.valueSlots();
        long channels = layout.offset(keys ? Part.KEY_OUT_CHANNEL : Part.VALUE_OUT_CHANNEL);
        long values = layout.offset(keys ? Part.KEY_OUT_VALUE : Part.VALUE_OUT_VALUE);
        for (int i = 0; i < slots; i++) {
            long at = (keys ? layout.keySlot(r, i) : layout.valueSlot(r, i)) * 2;
            pre[page.get(SHORT, channels + at)] += Fp16.decode(page.get(SHORT, values + at));
        }
    }
}
