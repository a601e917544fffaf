package dev.kvq.engine.cpu;

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
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * One decode step of attention on the CPU over a {@link CpuLayer}: sink scores, fused packed key
 * scores with the outlier residuals of each page added in the same pass, the recent-token window's
 * scores from its fp16 copy, an fp32 softmax, then the packed value matvec (per width group) with its
 * residuals, the sinks and the window. Each token is read once: the sinks, the packed slots that have left
 * the window, the window. Holds the scratch buffers of one cache, so a cache attends from one thread at a
 * time.
 */
final class CpuAttention {
    /** The constant species of the kernels (see {@link PageKernels}). */
    private static final VectorSpecies<Float> SPECIES = PageKernels.FS;

    private final AttentionShape shape;
    private final QuantSpec spec;
    private PageLayout layout;                    // the bound layer's ({@link #bind})
    private Occupancy occupancy;
    private final SinkLayout sinkLayout;
    private final boolean simd;                   // false = the scalar path
    private final float[] cosStep;                // [d/2][P] cos(r·ω_i)
    private final float[] sinStep;                // [d/2][P] sin(r·ω_i)
    private final float[] cosPage;                // [d/2][P] cos of the current page's angles
    private final float[] sinPage;
    private final float[] queries;                // [Hq][d] scaled
    private final float[] alpha;                  // [Hq][P]
    private final float[] beta;                   // [Hq]
    private final float[] physical;               // [Hq][d] value outputs in width-group order
    private final float[] laneSums = new float[FloatVector.SPECIES_MAX.length()];  // softmax partial sums
    private float[] scores = new float[0];        // [Hq][stride]
    // per channel c of the KV vector: its head, in-head index, RoPE partner, frequency and sine sign
    private final int[] channelHead;
    private final int[] channelIndex;
    private final int[] channelPartner;
    private final int[] channelFrequency;
    private final float[] channelSign;
    private short[] slotChannels = new short[0];  // [P][S] a page's fixed outlier slots, copied to the heap
    private short[] slotValues = new short[0];
    private final float[] pageScale;              // [P] this page's value scales as floats
    private final float[] pageZero;               // [P]
    // byte offsets of the bound layer's page parts (PageLayout.offsetOrZero: resolved once per layout)
    private long keyCodes;
    private long valueZero;
    private long valueScale;
    private long keyOutChannel;
    private long keyOutValue;
    private long valueOutChannel;
    private long valueOutValue;
    private long keyOutStart;
    private long valueOutStart;
    private long keyOutHeadEnd;
    private long valueOutHeadEnd;
    private long keys;
    private long values;

    /** Scratch for the caches of {@code setup}; every layer shares the page size and the side buffer's shape. */
    CpuAttention(AttentionShape shape, QuantSpec spec, Occupancy occupancy, boolean simd) {
        this.shape = shape;
        this.spec = spec;
        this.sinkLayout = occupancy.sinks();
        this.simd = simd;
        int d = shape.headDim();
        int p = occupancy.layout().pageTokens();
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
        channelFrequency = new int[channels];
        channelSign = new float[channels];
        for (int c = 0; c < channels; c++) {
            int j = c % d;
            channelHead[c] = c / d;
            channelIndex[c] = j;
            channelPartner[c] = pairing.partner(j, d);
            channelFrequency[c] = pairing.frequencyIndex(j, d);
            channelSign[c] = pairing.isFirstOfPair(j, d) ? 1f : -1f;
        }
        pageScale = new float[p];
        pageZero = new float[p];
        cosPage = new float[d / 2 * p];
        sinPage = new float[d / 2 * p];
        queries = new float[shape.queryHeads() * d];
        alpha = new float[shape.queryHeads() * p];
        beta = new float[shape.queryHeads()];
        physical = new float[shape.queryHeads() * d];
    }

    /** Resolves the part offsets of {@code store}'s layout (layers differ under a bit allocation). */
    private void bind(CpuLayer store) {
        if (store.layout() == layout) {
            return;
        }
        layout = store.layout();
        occupancy = store.occupancy();
        keyCodes = layout.offsetOrZero(Part.KEY_CODES);
        valueZero = layout.offsetOrZero(Part.VALUE_ZERO);
        valueScale = layout.offsetOrZero(Part.VALUE_SCALE);
        keyOutChannel = layout.offsetOrZero(Part.KEY_OUT_CHANNEL);
        keyOutValue = layout.offsetOrZero(Part.KEY_OUT_VALUE);
        valueOutChannel = layout.offsetOrZero(Part.VALUE_OUT_CHANNEL);
        valueOutValue = layout.offsetOrZero(Part.VALUE_OUT_VALUE);
        keyOutStart = layout.offsetOrZero(Part.KEY_OUT_START);
        valueOutStart = layout.offsetOrZero(Part.VALUE_OUT_START);
        keyOutHeadEnd = layout.offsetOrZero(Part.KEY_OUT_HEAD_END);
        valueOutHeadEnd = layout.offsetOrZero(Part.VALUE_OUT_HEAD_END);
        keys = layout.offsetOrZero(Part.KEYS);
        values = layout.offsetOrZero(Part.VALUES);
    }

    /** Scores, softmax and values: one decode step over {@code total} stored tokens. */
    void attend(CpuLayer store, int total, float[] query, float[] out) {
        int hq = shape.queryHeads();
        if (scores.length < hq * total) {
            scores = new float[Math.max(hq * total, scores.length + scores.length / 2)];
        }
        scores(store, total, query, scores, total);
        for (int q = 0; q < hq; q++) {
            softmax(scores, q * total, total);
        }
        values(store, total, scores, total, out);
    }

    /** Scaled scores {@code q·k/√d} of the {@code stored} tokens, {@code scores[q·stride + t]}. */
    void scores(CpuLayer store, int stored, float[] query, float[] scores, int stride) {
        bind(store);
        int d = shape.headDim();
        int hq = shape.queryHeads();
        int group = shape.groupSize();
        int p = layout.pageTokens();
        int sinks = occupancy.sinkTokens(stored);
        int packed = occupancy.pageReadTokens(stored);   // the window's tokens are read from their fp16 copy
        int pages = occupancy.pagesFor(packed);
        float scale = (float) (1.0 / Math.sqrt(d));
        for (int i = 0; i < hq * d; i++) {
            queries[i] = query[i] * scale;
        }
        boolean nuq = spec.quantized();
        sideScores(store, 0, sinks, scores, stride);
        sideScores(store, sinks + packed, stored, scores, stride);
        for (int pg = 0; pg < pages; pg++) {
            MemorySegment page = store.page(pg);
            int n = Math.min(p, packed - pg * p);
            int base = sinks + pg * p;
            if (nuq) {
                pageAngles(store.firstPosition() + sinks + (long) pg * p);
                for (int h = 0; h < shape.kvHeads(); h++) {
                    PageKernels.packedKeyScores(simd, store.keyPlan(h), page, keyCodes, p, n, store.keyTable(),
                            cosPage, sinPage, queries, h * group, group, scores, stride, base);
                }
                keyOutlierScores(store, page, n, scores, stride, base);
            } else {
                boolean half = spec.mode() == QuantSpec.Mode.FP16;
                int width = layout.elementBytes();
                for (int h = 0; h < shape.kvHeads(); h++) {
                    PageKernels.plainKeyScores(simd, half, page, keys + layout.keyElement(h, 0, 0) * width, d, p, n,
                            queries, h * group, group, scores, stride, base);
                }
            }
        }
    }

    /** {@code out[q] = Σ_t weights[q·stride + t]·v_t} over the {@code stored} tokens. */
    void values(CpuLayer store, int stored, float[] weights, int stride, float[] out) {
        bind(store);
        int d = shape.headDim();
        int hq = shape.queryHeads();
        int group = shape.groupSize();
        int p = layout.pageTokens();
        int sinks = occupancy.sinkTokens(stored);
        int packed = occupancy.pageReadTokens(stored);   // the window's tokens are read from their fp16 copy
        int pages = occupancy.pagesFor(packed);
        boolean nuq = spec.quantized();
        java.util.Arrays.fill(out, 0, hq * d, 0f);
        // width groups put a head's channels in physical order: accumulate there, map back once at the end
        float[] packedOut = nuq && !store.valuePlan().logicalOrder() ? physical : out;
        if (packedOut != out) {
            java.util.Arrays.fill(packedOut, 0f);
        }
        sideValues(store, 0, sinks, weights, stride, out);
        sideValues(store, sinks + packed, stored, weights, stride, out);
        for (int pg = 0; pg < pages; pg++) {
            MemorySegment page = store.page(pg);
            int n = Math.min(p, packed - pg * p);
            int base = sinks + pg * p;
            if (nuq) {
                pageValueWeights(page, n, weights, stride, base);
                for (int h = 0; h < shape.kvHeads(); h++) {
                    store.valuePlan().addPage(simd, page, n, alpha, beta, h, group, packedOut);
                }
                valueOutliers(store, page, n, weights, stride, base, out);
            } else {
                for (int q = 0; q < hq; q++) {
                    System.arraycopy(weights, q * stride + base, alpha, q * p, n);
                }
                boolean half = spec.mode() == QuantSpec.Mode.FP16;
                int width = layout.elementBytes();
                for (int h = 0; h < shape.kvHeads(); h++) {
                    PageKernels.plainValues(simd, half, page, values + layout.valueElement(h, 0, 0) * width, d, p, n,
                            alpha, h * group, group, out);
                }
            }
        }
        if (packedOut != out) {
            store.valuePlan().addLogical(packedOut, out, hq, group);
        }
    }

    /** cos/sin of every (frequency, slot) of a page starting at {@code firstPosition}, by angle addition. */
    private void pageAngles(long firstPosition) {
        int p = layout.pageTokens();
        int half = shape.headDim() / 2;
        for (int i = 0; i < half; i++) {
            double phi = shape.rope().angleOfFrequency(firstPosition, i);
            float c0 = (float) Math.cos(phi);
            float s0 = (float) Math.sin(phi);
            int at = i * p;
            int r = 0;
            if (simd) {
                int lanes = SPECIES.length();
                for (; r + lanes <= p; r += lanes) {
                    FloatVector cs = FloatVector.fromArray(SPECIES, cosStep, at + r);
                    FloatVector ss = FloatVector.fromArray(SPECIES, sinStep, at + r);
                    cs.mul(c0).sub(ss.mul(s0)).intoArray(cosPage, at + r);
                    ss.mul(c0).add(cs.mul(s0)).intoArray(sinPage, at + r);
                }
            }
            for (; r < p; r++) {
                float cs = cosStep[at + r];
                float ss = sinStep[at + r];
                cosPage[at + r] = cs * c0 - ss * s0;
                sinPage[at + r] = ss * c0 + cs * s0;
            }
        }
    }

    /** Scores of tokens {@code [from, to)} from the fp16 side buffer (sinks, or the window's ring slots). */
    private void sideScores(CpuLayer store, int from, int to, float[] scores, int stride) {
        int d = shape.headDim();
        int group = shape.groupSize();
        for (int i = from; i < to; i++) {
            int slot = sinkLayout.slot(i);
            for (int q = 0; q < shape.queryHeads(); q++) {
                int h = q / group;
                long at = sinkLayout.keyOffset(slot, h * d);
                float acc = 0f;
                for (int j = 0; j < d; j++) {
                    acc = Math.fma(Fp16.decode(store.sinks().get(CpuLayer.SHORT, at + j * 2L)), queries[q * d + j], acc);
                }
                scores[q * stride + i] = acc;
            }
        }
    }

    /** Adds the values of tokens {@code [from, to)} from the fp16 side buffer (sinks, or the window's ring slots). */
    private void sideValues(CpuLayer store, int from, int to, float[] weights, int stride, float[] out) {
        int d = shape.headDim();
        int group = shape.groupSize();
        for (int i = from; i < to; i++) {
            int slot = sinkLayout.slot(i);
            for (int q = 0; q < shape.queryHeads(); q++) {
                int h = q / group;
                float w = weights[q * stride + i];
                long at = sinkLayout.valueOffset(slot, h * d);
                for (int j = 0; j < d; j++) {
                    out[q * d + j] = Math.fma(w, Fp16.decode(store.sinks().get(CpuLayer.SHORT, at + j * 2L)),
                            out[q * d + j]);
                }
            }
        }
    }

    /**
     * Adds {@code res·(cos·q[j] + σ_j·sin·q[partner])} for every key outlier of the page. A token's fixed
     * slots are used up to the end of its last head's outliers (keyOutHeadEnd). (The key and value walks are
     * written out twice on purpose: a shared walker with a visitor lambda measured 20–30% slower on the value
     * pass.)
     */
    private void keyOutlierScores(CpuLayer store, MemorySegment page, int n, float[] scores, int stride, int base) {
        if (!spec.hasOutliers()) {
            return;
        }
        int p = layout.pageTokens();
        if (layout.sparseOutliers()) {
            SparseEntries entries = store.entries(Tensor.KEYS);
            for (int r = 0; r < n; r++) {
                int from = page.get(CpuLayer.INT, keyOutStart + r * 4L);
                int to = page.get(CpuLayer.INT, keyOutStart + (r + 1) * 4L);
                for (int e = from; e < to; e++) {
                    addKeyResidual(r, entries.channel(e), Fp16.decode(entries.value(e)), p, scores, stride, base);
                }
            }
            return;
        }
        int slots = layout.keySlots();
        copySlots(page, keyOutChannel, keyOutValue, n * slots);
        int last = shape.kvHeads() - 1;
        for (int r = 0; r < n; r++) {
            int at = r * slots;
            int used = Byte.toUnsignedInt(page.get(ValueLayout.JAVA_BYTE, keyOutHeadEnd + (long) r * shape.kvHeads() + last));
            for (int i = 0; i < used; i++, at++) {
                addKeyResidual(r, slotChannels[at], Fp16.decode(slotValues[at]), p, scores, stride, base);
            }
        }
    }

    private void addKeyResidual(int r, int channel, float residual, int p, float[] scores, int stride, int base) {
        int d = shape.headDim();
        int h = channelHead[channel];
        int j = channelIndex[channel];
        int partner = channelPartner[channel];
        int t = channelFrequency[channel] * p + r;
        float c = cosPage[t] * residual;
        float s = channelSign[channel] * sinPage[t] * residual;
        int group = shape.groupSize();
        for (int q = h * group; q < (h + 1) * group; q++) {
            int at = q * stride + base + r;
            scores[at] = Math.fma(s, queries[q * d + partner], Math.fma(c, queries[q * d + j], scores[at]));
        }
    }

    /** alpha[q][r] = p·s_r and beta[q] = Σ_r p·z_r for the page. */
    private void pageValueWeights(MemorySegment page, int n, float[] weights, int stride, int base) {
        int p = layout.pageTokens();
        for (int r = 0; r < n; r++) {
            pageScale[r] = Fp16.decode(page.get(CpuLayer.SHORT, valueScale + r * 2L));
            pageZero[r] = Fp16.decode(page.get(CpuLayer.SHORT, valueZero + r * 2L));
        }
        for (int q = 0; q < shape.queryHeads(); q++) {
            float b = 0f;
            int row = q * stride + base;
            for (int r = 0; r < n; r++) {
                float w = weights[row + r];
                alpha[q * p + r] = w * pageScale[r];
                b = Math.fma(w, pageZero[r], b);
            }
            beta[q] = b;
        }
    }

    private void valueOutliers(CpuLayer store, MemorySegment page, int n, float[] weights, int stride, int base,
                               float[] out) {
        if (!spec.hasOutliers()) {
            return;
        }
        if (layout.sparseOutliers()) {
            SparseEntries entries = store.entries(Tensor.VALUES);
            for (int r = 0; r < n; r++) {
                int from = page.get(CpuLayer.INT, valueOutStart + r * 4L);
                int to = page.get(CpuLayer.INT, valueOutStart + (r + 1) * 4L);
                for (int e = from; e < to; e++) {
                    addValueResidual(r, entries.channel(e), Fp16.decode(entries.value(e)), weights, stride, base, out);
                }
            }
            return;
        }
        int slots = layout.valueSlots();
        copySlots(page, valueOutChannel, valueOutValue, n * slots);
        int last = shape.kvHeads() - 1;
        for (int r = 0; r < n; r++) {
            int at = r * slots;
            int used = Byte.toUnsignedInt(page.get(ValueLayout.JAVA_BYTE, valueOutHeadEnd + (long) r * shape.kvHeads() + last));
            for (int i = 0; i < used; i++, at++) {
                addValueResidual(r, slotChannels[at], Fp16.decode(slotValues[at]), weights, stride, base, out);
            }
        }
    }

    private void addValueResidual(int r, int channel, float residual, float[] weights, int stride, int base,
                                  float[] out) {
        int d = shape.headDim();
        int h = channelHead[channel];
        int j = channelIndex[channel];
        int group = shape.groupSize();
        for (int q = h * group; q < (h + 1) * group; q++) {
            out[q * d + j] = Math.fma(weights[q * stride + base + r], residual, out[q * d + j]);
        }
    }

    /** Copies {@code count} slots (channels and fp16 values) of a page to the heap: one bulk copy each. */
    private void copySlots(MemorySegment page, long channelOffset, long valueOffset, int count) {
        if (slotChannels.length < count) {
            slotChannels = new short[count];
            slotValues = new short[count];
        }
        MemorySegment.copy(page, CpuLayer.SHORT, channelOffset, slotChannels, 0, count);
        MemorySegment.copy(page, CpuLayer.SHORT, valueOffset, slotValues, 0, count);
    }

    /** Numerically stable fp32 softmax of scores[from, from+n) in place. */
    void softmax(float[] scores, int from, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, scores[from + i]);
        }
        if (!Float.isFinite(max)) {
            // finite but huge queries can overflow q·k; a softmax over ±Inf would silently give NaN
            throw new IllegalArgumentException("attention scores overflow fp32 (largest " + max
                    + "): the query is too large for these keys");
        }
        float sum = 0f;
        int i = 0;
        if (simd) {
            // SoftmaxExp and a lane-by-lane final sum instead of lanewise(EXP) and reduceLanes(ADD):
            // both of those give other bits once JIT-compiled, and outputs must not depend on warm-up
            int lanes = SPECIES.length();
            FloatVector acc = FloatVector.zero(SPECIES);
            for (; i + lanes <= n; i += lanes) {
                FloatVector e = SoftmaxExp.exp(FloatVector.fromArray(SPECIES, scores, from + i).sub(max));
                e.intoArray(scores, from + i);
                acc = acc.add(e);
            }
            acc.intoArray(laneSums, 0);
            for (int l = 0; l < lanes; l++) {
                sum += laneSums[l];
            }
        }
        for (; i < n; i++) {
            float e = SoftmaxExp.exp(scores[from + i] - max);
            scores[from + i] = e;
            sum += e;
        }
        float inv = 1f / sum;
        for (i = 0; i < n; i++) {
            scores[from + i] *= inv;
        }
    }
}
