package dev.kvq.engine.cpu;

import static dev.kvq.engine.cpu.Vectors.FS;
import static dev.kvq.engine.cpu.Vectors.INT;
import static dev.kvq.engine.cpu.Vectors.LANES;
import static dev.kvq.engine.cpu.Vectors.SHORT;

import dev.kvq.engine.Tensor;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.RopePairing;
import dev.kvq.layout.Occupancy;
import dev.kvq.layout.PageLayout.Part;
import dev.kvq.layout.PageLayout;
import dev.kvq.layout.SinkLayout;
import dev.kvq.quant.Fp16;
import dev.kvq.quant.QuantSpec;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * One decode step of attention on the CPU over a {@link CpuLayer}, FlashDecoding-style: the packed
 * tokens are cut into fixed splits of {@value #SPLIT_PAGES} pages, the sinks form one more unit and the
 * recent-token window (page format v2: read from its fp16 copy, so the pages are read only up to
 * {@link Occupancy#pageReadTokens}) one more, and the units run on the engine's {@link CpuThreads}. A unit walks its pages one by one: the page's RoPE
 * angles once for all heads, the key scores of every head with the page's key outliers, an online
 * softmax (running max, sum and output per query head), the values of every head with the value
 * outliers. Keys run the pair kernels ({@link KeyPairs}, {@link PackedKeyKernels}) per run of pairs of one
 * width (one run per head in a one-width layer); values the {@link PackedValueKernels} in a one-width
 * layer, else the value width groups ({@link ValuePlan}, {@link PageKernels}). Layers may differ
 * in layout, so the step binds the layer's first ({@link #bind}). The units' (max, sum, output) are merged in unit order. Split points and merge order
 * depend only on the token count, so any thread count gives the same bits.
 *
 * <p>Holds the scratch of one cache (a sequence attends from one thread at a time; its units use one
 * scratch per runner).
 */
final class CpuAttention {
    /** Pages per split: 4,096 tokens at 256-token pages, so a split's output stays small next to its work. */
    static final int SPLIT_PAGES = 16;

    private final AttentionShape shape;
    private final QuantSpec spec;
    private PageLayout layout;                    // the bound layer's ({@link #bind})
    private Occupancy occupancy;
    private final SinkLayout sinkLayout;
    private final boolean simd;                   // false = the scalar references
    private final CpuThreads threads;
    private final boolean packed;                 // nuq
    private final boolean half;                   // fp16 baseline
    private final int d;
    private final int hq;
    private final int hkv;
    private final int group;
    private final int pageTokens;
    private KeyPairs pairs;                       // the bound layer's pairs (nuq), else null
    private boolean pairTablesUsed;               // MHA: pairs2/pairs3 for the runs at 0-2 and 3 bits
    private int valueBits;                        // the bound layer's value width when it has one (1–4), else −1
    private final float[] cosStep;                // [d/2][P] cos(r·ω_i)
    private final float[] sinStep;                // [d/2][P] sin(r·ω_i)
    // per channel c of the KV vector: its head, RoPE frequency row offset (i·P), in-head index and partner
    private final int[] channelHead;
    private final int[] channelIndex;
    private final int[] channelPartner;
    private final float[] channelSign;            // +1 for the first channel of its pair, −1 for the second
    // byte offsets of the bound layer's page parts (PageLayout.offsetOrZero: resolved once per layout)
    private long keyCodes;
    private long valueCodes;
    private long valueZero;
    private long valueScale;
    private long keyOutChannel;
    private long keyOutValue;
    private long valueOutChannel;
    private long valueOutValue;
    private long keyOutStart;
    private long valueOutStart;
    private long keys;
    private long values;

    // the step: queries and the tables built from them (written by the caller before the units run)
    private final float[] queries;                // [Hq][d] × 1/√d
    private final float[] halfQueries;            // [Hq][d] × 1/√d × 2^queryExponent (fp16 SIMD)
    private float scorePost = 1f;                 // 2^(112 − queryExponent): fp16 SIMD raw scores × this
    private final int[] pairTables;               // [Hq][d/2][32] float bits (pairTablesUsed)
    private final float[] keyCoefficients;        // [G][D][2] key outlier coefficients: q_{hG+g}[j], σ_j·q_{hG+g}[partner]
    private final int[] keyOutlierAt;             // [D][2] per channel: its angle row (frequency·P), its first score (head·G·P)
    private final int[] valueOutlierAt;           // [D][2] per channel: its first weight (head·G·P), its first output (head·G·d + j)
    // MHA with a power-of-two head: a channel's head and frequency are computed, not looked up (the outlier
    // loops are bound by their indirect loads): head = c >>> headShift, frequency = (c & frequencyMask) >>> frequencyShift
    private final boolean shiftable;
    private final int headShift;
    private final int frequencyMask;
    private final int frequencyShift;
    // per unit: online-softmax state, or the partial value sums of valueMatvec
    private float[] unitMax = new float[0];       // [units][Hq]
    private float[] unitSum = new float[0];       // [units][Hq]
    private float[] unitOut = new float[0];       // [units][Hq][d]
    private final Work[] work;                    // [runners]

    /** One runner's scratch. */
    private final class Work {
        final float[] sc = new float[hq * pageTokens];        // [Hq][P] page-local scores
        final float[] e = new float[hq * pageTokens];         // [Hq][P] softmax weights (value outliers)
        final float[] alpha = new float[hq * pageTokens];     // [Hq][P] weights as the value kernels take them
        final float[] cos = new float[d / 2 * pageTokens];    // [d/2][P] the page's angles
        final float[] sin = new float[d / 2 * pageTokens];
        final float[] nsin = new float[d / 2 * pageTokens];
        final float[] scale = new float[pageTokens];          // [P] value scales
        final float[] zero = new float[pageTokens];           // [P] value zero-points
        final float[] lanes = new float[LANES];
        final float[] scratch = new float[16 * LANES];
        final float[] physical = new float[hq * d];           // [Hq][d] a mixed-width page's values, physical order
        short[] slotChannels = new short[0];                  // [P][S] a page's fixed outlier slots
        short[] slotValues = new short[0];
    }

    /** Scratch for the caches of a setup; every layer shares the page size and the side buffer's shape ({@code occupancy}'s). */
    CpuAttention(AttentionShape shape, QuantSpec spec, Occupancy occupancy, boolean simd, CpuThreads threads) {
        this.shape = shape;
        this.spec = spec;
        this.sinkLayout = occupancy.sinks();
        this.simd = simd;
        this.threads = threads;
        this.packed = spec.quantized();
        this.half = spec.mode() == QuantSpec.Mode.FP16;
        this.d = shape.headDim();
        this.hq = shape.queryHeads();
        this.hkv = shape.kvHeads();
        this.group = shape.groupSize();
        this.pageTokens = occupancy.layout().pageTokens();
        int p = pageTokens;
        RopePairing pairing = shape.rope().pairing();
        cosStep = new float[d / 2 * p];
        sinStep = new float[d / 2 * p];
        for (int i = 0; i < d / 2; i++) {
            for (int r = 0; r < p; r++) {
                double phi = shape.rope().angleOfFrequency(r, i);
                cosStep[i * p + r] = (float) Math.cos(phi);
                sinStep[i * p + r] = (float) Math.sin(phi);
            }
        }
        int channels = shape.kvChannels();
        channelHead = new int[channels];
        channelIndex = new int[channels];
        channelPartner = new int[channels];
        channelSign = new float[channels];
        keyOutlierAt = new int[channels * 2];
        valueOutlierAt = new int[channels * 2];
        for (int c = 0; c < channels; c++) {
            int j = c % d;
            channelHead[c] = c / d;
            channelIndex[c] = j;
            channelPartner[c] = pairing.partner(j, d);
            channelSign[c] = pairing.isFirstOfPair(j, d) ? 1f : -1f;
            keyOutlierAt[2 * c] = pairing.frequencyIndex(j, d) * p;
            keyOutlierAt[2 * c + 1] = channelHead[c] * group * p;
            valueOutlierAt[2 * c] = channelHead[c] * group * p;
            valueOutlierAt[2 * c + 1] = channelHead[c] * group * d + j;
        }
        queries = new float[hq * d];
        halfQueries = half ? new float[hq * d] : null;
        pairTables = packed && group == 1 ? new int[hq * (d / 2) * 2 * PackedKeyKernels.TABLE] : null;
        boolean keyOutliers = packed && spec.hasOutliers();
        keyCoefficients = keyOutliers ? new float[group * channels * 2] : null;
        shiftable = group == 1 && Integer.bitCount(d) == 1;
        headShift = Integer.numberOfTrailingZeros(d);
        frequencyMask = pairing == RopePairing.INTERLEAVED ? d - 1 : d / 2 - 1;
        frequencyShift = pairing == RopePairing.INTERLEAVED ? 1 : 0;
        assert !shiftable || shiftsAgree(channels, p);
        work = new Work[threads.threads()];
        for (int i = 0; i < work.length; i++) {
            work[i] = new Work();
        }
    }

    /** Resolves the part offsets and the key pairs of {@code store}'s layer (layers differ under a bit allocation). */
    private void bind(CpuLayer store) {
        if (store.layout() == layout && (!packed || store.keyPairs() == pairs)) {
            return;
        }
        layout = store.layout();
        occupancy = store.occupancy();
        pairs = packed ? store.keyPairs() : null;
        pairTablesUsed = pairs != null && group == 1;
        int uniform = packed ? layout.plan().uniformWidth() : -1;
        valueBits = uniform >= 1 && uniform <= 4 ? uniform : -1;
        keyCodes = layout.offsetOrZero(Part.KEY_CODES);
        valueCodes = layout.offsetOrZero(Part.VALUE_CODES);
        valueZero = layout.offsetOrZero(Part.VALUE_ZERO);
        valueScale = layout.offsetOrZero(Part.VALUE_SCALE);
        keyOutChannel = layout.offsetOrZero(Part.KEY_OUT_CHANNEL);
        keyOutValue = layout.offsetOrZero(Part.KEY_OUT_VALUE);
        valueOutChannel = layout.offsetOrZero(Part.VALUE_OUT_CHANNEL);
        valueOutValue = layout.offsetOrZero(Part.VALUE_OUT_VALUE);
        keyOutStart = layout.offsetOrZero(Part.KEY_OUT_START);
        valueOutStart = layout.offsetOrZero(Part.VALUE_OUT_START);
        keys = layout.offsetOrZero(Part.KEYS);
        values = layout.offsetOrZero(Part.VALUES);
    }

    // ------------------------------------------------------------------ the three entry points

    /** Scores, softmax and values: one decode step over {@code total} stored tokens. */
    void attend(CpuLayer store, int total, float[] query, float[] out) {
        prepare(store, query);
        Units units = new Units(total);
        ensureUnits(units.count);
        threads.run(units.count, (u, runner) -> {
            if (units.isSide(u)) {
                sideAttend(store, units.sideFrom(u), units.sideTo(u), u);
            } else {
                pagesAttend(store, units, u, work[runner]);
            }
        });
        merge(units.count, out);
    }

    /** Scaled scores {@code q·k/√d} of the {@code stored} tokens, {@code scores[q·stored + t]}. */
    void scores(CpuLayer store, int stored, float[] query, float[] scores) {
        prepare(store, query);
        Units units = new Units(stored);
        threads.run(units.count, (u, runner) -> {
            if (units.isSide(u)) {
                int from = units.sideFrom(u);
                sideScores(store, from, units.sideTo(u), scores, stored, from);
                return;
            }
            Work w = work[runner];
            for (int pg = units.firstPage(u); pg < units.endPage(u); pg++) {
                int n = units.tokensOf(pg);
                pageScores(store, pg, n, w);
                int base = units.sinks + pg * pageTokens;
                for (int q = 0; q < hq; q++) {
                    System.arraycopy(w.sc, q * pageTokens, scores, q * stored + base, n);
                }
            }
        });
    }

    /** {@code out[q] = Σ_t weights[q·stored + t]·v_t} over the {@code stored} tokens. */
    void values(CpuLayer store, int stored, float[] weights, float[] out) {
        bind(store);
        Units units = new Units(stored);
        ensureUnits(units.count);
        threads.run(units.count, (u, runner) -> {
            int at = u * hq * d;
            Arrays.fill(unitOut, at, at + hq * d, 0f);
            if (units.isSide(u)) {
                int from = units.sideFrom(u);
                sideValues(store, from, units.sideTo(u), weights, stored, from, unitOut, at);
                return;
            }
            Work w = work[runner];
            for (int pg = units.firstPage(u); pg < units.endPage(u); pg++) {
                int n = units.tokensOf(pg);
                float post = pageWeights(store.page(pg), n, weights, stored, units.sinks + pg * pageTokens, w, at);
                pageValues(store, pg, n, w, at, post);
            }
        });
        Arrays.fill(out, 0, hq * d, 0f);
        for (int u = 0; u < units.count; u++) {
            int at = u * hq * d;
            for (int i = 0; i < hq * d; i++) {
                out[i] += unitOut[at + i];
            }
        }
    }

    /**
     * The units of a step over {@code stored} tokens: the sinks (when there are any), the page splits, then
     * the window's tokens in the side buffer (when there are any).
     */
    private final class Units {
        final int sinks;
        final int packedTokens;   // the packed tokens read from the pages: those that have left the window
        final int pages;
        final int stored;
        final int first;          // units before the first split: 1 when there are sinks
        final int splits;
        final int count;

        Units(int stored) {
            this.stored = stored;
            sinks = occupancy.sinkTokens(stored);
            packedTokens = occupancy.pageReadTokens(stored);
            pages = occupancy.pagesFor(packedTokens);
            first = sinks > 0 ? 1 : 0;
            splits = (pages + SPLIT_PAGES - 1) / SPLIT_PAGES;
            count = first + splits + (sinks + packedTokens < stored ? 1 : 0);
        }

        /** Whether unit u reads the fp16 side buffer (the sinks or the window). */
        boolean isSide(int u) {
            return u < first || u >= first + splits;
        }

        /** First token of side unit u. */
        int sideFrom(int u) {
            return u < first ? 0 : sinks + packedTokens;
        }

        /** End (exclusive) of side unit u's tokens. */
        int sideTo(int u) {
            return u < first ? sinks : stored;
        }

        int firstPage(int u) {
            return (u - first) * SPLIT_PAGES;
        }

        int endPage(int u) {
            return Math.min(pages, (u - first + 1) * SPLIT_PAGES);
        }

        int tokensOf(int page) {
            return Math.min(pageTokens, packedTokens - page * pageTokens);
        }
    }

    private void ensureUnits(int units) {
        if (unitMax.length < units * hq) {
            int n = Math.max(units, unitMax.length / hq + unitMax.length / hq / 2);
            unitMax = new float[n * hq];
            unitSum = new float[n * hq];
            unitOut = new float[n * hq * d];
        }
    }

    // ------------------------------------------------------------------ the step's tables

    /** Scales the query and builds what the units read from it: pair tables, outlier coefficients. */
    private void prepare(CpuLayer store, float[] query) {
        bind(store);
        float scale = (float) (1.0 / Math.sqrt(d));
        for (int i = 0; i < hq * d; i++) {
            queries[i] = query[i] * scale;
        }
        if (half) {
            // fold 2^112 into the query (PlainKernels), less when that would overflow: raw scores × scorePost
            float max = 0f;
            for (float x : queries) {
                max = Math.max(max, Math.abs(x));
            }
            int exponent = halfExponent(max);
            scorePost = Math.scalb(1f, PlainKernels.HALF_EXPONENT - exponent);
            for (int i = 0; i < hq * d; i++) {
                halfQueries[i] = Math.scalb(queries[i], exponent);
            }
        }
        if (pairTablesUsed && simd) {
            buildPairTables(store.keyTable());
        }
        if (keyCoefficients != null) {
            int channels = shape.kvChannels();
            for (int g = 0; g < group; g++) {
                for (int c = 0; c < channels; c++) {
                    int qRow = (channelHead[c] * group + g) * d;
                    keyCoefficients[2 * (g * channels + c)] = queries[qRow + channelIndex[c]];
                    keyCoefficients[2 * (g * channels + c) + 1] = channelSign[c] * queries[qRow + channelPartner[c]];
                }
            }
        }
    }

    /** Whether the computed head and frequency of every channel agree with the tables (for {@code assert}). */
    private boolean shiftsAgree(int channels, int p) {
        for (int c = 0; c < channels; c++) {
            if ((c >>> headShift) != channelHead[c] || ((c & frequencyMask) >>> frequencyShift) * p != keyOutlierAt[2 * c]) {
                return false;
            }
        }
        return true;
    }

    /**
     * The power of two folded into fp16 SIMD operands whose largest magnitude is {@code max}: 2^112 (the
     * half trick's exact scale) unless {@code max·2^112} could overflow, then less.
     */
    private static int halfExponent(float max) {
        if (max < 0x1p14f) {
            return PlainKernels.HALF_EXPONENT;
        }
        return PlainKernels.HALF_EXPONENT - (Math.getExponent(max) - 13);
    }

    /** Pair tables of every MHA head's pairs at 3 bits ({@link PackedKeyKernels#pairs3}) and 0–2 bits ({@code pairs2}). */
    private void buildPairTables(int[] keyTable) {
        int half = d / 2;
        int entries = 2 * PackedKeyKernels.TABLE;
        for (int q = 0; q < hq; q++) {
            int c0 = q * d;                           // MHA: KV head q
            for (int k = 0; k < half; k++) {
                int i = q * half + k;
                int j = pairs.first[i];
                int p = pairs.second[i];
                float qj = queries[q * d + j];
                float qp = queries[q * d + p];
                int kj = (c0 + j) * pairs.entries;
                int kp = (c0 + p) * pairs.entries;
                int at = i * entries;
                int width = pairs.width[i];
                if (width == 3) {
                    for (int x = 0; x < 8; x++) {
                        float vj = Float.intBitsToFloat(keyTable[kj + x]);
                        float vp = Float.intBitsToFloat(keyTable[kp + x]);
                        pairTables[at + x] = Float.floatToRawIntBits(qp * vp);
                        pairTables[at + 8 + x] = Float.floatToRawIntBits(qj * vj);
                        pairTables[at + 16 + x] = Float.floatToRawIntBits(-qj * vp);
                        pairTables[at + 24 + x] = Float.floatToRawIntBits(qp * vj);
                    }
                } else if (width <= 2) {
                    // entry x of the 4-bit field x = a + 2^w·b' (w = 0, 1, 2); narrower fields repeat every 2^2w
                    // entries (one entry at w = 0: the pair has no codes, its keys are the tables' first entries)
                    int mask = (1 << width) - 1;
                    for (int x = 0; x < 16; x++) {
                        float vj = Float.intBitsToFloat(keyTable[kj + (x & mask)]);
                        float vp = Float.intBitsToFloat(keyTable[kp + ((x >>> width) & mask)]);
                        pairTables[at + x] = Float.floatToRawIntBits(Math.fma(qp, vp, qj * vj));
                        pairTables[at + 16 + x] = Float.floatToRawIntBits(Math.fma(-qj, vp, qp * vj));
                    }
                }
            }
        }
    }

    /** cos, sin and −sin of every (frequency, slot) of the page starting at {@code firstPosition}, by angle addition. */
    private void pageAngles(long firstPosition, Work w) {
        int p = pageTokens;
        for (int i = 0; i < d / 2; i++) {
            double phi = shape.rope().angleOfFrequency(firstPosition, i);
            float c0 = (float) Math.cos(phi);
            float s0 = (float) Math.sin(phi);
            int at = i * p;
            int r = 0;
            if (simd) {
                for (; r + LANES <= p; r += LANES) {
                    FloatVector cs = FloatVector.fromArray(FS, cosStep, at + r);
                    FloatVector ss = FloatVector.fromArray(FS, sinStep, at + r);
                    cs.mul(c0).sub(ss.mul(s0)).intoArray(w.cos, at + r);
                    FloatVector sn = ss.mul(c0).add(cs.mul(s0));
                    sn.intoArray(w.sin, at + r);
                    sn.neg().intoArray(w.nsin, at + r);
                }
            }
            for (; r < p; r++) {
                float cs = cosStep[at + r];
                float ss = sinStep[at + r];
                w.cos[at + r] = cs * c0 - ss * s0;
                float sn = ss * c0 + cs * s0;
                w.sin[at + r] = sn;
                w.nsin[at + r] = -sn;
            }
        }
    }

    // ------------------------------------------------------------------ one page

    /** Scaled scores of every query head for the page's first {@code n} slots: {@code w.sc[q·P + r]}. */
    private void pageScores(CpuLayer store, int pg, int n, Work w) {
        MemorySegment page = store.page(pg);
        int p = pageTokens;
        if (!packed) {
            int width = layout.elementBytes();
            float[] q = half && simd ? halfQueries : queries;
            for (int h = 0; h < hkv; h++) {
                PlainKernels.keys(simd, half, page, keys + layout.keyElement(h, 0, 0) * width, d, p, n, q,
                        h * group * d, group, w.sc, h * group * p);
            }
            if (half && simd && scorePost != 1f) {
                for (int i = 0; i < hq * p; i++) {
                    w.sc[i] *= scorePost;
                }
            }
            return;
        }
        pageAngles(store.firstPosition() + occupancy.sinks().capacity() + (long) pg * p, w);
        int blocks = (n + 31) & ~31;
        int[] keyTable = store.keyTable();
        int half = d / 2;
        for (int h = 0; h < hkv; h++) {
            int q0 = h * group;
            for (int g = 0; g < group; g++) {
                Arrays.fill(w.sc, (q0 + g) * p, (q0 + g) * p + blocks, 0f);   // the kernels add
            }
            if (!simd || !Vectors.PACKED) {
                PackedKeyKernels.scalar(page, keyCodes, p, n, pairs, h * half, (h + 1) * half, keyTable, h * d,
                        queries, q0 * d, d, group, w.cos, w.sin, w.sc, q0 * p);
                continue;
            }
            for (int run = pairs.headRuns[h]; run < pairs.headRuns[h + 1]; run++) {
                int from = pairs.runFrom[run];
                int to = pairs.runTo[run];
                int width = pairs.runWidth[run];
                if (width > 4 && Vectors.LANES != 16) {
                    // 5 and 6 bits (a few pairs of a bit allocation): 64-entry tables need 16 lanes
                    PackedKeyKernels.scalar(page, keyCodes, p, n, pairs, from, to, keyTable, h * d, queries, q0 * d,
                            d, group, w.cos, w.sin, w.sc, q0 * p);
                } else if (pairTablesUsed && width == 3) {
                    PackedKeyKernels.pairs3(page, keyCodes, p, blocks, pairs, from, to, pairTables,
                            from * 2 * PackedKeyKernels.TABLE, w.cos, w.sin, w.sc, q0 * p);
                } else if (pairTablesUsed && width <= 2) {
                    PackedKeyKernels.pairs2(page, keyCodes, p, blocks, pairs, from, to, pairTables,
                            from * 2 * PackedKeyKernels.TABLE, w.cos, w.sin, w.sc, q0 * p);
                } else {
                    for (int g = 0; g < group; g += 4) {
                        PackedKeyKernels.rotateOnce(page, keyCodes, p, blocks, pairs, from, to, keyTable, h * d,
                                queries, (q0 + g) * d, d, Math.min(4, group - g), w.cos, w.sin, w.nsin, w.sc,
                                (q0 + g) * p);
                    }
                }
            }
        }
        keyOutliers(store, page, n, w);
    }

    /**
     * Adds {@code res·(cos·q_j + σ_j·sin·q_partner)} for every key outlier of the page. Fixed slots are
     * visited all of them: unused slots hold (channel 0, +0), which adds exactly 0, so no counts are read.
     * One query head per KV head: token-major (contiguous slots; measured 3% faster per decode than
     * slot-major, the occasional update of the same score in a row notwithstanding). GQA: slot-major (slot i
     * of every token, then slot i+1), so that consecutive updates, each of a group's heads, hit different
     * tokens (token-major measured 5% slower there). Vector gathers and scatters measured 3.5× slower than
     * these scalar loops.
     */
    private void keyOutliers(CpuLayer store, MemorySegment page, int n, Work w) {
        if (!spec.hasOutliers()) {
            return;
        }
        int p = pageTokens;
        int channels = shape.kvChannels();
        float[] sc = w.sc;
        if (layout.sparseOutliers()) {
            SparseEntries entries = store.entries(Tensor.KEYS);
            for (int r = 0; r < n; r++) {
                int from = page.get(INT, keyOutStart + r * 4L);
                int to = page.get(INT, keyOutStart + (r + 1) * 4L);
                for (int e = from; e < to; e++) {
                    addKeyResidual(entries.channel(e), Fp16.decode(entries.value(e)), r, w);
                }
            }
            return;
        }
        int slots = layout.keySlots();
        copySlots(page, keyOutChannel, keyOutValue, n * slots, w);
        short[] ch = w.slotChannels;
        short[] val = w.slotValues;
        float[] cos = w.cos;
        float[] sin = w.sin;
        float[] k = keyCoefficients;
        int[] outlierAt = keyOutlierAt;   // a channel's two indices and two coefficients side by side: fewer arrays
                                          // (and bounds checks) in a loop whose every access is indirect
        if (shiftable) {
            int hs = headShift;
            int fm = frequencyMask;
            int fs = frequencyShift;
            for (int r = 0; r < n; r++) {
                for (int at = r * slots, end = at + slots; at < end; at++) {
                    int c = ch[at];
                    float res = Float.float16ToFloat(val[at]);
                    int t = ((c & fm) >>> fs) * p + r;
                    int x = (c >>> hs) * p + r;
                    sc[x] = Math.fma(res, Math.fma(cos[t], k[2 * c], sin[t] * k[2 * c + 1]), sc[x]);
                }
            }
            return;
        }
        if (group == 1) {
            for (int r = 0; r < n; r++) {
                for (int at = r * slots, end = at + slots; at < end; at++) {
                    int c2 = 2 * ch[at];
                    float res = Float.float16ToFloat(val[at]);
                    int t = outlierAt[c2] + r;
                    int x = outlierAt[c2 + 1] + r;
                    sc[x] = Math.fma(res, Math.fma(cos[t], k[c2], sin[t] * k[c2 + 1]), sc[x]);
                }
            }
            return;
        }
        for (int i = 0; i < slots; i++) {
            for (int r = 0, at = i; r < n; r++, at += slots) {
                int c2 = 2 * ch[at];
                float res = Float.float16ToFloat(val[at]);
                int t = outlierAt[c2] + r;
                float cr = cos[t] * res;
                float sr = sin[t] * res;
                int x = outlierAt[c2 + 1] + r;
                for (int g = 0, u = c2; g < group; g++, u += 2 * channels, x += p) {
                    sc[x] = Math.fma(sr, k[u + 1], Math.fma(cr, k[u], sc[x]));
                }
            }
        }
    }

    private void addKeyResidual(int c, float res, int r, Work w) {
        int t = keyOutlierAt[2 * c] + r;
        float cr = w.cos[t] * res;
        float sr = w.sin[t] * res;
        int channels = shape.kvChannels();
        int x = keyOutlierAt[2 * c + 1] + r;
        for (int g = 0, u = 2 * c; g < group; g++, u += 2 * channels, x += pageTokens) {
            w.sc[x] = Math.fma(sr, keyCoefficients[u + 1], Math.fma(cr, keyCoefficients[u], w.sc[x]));
        }
    }

    /** Copies {@code count} fixed slots (channels and fp16 values) of a page to the runner's heap arrays. */
    private static void copySlots(MemorySegment page, long channelOffset, long valueOffset, int count, Work w) {
        if (w.slotChannels.length < count) {
            w.slotChannels = new short[count];
            w.slotValues = new short[count];
        }
        MemorySegment.copy(page, SHORT, channelOffset, w.slotChannels, 0, count);
        MemorySegment.copy(page, SHORT, valueOffset, w.slotValues, 0, count);
    }

    /**
     * Adds the page's values with the runner's page weights ({@code w.alpha}, and for nuq {@code w.e})
     * into the unit's outputs at {@code unitOut[oAt + q·d + j]}.
     */
    private void pageValues(CpuLayer store, int pg, int n, Work w, int oAt, float post) {
        MemorySegment page = store.page(pg);
        int p = pageTokens;
        if (!packed) {
            int width = layout.elementBytes();
            for (int h = 0; h < hkv; h++) {
                PlainKernels.values(simd, half, page, values + layout.valueElement(h, 0, 0) * width, d, p, n, w.alpha,
                        h * group * p, group, unitOut, oAt + h * group * d, post, w.scratch);
            }
            return;
        }
        ValuePlan plan = store.valuePlan();
        if (valueBits > 0) {
            int bits = valueBits;
            int[] table = plan.table(bits);
            for (int h = 0; h < hkv; h++) {
                PackedValueKernels.values(simd, bits, page, valueCodes + layout.valueWord(h, 0, 0, 0, 0) * 4, d,
                        bits * d, p, n, table, w.alpha, h * group * p, group, unitOut, oAt + h * group * d, d);
            }
        } else {
            // width groups: the page's sums in each head's physical order, then mapped to logical channels
            Arrays.fill(w.physical, 0f);
            for (int h = 0; h < hkv; h++) {
                plan.addPage(simd, page, n, w.alpha, h, group, w.physical);
            }
            plan.addLogical(w.physical, unitOut, oAt, hq, group);
        }
        valueOutliers(store, page, n, w, oAt);
    }

    /** {@code o[q][c] += e[q][r]·res} for every value outlier of the page (the residual is not scaled by the token scale). */
    private void valueOutliers(CpuLayer store, MemorySegment page, int n, Work w, int oAt) {
        if (!spec.hasOutliers()) {
            return;
        }
        float[] o = unitOut;
        if (layout.sparseOutliers()) {
            SparseEntries entries = store.entries(Tensor.VALUES);
            for (int r = 0; r < n; r++) {
                int from = page.get(INT, valueOutStart + r * 4L);
                int to = page.get(INT, valueOutStart + (r + 1) * 4L);
                for (int e = from; e < to; e++) {
                    addValueResidual(entries.channel(e), Fp16.decode(entries.value(e)), r, w.e, o, oAt);
                }
            }
            return;
        }
        int slots = layout.valueSlots();
        copySlots(page, valueOutChannel, valueOutValue, n * slots, w);
        short[] ch = w.slotChannels;
        short[] val = w.slotValues;
        float[] e = w.e;
        int p = pageTokens;
        int[] outlierAt = valueOutlierAt;
        if (group == 1) {
            // MHA: query head = KV head, so o's index q·d + j is the channel itself; a token's channels are
            // distinct, so no update waits on another
            int hs = shiftable ? headShift : 0;
            for (int r = 0; r < n; r++) {
                for (int at = r * slots, end = at + slots; at < end; at++) {
                    int c = ch[at];
                    int x = oAt + c;
                    int weight = (shiftable ? (c >>> hs) * p : outlierAt[2 * c]) + r;
                    o[x] = Math.fma(e[weight], Float.float16ToFloat(val[at]), o[x]);
                }
            }
            return;
        }
        for (int r = 0; r < n; r++) {
            for (int at = r * slots, end = at + slots; at < end; at++) {
                int c2 = 2 * ch[at];
                float res = Float.float16ToFloat(val[at]);
                int weight = outlierAt[c2] + r;
                int x = oAt + outlierAt[c2 + 1];
                for (int g = 0; g < group; g++, weight += p, x += d) {
                    o[x] = Math.fma(e[weight], res, o[x]);
                }
            }
        }
    }

    private void addValueResidual(int c, float res, int r, float[] e, float[] o, int oAt) {
        int weight = valueOutlierAt[2 * c] + r;
        int x = oAt + valueOutlierAt[2 * c + 1];
        for (int g = 0; g < group; g++, weight += pageTokens, x += d) {
            o[x] = Math.fma(e[weight], res, o[x]);
        }
    }

    // ------------------------------------------------------------------ attend: online softmax

    private void pagesAttend(CpuLayer store, Units units, int u, Work w) {
        Arrays.fill(unitMax, u * hq, (u + 1) * hq, Float.NEGATIVE_INFINITY);
        Arrays.fill(unitSum, u * hq, (u + 1) * hq, 0f);
        Arrays.fill(unitOut, u * hq * d, (u + 1) * hq * d, 0f);
        for (int pg = units.firstPage(u); pg < units.endPage(u); pg++) {
            int n = units.tokensOf(pg);
            pageScores(store, pg, n, w);
            if (packed) {
                pageScalesAndZeros(store.page(pg), n, w);
            }
            for (int q = 0; q < hq; q++) {
                Arrays.fill(w.sc, q * pageTokens + n, (q + 1) * pageTokens, Float.NEGATIVE_INFINITY);
                if (simd) {
                    softmaxPageVector(u, q, w);
                } else {
                    softmaxPageScalar(u, q, w);
                }
            }
            pageValues(store, pg, n, w, u * hq * d, 1f);
        }
    }

    private void pageScalesAndZeros(MemorySegment page, int n, Work w) {
        for (int r = 0; r < n; r++) {
            w.scale[r] = Fp16.decode(page.get(SHORT, valueScale + r * 2L));
            w.zero[r] = Fp16.decode(page.get(SHORT, valueZero + r * 2L));
        }
        Arrays.fill(w.scale, n, pageTokens, 0f);
        Arrays.fill(w.zero, n, pageTokens, 0f);
    }

    /**
     * One query head's page in the unit's online softmax: rescale the running sums when the page raises
     * the max, then e = exp(s − m), α = e·scale (nuq), e·2^112 (fp16) or e (fp32), and the zero-points'
     * part Σ e·z added to every output channel (nuq).
     */
    private void softmaxPageVector(int u, int q, Work w) {
        int so = q * pageTokens;
        FloatVector mx = FloatVector.broadcast(FS, Float.NEGATIVE_INFINITY);
        for (int r = 0; r < pageTokens; r += LANES) {
            mx = mx.max(FloatVector.fromArray(FS, w.sc, so + r));
        }
        float m = raiseMax(u, q, mx.reduceLanes(VectorOperators.MAX));   // max is exact in any order
        if (m == Float.NEGATIVE_INFINITY) {
            skipPage(so, w);
            return;
        }
        FloatVector sum = FloatVector.zero(FS);
        FloatVector zsum = sum;
        for (int r = 0; r < pageTokens; r += LANES) {
            FloatVector e = SoftmaxExp.exp(FloatVector.fromArray(FS, w.sc, so + r).sub(m));
            sum = sum.add(e);
            if (packed) {
                e.intoArray(w.e, so + r);
                e.mul(FloatVector.fromArray(FS, w.scale, r)).intoArray(w.alpha, so + r);
                zsum = e.fma(FloatVector.fromArray(FS, w.zero, r), zsum);
            } else if (half) {
                e.mul(0x1p112f).intoArray(w.alpha, so + r);
            } else {
                e.intoArray(w.alpha, so + r);
            }
        }
        unitSum[u * hq + q] += Vectors.laneSum(sum, w.lanes);
        if (packed) {
            addToRow(u, q, Vectors.laneSum(zsum, w.lanes));
        }
    }

    private void softmaxPageScalar(int u, int q, Work w) {
        int so = q * pageTokens;
        float pageMax = Float.NEGATIVE_INFINITY;
        for (int r = 0; r < pageTokens; r++) {
            pageMax = Math.max(pageMax, w.sc[so + r]);
        }
        float m = raiseMax(u, q, pageMax);
        if (m == Float.NEGATIVE_INFINITY) {
            skipPage(so, w);
            return;
        }
        float sum = 0f;
        float zsum = 0f;
        for (int r = 0; r < pageTokens; r++) {
            float e = SoftmaxExp.exp(w.sc[so + r] - m);
            sum += e;
            w.e[so + r] = e;
            // the scalar fp16 kernels convert each half exactly (no 2^112 trick)
            w.alpha[so + r] = packed ? e * w.scale[r] : e;
            zsum = Math.fma(e, w.zero[r], zsum);
        }
        unitSum[u * hq + q] += sum;
        if (packed) {
            addToRow(u, q, zsum);
        }
    }

    /**
     * Folds the page's max into the unit's running max of head q, rescaling its sum and output when it
     * grows; returns the max to subtract. Scores that overflowed fp32 fail here (finite but huge queries
     * can overflow q·k, and a softmax over ±Inf would silently give NaN).
     */
    private float raiseMax(int u, int q, float pageMax) {
        if (!(pageMax < Float.POSITIVE_INFINITY)) {
            throw overflow(pageMax);
        }
        int mi = u * hq + q;
        float old = unitMax[mi];
        if (pageMax > old) {
            float f = SoftmaxExp.exp(old - pageMax);   // 0 for the first page (old = −∞)
            unitSum[mi] *= f;
            int at = mi * d;
            for (int j = 0; j < d; j++) {
                unitOut[at + j] *= f;
            }
            unitMax[mi] = pageMax;
        }
        return unitMax[mi];
    }

    /** A page whose scores all underflowed to −∞ (or the unit's so far): it adds nothing. */
    private void skipPage(int so, Work w) {
        Arrays.fill(w.e, so, so + pageTokens, 0f);
        Arrays.fill(w.alpha, so, so + pageTokens, 0f);
    }

    private static IllegalArgumentException overflow(float max) {
        return new IllegalArgumentException("attention scores overflow fp32 (largest " + max
                + "): the query is too large for these keys");
    }

    private void addToRow(int u, int q, float x) {
        int at = (u * hq + q) * d;
        for (int j = 0; j < d; j++) {
            unitOut[at + j] += x;
        }
    }

    /** Merges the units' (max, sum, output) in unit order: {@code out[q] = Σ_u e^{m_u − M}·o_u / Σ_u e^{m_u − M}·l_u}. */
    private void merge(int units, float[] out) {
        for (int q = 0; q < hq; q++) {
            float max = Float.NEGATIVE_INFINITY;
            for (int u = 0; u < units; u++) {
                max = Math.max(max, unitMax[u * hq + q]);
            }
            if (!Float.isFinite(max)) {
                throw overflow(max);
            }
            float sum = 0f;
            for (int u = 0; u < units; u++) {
                sum += SoftmaxExp.exp(unitMax[u * hq + q] - max) * unitSum[u * hq + q];
            }
            float inv = 1f / sum;
            Arrays.fill(out, q * d, (q + 1) * d, 0f);
            for (int u = 0; u < units; u++) {
                float f = SoftmaxExp.exp(unitMax[u * hq + q] - max) * inv;
                int at = (u * hq + q) * d;
                for (int j = 0; j < d; j++) {
                    out[q * d + j] = Math.fma(f, unitOut[at + j], out[q * d + j]);
                }
            }
        }
    }

    // ------------------------------------------------------------------ valueMatvec: page weights

    /**
     * The runner's page weights from the caller's {@code weights[q·stride + base + r]}: α (× scale for nuq,
     * × 2^k for fp16 SIMD), e (nuq value outliers), and for nuq the zero-points' part Σ w·z added to the
     * unit's outputs at {@code oAt}. Returns the factor the fp16 SIMD kernels apply to their sums (1
     * unless the weights are too large for the full 2^112).
     */
    private float pageWeights(MemorySegment page, int n, float[] weights, int stride, int base, Work w, int oAt) {
        int p = pageTokens;
        if (packed) {
            pageScalesAndZeros(page, n, w);
        }
        float post = 1f;
        float factor = 1f;
        if (half && simd) {
            float max = 0f;
            for (int q = 0; q < hq; q++) {
                for (int r = 0; r < n; r++) {
                    max = Math.max(max, Math.abs(weights[q * stride + base + r]));
                }
            }
            int exponent = halfExponent(max);
            factor = Math.scalb(1f, exponent);
            post = Math.scalb(1f, PlainKernels.HALF_EXPONENT - exponent);
        }
        for (int q = 0; q < hq; q++) {
            int from = q * stride + base;
            int so = q * p;
            if (!packed) {
                for (int r = 0; r < n; r++) {
                    w.alpha[so + r] = weights[from + r] * factor;
                }
                Arrays.fill(w.alpha, so + n, so + p, 0f);
                continue;
            }
            float zsum = 0f;
            for (int r = 0; r < n; r++) {
                float x = weights[from + r];
                w.e[so + r] = x;
                w.alpha[so + r] = x * w.scale[r];
                zsum = Math.fma(x, w.zero[r], zsum);
            }
            Arrays.fill(w.e, so + n, so + p, 0f);
            Arrays.fill(w.alpha, so + n, so + p, 0f);
            int at = oAt + q * d;
            for (int j = 0; j < d; j++) {
                unitOut[at + j] += zsum;
            }
        }
        return post;
    }

    // ------------------------------------------------------------------ the side buffer: fp16 [S + N][D], post-RoPE

    /** Scores of tokens {@code [from, to)} from the side buffer (sinks or window ring slots): {@code scores[q·stride + base + i − from]}. */
    private void sideScores(CpuLayer store, int from, int to, float[] scores, int stride, int base) {
        MemorySegment buffer = store.sinks();
        for (int i = from; i < to; i++) {
            int slot = sinkLayout.slot(i);
            for (int q = 0; q < hq; q++) {
                long at = sinkLayout.keyOffset(slot, q / group * d);
                float acc = 0f;
                for (int j = 0; j < d; j++) {
                    acc = Math.fma(Fp16.decode(buffer.get(SHORT, at + j * 2L)), queries[q * d + j], acc);
                }
                scores[q * stride + base + i - from] = acc;
            }
        }
    }

    /** {@code o[oAt + q·d + j] += Σ_i weights[q·stride + base + i − from]·v_i[j]} over tokens {@code [from, to)} of the side buffer. */
    private void sideValues(CpuLayer store, int from, int to, float[] weights, int stride, int base, float[] o,
                            int oAt) {
        MemorySegment buffer = store.sinks();
        for (int i = from; i < to; i++) {
            int slot = sinkLayout.slot(i);
            for (int q = 0; q < hq; q++) {
                float x = weights[q * stride + base + i - from];
                long at = sinkLayout.valueOffset(slot, q / group * d);
                int out = oAt + q * d;
                for (int j = 0; j < d; j++) {
                    o[out + j] = Math.fma(x, Fp16.decode(buffer.get(SHORT, at + j * 2L)), o[out + j]);
                }
            }
        }
    }

    /** Side-buffer tokens {@code [from, to)} as unit u of a decode step: their softmax state (max, sum, Σ e·v) per query head. */
    private void sideAttend(CpuLayer store, int from, int to, int u) {
        int n = to - from;
        float[] s = new float[hq * n];
        sideScores(store, from, to, s, n, 0);
        for (int q = 0; q < hq; q++) {
            float max = Float.NEGATIVE_INFINITY;
            for (int i = 0; i < n; i++) {
                max = Math.max(max, s[q * n + i]);
            }
            if (!(max < Float.POSITIVE_INFINITY)) {
                throw overflow(max);
            }
            float sum = 0f;
            for (int i = 0; i < n; i++) {
                float e = max == Float.NEGATIVE_INFINITY ? 0f : SoftmaxExp.exp(s[q * n + i] - max);
                s[q * n + i] = e;
                sum += e;
            }
            unitMax[u * hq + q] = max;
            unitSum[u * hq + q] = sum;
        }
        int at = u * hq * d;
        Arrays.fill(unitOut, at, at + hq * d, 0f);
        sideValues(store, from, to, s, n, 0, unitOut, at);
    }
}
