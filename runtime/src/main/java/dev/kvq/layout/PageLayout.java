package dev.kvq.layout;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.quant.BitPacking;
import dev.kvq.quant.QuantSpec;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * The byte layout of one page of one layer in page format v2 ({@link #VERSION}): {@code pageTokens} tokens,
 * a multiple of 32 (spec §8). This class is the single definition of the cache's storage: the parts are the
 * constants of {@link Part}, their sizes are decided in one place (the constructor) from the layer's
 * {@link ChannelPlan}, and the index helpers below are what every reader uses (the CPU engine's appender,
 * kernels and reference decoder, the CUDA engine's argument builders, snapshots). The CUDA kernels' shape
 * comments mirror it ({@code kernels-cu/src/main/cuda/kvq_layout_v2.cuh}). Every part starts 64-byte aligned so
 * that SIMD and GPU vector loads never straddle it. The full text of the format — channel order, bit
 * streams, width groups, outlier head ends, the fp16 side buffer with the window ring, and what a decode
 * step reads — is {@code docs/FORMATS.md}, section "Cache pages: page format v2".
 *
 * <pre>
 * nuq (D = kvHeads·headDim channels, P = pageTokens, widths w from the channel plan):
 *   keyCodes      int32 [Kw][P]     Kw = ⌈Σ w_K / 32⌉; word k of slot r at k·P + r (tokens contiguous). Per
 *                                   token one little-endian bit stream in the plan's physical key order
 *                                   (head-major, RoPE pairs adjacent, widest first); {@link #keyWord}
 *   valueCodes    int32 [(P/32)·Σ_h W_h]   head h, token group tg, width group g, row w, position i at
 *                                   (P/32)·Σ_{h'&lt;h} W_h' + tg·W_h + offset_g + w·n_g + i; {@link #valueWord}
 *   valueZero     fp16  [P]          per-token zero-point
 *   valueScale    fp16  [P]          per-token scale
 *   fixed-slot outliers (QuantSpec.OutlierForm.FIXED_SLOTS):
 *     keyOutChannel   int16 [P][Sk]  keyOutValue   fp16 [P][Sk]    Sk = 2·⌊τD⌋ + 2, ascending channels,
 *     valueOutChannel int16 [P][Sv]  valueOutValue fp16 [P][Sv]    Sv = 2(n_v − 1); unused slots (0, +0)
 *     keyOutHeadEnd   uint8 [P][Hkv] valueOutHeadEnd uint8 [P][Hkv]  end (exclusive) of head h's slots
 *   token-major sparse outliers (TOKEN_MAJOR_SPARSE):
 *     keyOutStart   int32 [P+1]   valueOutStart int32 [P+1]    entry range of slot r: [start[r], start[r+1])
 *                                  into the layer's entry store ({@link EntryChunks})
 *     keyOutHeadEnd uint16 [P][Hkv] valueOutHeadEnd uint16 [P][Hkv]  head h's entries end at start[r] + end
 * fp16 / fp32 baselines (keys post-RoPE):
 *   keys    fp16|fp32 [kvHeads][headDim][P]   tokens contiguous, like the packed keys
 *   values  fp16|fp32 [kvHeads][P][headDim]   channels contiguous, like the packed values
 * </pre>
 *
 * <p>At one width b with interleaved RoPE pairs, D a multiple of 32 and no outliers a page is byte for
 * byte a page of format v1 ({@link #versionOneDifference}). Beside the pages a layer holds its fp16 side buffer
 * of sink tokens and the recent-token window ({@link SinkLayout}) and, for the sparse form, its outlier
 * entries ({@link EntryChunks}); {@link Occupancy} says how many of each a number of stored tokens takes.
 */
public final class PageLayout {
    /** Alignment of every part. */
    public static final long ALIGN = 64;

    /** The page format this class defines (snapshots name it; {@code docs/FORMATS.md}). */
    public static final int VERSION = 2;

    /** The most fixed outlier slots per token the uint8 head ends of format v2 can delimit. */
    public static final int MAX_FIXED_SLOTS = 255;

    /**
     * The parts a page can hold, in the order of the table above (also the order of the kernels' part
     * offsets). Which of them a page has depends on the spec ({@link #has}).
     */
    public enum Part {
        /** Packed key codes, int32 [Kw][P]. */
        KEY_CODES("keyCodes", Role.CODES),
        /** Packed value codes, int32 [(P/32)·Σ_h W_h]. */
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
        VALUES("values", Role.CODES),
        /** Where each KV head's key outliers end in a slot's list: uint8 [P][Hkv] (fixed), uint16 (sparse). */
        KEY_OUT_HEAD_END("keyOutHeadEnd", Role.OUTLIER_STARTS),
        /** Where each KV head's value outliers end in a slot's list: uint8 [P][Hkv] (fixed), uint16 (sparse). */
        VALUE_OUT_HEAD_END("valueOutHeadEnd", Role.OUTLIER_STARTS);

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
        /** start pointers into the sparse entry store, per-head ends of the outlier lists */
        OUTLIER_STARTS
    }

    private final StructLayout layout;
    private final Map<Part, long[]> parts = new EnumMap<>(Part.class);   // part → {offset, bytes}
    private final int pageTokens;
    private final int bits;
    private final int kvHeads;
    private final int headDim;
    private final ChannelPlan plan;
    private final int keySlots;
    private final int valueSlots;
    private final boolean sparse;
    private final QuantSpec.Mode mode;

    /**
     * The page layout for a cache of {@code shape} and {@code spec} whose channels all have the spec's
     * width (no bit allocation).
     *
     * @param shape the attention geometry
     * @param spec the quantization (decides which parts exist); not allocated
     * @param pageTokens tokens per page, a positive multiple of 32, at most 65536
     * @throws IllegalArgumentException for a spec with a bit allocation, whose widths come from a calibration
     */
    public PageLayout(AttentionShape shape, QuantSpec spec, int pageTokens) {
        this(shape, spec, uniformPlan(shape, spec), pageTokens);
    }

    private static ChannelPlan uniformPlan(AttentionShape shape, QuantSpec spec) {
        if (spec.allocated()) {
            throw new IllegalArgumentException(spec.name() + " allocates widths per channel: its page layout needs the"
                    + " calibration's channel plan");
        }
        return spec.quantized() ? ChannelPlan.uniform(shape, spec.bits()) : null;
    }

    /**
     * The page layout of one layer of a cache of {@code shape} and {@code spec} whose channels are laid out
     * by {@code plan}.
     *
     * @param shape the attention geometry
     * @param spec the quantization (decides which parts exist)
     * @param plan the layer's channel plan (nuq; null for the fp16/fp32 baselines)
     * @param pageTokens tokens per page, a positive multiple of 32, at most 65536
     */
    public PageLayout(AttentionShape shape, QuantSpec spec, ChannelPlan plan, int pageTokens) {
        if (pageTokens <= 0 || pageTokens % 32 != 0) {
            throw new IllegalArgumentException("page size must be a positive multiple of 32 tokens, got " + pageTokens);
        }
        if (pageTokens > 1 << 16) {
            throw new IllegalArgumentException("page size " + pageTokens + " exceeds 65536 tokens");
        }
        int d = shape.kvChannels();
        spec.requireCompatible(d);
        if (spec.quantized() != (plan != null)) {
            throw new IllegalArgumentException(spec.quantized() ? spec.name() + " pages need a channel plan"
                    : spec.name() + " pages hold no codes: no channel plan applies");
        }
        if (plan != null && (plan.kvHeads() != shape.kvHeads() || plan.headDim() != shape.headDim())) {
            throw new IllegalArgumentException("a channel plan of " + plan.kvHeads() + "×" + plan.headDim()
                    + " channels for a shape of " + shape.kvHeads() + "×" + shape.headDim());
        }
        this.pageTokens = pageTokens;
        this.mode = spec.mode();
        this.bits = spec.bits();
        this.kvHeads = shape.kvHeads();
        this.headDim = shape.headDim();
        this.plan = plan;
        this.sparse = spec.hasOutliers() && spec.outlierForm() == QuantSpec.OutlierForm.TOKEN_MAJOR_SPARSE;
        boolean fixed = spec.hasOutliers() && !sparse;
        this.keySlots = fixed ? 2 * spec.keyOutlierCap(d) : 0;
        this.valueSlots = fixed ? spec.valueOutliersPerToken(d) : 0;
        if (Math.max(keySlots, valueSlots) > MAX_FIXED_SLOTS) {
            throw new IllegalArgumentException(spec.name() + " over " + d + " channels keeps " + keySlots + " key and "
                    + valueSlots + " value outlier slots per token; fixed slots hold at most " + MAX_FIXED_SLOTS
                    + " (their per-head ends are one byte): use the token-major sparse form (-sparse)");
        }
        List<MemoryLayout> members = new ArrayList<>();
        int p = pageTokens;
        switch (mode) {
            case NUQ -> {
                part(members, Part.KEY_CODES, ValueLayout.JAVA_INT, (long) plan.keyWords() * p);
                part(members, Part.VALUE_CODES, ValueLayout.JAVA_INT, (long) (p / 32) * plan.valueWords());
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
                if (spec.hasOutliers()) {
                    // after the parts of format v1, so that a v1 page of the same spec is a prefix of this one
                    ValueLayout end = sparse ? ValueLayout.JAVA_SHORT : ValueLayout.JAVA_BYTE;
                    part(members, Part.KEY_OUT_HEAD_END, end, (long) p * kvHeads);
                    part(members, Part.VALUE_OUT_HEAD_END, end, (long) p * kvHeads);
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

    /**
     * What makes pages of {@code shape} and {@code spec} differ from pages of format v1, or null when they are
     * byte for byte the same (so a v1 image is a v2 image): the fp16/fp32 baselines, and nuq at one width
     * without outliers or a window, with interleaved RoPE pairs (key channels in their own order) and whole
     * 32-channel key groups.
     *
     * @param shape the attention geometry
     * @param spec the quantization
     * @return the first difference, in words, or null
     */
    public static String versionOneDifference(AttentionShape shape, QuantSpec spec) {
        String codes = versionOneCodeDifference(shape, spec);
        if (codes != null) {
            return codes;
        }
        return spec.quantized() && spec.hasOutliers() ? "outliers (each token's per-head ends of its outlier list)" : null;
    }

    /**
     * What makes the codes or the fp16 side buffer of pages of {@code shape} and {@code spec} differ from format
     * v1, or null when a v2 page is a v1 page plus the per-head ends of its outlier lists (which a reader can
     * derive from the lists: {@link #fillHeadEnds}). So a writer of format v1 (the CUDA engine's pack kernels)
     * writes these pages correctly exactly when this is null.
     *
     * @param shape the attention geometry
     * @param spec the quantization
     * @return the first difference, in words, or null
     */
    public static String versionOneCodeDifference(AttentionShape shape, QuantSpec spec) {
        String writer = versionOneWriterDifference(shape, spec);
        if (writer != null) {
            return writer;
        }
        if (spec.quantized() && !ChannelPlan.uniform(shape, spec.bits()).keysInLogicalOrder()) {
            return shape.rope().pairing() + " RoPE pairs (partners adjacent in the key stream)";
        }
        return null;
    }

    /**
     * What a writer of format v1 (the CUDA engine's pack kernels) cannot produce for pages of {@code shape} and
     * {@code spec}, even with the two conversions a host copy of its pages gets ({@link #keysFromVersionOne},
     * {@link #fillHeadEnds}), or null when it can: a recent-token window, mixed widths, or a key stream whose
     * v1 form pads to 32-channel groups (D not a multiple of 32).
     *
     * @param shape the attention geometry
     * @param spec the quantization
     * @return the first difference, in words, or null
     */
    public static String versionOneWriterDifference(AttentionShape shape, QuantSpec spec) {
        if (!spec.quantized()) {
            return null;
        }
        if (spec.recentWindow() > 0) {
            return "a recent-token window (the fp16 ring beside the sinks)";
        }
        if (spec.allocated()) {
            return "mixed code widths (channels grouped by width)";
        }
        if (shape.kvChannels() % 32 != 0) {
            return shape.kvChannels() + " channels per token (a key stream without padding to 32-channel groups)";
        }
        return null;
    }

    /**
     * Rewrites every slot's key codes of a page whose keys a writer of format v1 filled (channel c's code at
     * stream bits {@code [b·c, b·c + b)}, logical order) into this layout's physical order; nothing to do when
     * the plan keeps the keys in logical order (interleaved pairs). For host copies of the CUDA engine's pages
     * (rotate-half pairs), whose v1 kernels read their own order; only where
     * {@link #versionOneWriterDifference} is null.
     *
     * @param page a page of this layout, keys in format v1's order
     */
    public void keysFromVersionOne(MemorySegment page) {
        if (plan == null || plan.keysInLogicalOrder()) {
            return;
        }
        int b = plan.uniformWidth();
        int d = kvHeads * headDim;
        if (b < 0 || d % 32 != 0) {
            throw new IllegalStateException("format v1 keys exist only at one width and D a multiple of 32");
        }
        long base = offset(Part.KEY_CODES);
        int[] words = new int[plan.keyWords()];
        for (int r = 0; r < pageTokens; r++) {
            java.util.Arrays.fill(words, 0);
            for (int c = 0; c < d; c++) {
                BitPacking.orField(words, plan.keyBit(c), b, BitPacking.field(page, base / 4 + r, pageTokens, b * c, b));
            }
            for (int k = 0; k < words.length; k++) {
                page.set(ValueLayout.JAVA_INT, base + keyWord(k, r) * 4, words[k]);
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
     * The spec's code width: every channel's at one width, the average budget under a bit allocation (the
     * channels' widths are the {@link #plan()}'s).
     *
     * @return bits per code, or 16/32 for the baselines
     */
    public int bits() { return bits; }

    /**
     * Where each channel sits in the codes (nuq).
     *
     * @return the layer's channel plan; null for the baselines
     */
    public ChannelPlan plan() { return plan; }

    /**
     * 32-bit words of one token's key stream (nuq).
     *
     * @return {@code Kw}
     */
    public int keyWords() { return plan.keyWords(); }

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
     * Word index (in int32 units from keyCodes) of word {@code k} of slot {@code r}'s key stream.
     *
     * @param k word of the stream, {@code [0, Kw)}
     * @param r slot (token) within the page
     * @return the int32 index from the start of {@code keyCodes}
     */
    public long keyWord(int k, int r) {
        return (long) k * pageTokens + r;
    }

    /**
     * Word index (int32 units from valueCodes) of position {@code i} of row {@code row} of value width group
     * {@code group} of KV head {@code h} in 32-token group {@code tokenGroup} ({@link ChannelPlan#valueGroups}).
     *
     * @param h KV head
     * @param tokenGroup slot / 32
     * @param group index of the head's width group
     * @param row bit row, {@code [0, w)}
     * @param i position within the group, {@code [0, n)}
     * @return the int32 index from the start of {@code valueCodes}
     */
    public long valueWord(int h, int tokenGroup, int group, int row, int i) {
        ChannelPlan.ValueGroup g = plan.valueGroups(h).get(group);
        return (long) (pageTokens / 32) * plan.valueWordsBefore(h) + (long) tokenGroup * plan.headValueWords(h)
                + g.wordOffset() + (long) row * g.channels() + i;
    }

    /**
     * The code of key channel {@code c} of slot {@code r} in {@code page}, read with plain scalar code.
     *
     * @param page a page of this layout
     * @param r slot within the page
     * @param c logical channel
     * @return the code
     */
    public int keyCode(MemorySegment page, int r, int c) {
        return BitPacking.field(page, offset(Part.KEY_CODES) / 4 + r, pageTokens, plan.keyBit(c), plan.keyWidth(c));
    }

    /**
     * The code of value channel {@code c} of slot {@code r} in {@code page}, read with plain scalar code.
     *
     * @param page a page of this layout
     * @param r slot within the page
     * @param c logical channel
     * @return the code
     */
    public int valueCode(MemorySegment page, int r, int c) {
        int h = c / headDim;
        int g = plan.valueGroupOf(c);
        int n = plan.valueGroups(h).get(g).channels();
        return BitPacking.unpack(page, offset(Part.VALUE_CODES) / 4 + valueWord(h, r >>> 5, g, 0, plan.valuePositionOf(c)),
                n, plan.valueWidth(c), r & 31);
    }

    /**
     * Where KV head {@code h}'s outliers end in slot {@code r}'s list of {@code part} ({@link Part#KEY_OUT_HEAD_END}
     * or {@link Part#VALUE_OUT_HEAD_END}): fixed slots {@code [end(h−1), end(h))}, sparse entries
     * {@code [start[r] + end(h−1), start[r] + end(h))}; {@code end(−1) = 0}.
     *
     * @param page a page of this layout
     * @param part {@code KEY_OUT_HEAD_END} or {@code VALUE_OUT_HEAD_END}
     * @param r slot within the page
     * @param h KV head, or −1 for 0
     * @return the end (exclusive)
     */
    public int headEnd(MemorySegment page, Part part, int r, int h) {
        if (h < 0) {
            return 0;
        }
        long at = offset(part) + ((long) r * kvHeads + h) * headEndBytes();
        return sparse ? Short.toUnsignedInt(page.get(ValueLayout.JAVA_SHORT_UNALIGNED, at))
                : Byte.toUnsignedInt(page.get(ValueLayout.JAVA_BYTE, at));
    }

    /**
     * Stores where KV head {@code h}'s outliers end in slot {@code r}'s list ({@link #headEnd}).
     *
     * @param page a page of this layout
     * @param part {@code KEY_OUT_HEAD_END} or {@code VALUE_OUT_HEAD_END}
     * @param r slot within the page
     * @param h KV head
     * @param end the end (exclusive), relative to the slot's list
     */
    public void setHeadEnd(MemorySegment page, Part part, int r, int h, int end) {
        long at = offset(part) + ((long) r * kvHeads + h) * headEndBytes();
        if (sparse) {
            page.set(ValueLayout.JAVA_SHORT_UNALIGNED, at, (short) end);
        } else {
            page.set(ValueLayout.JAVA_BYTE, at, (byte) end);
        }
    }

    /**
     * Stores the per-head ends of slot {@code r}'s outlier list {@code channels[0, count)} (ascending logical
     * channels): head h's end is the number of channels below {@code (h+1)·headDim}.
     *
     * @param page a page of this layout
     * @param part {@code KEY_OUT_HEAD_END} or {@code VALUE_OUT_HEAD_END}
     * @param r slot within the page
     * @param channels the outliers' channels, ascending
     * @param count outliers in the list
     */
    public void setHeadEnds(MemorySegment page, Part part, int r, int[] channels, int count) {
        int i = 0;
        for (int h = 0; h < kvHeads; h++) {
            int limit = (h + 1) * headDim;
            while (i < count && channels[i] < limit) {
                i++;
            }
            setHeadEnd(page, part, r, h, i);
        }
    }

    /**
     * Writes the per-head ends of every slot's outlier lists of a page whose other parts a writer of format
     * v1 filled (the CUDA engine's pack kernels, whose pages are the v1 prefix of this layout: its kernels
     * read whole lists and need no ends; host copies of its pages get them here). Fixed slots: a list is its
     * slots up to the first channel-0 slot after the first, and a first slot of (0, +0) is unused (an outlier
     * of channel 0 whose fp16 residual is exactly +0 adds nothing, so leaving it out changes no decode).
     * Sparse: slot r's entries {@code [start[r], start[r+1])}, none where that range is empty or reversed (the
     * slots not yet filled).
     *
     * @param page a page of this layout
     * @param keyEntryChannel the channel of a key entry of the layer's store (sparse form; else unused)
     * @param valueEntryChannel the channel of a value entry (sparse form; else unused)
     */
    public void fillHeadEnds(MemorySegment page, java.util.function.IntUnaryOperator keyEntryChannel,
                             java.util.function.IntUnaryOperator valueEntryChannel) {
        if (!has(Part.KEY_OUT_HEAD_END)) {
            return;
        }
        int[] channels = new int[Math.max(Math.max(keySlots, valueSlots), 1)];
        for (int r = 0; r < pageTokens; r++) {
            for (boolean keyList : new boolean[] {true, false}) {
                int count = 0;
                if (sparse) {
                    long starts = offset(keyList ? Part.KEY_OUT_START : Part.VALUE_OUT_START);
                    int from = page.get(ValueLayout.JAVA_INT, starts + 4L * r);
                    int to = page.get(ValueLayout.JAVA_INT, starts + 4L * (r + 1));
                    if (channels.length < to - from) {
                        channels = new int[to - from];
                    }
                    for (int e = from; e < to; e++) {
                        channels[count++] = (keyList ? keyEntryChannel : valueEntryChannel).applyAsInt(e);
                    }
                } else {
                    int slots = keyList ? keySlots : valueSlots;
                    long at = offset(keyList ? Part.KEY_OUT_CHANNEL : Part.VALUE_OUT_CHANNEL);
                    long values = offset(keyList ? Part.KEY_OUT_VALUE : Part.VALUE_OUT_VALUE);
                    for (int i = 0; i < slots; i++) {
                        long slot = 2 * (keyList ? keySlot(r, i) : valueSlot(r, i));
                        int c = page.get(ValueLayout.JAVA_SHORT, at + slot);
                        if (c == 0 && (i > 0 || page.get(ValueLayout.JAVA_SHORT, values + slot) == 0)) {
                            break;
                        }
                        channels[count++] = c;
                    }
                }
                setHeadEnds(page, keyList ? Part.KEY_OUT_HEAD_END : Part.VALUE_OUT_HEAD_END, r, channels, count);
            }
        }
    }

    private int headEndBytes() {
        return sparse ? 2 : 1;
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
