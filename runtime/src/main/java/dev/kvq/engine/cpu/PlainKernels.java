package dev.kvq.engine.cpu;

import static dev.kvq.engine.cpu.Vectors.FLOAT;
import static dev.kvq.engine.cpu.Vectors.FS;
import static dev.kvq.engine.cpu.Vectors.IS;
import static dev.kvq.engine.cpu.Vectors.LANES;
import static dev.kvq.engine.cpu.Vectors.LE;
import static dev.kvq.engine.cpu.Vectors.SHORT;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * The fp16 and fp32 baselines' kernels over one KV head of one page, made as fast as JDK 25 allows so
 * that every "×fp16" ratio is against a strong baseline; a scalar reference beside each.
 *
 * <p>Keys {@code [d][P]} put lanes along tokens; values {@code [P][d]} put lanes along channels; the
 * query heads of a GQA group are served four at a time from one load.
 *
 * <p><b>fp16 without a conversion instruction.</b> The Vector API of JDK 25 has no half-to-float
 * conversion. One int load carries 2·{@link Vectors#LANES} halves; for the low (even) and high (odd)
 * half of each int, {@code ((w << 16) >>a 3) & 0x8FFFE000} and {@code (w >>a 3) & 0x8FFFE000} are the
 * float {@code h·2^−112}, exact for normal and subnormal halves (sign on bit 31, exponent and mantissa
 * shifted into place, the exponent bias off by 112). The {@code 2^112} is folded into the query (keys)
 * or the weights (values) by the caller ({@link #HALF_EXPONENT}). Even and odd lanes are interleaved
 * back into token or channel order once per block.
 */
final class PlainKernels {
    private PlainKernels() {}

    /** A decoded half is {@code h·2^−HALF_EXPONENT}: callers scale queries and weights by up to {@code 2^112}. */
    static final int HALF_EXPONENT = 112;
    private static final int HALF_MASK = 0x8FFFE000;
    /** Two-table select indices that interleave even lanes e and odd lanes o: [e0 o0 e1 o1 …] and the upper half. */
    private static final IntVector INTERLEAVE_LO;
    private static final IntVector INTERLEAVE_HI;

    static {
        int[] lo = new int[LANES];
        int[] hi = new int[LANES];
        for (int i = 0; i < LANES / 2; i++) {
            lo[2 * i] = i;
            lo[2 * i + 1] = LANES + i;
            hi[2 * i] = LANES / 2 + i;
            hi[2 * i + 1] = LANES + LANES / 2 + i;
        }
        INTERLEAVE_LO = IntVector.fromArray(IS, lo, 0);
        INTERLEAVE_HI = IntVector.fromArray(IS, hi, 0);
    }

    /** The even (low) halves of each int as {@code h·2^−112}. */
    private static FloatVector even(IntVector w) {
        return w.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(HALF_MASK)
                .reinterpretAsFloats();
    }

    /** The odd (high) halves of each int as {@code h·2^−112}. */
    private static FloatVector odd(IntVector w) {
        return w.lanewise(VectorOperators.ASHR, 3).and(HALF_MASK).reinterpretAsFloats();
    }

    /** Stores 2·LANES consecutive results held as even lanes {@code e} and odd lanes {@code o}. */
    private static void storeInterleaved(FloatVector e, FloatVector o, float[] dst, int at) {
        IntVector ei = e.reinterpretAsInts();
        IntVector oi = o.reinterpretAsInts();
        INTERLEAVE_LO.selectFrom(ei, oi).reinterpretAsFloats().intoArray(dst, at);
        INTERLEAVE_HI.selectFrom(ei, oi).reinterpretAsFloats().intoArray(dst, at + LANES);
    }

    /** Whether the fp16 kernels have a SIMD form for {@code d} channels (one int load = 2·LANES halves). */
    static boolean halfValuesFit(int d) {
        return d % (2 * LANES) == 0;
    }

    // ------------------------------------------------------------------ keys

    /**
     * Scores of query heads {@code [0, count)} of a group against one KV head's keys of a page:
     * {@code sc[scAt + g·P + r] = Σ_j q[qAt + g·d + j]·k[j][r]} for the first {@code tokens} slots
     * rounded up to 32 (the rest of the page's slots are zero or stale, never read by the caller).
     *
     * @param page   the page; {@code keysAt} = byte offset of this head's keys, fp16 or fp32 {@code [d][P]}
     * @param q      queries {@code [Hq][d]}; fp16 SIMD: already × {@code 2^112}
     * @param sc     scores {@code [Hq][P]} (page-local)
     */
    static void keys(boolean simd, boolean half, MemorySegment page, long keysAt, int d, int pageTokens, int tokens,
                     float[] q, int qAt, int count, float[] sc, int scAt) {
        int blocks = (tokens + 31) & ~31;
        if (!simd) {
            keysScalar(half, page, keysAt, d, pageTokens, blocks, q, qAt, count, sc, scAt);
            return;
        }
        int g = 0;
        for (; g + 4 <= count; g += 4) {
            if (half) {
                halfKeysFour(page, keysAt, d, pageTokens, blocks, q, qAt + g * d, sc, scAt + g * pageTokens);
            } else {
                floatKeysFour(page, keysAt, d, pageTokens, blocks, q, qAt + g * d, sc, scAt + g * pageTokens);
            }
        }
        for (; g < count; g++) {
            if (half) {
                halfKeysOne(page, keysAt, d, pageTokens, blocks, q, qAt + g * d, sc, scAt + g * pageTokens);
            } else {
                floatKeysOne(page, keysAt, d, pageTokens, blocks, q, qAt + g * d, sc, scAt + g * pageTokens);
            }
        }
    }

    private static void keysScalar(boolean half, MemorySegment page, long keysAt, int d, int pageTokens, int tokens,
                                   float[] q, int qAt, int count, float[] sc, int scAt) {
        for (int g = 0; g < count; g++) {
            for (int r = 0; r < tokens; r++) {
                float acc = 0f;
                for (int j = 0; j < d; j++) {
                    acc = Math.fma(element(page, keysAt, half, (long) j * pageTokens + r), q[qAt + g * d + j], acc);
                }
                sc[scAt + g * pageTokens + r] = acc;
            }
        }
    }

    private static float element(MemorySegment seg, long at, boolean half, long index) {
        return half ? Float.float16ToFloat(seg.get(SHORT, at + index * 2)) : seg.get(FLOAT, at + index * 4);
    }

    /** fp16, one query head: 4·LANES tokens (two int loads, four FMA chains) per pass, then 2·LANES-token passes. */
    private static void halfKeysOne(MemorySegment page, long keysAt, int d, int pageTokens, int tokens, float[] q,
                                    int qAt, float[] sc, int scAt) {
        long rowBytes = (long) pageTokens * 2;
        int span = 4 * LANES;
        int r0 = 0;
        for (; r0 + span <= tokens; r0 += span) {
            FloatVector e0 = FloatVector.zero(FS);
            FloatVector o0 = e0;
            FloatVector e1 = e0;
            FloatVector o1 = e0;
            long at = keysAt + r0 * 2L;
            for (int j = 0; j < d; j++, at += rowBytes) {
                FloatVector x = FloatVector.broadcast(FS, q[qAt + j]);
                IntVector w0 = IntVector.fromMemorySegment(IS, page, at, LE);
                IntVector w1 = IntVector.fromMemorySegment(IS, page, at + 4L * LANES, LE);
                e0 = even(w0).fma(x, e0);
                o0 = odd(w0).fma(x, o0);
                e1 = even(w1).fma(x, e1);
                o1 = odd(w1).fma(x, o1);
            }
            storeInterleaved(e0, o0, sc, scAt + r0);
            storeInterleaved(e1, o1, sc, scAt + r0 + 2 * LANES);
        }
        if (r0 < tokens) {
            halfKeysTail(page, keysAt, d, pageTokens, r0, tokens, q, qAt, sc, scAt);
        }
    }

    private static void halfKeysTail(MemorySegment page, long keysAt, int d, int pageTokens, int from, int tokens,
                                     float[] q, int qAt, float[] sc, int scAt) {
        long rowBytes = (long) pageTokens * 2;
        for (int r0 = from; r0 < tokens; r0 += 2 * LANES) {
            FloatVector e0 = FloatVector.zero(FS);
            FloatVector o0 = e0;
            long at = keysAt + r0 * 2L;
            for (int j = 0; j < d; j++, at += rowBytes) {
                FloatVector x = FloatVector.broadcast(FS, q[qAt + j]);
                IntVector w0 = IntVector.fromMemorySegment(IS, page, at, LE);
                e0 = even(w0).fma(x, e0);
                o0 = odd(w0).fma(x, o0);
            }
            storeInterleaved(e0, o0, sc, scAt + r0);
        }
    }

    /** fp16, four query heads of a GQA group from one load: 2·LANES tokens × 4 heads (8 FMA chains) per pass. */
    private static void halfKeysFour(MemorySegment page, long keysAt, int d, int pageTokens, int tokens, float[] q,
                                     int qAt, float[] sc, int scAt) {
        long rowBytes = (long) pageTokens * 2;
        for (int r0 = 0; r0 < tokens; r0 += 2 * LANES) {
            FloatVector ea = FloatVector.zero(FS);
            FloatVector oa = ea;
            FloatVector eb = ea;
            FloatVector ob = ea;
            FloatVector ec = ea;
            FloatVector oc = ea;
            FloatVector ed = ea;
            FloatVector od = ea;
            long at = keysAt + r0 * 2L;
            for (int j = 0; j < d; j++, at += rowBytes) {
                IntVector w = IntVector.fromMemorySegment(IS, page, at, LE);
                FloatVector ke = even(w);
                FloatVector ko = odd(w);
                FloatVector x = FloatVector.broadcast(FS, q[qAt + j]);
                ea = ke.fma(x, ea);
                oa = ko.fma(x, oa);
                x = FloatVector.broadcast(FS, q[qAt + d + j]);
                eb = ke.fma(x, eb);
                ob = ko.fma(x, ob);
                x = FloatVector.broadcast(FS, q[qAt + 2 * d + j]);
                ec = ke.fma(x, ec);
                oc = ko.fma(x, oc);
                x = FloatVector.broadcast(FS, q[qAt + 3 * d + j]);
                ed = ke.fma(x, ed);
                od = ko.fma(x, od);
            }
            storeInterleaved(ea, oa, sc, scAt + r0);
            storeInterleaved(eb, ob, sc, scAt + pageTokens + r0);
            storeInterleaved(ec, oc, sc, scAt + 2 * pageTokens + r0);
            storeInterleaved(ed, od, sc, scAt + 3 * pageTokens + r0);
        }
    }

    /** fp32, one query head: 4·LANES tokens (four FMA chains) per pass, then LANES-token passes. */
    private static void floatKeysOne(MemorySegment page, long keysAt, int d, int pageTokens, int tokens, float[] q,
                                     int qAt, float[] sc, int scAt) {
        long rowBytes = (long) pageTokens * 4;
        long step = 4L * LANES;
        int r0 = 0;
        for (; r0 + 4 * LANES <= tokens; r0 += 4 * LANES) {
            FloatVector a0 = FloatVector.zero(FS);
            FloatVector a1 = a0;
            FloatVector a2 = a0;
            FloatVector a3 = a0;
            long at = keysAt + r0 * 4L;
            for (int j = 0; j < d; j++, at += rowBytes) {
                FloatVector x = FloatVector.broadcast(FS, q[qAt + j]);
                a0 = FloatVector.fromMemorySegment(FS, page, at, LE).fma(x, a0);
                a1 = FloatVector.fromMemorySegment(FS, page, at + step, LE).fma(x, a1);
                a2 = FloatVector.fromMemorySegment(FS, page, at + 2 * step, LE).fma(x, a2);
                a3 = FloatVector.fromMemorySegment(FS, page, at + 3 * step, LE).fma(x, a3);
            }
            int s = scAt + r0;
            a0.intoArray(sc, s);
            a1.intoArray(sc, s + LANES);
            a2.intoArray(sc, s + 2 * LANES);
            a3.intoArray(sc, s + 3 * LANES);
        }
        for (; r0 < tokens; r0 += LANES) {
            FloatVector a0 = FloatVector.zero(FS);
            long at = keysAt + r0 * 4L;
            for (int j = 0; j < d; j++, at += rowBytes) {
                a0 = FloatVector.fromMemorySegment(FS, page, at, LE).fma(FloatVector.broadcast(FS, q[qAt + j]), a0);
            }
            a0.intoArray(sc, scAt + r0);
        }
    }

    /** fp32, four query heads from one load: 2·LANES tokens × 4 heads per pass. */
    private static void floatKeysFour(MemorySegment page, long keysAt, int d, int pageTokens, int tokens, float[] q,
                                      int qAt, float[] sc, int scAt) {
        long rowBytes = (long) pageTokens * 4;
        long step = 4L * LANES;
        for (int r0 = 0; r0 < tokens; r0 += 2 * LANES) {
            FloatVector a0 = FloatVector.zero(FS);
            FloatVector a1 = a0;
            FloatVector b0 = a0;
            FloatVector b1 = a0;
            FloatVector c0 = a0;
            FloatVector c1 = a0;
            FloatVector e0 = a0;
            FloatVector e1 = a0;
            long at = keysAt + r0 * 4L;
            for (int j = 0; j < d; j++, at += rowBytes) {
                FloatVector k0 = FloatVector.fromMemorySegment(FS, page, at, LE);
                FloatVector k1 = FloatVector.fromMemorySegment(FS, page, at + step, LE);
                FloatVector x = FloatVector.broadcast(FS, q[qAt + j]);
                a0 = k0.fma(x, a0);
                a1 = k1.fma(x, a1);
                x = FloatVector.broadcast(FS, q[qAt + d + j]);
                b0 = k0.fma(x, b0);
                b1 = k1.fma(x, b1);
                x = FloatVector.broadcast(FS, q[qAt + 2 * d + j]);
                c0 = k0.fma(x, c0);
                c1 = k1.fma(x, c1);
                x = FloatVector.broadcast(FS, q[qAt + 3 * d + j]);
                e0 = k0.fma(x, e0);
                e1 = k1.fma(x, e1);
            }
            int s = scAt + r0;
            a0.intoArray(sc, s);
            a1.intoArray(sc, s + LANES);
            b0.intoArray(sc, s + pageTokens);
            b1.intoArray(sc, s + pageTokens + LANES);
            c0.intoArray(sc, s + 2 * pageTokens);
            c1.intoArray(sc, s + 2 * pageTokens + LANES);
            e0.intoArray(sc, s + 3 * pageTokens);
            e1.intoArray(sc, s + 3 * pageTokens + LANES);
        }
    }

    // ------------------------------------------------------------------ values

    /**
     * {@code o[oAt + g·d + j] += post·Σ_r w[wAt + g·P + r]·v[r][j]} over the first {@code tokens} slots of
     * one KV head's values, for query heads {@code [0, count)} of a group.
     *
     * @param valuesAt byte offset of this head's values, fp16 or fp32 {@code [P][d]}
     * @param w        weights {@code [Hq][P]} (page-local); fp16 SIMD: × {@code 2^112 / post}
     * @param post     factor applied to each head's sum before it is added (1 unless the weights were
     *                 scaled down to keep {@code w·2^112} finite)
     * @param scratch  at least 16·LANES floats
     */
    static void values(boolean simd, boolean half, MemorySegment page, long valuesAt, int d, int pageTokens,
                       int tokens, float[] w, int wAt, int count, float[] o, int oAt, float post, float[] scratch) {
        if (!simd || (half ? !halfValuesFit(d) : d % LANES != 0)) {
            // under SIMD the fp16 weights carry the 2^112 of the half trick: take the halves as h·2^−112 (exact)
            float unit = simd && half ? 0x1p-112f : 1f;
            valuesScalar(half, page, valuesAt, d, pageTokens, tokens, w, wAt, count, o, oAt, unit, post);
            return;
        }
        int g = 0;
        if (d % (4 * LANES) == 0) {
            for (; g + 4 <= count; g += 4) {
                for (int j0 = 0; j0 < d; j0 += 4 * LANES) {
                    if (half) {
                        halfValuesFour(page, valuesAt, d, pageTokens, tokens, w, wAt + g * pageTokens, j0, scratch);
                        interleaveAdd(scratch, 4, 2, o, oAt + g * d + j0, d, post);
                    } else {
                        floatValuesFour(page, valuesAt, d, pageTokens, tokens, w, wAt + g * pageTokens, j0, scratch);
                        addFour(scratch, o, oAt + g * d + j0, d, post);
                    }
                }
            }
        }
        for (; g < count; g++) {
            if (half) {
                halfValuesOne(page, valuesAt, d, pageTokens, tokens, w, wAt + g * pageTokens, o, oAt + g * d, post,
                        scratch);
            } else {
                floatValuesOne(page, valuesAt, d, pageTokens, tokens, w, wAt + g * pageTokens, o, oAt + g * d, post,
                        scratch);
            }
        }
    }

    private static void valuesScalar(boolean half, MemorySegment page, long valuesAt, int d, int pageTokens,
                                     int tokens, float[] w, int wAt, int count, float[] o, int oAt, float unit,
                                     float post) {
        for (int g = 0; g < count; g++) {
            for (int j = 0; j < d; j++) {
                float acc = 0f;
                for (int r = 0; r < tokens; r++) {
                    float v = element(page, valuesAt, half, (long) r * d + j) * unit;
                    acc = Math.fma(w[wAt + g * pageTokens + r], v, acc);
                }
                o[oAt + g * d + j] += post * acc;
            }
        }
    }

    /**
     * fp16, one query head: passes of 8·LANES channels (4 int loads per token row, 8 accumulators),
     * then 2·LANES-channel passes.
     */
    private static void halfValuesOne(MemorySegment page, long valuesAt, int d, int pageTokens, int tokens,
                                      float[] w, int wAt, float[] o, int oAt, float post, float[] scratch) {
        long rowBytes = (long) d * 2;
        long step = 4L * LANES;
        int j0 = 0;
        for (; j0 + 8 * LANES <= d; j0 += 8 * LANES) {
            FloatVector e0 = FloatVector.zero(FS);
            FloatVector o0 = e0;
            FloatVector e1 = e0;
            FloatVector o1 = e0;
            FloatVector e2 = e0;
            FloatVector o2 = e0;
            FloatVector e3 = e0;
            FloatVector o3 = e0;
            long at = valuesAt + j0 * 2L;
            for (int r = 0; r < tokens; r++, at += rowBytes) {
                FloatVector x = FloatVector.broadcast(FS, w[wAt + r]);
                IntVector w0 = IntVector.fromMemorySegment(IS, page, at, LE);
                IntVector w1 = IntVector.fromMemorySegment(IS, page, at + step, LE);
                IntVector w2 = IntVector.fromMemorySegment(IS, page, at + 2 * step, LE);
                IntVector w3 = IntVector.fromMemorySegment(IS, page, at + 3 * step, LE);
                e0 = even(w0).fma(x, e0);
                o0 = odd(w0).fma(x, o0);
                e1 = even(w1).fma(x, e1);
                o1 = odd(w1).fma(x, o1);
                e2 = even(w2).fma(x, e2);
                o2 = odd(w2).fma(x, o2);
                e3 = even(w3).fma(x, e3);
                o3 = odd(w3).fma(x, o3);
            }
            e0.intoArray(scratch, 0);
            o0.intoArray(scratch, LANES);
            e1.intoArray(scratch, 2 * LANES);
            o1.intoArray(scratch, 3 * LANES);
            e2.intoArray(scratch, 4 * LANES);
            o2.intoArray(scratch, 5 * LANES);
            e3.intoArray(scratch, 6 * LANES);
            o3.intoArray(scratch, 7 * LANES);
            interleaveAdd(scratch, 1, 4, o, oAt + j0, d, post);
        }
        for (; j0 < d; j0 += 2 * LANES) {
            halfValuesNarrow(page, valuesAt + j0 * 2L, rowBytes, tokens, w, wAt, scratch);
            interleaveAdd(scratch, 1, 1, o, oAt + j0, d, post);
        }
    }

    /** fp16, one query head, 2·LANES channels: scratch = [even LANES | odd LANES]. */
    private static void halfValuesNarrow(MemorySegment page, long at, long rowBytes, int tokens, float[] w, int wAt,
                                         float[] scratch) {
        FloatVector e0 = FloatVector.zero(FS);
        FloatVector o0 = e0;
        for (int r = 0; r < tokens; r++, at += rowBytes) {
            FloatVector x = FloatVector.broadcast(FS, w[wAt + r]);
            IntVector w0 = IntVector.fromMemorySegment(IS, page, at, LE);
            e0 = even(w0).fma(x, e0);
            o0 = odd(w0).fma(x, o0);
        }
        e0.intoArray(scratch, 0);
        o0.intoArray(scratch, LANES);
    }

    /**
     * fp16, four query heads of a GQA group, channels {@code [j0, j0 + 4·LANES)} (two int loads per token
     * row, 16 accumulators). Scratch: head g's [e0 | o0 | e1 | o1] at {@code g·4·LANES}.
     */
    private static void halfValuesFour(MemorySegment page, long valuesAt, int d, int pageTokens, int tokens,
                                       float[] w, int wAt, int j0, float[] scratch) {
        long rowBytes = (long) d * 2;
        long step = 4L * LANES;
        FloatVector ea0 = FloatVector.zero(FS);
        FloatVector oa0 = ea0;
        FloatVector ea1 = ea0;
        FloatVector oa1 = ea0;
        FloatVector eb0 = ea0;
        FloatVector ob0 = ea0;
        FloatVector eb1 = ea0;
        FloatVector ob1 = ea0;
        FloatVector ec0 = ea0;
        FloatVector oc0 = ea0;
        FloatVector ec1 = ea0;
        FloatVector oc1 = ea0;
        FloatVector ed0 = ea0;
        FloatVector od0 = ea0;
        FloatVector ed1 = ea0;
        FloatVector od1 = ea0;
        long at = valuesAt + j0 * 2L;
        for (int r = 0; r < tokens; r++, at += rowBytes) {
            IntVector w0 = IntVector.fromMemorySegment(IS, page, at, LE);
            IntVector w1 = IntVector.fromMemorySegment(IS, page, at + step, LE);
            FloatVector v0 = even(w0);
            FloatVector u0 = odd(w0);
            FloatVector v1 = even(w1);
            FloatVector u1 = odd(w1);
            FloatVector x = FloatVector.broadcast(FS, w[wAt + r]);
            ea0 = v0.fma(x, ea0);
            oa0 = u0.fma(x, oa0);
            ea1 = v1.fma(x, ea1);
            oa1 = u1.fma(x, oa1);
            x = FloatVector.broadcast(FS, w[wAt + pageTokens + r]);
            eb0 = v0.fma(x, eb0);
            ob0 = u0.fma(x, ob0);
            eb1 = v1.fma(x, eb1);
            ob1 = u1.fma(x, ob1);
            x = FloatVector.broadcast(FS, w[wAt + 2 * pageTokens + r]);
            ec0 = v0.fma(x, ec0);
            oc0 = u0.fma(x, oc0);
            ec1 = v1.fma(x, ec1);
            oc1 = u1.fma(x, oc1);
            x = FloatVector.broadcast(FS, w[wAt + 3 * pageTokens + r]);
            ed0 = v0.fma(x, ed0);
            od0 = u0.fma(x, od0);
            ed1 = v1.fma(x, ed1);
            od1 = u1.fma(x, od1);
        }
        ea0.intoArray(scratch, 0);
        oa0.intoArray(scratch, LANES);
        ea1.intoArray(scratch, 2 * LANES);
        oa1.intoArray(scratch, 3 * LANES);
        eb0.intoArray(scratch, 4 * LANES);
        ob0.intoArray(scratch, 5 * LANES);
        eb1.intoArray(scratch, 6 * LANES);
        ob1.intoArray(scratch, 7 * LANES);
        ec0.intoArray(scratch, 8 * LANES);
        oc0.intoArray(scratch, 9 * LANES);
        ec1.intoArray(scratch, 10 * LANES);
        oc1.intoArray(scratch, 11 * LANES);
        ed0.intoArray(scratch, 12 * LANES);
        od0.intoArray(scratch, 13 * LANES);
        ed1.intoArray(scratch, 14 * LANES);
        od1.intoArray(scratch, 15 * LANES);
    }

    /**
     * Adds even/odd accumulators back in channel order: for head g of {@code heads} and load i of
     * {@code loads}, {@code scratch[(g·loads + i)·2·LANES + (0 | LANES) + k]} holds channel
     * {@code 2·LANES·i + 2k (+1)}, added to {@code o[oAt + g·d + …]} times {@code post}.
     */
    private static void interleaveAdd(float[] scratch, int heads, int loads, float[] o, int oAt, int d, float post) {
        for (int g = 0; g < heads; g++) {
            for (int i = 0; i < loads; i++) {
                int from = (g * loads + i) * 2 * LANES;
                int to = oAt + g * d + i * 2 * LANES;
                for (int k = 0; k < LANES; k++) {
                    o[to + 2 * k] += post * scratch[from + k];
                    o[to + 2 * k + 1] += post * scratch[from + LANES + k];
                }
            }
        }
    }

    /** fp32, one query head: passes of 8·LANES channels (8 accumulators), then LANES-channel passes. */
    private static void floatValuesOne(MemorySegment page, long valuesAt, int d, int pageTokens, int tokens,
                                       float[] w, int wAt, float[] o, int oAt, float post, float[] scratch) {
        long rowBytes = (long) d * 4;
        long step = 4L * LANES;
        int j0 = 0;
        for (; j0 + 8 * LANES <= d; j0 += 8 * LANES) {
            FloatVector c0 = FloatVector.zero(FS);
            FloatVector c1 = c0;
            FloatVector c2 = c0;
            FloatVector c3 = c0;
            FloatVector c4 = c0;
            FloatVector c5 = c0;
            FloatVector c6 = c0;
            FloatVector c7 = c0;
            long at = valuesAt + j0 * 4L;
            for (int r = 0; r < tokens; r++, at += rowBytes) {
                FloatVector x = FloatVector.broadcast(FS, w[wAt + r]);
                c0 = FloatVector.fromMemorySegment(FS, page, at, LE).fma(x, c0);
                c1 = FloatVector.fromMemorySegment(FS, page, at + step, LE).fma(x, c1);
                c2 = FloatVector.fromMemorySegment(FS, page, at + 2 * step, LE).fma(x, c2);
                c3 = FloatVector.fromMemorySegment(FS, page, at + 3 * step, LE).fma(x, c3);
                c4 = FloatVector.fromMemorySegment(FS, page, at + 4 * step, LE).fma(x, c4);
                c5 = FloatVector.fromMemorySegment(FS, page, at + 5 * step, LE).fma(x, c5);
                c6 = FloatVector.fromMemorySegment(FS, page, at + 6 * step, LE).fma(x, c6);
                c7 = FloatVector.fromMemorySegment(FS, page, at + 7 * step, LE).fma(x, c7);
            }
            c0.intoArray(scratch, 0);
            c1.intoArray(scratch, LANES);
            c2.intoArray(scratch, 2 * LANES);
            c3.intoArray(scratch, 3 * LANES);
            c4.intoArray(scratch, 4 * LANES);
            c5.intoArray(scratch, 5 * LANES);
            c6.intoArray(scratch, 6 * LANES);
            c7.intoArray(scratch, 7 * LANES);
            add(scratch, 8 * LANES, o, oAt + j0, post);
        }
        for (; j0 < d; j0 += LANES) {
            FloatVector c0 = FloatVector.zero(FS);
            long at = valuesAt + j0 * 4L;
            for (int r = 0; r < tokens; r++, at += rowBytes) {
                c0 = FloatVector.fromMemorySegment(FS, page, at, LE).fma(FloatVector.broadcast(FS, w[wAt + r]), c0);
            }
            c0.intoArray(scratch, 0);
            add(scratch, LANES, o, oAt + j0, post);
        }
    }

    /** fp32, four query heads, channels {@code [j0, j0 + 4·LANES)}: scratch = head g's 4·LANES sums at g·4·LANES. */
    private static void floatValuesFour(MemorySegment page, long valuesAt, int d, int pageTokens, int tokens,
                                        float[] w, int wAt, int j0, float[] scratch) {
        long rowBytes = (long) d * 4;
        long step = 4L * LANES;
        FloatVector a0 = FloatVector.zero(FS);
        FloatVector a1 = a0;
        FloatVector a2 = a0;
        FloatVector a3 = a0;
        FloatVector b0 = a0;
        FloatVector b1 = a0;
        FloatVector b2 = a0;
        FloatVector b3 = a0;
        FloatVector c0 = a0;
        FloatVector c1 = a0;
        FloatVector c2 = a0;
        FloatVector c3 = a0;
        FloatVector e0 = a0;
        FloatVector e1 = a0;
        FloatVector e2 = a0;
        FloatVector e3 = a0;
        long at = valuesAt + j0 * 4L;
        for (int r = 0; r < tokens; r++, at += rowBytes) {
            FloatVector v0 = FloatVector.fromMemorySegment(FS, page, at, LE);
            FloatVector v1 = FloatVector.fromMemorySegment(FS, page, at + step, LE);
            FloatVector v2 = FloatVector.fromMemorySegment(FS, page, at + 2 * step, LE);
            FloatVector v3 = FloatVector.fromMemorySegment(FS, page, at + 3 * step, LE);
            FloatVector x = FloatVector.broadcast(FS, w[wAt + r]);
            a0 = v0.fma(x, a0);
            a1 = v1.fma(x, a1);
            a2 = v2.fma(x, a2);
            a3 = v3.fma(x, a3);
            x = FloatVector.broadcast(FS, w[wAt + pageTokens + r]);
            b0 = v0.fma(x, b0);
            b1 = v1.fma(x, b1);
            b2 = v2.fma(x, b2);
            b3 = v3.fma(x, b3);
            x = FloatVector.broadcast(FS, w[wAt + 2 * pageTokens + r]);
            c0 = v0.fma(x, c0);
            c1 = v1.fma(x, c1);
            c2 = v2.fma(x, c2);
            c3 = v3.fma(x, c3);
            x = FloatVector.broadcast(FS, w[wAt + 3 * pageTokens + r]);
            e0 = v0.fma(x, e0);
            e1 = v1.fma(x, e1);
            e2 = v2.fma(x, e2);
            e3 = v3.fma(x, e3);
        }
        a0.intoArray(scratch, 0);
        a1.intoArray(scratch, LANES);
        a2.intoArray(scratch, 2 * LANES);
        a3.intoArray(scratch, 3 * LANES);
        b0.intoArray(scratch, 4 * LANES);
        b1.intoArray(scratch, 5 * LANES);
        b2.intoArray(scratch, 6 * LANES);
        b3.intoArray(scratch, 7 * LANES);
        c0.intoArray(scratch, 8 * LANES);
        c1.intoArray(scratch, 9 * LANES);
        c2.intoArray(scratch, 10 * LANES);
        c3.intoArray(scratch, 11 * LANES);
        e0.intoArray(scratch, 12 * LANES);
        e1.intoArray(scratch, 13 * LANES);
        e2.intoArray(scratch, 14 * LANES);
        e3.intoArray(scratch, 15 * LANES);
    }

    private static void addFour(float[] scratch, float[] o, int oAt, int d, float post) {
        for (int g = 0; g < 4; g++) {
            int from = g * 4 * LANES;
            int to = oAt + g * d;
            for (int k = 0; k < 4 * LANES; k++) {
                o[to + k] += post * scratch[from + k];
            }
        }
    }

    private static void add(float[] scratch, int n, float[] o, int oAt, float post) {
        for (int k = 0; k < n; k++) {
            o[oAt + k] += post * scratch[k];
        }
    }
}
