package dev.kvq.layout;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.quant.QuantSpec;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * The byte layout of one page of one layer: {@code pageTokens} tokens, a multiple of 32 (spec §8).
 * This class is the single definition of the cache's storage: the parts are the constants of
 * {@link Part}, their sizes are decided in one place (the constructor), and the index helpers below
 * are what every reader uses (the CPU engine's appender, kernels and reference decoder, the CUDA
 * engine's argument builders, snapshots). The CUDA kernels' shape comments mirror it. Every part
 * starts 64-byte aligned so that SIMD and GPU vector loads never straddle it.
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
 *                                  into the layer's entry store ({@link EntryChunks})
 * fp16 / fp32 baselines (keys post-RoPE):
 *   keys    fp16|fp32 [kvHeads][headDim][P]   tokens contiguous, like the packed keys
 *   values  fp16|fp32 [kvHeads][P][headDim]   channels contiguous, like the packed values
 * </pre>
 *
 * <p>Beside the pages a layer holds its sink tokens ({@link SinkLayout}) and, for the sparse form, its
 * outlier entries ({@link EntryChunks}); {@link Occupancy} says how many of each a number of stored
 * tokens takes.
 */
public final class PageLayout {
    /** Alignment of every part. */
    public static final long ALIGN = 64;

    /**
     * The parts a page can hold, in the order of the table above (also the order of the kernels' part
     * offsets). Which of them a page has depends on the spec ({@link #has}).
     */
    public enum Part {
        /** Packed key codes, int32 [G·b][P]. */
        KEY_CODES("keyCodes", Role.CODES),
        /** Packed value codes, int32 [kvHeads][P/32·b][headDim]. */
        VALUE_CODES("valueCodes", Role.CODES),
        /** Per-token value zero-point, fp16 [P]. */
        VALUE_ZERO("valueZero", Role.SCALES),
        /** Per-token value scale, fp16 [P]. */
        VALUE_SCALE("valueScale", Role.SCALES),
        /** Fixed key outlier slots: channels, int16 [P][Sk]. */
        KEY_OUT_CHANNEL("keyOutChannel", Role.OUTLIER_SLOTS),
        /** Fixed key outlier slots: residuals, fp16 [P][Sk]. */
        KEY_OUT_VALUE("keyOutValue", Role.OUTLIER_SLOTS),
        /** Fixed value outlier slots: channels, int16 [P][Sv]. */
        VALUE_OUT_CHANNEL("valueOutChannel", Role.OUTLIER_SLOTS),
        /** Fixed value outlier slots: residuals, fp16 [P][Sv]. */
        VALUE_OUT_VALUE("valueOutValue", Role.OUTLIER_SLOTS),
        /** Sparse key outliers: each slot's first entry, int32 [P+1]. */
        KEY_OUT_START("keyOutStart", Role.OUTLIER_STARTS),
        /** Sparse value outliers: each slot's first entry, int32 [P+1]. */
        VALUE_OUT_START("valueOutStart", Role.OUTLIER_STARTS),
        /** Baseline keys post-RoPE, fp16 or fp32 [kvHeads][headDim][P]. */
        KEYS("keys", Role.CODES),
        /** Baseline values, fp16 or fp32 [kvHeads][P][headDim]. */
        VALUES("values", Role.CODES);

        private final String layoutName;
        final Role role;

        Part(String layoutName, Role role) {
            this.layoutName = layoutName;
            this.role = role;
        }

        /**
         * The part's member name in {@link #layout()} and in {@code docs/FORMATS.md}.
         *
         * @return e.g. {@code keyCodes}
         */
        public String layoutName() {
            return layoutName;
        }

        /**
         * The part with member name {@code name}.
         *
         * @param name a name from the table above, e.g. {@code keyCodes}
         * @return the part
         * @throws IllegalArgumentException when no part has that name
         */
        public static Part named(String name) {
            for (Part p : values()) {
                if (p.layoutName.equals(name)) {
                    return p;
                }
            }
            throw new IllegalArgumentException("no page part is named '" + name + "'");
        }
    }

    /** What a part's bytes are, for the memory report. */
    enum Role {
        /** codes or baseline elements */
        CODES,
        /** per-token scale and zero-point */
        SCALES,
        /** fixed outlier slots */
        OUTLIER_SLOTS,
        /** start pointers into the sparse entry store */
        OUTLIER_STARTS
    }

    private final StructLayout layout;
    private final Map<Part, long[]> parts = new EnumMap<>(Part.class);   // part → {offset, bytes}
    private final int pageTokens;
    private final int bits;
    private final int kvHeads;
    private final int headDim;
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
        this.kvHeads = shape.kvHeads();
        this.headDim = shape.headDim();
        this.channelGroups = (d + 31) / 32;
        this.sparse = spec.hasOutliers() && spec.outlierForm() == QuantSpec.OutlierForm.TOKEN_MAJOR_SPARSE;
        boolean fixed = spec.hasOutliers() && !sparse;
        this.keySlots = fixed ? 2 * spec.keyOutlierCap(d) : 0;
        this.valueSlots = fixed ? spec.valueOutliersPerToken(d) : 0;
        List<MemoryLayout> members = new ArrayList<>();
        int p = pageTokens;
        switch (mode) {
            case NUQ -> {
                part(members, Part.KEY_CODES, ValueLayout.JAVA_INT, (long) channelGroups * bits * p);
                part(members, Part.VALUE_CODES, ValueLayout.JAVA_INT, (long) kvHeads * (p / 32) * bits * headDim);
                part(members, Part.VALUE_ZERO, ValueLayout.JAVA_SHORT, p);
                part(members, Part.VALUE_SCALE, ValueLayout.JAVA_SHORT, p);
                if (fixed) {
                    part(members, Part.KEY_OUT_CHANNEL, ValueLayout.JAVA_SHORT, (long) p * keySlots);
                    part(members, Part.KEY_OUT_VALUE, ValueLayout.JAVA_SHORT, (long) p * keySlots);
                    part(members, Part.VALUE_OUT_CHANNEL, ValueLayout.JAVA_SHORT, (long) p * valueSlots);
                    part(members, Part.VALUE_OUT_VALUE, ValueLayout.JAVA_SHORT, (long) p * valueSlots);
                }
                if (sparse) {
                    part(members, Part.KEY_OUT_START, ValueLayout.JAVA_INT, p + 1L);
                    part(members, Part.VALUE_OUT_START, ValueLayout.JAVA_INT, p + 1L);
                }
            }
            case FP16 -> {
                part(members, Part.KEYS, ValueLayout.JAVA_SHORT, (long) d * p);
                part(members, Part.VALUES, ValueLayout.JAVA_SHORT, (long) d * p);
            }
            case FP32 -> {
                part(members, Part.KEYS, ValueLayout.JAVA_FLOAT, (long) d * p);
                part(members, Part.VALUES, ValueLayout.JAVA_FLOAT, (long) d * p);
            }
        }
        this.layout = MemoryLayout.structLayout(members.toArray(MemoryLayout[]::new)).withByteAlignment(ALIGN);
        for (Part part : Part.values()) {
            if (layout.memberLayouts().stream().anyMatch(m -> m.name().filter(part.layoutName::equals).isPresent())) {
                PathElement at = PathElement.groupElement(part.layoutName);
                parts.put(part, new long[] {layout.byteOffset(at), layout.select(at).byteSize()});
            }
        }
    }

    private static void part(List<MemoryLayout> members, Part part, ValueLayout element, long count) {
        long used = 0;
        for (MemoryLayout m : members) {
            used += m.byteSize();
        }
        long pad = (ALIGN - used % ALIGN) % ALIGN;
        if (pad > 0) {
            members.add(MemoryLayout.paddingLayout(pad));
        }
        long bytes = count * element.byteSize();
        long tail = (ALIGN - bytes % ALIGN) % ALIGN;
        members.add(MemoryLayout.sequenceLayout(count, element).withName(part.layoutName));
        if (tail > 0) {
            members.add(MemoryLayout.paddingLayout(tail));
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
     * Whether this layout has {@code part} (which parts exist depends on the spec).
     *
     * @param part a page part
     * @return true when the page holds it
     */
    public boolean has(Part part) {
        return parts.containsKey(part);
    }

    /**
     * Byte offset of {@code part} inside a page.
     *
     * @param part a part this layout has
     * @return the offset in bytes
     * @throws IllegalArgumentException when the page has no such part
     */
    public long offset(Part part) {
        return entry(part)[0];
    }

    /**
     * The offset of {@code part}, or 0 for a part this page does not have, which nothing reads then:
     * the CUDA kernels are passed every part they could read this way ({@code kvq_kernels.cuh}), and
     * the CPU engine resolves its offsets once with it.
     *
     * @param part a page part
     * @return the offset in bytes, or 0
     */
    public long offsetOrZero(Part part) {
        long[] e = parts.get(part);
        return e == null ? 0 : e[0];
    }

    /**
     * Bytes of {@code part} (its padding excluded); 0 for a part this page does not have.
     *
     * @param part a page part
     * @return the size in bytes
     */
    public long bytes(Part part) {
        long[] e = parts.get(part);
        return e == null ? 0 : e[1];
    }

    /** Bytes of the parts with {@code role}, summed. */
    long bytes(Role role) {
        long sum = 0;
        for (Map.Entry<Part, long[]> e : parts.entrySet()) {
            if (e.getKey().role == role) {
                sum += e.getValue()[1];
            }
        }
        return sum;
    }

    private long[] entry(Part part) {
        long[] e = parts.get(part);
        if (e == null) {
            throw new IllegalArgumentException("a " + mode + " page " + (mode == QuantSpec.Mode.NUQ
                    ? (sparse ? "with sparse outliers " : keySlots > 0 ? "with fixed outlier slots " : "without outliers ")
                    : "") + "has no part " + part.layoutName + " (it has " + parts.keySet() + ")");
        }
        return e;
    }

    /**
     * Byte offset of the named part inside a page.
     *
     * @param part a part name from the table above, e.g. {@code keyCodes}
     * @return the offset in bytes
     * @throws IllegalArgumentException for an unknown name or a part this page does not have
     */
    public long offset(String part) {
        return offset(Part.named(part));
    }

    /**
     * Bytes of the named part (its padding excluded).
     *
     * @param part a part name from the table above
     * @return the size in bytes
     * @throws IllegalArgumentException for an unknown name or a part this page does not have
     */
    public long bytes(String part) {
        return entry(Part.named(part))[1];
    }

    /**
     * Whether this layout has the named part (which parts exist depends on the spec).
     *
     * @param part a part name from the table above
     * @return true when the page holds it; false also for an unknown name
     */
    public boolean has(String part) {
        for (Part p : parts.keySet()) {
            if (p.layoutName.equals(part)) {
                return true;
            }
        }
        return false;
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
     * Bytes of one baseline element ({@link Part#KEYS}, {@link Part#VALUES}).
     *
     * @return 2 for fp16, 4 for fp32
     * @throws IllegalStateException for nuq pages, which hold codes
     */
    public int elementBytes() {
        return switch (mode) {
            case FP16 -> 2;
            case FP32 -> 4;
            case NUQ -> throw new IllegalStateException("nuq pages hold packed codes, not fp16/fp32 elements");
        };
    }

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

    /**
     * Element index (from the start of {@code keys}) of in-head channel {@code j} of KV head {@code h}
     * at slot {@code r}: {@code [kvHeads][headDim][P]}.
     *
     * @param h KV head
     * @param j channel within the head
     * @param r slot within the page
     * @return the element index; times {@link #elementBytes()} for bytes
     */
    public long keyElement(int h, int j, int r) {
        return ((long) h * headDim + j) * pageTokens + r;
    }

    /**
     * Element index (from the start of {@code values}) of in-head channel {@code j} of KV head
     * {@code h} at slot {@code r}: {@code [kvHeads][P][headDim]}.
     *
     * @param h KV head
     * @param r slot within the page
     * @param j channel within the head
     * @return the element index; times {@link #elementBytes()} for bytes
     */
    public long valueElement(int h, int r, int j) {
        return ((long) h * pageTokens + r) * headDim + j;
    }

    /**
     * Int16 index (from the start of {@code keyOutChannel} or {@code keyOutValue}) of fixed key slot
     * {@code i} of slot {@code r}.
     *
     * @param r slot within the page
     * @param i outlier slot, {@code [0, Sk)}
     * @return the int16 index
     */
    public long keySlot(int r, int i) {
        return (long) r * keySlots + i;
    }

    /**
     * Int16 index (from the start of {@code valueOutChannel} or {@code valueOutValue}) of fixed value
     * slot {@code i} of slot {@code r}.
     *
     * @param r slot within the page
     * @param i outlier slot, {@code [0, Sv)}
     * @return the int16 index
     */
    public long valueSlot(int r, int i) {
        return (long) r * valueSlots + i;
    }
}
