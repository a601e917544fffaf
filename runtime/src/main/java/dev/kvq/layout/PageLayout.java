package dev.kvq.layout;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.quant.QuantSpec;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * The byte layout of one page of one layer: {@code pageTokens} tokens, a multiple of 32 (spec §8).
 * This class is the single definition of the cache's storage; the CPU kernels, the appenders and the
 * CUDA kernels (whose shape comments mirror it) read the same bytes. Every part starts 64-byte aligned
 * so that SIMD and GPU vector loads never straddle it.
 *
 * <pre>
 * nuq (b bits, D = kvHeads·headDim channels, G = ⌈D/32⌉ channel groups, P = pageTokens):
 *   keyCodes      int32 [G·b][P]              word w of channel group g for slot r at (g·b + w)·P + r:
 *                                             tokens contiguous, the universal rule along channels
 *   valueCodes    int32 [kvHeads][P/32·b][headDim]   row = tokenGroup·b + w, the rule along tokens
 *   valueZero     fp16  [P]                    per-token zero-point
 *   valueScale    fp16  [P]                    per-token scale
 *   fixed-slot outliers (QuantSpec.OutlierForm.FIXED_SLOTS):
 *     keyOutChannel   int16 [P][Sk]   keyOutValue   fp16 [P][Sk]    Sk = 2·⌊τD⌋ + 2, ascending channels,
 *     valueOutChannel int16 [P][Sv]   valueOutValue fp16 [P][Sv]    Sv = 2(n_v − 1); unused slots (0, +0)
 *   token-major sparse outliers (TOKEN_MAJOR_SPARSE):
 *     keyOutStart   int32 [P+1]   valueOutStart int32 [P+1]    entry range of slot r: [start[r], start[r+1])
 *                                  into the layer's entry store (channel int16, value fp16)
 * fp16 / fp32 baselines (keys post-RoPE):
 *   keys    fp16|fp32 [kvHeads][headDim][P]   tokens contiguous, like the packed keys
 *   values  fp16|fp32 [kvHeads][P][headDim]   channels contiguous, like the packed values
 * </pre>
 */
public final class PageLayout {
    /** Alignment of every part. */
    public static final long ALIGN = 64;

    private final StructLayout layout;
    private final int pageTokens;
    private final int bits;
    private final int channelGroups;
    private final int keySlots;
    private final int valueSlots;
    private final boolean sparse;
    private final QuantSpec.Mode mode;

    /**
     * The page layout for a cache of {@code shape} and {@code spec}.
     *
     * @param shape the attention geometry
     * @param spec the quantization (decides which parts exist)
     * @param pageTokens tokens per page, a positive multiple of 32, at most 65536
     */
    public PageLayout(AttentionShape shape, QuantSpec spec, int pageTokens) {
        if (pageTokens <= 0 || pageTokens % 32 != 0) {
            throw new IllegalArgumentException("page size must be a positive multiple of 32 tokens, got " + pageTokens);
        }
        if (pageTokens > 1 << 16) {
            throw new IllegalArgumentException("page size " + pageTokens + " exceeds 65536 tokens");
        }
        int d = shape.kvChannels();
        spec.requireCompatible(d);
        this.pageTokens = pageTokens;
        this.mode = spec.mode();
        this.bits = spec.bits();
        this.channelGroups = (d + 31) / 32;
        this.sparse = spec.hasOutliers() && spec.outlierForm() == QuantSpec.OutlierForm.TOKEN_MAJOR_SPARSE;
        boolean fixed = spec.hasOutliers() && !sparse;
        this.keySlots = fixed ? 2 * spec.keyOutlierCap(d) : 0;
        this.valueSlots = fixed ? spec.valueOutliersPerToken(d) : 0;
        List<MemoryLayout> parts = new ArrayList<>();
        int p = pageTokens;
        switch (mode) {
            case NUQ -> {
                part(parts, "keyCodes", ValueLayout.JAVA_INT, (long) channelGroups * bits * p);
                part(parts, "valueCodes", ValueLayout.JAVA_INT, (long) shape.kvHeads() * (p / 32) * bits * shape.headDim());
                part(parts, "valueZero", ValueLayout.JAVA_SHORT, p);
                part(parts, "valueScale", ValueLayout.JAVA_SHORT, p);
                if (fixed) {
                    part(parts, "keyOutChannel", ValueLayout.JAVA_SHORT, (long) p * keySlots);
                    part(parts, "keyOutValue", ValueLayout.JAVA_SHORT, (long) p * keySlots);
                    part(parts, "valueOutChannel", ValueLayout.JAVA_SHORT, (long) p * valueSlots);
                    part(parts, "valueOutValue", ValueLayout.JAVA_SHORT, (long) p * valueSlots);
                }
                if (sparse) {
                    part(parts, "keyOutStart", ValueLayout.JAVA_INT, p + 1L);
                    part(parts, "valueOutStart", ValueLayout.JAVA_INT, p + 1L);
                }
            }
            case FP16 -> {
                part(parts, "keys", ValueLayout.JAVA_SHORT, (long) d * p);
                part(parts, "values", ValueLayout.JAVA_SHORT, (long) d * p);
            }
            case FP32 -> {
                part(parts, "keys", ValueLayout.JAVA_FLOAT, (long) d * p);
                part(parts, "values", ValueLayout.JAVA_FLOAT, (long) d * p);
            }
        }
        this.layout = MemoryLayout.structLayout(parts.toArray(MemoryLayout[]::new)).withByteAlignment(ALIGN);
    }

    private static void part(List<MemoryLayout> parts, String name, ValueLayout element, long count) {
        long used = 0;
        for (MemoryLayout m : parts) {
            used += m.byteSize();
        }
        long pad = (ALIGN - used % ALIGN) % ALIGN;
        if (pad > 0) {
            parts.add(MemoryLayout.paddingLayout(pad));
        }
        long bytes = count * element.byteSize();
        long tail = (ALIGN - bytes % ALIGN) % ALIGN;
        parts.add(MemoryLayout.sequenceLayout(count, element).withName(name));
        if (tail > 0) {
            parts.add(MemoryLayout.paddingLayout(tail));
        }
    }

    /**
     * The page as one struct of named, 64-byte aligned parts.
     *
     * @return the struct layout, with part names as in the table above
     */
    public StructLayout layout() {
        return layout;
    }

    /**
     * The size of one page.
     *
     * @return bytes, a multiple of {@link #ALIGN}
     */
    public long pageBytes() {
        return layout.byteSize();
    }

    /**
     * Byte offset of the named part inside a page.
     *
     * @param part a part name from the table above, e.g. {@code keyCodes}
     * @return the offset in bytes
     */
    public long offset(String part) {
        return layout.byteOffset(PathElement.groupElement(part));
    }

    /**
     * Bytes of the named part (its padding excluded).
     *
     * @param part a part name from the table above
     * @return the size in bytes
     */
    public long bytes(String part) {
        return layout.select(PathElement.groupElement(part)).byteSize();
    }

    /**
     * Whether this layout has the named part (which parts exist depends on the spec).
     *
     * @param part a part name from the table above
     * @return true when the page holds it
     */
    public boolean has(String part) {
        return layout.memberLayouts().stream().anyMatch(m -> m.name().filter(part::equals).isPresent());
    }

    /**
     * Tokens per page.
     *
     * @return a multiple of 32
     */
    public int pageTokens() { return pageTokens; }

    /**
     * The code width.
     *
     * @return bits per code, or 16/32 for the baselines
     */
    public int bits() { return bits; }

    /**
     * The number of 32-channel groups of the keys.
     *
     * @return {@code ⌈kvHeads·headDim/32⌉}
     */
    public int channelGroups() { return channelGroups; }

    /**
     * Fixed key outlier slots per token (0 unless FIXED_SLOTS with outliers).
     *
     * @return the slot count, {@code Sk}
     */
    public int keySlots() { return keySlots; }

    /**
     * Fixed value outlier slots per token.
     *
     * @return the slot count, {@code Sv}
     */
    public int valueSlots() { return valueSlots; }

    /**
     * Whether outliers live in the layer's entry store (token-major sparse) rather than in fixed slots.
     *
     * @return true for {@code TOKEN_MAJOR_SPARSE}
     */
    public boolean sparseOutliers() { return sparse; }

    /**
     * The storage mode.
     *
     * @return nuq, fp16 or fp32
     */
    public QuantSpec.Mode mode() { return mode; }

    /**
     * Word index (in int32 units from keyCodes) of word {@code w} of channel group {@code g}, slot {@code r}.
     *
     * @param g channel group
     * @param w word within the group, {@code [0, bits)}
     * @param r slot (token) within the page
     * @return the int32 index from the start of {@code keyCodes}
     */
    public long keyWord(int g, int w, int r) {
        return ((long) g * bits + w) * pageTokens + r;
    }

    /**
     * Word index (int32 units from valueCodes) of row {@code row} of KV head {@code h}, in-head channel {@code
     * j}.
     *
     * @param h KV head
     * @param row packed row, {@code tokenGroup·bits + w}
     * @param j channel within the head
     * @param headDim channels per head
     * @return the int32 index from the start of {@code valueCodes}
     */
    public long valueWord(int h, int row, int j, int headDim) {
        return ((long) h * (pageTokens / 32) * bits + row) * headDim + j;
    }
}
