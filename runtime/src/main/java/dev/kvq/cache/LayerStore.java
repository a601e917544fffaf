package dev.kvq.cache;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.quant.BitPacking;
import dev.kvq.quant.Checks;
import dev.kvq.quant.Fp16;
import dev.kvq.quant.KeyQuantizer;
import dev.kvq.quant.LayerCalibration;
import dev.kvq.quant.QuantSpec;
import dev.kvq.quant.QuantizedToken;
import dev.kvq.quant.ValueQuantizer;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import dev.kvq.layout.PageLayout;
import dev.kvq.layout.MemoryReport;

/**
 * One layer of one sequence: its pages, sink tokens and sparse entries, and the appenders that fill
 * them. Everything here follows {@link PageLayout}; attention reads it in {@link CpuAttention}.
 */
final class LayerStore {
    static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED;
    static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;
    static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;

    final AttentionShape shape;
    final QuantSpec spec;
    final PageLayout layout;
    final int sinkCapacity;          // n_sink for nuq, 0 for the baselines
    final long firstPosition;        // RoPE position of the sequence's first token
    final List<MemorySegment> pages = new ArrayList<>();
    final ArrayDeque<MemorySegment> spare = new ArrayDeque<>();
    final SparseEntries keyEntries = new SparseEntries();
    final SparseEntries valueEntries = new SparseEntries();
    MemorySegment sinks;             // fp16 keys post-RoPE [n_sink][D], then fp16 values [n_sink][D]
    int tokens;                      // stored tokens, sinks included

    // quantization state (nuq only)
    final KeyQuantizer keyQuantizer;
    final ValueQuantizer valueQuantizer;
    final int[] keyTable;            // [D][16] float bits of z_c + s_c·c'_K[x mod 2^b]
    final int[] valueTable;          // [16] float bits of c'_V[x mod 2^b]
    private final QuantizedToken keyToken;
    private final QuantizedToken valueToken;
    private final int keyCap;
    private final float[] rotated;   // [D] scratch for post-RoPE keys
    private final int[] groupWords = new int[4];

    // byte offsets of the page parts
    final long keyCodesOffset;
    final long valueCodesOffset;
    final long valueZeroOffset;
    final long valueScaleOffset;
    final long keyOutChannelOffset;
    final long keyOutValueOffset;
    final long valueOutChannelOffset;
    final long valueOutValueOffset;
    final long keyOutStartOffset;
    final long valueOutStartOffset;
    final long keysOffset;
    final long valuesOffset;

    LayerStore(AttentionShape shape, QuantSpec spec, PageLayout layout, LayerCalibration calibration,
               long firstPosition) {
        this.shape = shape;
        this.firstPosition = firstPosition;
        this.spec = spec;
        this.layout = layout;
        int d = shape.kvChannels();
        this.rotated = new float[d];
        boolean nuq = spec.quantized();
        this.sinkCapacity = nuq ? spec.sinkTokens() : 0;
        if (nuq) {
            keyQuantizer = calibration.keys();
            valueQuantizer = new ValueQuantizer(calibration.values(), spec, d);
            int mask = (1 << spec.bits()) - 1;
            keyTable = new int[d * 16];
            for (int c = 0; c < d; c++) {
                for (int x = 0; x < 16; x++) {
                    keyTable[c * 16 + x] = Float.floatToRawIntBits(keyQuantizer.dequantize(c, x & mask));
                }
            }
            valueTable = new int[16];
            for (int x = 0; x < 16; x++) {
                valueTable[x] = Float.floatToRawIntBits(calibration.values().dequant(x & mask));
            }
            keyToken = new QuantizedToken(d);
            valueToken = new QuantizedToken(d);
            keyCap = layout.sparseOutliers() ? Integer.MAX_VALUE : spec.keyOutlierCap(d);
        } else {
            keyQuantizer = null;
            valueQuantizer = null;
            keyTable = null;
            valueTable = null;
            keyToken = null;
            valueToken = null;
            keyCap = 0;
        }
        keyCodesOffset = offset("keyCodes");
        valueCodesOffset = offset("valueCodes");
        valueZeroOffset = offset("valueZero");
        valueScaleOffset = offset("valueScale");
        keyOutChannelOffset = offset("keyOutChannel");
        keyOutValueOffset = offset("keyOutValue");
        valueOutChannelOffset = offset("valueOutChannel");
        valueOutValueOffset = offset("valueOutValue");
        keyOutStartOffset = offset("keyOutStart");
        valueOutStartOffset = offset("valueOutStart");
        keysOffset = offset("keys");
        valuesOffset = offset("values");
    }

    private long offset(String part) {
        return layout.has(part) ? layout.offset(part) : -1;
    }

    int packedTokens() {
        return Math.max(0, tokens - sinkCapacity);
    }

    int sinkTokens() {
        return Math.min(tokens, sinkCapacity);
    }

    /** Pages needed for {@code packed} packed tokens. */
    int pagesFor(long packed) {
        return (int) ((packed + layout.pageTokens() - 1) / layout.pageTokens());
    }

    /** Sparse entries that appending these tokens will add (the exact count, computed before any write). */
    long keyEntriesNeeded(float[] keys, int from, int n) {
        long count = 0;
        int d = shape.kvChannels();
        for (int t = from; t < n; t++) {
            for (int c = 0; c < d; c++) {
                float x = keys[t * d + c];
                if (x > keyQuantizer.upper(c) || x < keyQuantizer.lower(c)) {
                    count++;
                }
            }
        }
        return count;
    }

    long valueEntriesNeeded(int n) {
        return (long) n * spec.valueOutliersPerToken(shape.kvChannels());
    }

    /**
     * Rejects tokens whose stored form would overflow fp16 although every input is within the fp16
     * range: a key pair stored after RoPE (sink tokens, the fp16 baseline) whose rotation can exceed
     * 65504, or an outlier residual beyond it. Runs before anything is allocated or written, so a
     * rejected append leaves the cache unchanged, and it is at least as strict as the quantizers.
     */
    void requireStorable(float[] keys, float[] values, int n, int layer) {
        int d = shape.kvChannels();
        int headDim = shape.headDim();
        double maxSquare = (double) Checks.FP16_MAX * Checks.FP16_MAX;
        int top = spec.quantized() ? (1 << spec.bits()) - 1 : 0;
        for (int t = 0; t < n; t++) {
            int off = t * d;
            long position = (long) tokens + t;
            if (spec.mode() == QuantSpec.Mode.FP16 || position < sinkCapacity) {
                for (int c = 0; c < d; c++) {
                    int j = c % headDim;
                    int partner = c - j + shape.rope().pairing().partner(j, headDim);
                    double a = keys[off + c];
                    double b = keys[off + partner];
                    if (a * a + b * b > maxSquare) {
                        throw new IllegalArgumentException("keys hold the RoPE pair (" + a + ", " + b + ") at token " + t
                                + ", channels " + c + "/" + partner + " of layer " + layer + ": rotated, it can exceed "
                                + "the fp16 maximum 65504 of the stored keys");
                    }
                }
            } else if (spec.quantized() && spec.hasOutliers()) {
                for (int c = 0; c < d; c++) {
                    float x = keys[off + c];
                    // an element beyond a threshold takes the extreme code; its residual is stored in fp16
                    float residual = x > keyQuantizer.upper(c) ? x - keyQuantizer.dequantize(c, top)
                            : x < keyQuantizer.lower(c) ? x - keyQuantizer.dequantize(c, 0) : 0f;
                    if (Math.abs(residual) > Checks.FP16_MAX) {
                        throw new IllegalArgumentException("keys hold " + x + " at token " + t + ", channel " + c
                                + " of layer " + layer + ": its outlier residual " + residual
                                + " exceeds the fp16 range of the stored residuals");
                    }
                }
                // value residuals are taken against a point inside the token's own range (plus fp16
                // rounding of zero and scale), so a span within fp16 range minus that rounding is safe
                float lo = Float.POSITIVE_INFINITY;
                float hi = Float.NEGATIVE_INFINITY;
                for (int c = 0; c < d; c++) {
                    lo = Math.min(lo, values[off + c]);
                    hi = Math.max(hi, values[off + c]);
                }
                if (hi - lo > MAX_VALUE_SPAN) {
                    throw new IllegalArgumentException("values of token " + t + " of layer " + layer + " span ["
                            + lo + ", " + hi + "], wider than the " + MAX_VALUE_SPAN
                            + " that fp16 outlier residuals can hold");
                }
            }
        }
    }

    /** Widest span of one token's values with outliers: the fp16 maximum less two fp16 rounding steps. */
    static final float MAX_VALUE_SPAN = Checks.FP16_MAX - 64;

    /** Writes token {@code t} of the batch (validated) at sequence position {@code position}. */
    void write(float[] keys, float[] values, int t, int position) {
        int d = shape.kvChannels();
        int off = t * d;
        if (position < sinkCapacity) {
            writeSink(keys, values, off, position);
            return;
        }
        int slot = position - sinkCapacity;
        MemorySegment page = pages.get(slot / layout.pageTokens());
        int r = slot % layout.pageTokens();
        switch (spec.mode()) {
            case NUQ -> writePacked(page, r, keys, values, off);
            case FP16, FP32 -> writePlain(page, r, keys, values, off, position);
        }
    }

    private void writeSink(float[] keys, float[] values, int off, int position) {
        int d = shape.kvChannels();
        System.arraycopy(keys, off, rotated, 0, d);
        for (int h = 0; h < shape.kvHeads(); h++) {
            shape.rope().apply(rotated, h * shape.headDim(), firstPosition + position);
        }
        long keyAt = (long) position * d * 2;
        long valueAt = ((long) sinkCapacity * d + (long) position * d) * 2;
        for (int c = 0; c < d; c++) {
            sinks.set(SHORT, keyAt + c * 2L, Fp16.encode(rotated[c]));
            sinks.set(SHORT, valueAt + c * 2L, Fp16.encode(values[off + c]));
        }
    }

    private void writePacked(MemorySegment page, int r, float[] keys, float[] values, int off) {
        int d = shape.kvChannels();
        int b = spec.bits();
        int p = layout.pageTokens();
        keyQuantizer.quantize(keys, off, keyToken, keyCap);
        // keys: pack each 32-channel group into b words, then store them (the slot's words start zero)
        for (int g = 0; g * 32 < d; g++) {
            int n = Math.min(32, d - g * 32);
            java.util.Arrays.fill(groupWords, 0);
            for (int e = 0; e < n; e++) {
                BitPacking.orCode(groupWords, 0, 1, b, e, keyToken.codes[g * 32 + e]);
            }
            for (int w = 0; w < b; w++) {
                page.set(INT, keyCodesOffset + (layout.keyWord(g, w, r)) * 4, groupWords[w]);
            }
        }
        valueQuantizer.quantize(values, off, valueToken);
        page.set(SHORT, valueZeroOffset + r * 2L, Fp16.encode(valueToken.zero));
        page.set(SHORT, valueScaleOffset + r * 2L, Fp16.encode(valueToken.scale));
        ValuePacking.orToken(page, valueCodesOffset, layout, shape, r, valueToken.codes);
        if (layout.sparseOutliers()) {
            page.set(INT, keyOutStartOffset + r * 4L, keyEntries.size());
            for (int i = 0; i < keyToken.outlierCount; i++) {
                keyEntries.add(keyToken.outlierChannels[i], keyToken.outlierResiduals[i]);
            }
            page.set(INT, keyOutStartOffset + (r + 1) * 4L, keyEntries.size());
            page.set(INT, valueOutStartOffset + r * 4L, valueEntries.size());
            for (int i = 0; i < valueToken.outlierCount; i++) {
                valueEntries.add(valueToken.outlierChannels[i], valueToken.outlierResiduals[i]);
            }
            page.set(INT, valueOutStartOffset + (r + 1) * 4L, valueEntries.size());
        } else if (spec.hasOutliers()) {
            int ks = layout.keySlots();
            for (int i = 0; i < keyToken.outlierCount; i++) {
                page.set(SHORT, keyOutChannelOffset + ((long) r * ks + i) * 2, (short) keyToken.outlierChannels[i]);
                page.set(SHORT, keyOutValueOffset + ((long) r * ks + i) * 2, keyToken.outlierResiduals[i]);
            }
            int vs = layout.valueSlots();
            for (int i = 0; i < valueToken.outlierCount; i++) {
                page.set(SHORT, valueOutChannelOffset + ((long) r * vs + i) * 2, (short) valueToken.outlierChannels[i]);
                page.set(SHORT, valueOutValueOffset + ((long) r * vs + i) * 2, valueToken.outlierResiduals[i]);
            }
        }
    }

    private void writePlain(MemorySegment page, int r, float[] keys, float[] values, int off, int position) {
        int d = shape.kvChannels();
        int headDim = shape.headDim();
        int p = layout.pageTokens();
        boolean half = spec.mode() == QuantSpec.Mode.FP16;
        System.arraycopy(keys, off, rotated, 0, d);
        for (int h = 0; h < shape.kvHeads(); h++) {
            shape.rope().apply(rotated, h * headDim, firstPosition + position);
        }
        for (int c = 0; c < d; c++) {
            int h = c / headDim;
            int j = c - h * headDim;
            long keyIndex = ((long) h * headDim + j) * p + r;      // [kvHeads][headDim][P]
            long valueIndex = ((long) h * p + r) * headDim + j;    // [kvHeads][P][headDim]
            if (half) {
                page.set(SHORT, keysOffset + keyIndex * 2, Fp16.encode(rotated[c]));
                page.set(SHORT, valuesOffset + valueIndex * 2, Fp16.encode(values[off + c]));
            } else {
                page.set(FLOAT, keysOffset + keyIndex * 4, rotated[c]);
                page.set(FLOAT, valuesOffset + valueIndex * 4, values[off + c]);
            }
        }
    }

    /** Bytes by part, from what this layer really holds. */
    MemoryReport memory() {
        int d = shape.kvChannels();
        long pageBytes = layout.pageBytes();
        long allocatedPages = (pages.size() + spare.size()) * pageBytes;
        int packed = packedTokens();
        int p = layout.pageTokens();
        long codes;
        long scales = 0;
        long outliers = 0;
        long sparseSlack = 0;
        if (spec.quantized()) {
            codes = (layout.bytes("keyCodes") + layout.bytes("valueCodes")) * packed / p;
            scales = (layout.bytes("valueZero") + layout.bytes("valueScale")) * packed / p;
            if (layout.sparseOutliers()) {
                outliers = (layout.bytes("keyOutStart") + layout.bytes("valueOutStart")) * packed / p
                        + 4L * (keyEntries.size() + valueEntries.size());
                sparseSlack = keyEntries.allocatedBytes() + valueEntries.allocatedBytes()
                        - 4L * (keyEntries.size() + valueEntries.size());
            } else if (spec.hasOutliers()) {
                outliers = (layout.bytes("keyOutChannel") + layout.bytes("keyOutValue")
                        + layout.bytes("valueOutChannel") + layout.bytes("valueOutValue")) * packed / p;
            }
        } else {
            codes = (layout.bytes("keys") + layout.bytes("values")) * packed / p;
        }
        long inPages = codes + scales + (layout.sparseOutliers() ? (layout.bytes("keyOutStart")
                + layout.bytes("valueOutStart")) * packed / p : outliers);
        long sinkBytes = sinks == null ? 0 : sinks.byteSize();
        long side = keyTable == null ? 0 : (keyTable.length + valueTable.length) * 4L + 4L * 4 * d;
        return new MemoryReport(codes, scales, outliers, sinkBytes, side,
                allocatedPages - inPages + sparseSlack, tokens, d);
    }
}
