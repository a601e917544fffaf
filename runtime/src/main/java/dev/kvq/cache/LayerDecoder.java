package dev.kvq.cache;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.quant.BitPacking;
import dev.kvq.quant.Fp16;
import dev.kvq.quant.QuantSpec;
import java.lang.foreign.MemorySegment;
import dev.kvq.layout.PageLayout;

/**
 * Decodes a layer back to floats with plain scalar code, independent of the attention kernels: the
 * oracle the kernels are tested against (keys post-RoPE, residuals added).
 */
final class LayerDecoder {
    private LayerDecoder() {}

    static float[] decode(LayerStore s, boolean keys) {
        AttentionShape shape = s.shape;
        int d = shape.kvChannels();
        int headDim = shape.headDim();
        float[] out = new float[s.tokens * d];
        int sinks = s.sinkTokens();
        long valueBase = (long) s.sinkCapacity * d * 2;
        for (int t = 0; t < sinks; t++) {
            for (int c = 0; c < d; c++) {
                out[t * d + c] = KvCache.half(s.sinks, (keys ? 0 : valueBase) + ((long) t * d + c) * 2);
            }
        }
        PageLayout layout = s.layout;
        int p = layout.pageTokens();
        int b = s.spec.bits();
        float[] pre = new float[d];
        for (int slot = 0; slot < s.packedTokens(); slot++) {
            MemorySegment page = s.pages.get(slot / p);
            int r = slot % p;
            int t = sinks + slot;
            if (s.spec.mode() != QuantSpec.Mode.NUQ) {
                boolean half = s.spec.mode() == QuantSpec.Mode.FP16;
                for (int c = 0; c < d; c++) {
                    int h = c / headDim;
                    int j = c % headDim;
                    long index = keys ? ((long) h * headDim + j) * p + r : ((long) h * p + r) * headDim + j;
                    long base = keys ? s.keysOffset : s.valuesOffset;
                    out[t * d + c] = half ? Fp16.decode(page.get(LayerStore.SHORT, base + index * 2))
                            : page.get(LayerStore.FLOAT, base + index * 4);
                }
                continue;
            }
            if (keys) {
                for (int c = 0; c < d; c++) {
                    int code = BitPacking.unpack(page, s.keyCodesOffset / 4 + (long) (c >>> 5) * b * p + r, p, b, c & 31);
                    pre[c] = s.keyQuantizer.dequantize(c, code);
                }
            } else {
                float zero = Fp16.decode(page.get(LayerStore.SHORT, s.valueZeroOffset + r * 2L));
                float scale = Fp16.decode(page.get(LayerStore.SHORT, s.valueScaleOffset + r * 2L));
                for (int c = 0; c < d; c++) {
                    int h = c / headDim;
                    int j = c % headDim;
                    long base = s.valueCodesOffset / 4 + layout.valueWord(h, (r >>> 5) * b, j, headDim);
                    int code = BitPacking.unpack(page, base, headDim, b, r & 31);
                    pre[c] = zero + scale * s.valueQuantizer.codebook().dequant(code);
                }
            }
            addResiduals(s, page, r, keys, pre);
            if (keys) {
                for (int h = 0; h < shape.kvHeads(); h++) {
                    shape.rope().apply(pre, h * headDim, s.firstPosition + t);
                }
            }
            System.arraycopy(pre, 0, out, t * d, d);
        }
        return out;
    }

    private static void addResiduals(LayerStore s, MemorySegment page, int r, boolean keys, float[] pre) {
        if (!s.spec.hasOutliers()) {
            return;
        }
        if (s.layout.sparseOutliers()) {
            long startOffset = keys ? s.keyOutStartOffset : s.valueOutStartOffset;
            SparseEntries entries = keys ? s.keyEntries : s.valueEntries;
            int from = page.get(LayerStore.INT, startOffset + r * 4L);
            int to = page.get(LayerStore.INT, startOffset + (r + 1) * 4L);
            for (int e = from; e < to; e++) {
                pre[entries.channel(e)] += Fp16.decode(entries.value(e));
            }
            return;
        }
        int slots = keys ? s.layout.keySlots() : s.layout.valueSlots();
        long channels = keys ? s.keyOutChannelOffset : s.valueOutChannelOffset;
        long values = keys ? s.keyOutValueOffset : s.valueOutValueOffset;
        for (int i = 0; i < slots; i++) {
            long at = ((long) r * slots + i) * 2;
            pre[page.get(LayerStore.SHORT, channels + at)] += Fp16.decode(page.get(LayerStore.SHORT, values + at));
        }
    }
}
