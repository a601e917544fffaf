package dev.kvq.engine.cpu;

import dev.kvq.engine.Budget;
import dev.kvq.engine.CacheSetup;
import dev.kvq.engine.CodeTables;
import dev.kvq.engine.LayerImage;
import dev.kvq.engine.Tensor;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.layout.ChannelPlan;
import dev.kvq.layout.EntryChunks;
import dev.kvq.layout.MemoryReport;
import dev.kvq.layout.Occupancy;
import dev.kvq.layout.PageLayout.Part;
import dev.kvq.layout.PageLayout;
import dev.kvq.layout.SinkLayout;
import dev.kvq.quant.BitPacking;
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
import java.util.Arrays;
import java.util.List;

/**
 * One layer of one sequence on the CPU: its pages, fp16 side buffer (sinks and the recent-token window)
 * and sparse entries, allocated on demand (reserve → allocate → roll back), and the writer that fills them
 * in page format v2 ({@link PageLayout} with the layer's {@link ChannelPlan}, {@link SinkLayout},
 * {@link EntryChunks}); also the layer's kernel plans ({@link KeyPairs}, {@link ValuePlan}).
 * {@link CpuAttention} reads it. The token count is the cache's; every method that needs it is given it.
 */
final class CpuLayer {
    static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED;
    static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;
    static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;

    /** Where the layer's memory comes from: the sequence's arena. */
    interface Allocator {
        /** {@code bytes} of zeroed, {@link PageLayout#ALIGN}-aligned memory. */
        MemorySegment allocate(long bytes);
    }

    private final AttentionShape shape;
    private final QuantSpec spec;
    private final PageLayout layout;
    private final Occupancy occupancy;
    private final SinkLayout sinkLayout;
    private final long firstPosition;        // RoPE position of the sequence's first token
    private final List<MemorySegment> pages = new ArrayList<>();
    private final ArrayDeque<MemorySegment> spare = new ArrayDeque<>();
    private final SparseEntries keyEntries = new SparseEntries();
    private final SparseEntries valueEntries = new SparseEntries();
    private MemorySegment sinks;             // SinkLayout (sinks and window): null until the first token

    // quantization state (nuq only)
    private final KeyQuantizer keyQuantizer;
    private final ValueQuantizer valueQuantizer;
    private final int[] keyTable;            // CodeTables.keys as float bits, for the permute lookups
    private final KeyPairs keyPairs;         // the key kernels' plan: pairs and their runs of one width
    private final ValuePlan valuePlan;
    private final QuantizedToken keyToken;
    private final QuantizedToken valueToken;
    private final int keyCap;
    private final float[] rotated;           // [D] scratch for post-RoPE keys
    private final int[] keyWords;            // [Kw] scratch: one token's key stream
    private final int[] physical;            // [headDim] scratch: one value group's codes in physical order

    CpuLayer(CacheSetup setup, int layer, long firstPosition) {
        this.shape = setup.shape();
        this.spec = setup.spec();
        this.layout = setup.layout(layer);
        this.occupancy = setup.occupancy(layer);
        this.sinkLayout = occupancy.sinks();
        this.firstPosition = firstPosition;
        int d = shape.kvChannels();
        this.rotated = new float[d];
        LayerCalibration calibration = setup.layer(layer);
        if (calibration != null) {
            ChannelPlan plan = layout.plan();
            int entries = CodeTables.entries(plan);
            keyQuantizer = calibration.keys();
            valueQuantizer = calibration.valueQuantizer(spec);
            keyTable = floatBits(CodeTables.keys(keyQuantizer, entries));
            keyPairs = new KeyPairs(plan, entries);
            valuePlan = new ValuePlan(layout, calibration);
            keyToken = new QuantizedToken(d);
            valueToken = new QuantizedToken(d);
            keyCap = layout.sparseOutliers() ? Integer.MAX_VALUE : spec.keyOutlierCap(d);
            keyWords = new int[plan.keyWords()];
            physical = new int[shape.headDim()];
        } else {
            keyQuantizer = null;
            valueQuantizer = null;
            keyTable = null;
            keyPairs = null;
            valuePlan = null;
            keyToken = null;
            valueToken = null;
            keyCap = 0;
            keyWords = null;
            physical = null;
        }
    }

    private static int[] floatBits(float[] table) {
        int[] bits = new int[table.length];
        for (int i = 0; i < table.length; i++) {
            bits[i] = Float.floatToRawIntBits(table[i]);
        }
        return bits;
    }

    // ------------------------------------------------------------------ what attention reads

    /** RoPE position of the sequence's first token. */
    long firstPosition() {
        return firstPosition;
    }

    /** Page {@code i} (holding packed slots {@code [i·P, (i+1)·P)}). */
    MemorySegment page(int i) {
        return pages.get(i);
    }

    /** The fp16 side buffer: sinks and the window ring (null before the first token). */
    MemorySegment sinks() {
        return sinks;
    }

    /** The layer's page layout. */
    PageLayout layout() {
        return layout;
    }

    /** The layer's occupancy rules. */
    Occupancy occupancy() {
        return occupancy;
    }

    /** The key table {@code [D][E]} as float bits (nuq only). */
    int[] keyTable() {
        return keyTable;
    }

    /** Where each RoPE pair sits in the key stream, and the runs of pairs of one width (nuq only). */
    KeyPairs keyPairs() {
        return keyPairs;
    }

    /** The value width groups and their tables (nuq only). */
    ValuePlan valuePlan() {
        return valuePlan;
    }

    /** The sparse entries of {@code tensor}. */
    SparseEntries entries(Tensor tensor) {
        return tensor == Tensor.KEYS ? keyEntries : valueEntries;
    }

    // ------------------------------------------------------------------ appending

    /**
     * Allocates every page, the sink buffer and the sparse chunks an append of {@code n} tokens after
     * {@code stored} needs, or nothing: the bytes are reserved first; when an allocation fails, pages
     * that were allocated stay as spares (reserved), the rest of the reservation is returned, and the
     * layer holds what it held.
     */
    void reserveAndAllocate(int layer, int stored, float[] keys, int n, Budget budget, Allocator arena) {
        Occupancy.Append plan = occupancy.append(stored, n);
        int newPages = Math.max(0, plan.pagesAfter() - pages.size());
        int fromSpare = Math.min(newPages, spare.size());
        long bytes = (long) (newPages - fromSpare) * layout.pageBytes();
        boolean needSinks = sinks == null && sinkLayout.bytes() > 0;   // the side buffer comes with the first token
        long sinkBytes = sinkLayout.bytes();
        if (needSinks) {
            bytes += sinkBytes;
        }
        int keyChunks = 0;
        int valueChunks = 0;
        if (layout.sparseOutliers()) {
            keyChunks = keyEntries.chunksNeeded(occupancy.keyOutliers(keyQuantizer, keys, plan.newSinks(), n));
            valueChunks = valueEntries.chunksNeeded(occupancy.valueEntries(n - plan.newSinks()));
            bytes += (keyChunks + valueChunks) * EntryChunks.BYTES;
        }
        if (bytes == 0 && newPages == 0) {
            return;
        }
        budget.reserve(bytes, layer, n);
        MemorySegment[] fresh = new MemorySegment[newPages - fromSpare];
        MemorySegment sinkSegment = null;
        MemorySegment[] chunks = new MemorySegment[keyChunks + valueChunks];
        try {
            for (int i = 0; i < fresh.length; i++) {
                fresh[i] = arena.allocate(layout.pageBytes());
            }
            if (needSinks) {
                sinkSegment = arena.allocate(sinkBytes);
            }
            for (int i = 0; i < chunks.length; i++) {
                chunks[i] = arena.allocate(EntryChunks.BYTES);
            }
        } catch (OutOfMemoryError | IllegalStateException e) {
            long kept = 0;
            for (MemorySegment s : fresh) {
                if (s != null) {
                    spare.add(s);
                    kept += s.byteSize();
                }
            }
            // a sink buffer or sparse chunk that did get allocated stays in the arena until close:
            // it stays reserved too, so the budget never counts less than what is allocated
            if (sinkSegment != null) {
                kept += sinkBytes;
            }
            for (MemorySegment c : chunks) {
                if (c != null) {
                    kept += EntryChunks.BYTES;
                }
            }
            budget.unreserve(bytes - kept);
            throw budget.exceeded("could not allocate " + bytes + " bytes for " + n + " tokens of layer " + layer
                    + ": " + e.getMessage());
        }
        for (int i = 0; i < fromSpare; i++) {
            pages.add(spare.poll());
        }
        pages.addAll(Arrays.asList(fresh));
        if (needSinks) {
            sinks = sinkSegment;
        }
        for (int i = 0; i < keyChunks; i++) {
            keyEntries.addChunk(chunks[i]);
        }
        for (int i = 0; i < valueChunks; i++) {
            valueEntries.addChunk(chunks[keyChunks + i]);
        }
    }

    /** Writes token {@code t} of the batch (validated, its memory allocated) at sequence position {@code position}. */
    void write(float[] keys, float[] values, int t, int position) {
        int d = shape.kvChannels();
        int off = t * d;
        if (position < sinkLayout.capacity()) {
            writeSide(keys, values, off, position, position);
            return;
        }
        int slot = position - sinkLayout.capacity();
        MemorySegment page = pages.get(slot / layout.pageTokens());
        int r = slot % layout.pageTokens();
        switch (spec.mode()) {
            case NUQ -> writePacked(page, r, keys, values, off);
            case FP16, FP32 -> writePlain(page, r, keys, values, off, position);
        }
        if (sinkLayout.windowCapacity() > 0) {
            // packed above as well: the pages do not depend on the window, and nothing happens on eviction
            writeSide(keys, values, off, position, sinkLayout.slot(position));
        }
    }

    /** The token's key post-RoPE and its value, in fp16, into side-buffer slot {@code slot}. */
    private void writeSide(float[] keys, float[] values, int off, int position, int slot) {
        int d = shape.kvChannels();
        System.arraycopy(keys, off, rotated, 0, d);
        shape.rope().apply(rotated, 0, shape.kvHeads(), firstPosition + position);
        for (int c = 0; c < d; c++) {
            sinks.set(SHORT, sinkLayout.keyOffset(slot, c), Fp16.encode(rotated[c]));
            sinks.set(SHORT, sinkLayout.valueOffset(slot, c), Fp16.encode(values[off + c]));
        }
    }

    private void writePacked(MemorySegment page, int r, float[] keys, float[] values, int off) {
        int d = shape.kvChannels();
        ChannelPlan plan = layout.plan();
        keyQuantizer.quantize(keys, off, keyToken, keyCap);
        // keys: the token's stream in the plan's physical order, then its words (the slot's words start zero)
        Arrays.fill(keyWords, 0);
        for (int c = 0; c < d; c++) {
            BitPacking.orField(keyWords, plan.keyBit(c), plan.keyWidth(c), keyToken.codes[c]);
        }
        long keyCodes = layout.offset(Part.KEY_CODES);
        for (int k = 0; k < keyWords.length; k++) {
            page.set(INT, keyCodes + layout.keyWord(k, r) * 4, keyWords[k]);
        }
        valueQuantizer.quantize(values, off, valueToken);
        page.set(SHORT, layout.offset(Part.VALUE_ZERO) + r * 2L, Fp16.encode(valueToken.zero));
        page.set(SHORT, layout.offset(Part.VALUE_SCALE) + r * 2L, Fp16.encode(valueToken.scale));
        ValuePacking.orToken(page, layout, r, valueToken.codes, physical);
        if (spec.hasOutliers()) {
            // both lists ascend by channel, hence by head
            layout.setHeadEnds(page, Part.KEY_OUT_HEAD_END, r, keyToken.outlierChannels, keyToken.outlierCount);
            layout.setHeadEnds(page, Part.VALUE_OUT_HEAD_END, r, valueToken.outlierChannels, valueToken.outlierCount);
        }
        if (layout.sparseOutliers()) {
            appendEntries(page, layout.offset(Part.KEY_OUT_START), r, keyToken, keyEntries);
            appendEntries(page, layout.offset(Part.VALUE_OUT_START), r, valueToken, valueEntries);
        } else if (spec.hasOutliers()) {
            long keyChannels = layout.offset(Part.KEY_OUT_CHANNEL);
            long keyValues = layout.offset(Part.KEY_OUT_VALUE);
            for (int i = 0; i < keyToken.outlierCount; i++) {
                page.set(SHORT, keyChannels + layout.keySlot(r, i) * 2, (short) keyToken.outlierChannels[i]);
                page.set(SHORT, keyValues + layout.keySlot(r, i) * 2, keyToken.outlierResiduals[i]);
            }
            long valueChannels = layout.offset(Part.VALUE_OUT_CHANNEL);
            long valueValues = layout.offset(Part.VALUE_OUT_VALUE);
            for (int i = 0; i < valueToken.outlierCount; i++) {
                page.set(SHORT, valueChannels + layout.valueSlot(r, i) * 2, (short) valueToken.outlierChannels[i]);
                page.set(SHORT, valueValues + layout.valueSlot(r, i) * 2, valueToken.outlierResiduals[i]);
            }
        }
    }

    /** The token's outliers as entries, with the slot's start pointers around them. */
    private static void appendEntries(MemorySegment page, long starts, int r, QuantizedToken token,
                                      SparseEntries entries) {
        page.set(INT, starts + r * 4L, entries.size());
        for (int i = 0; i < token.outlierCount; i++) {
            entries.add(token.outlierChannels[i], token.outlierResiduals[i]);
        }
        page.set(INT, starts + (r + 1) * 4L, entries.size());
    }

    private void writePlain(MemorySegment page, int r, float[] keys, float[] values, int off, int position) {
        int d = shape.kvChannels();
        int headDim = shape.headDim();
        int width = layout.elementBytes();
        long keysAt = layout.offset(Part.KEYS);
        long valuesAt = layout.offset(Part.VALUES);
        System.arraycopy(keys, off, rotated, 0, d);
        shape.rope().apply(rotated, 0, shape.kvHeads(), firstPosition + position);
        for (int c = 0; c < d; c++) {
            int h = c / headDim;
            int j = c - h * headDim;
            long keyAt = keysAt + layout.keyElement(h, j, r) * width;
            long valueAt = valuesAt + layout.valueElement(h, r, j) * width;
            if (width == 2) {
                page.set(SHORT, keyAt, Fp16.encode(rotated[c]));
                page.set(SHORT, valueAt, Fp16.encode(values[off + c]));
            } else {
                page.set(FLOAT, keyAt, rotated[c]);
                page.set(FLOAT, valueAt, values[off + c]);
            }
        }
    }

    // ------------------------------------------------------------------ images and memory

    /** Views of the pages, sinks and entry chunks that hold the {@code stored} tokens. */
    LayerImage image(int stored) {
        int held = occupancy.pagesFor(occupancy.packedTokens(stored));
        if (pages.size() != held) {
            throw new IllegalStateException("layer holds " + pages.size() + " pages for " + stored + " tokens");
        }
        return new LayerImage(List.copyOf(pages), sinks, keyEntries.size(), List.copyOf(keyEntries.usedChunks()),
                valueEntries.size(), List.copyOf(valueEntries.usedChunks()));
    }

    /**
     * Takes over a restored image: its pages and chunks in place, except the partly filled last page
     * and chunk and the sinks, which are copied (appends write into them). The layer must be empty.
     */
    void restore(int tokens, LayerImage image, Allocator arena) {
        int packed = occupancy.packedTokens(tokens);
        boolean partialPage = (long) occupancy.pagesFor(packed) * layout.pageTokens() != packed;
        List<MemorySegment> restored = image.pages();
        for (int i = 0; i < restored.size(); i++) {
            MemorySegment page = restored.get(i);
            pages.add(i == restored.size() - 1 && partialPage ? copy(page, arena) : page);
        }
        if (image.sinks() != null) {
            sinks = copy(image.sinks(), arena);
        }
        if (image.keyEntries() > 0) {
            keyEntries.restore(withCopiedPartialChunk(image.keyChunks(), image.keyEntries(), arena), image.keyEntries());
        }
        if (image.valueEntries() > 0) {
            valueEntries.restore(withCopiedPartialChunk(image.valueChunks(), image.valueEntries(), arena),
                    image.valueEntries());
        }
    }

    private static List<MemorySegment> withCopiedPartialChunk(List<MemorySegment> chunks, int entries,
                                                              Allocator arena) {
        List<MemorySegment> list = new ArrayList<>(chunks);
        if ((long) list.size() * EntryChunks.ENTRIES != entries) {
            list.set(list.size() - 1, copy(list.getLast(), arena));
        }
        return list;
    }

    private static MemorySegment copy(MemorySegment from, Allocator arena) {
        MemorySegment to = arena.allocate(from.byteSize());
        to.copyFrom(from);
        return to;
    }

    /** Bytes by part, from what this layer really holds. */
    MemoryReport memory(int stored) {
        return occupancy.memory(stored, pages.size() + spare.size(), keyEntries.size() + valueEntries.size(),
                keyEntries.chunks() + valueEntries.chunks(), sinks == null ? 0 : sinks.byteSize(),
                occupancy.quantizerBytes());
    }
}
