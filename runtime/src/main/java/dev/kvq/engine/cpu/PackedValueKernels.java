package dev.kvq.engine.cpu;

import static dev.kvq.engine.cpu.Vectors.FS;
import static dev.kvq.engine.cpu.Vectors.INT;
import static dev.kvq.engine.cpu.Vectors.IS;
import static dev.kvq.engine.cpu.Vectors.LANES;
import static dev.kvq.engine.cpu.Vectors.LE;
import static dev.kvq.engine.cpu.Vectors.lookup16;
import static dev.kvq.engine.cpu.Vectors.tableHi;
import static dev.kvq.engine.cpu.Vectors.tableLo;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

/**
 * The packed value matvec over one KV head of one page: {@code o[g][j] += Σ_r α[g][r]·c'_V[code(r, j)]},
 * with α = softmax weight × the token's scale (the zero-points' part {@code Σ_r p·z_r} is added by
 * the caller). Lanes along channels: the codes of 32 tokens of one channel fill {@code b} words along
 * tokens ({@code valueCodes [P/32][b][n]} per head, {@code PageLayout}), so for each token one shift
 * (plus an OR when its code straddles two words), one lane permute of the 16-entry codebook table
 * ({@code c'_V} repeated every {@code 2^b} entries) and one FMA per query head serve
 * {@link Vectors#LANES} channels (a masked vector for a group's last few). A scalar reference {@link #scalar} sits beside.
 */
final class PackedValueKernels {
    private PackedValueKernels() {}

    /**
     * Query heads {@code [0, count)} of a group against one KV head's codes of a page, over the
     * 32-token groups that hold the first {@code tokens} slots (α must be 0 for the slots after them).
     *
     * @param codesAt    byte offset of the codes' first row: int32 {@code [bits][channels]} per 32-token group
     * @param channels   channels of the head or width group (the row length)
     * @param groupWords words from one 32-token group's rows to the next: {@code bits·channels} in a
     *                   one-width layer, the head's {@code W_h} in a width group ({@code PageLayout})
     * @param valueTable {@code [16]} (or more) float bits of {@code c'_V[x mod 2^b]}, b ≤ 4
     * @param alpha      {@code [Hq][P]} page-local α, head g's at {@code alphaAt + g·P}
     * @param o          accumulators, head g's channel j at {@code oAt + g·stride + j}
     */
    static void values(boolean simd, int bits, MemorySegment page, long codesAt, int channels, int groupWords,
                       int pageTokens, int tokens, int[] valueTable, float[] alpha, int alphaAt, int count, float[] o,
                       int oAt, int stride) {
        int groups = (tokens + 31) >>> 5;
        long groupBytes = 4L * groupWords;
        if (!simd || !Vectors.PACKED) {
            scalar(bits, page, codesAt, channels, 0, groupBytes, groups, valueTable, alpha, alphaAt, pageTokens,
                    count, o, oAt, stride);
            return;
        }
        // Passes of whole vectors may read past the group's last channel into the words after it when those are
        // still inside the page: the extra lanes are never stored. Otherwise the group's last few channels take one
        // masked vector.
        long lastRow = codesAt + (groups - 1) * groupBytes + bits * 4L * channels;
        boolean fourOverRead = lastRow + 4L * roundUp(channels, 2 * LANES) <= page.byteSize();
        int g = 0;
        if (fourOverRead || channels % (2 * LANES) == 0) {
            for (; g + 4 <= count; g += 4) {
                four(bits, page, codesAt, channels, groupBytes, groups, valueTable, alpha, alphaAt + g * pageTokens,
                        pageTokens, o, oAt + g * stride, stride);
            }
        }
        boolean overRead = lastRow + 4L * roundUp(channels, LANES) <= page.byteSize();
        int vectors = overRead ? roundUp(channels, LANES) / LANES : channels / LANES;
        VectorMask<Integer> tail = vectors * LANES < channels ? IS.indexInRange(vectors * LANES, channels) : null;
        for (; g < count; g++) {
            one(bits, page, codesAt, channels, vectors, groupBytes, groups, valueTable, alpha, alphaAt + g * pageTokens,
                    o, oAt + g * stride);
            if (tail != null) {
                oneNarrow(bits, page, codesAt, channels, groupBytes, groups, valueTable, alpha, alphaAt + g * pageTokens,
                        o, oAt + g * stride, vectors * LANES, tail);
            }
        }
    }

    private static int roundUp(int n, int multiple) {
        return (n + multiple - 1) / multiple * multiple;
    }

    /** {@code o[at..] += sum} on the first {@code lanes} lanes (the channels of a group's last vector). */
    private static void add(float[] o, int at, FloatVector sum, int lanes) {
        if (lanes >= LANES) {
            FloatVector.fromArray(FS, o, at).add(sum).intoArray(o, at);
        } else if (lanes > 0) {
            VectorMask<Float> out = FS.indexInRange(0, lanes);
            FloatVector.fromArray(FS, o, at, out).add(sum).intoArray(o, at, out);
        }
    }

    /**
     * One query head over {@code vectors} whole vectors of channels (the last may pass the group's end, see
     * {@link #values}): passes of 4 vectors, then one of 3, 2 or 1 for the rest, so that a group of 36 channels
     * runs 3 vectors rather than 4 (a width group's lanes are its cost: kvq3's heads hold 36 and 92 channels).
     */
    private static void one(int bits, MemorySegment page, long codesAt, int channels, int vectors, long groupBytes,
                            int groups, int[] valueTable, float[] alpha, int alphaAt, float[] o, int oAt) {
        int j0 = 0;
        int end = vectors * LANES;
        for (; j0 + 4 * LANES <= end; j0 += 4 * LANES) {
            oneWide(bits, page, codesAt, channels, groupBytes, groups, valueTable, alpha, alphaAt, o, oAt, j0,
                    channels - j0);
        }
        switch ((end - j0) / LANES) {
            case 3 -> oneWide3(bits, page, codesAt, channels, groupBytes, groups, valueTable, alpha, alphaAt, o, oAt, j0,
                    channels - j0);
            case 2 -> oneWide2(bits, page, codesAt, channels, groupBytes, groups, valueTable, alpha, alphaAt, o, oAt, j0,
                    channels - j0);
            case 1 -> oneNarrow(bits, page, codesAt, channels, groupBytes, groups, valueTable, alpha, alphaAt, o, oAt, j0,
                    null);
            default -> { }
        }
    }

    /** Four vectors of channels from {@code j0}; only the first {@code valid} channels are stored. */
    private static void oneWide(int bits, MemorySegment page, long codesAt, int channels, long groupBytes, int groups,
                                int[] valueTable, float[] alpha, int alphaAt, float[] o, int oAt, int j0, int valid) {
        IntVector lo = tableLo(valueTable, 0);
        IntVector hi = tableHi(valueTable, 0, lo);
        long rowBytes = 4L * channels;
        long step = 4L * LANES;
        FloatVector c0 = FloatVector.zero(FS);
        FloatVector c1 = c0;
        FloatVector c2 = c0;
        FloatVector c3 = c0;
        for (int tg = 0; tg < groups; tg++) {
            long group = codesAt + (long) tg * groupBytes + 4L * j0;
            int a0 = alphaAt + 32 * tg;
            // row by row: a row's words are loaded once for the tokens that start in it (their address is
            // invariant in the token loop), the next row's only for the token that straddles into it
            for (int k = 0, e = 0; k < bits; k++) {
                long row = group + k * rowBytes;
                IntVector w0 = IntVector.fromMemorySegment(IS, page, row, LE);
                IntVector w1 = IntVector.fromMemorySegment(IS, page, row + step, LE);
                IntVector w2 = IntVector.fromMemorySegment(IS, page, row + 2 * step, LE);
                IntVector w3 = IntVector.fromMemorySegment(IS, page, row + 3 * step, LE);
                // a counted loop: no safepoint poll, bounds checks hoisted
                for (int end = Math.min(32, (32 * k + 31 + bits) / bits); e < end; e++) {
                    int sh = bits * e - 32 * k;
                    IntVector x0 = w0.lanewise(VectorOperators.LSHR, sh);
                    IntVector x1 = w1.lanewise(VectorOperators.LSHR, sh);
                    IntVector x2 = w2.lanewise(VectorOperators.LSHR, sh);
                    IntVector x3 = w3.lanewise(VectorOperators.LSHR, sh);
                    if (sh + bits > 32) {
                        int up = 32 - sh;
                        long next = row + rowBytes;
                        x0 = x0.or(IntVector.fromMemorySegment(IS, page, next, LE).lanewise(VectorOperators.LSHL, up));
                        x1 = x1.or(IntVector.fromMemorySegment(IS, page, next + step, LE)
                                .lanewise(VectorOperators.LSHL, up));
                        x2 = x2.or(IntVector.fromMemorySegment(IS, page, next + 2 * step, LE)
                                .lanewise(VectorOperators.LSHL, up));
                        x3 = x3.or(IntVector.fromMemorySegment(IS, page, next + 3 * step, LE)
                                .lanewise(VectorOperators.LSHL, up));
                    }
                    FloatVector w = FloatVector.broadcast(FS, alpha[a0 + e]);
                    c0 = lookup16(x0, lo, hi).fma(w, c0);
                    c1 = lookup16(x1, lo, hi).fma(w, c1);
                    c2 = lookup16(x2, lo, hi).fma(w, c2);
                    c3 = lookup16(x3, lo, hi).fma(w, c3);
                }
            }
        }
        int at = oAt + j0;
        add(o, at, c0, valid);
        add(o, at + LANES, c1, valid - LANES);
        add(o, at + 2 * LANES, c2, valid - 2 * LANES);
        add(o, at + 3 * LANES, c3, valid - 3 * LANES);
    }

    /** Three vectors of channels from {@code j0} ({@link #oneWide} with one accumulator fewer). */
    private static void oneWide3(int bits, MemorySegment page, long codesAt, int channels, long groupBytes, int groups,
                                 int[] valueTable, float[] alpha, int alphaAt, float[] o, int oAt, int j0, int valid) {
        IntVector lo = tableLo(valueTable, 0);
        IntVector hi = tableHi(valueTable, 0, lo);
        long rowBytes = 4L * channels;
        long step = 4L * LANES;
        FloatVector c0 = FloatVector.zero(FS);
        FloatVector c1 = c0;
        FloatVector c2 = c0;
        for (int tg = 0; tg < groups; tg++) {
            long group = codesAt + (long) tg * groupBytes + 4L * j0;
            int a0 = alphaAt + 32 * tg;
            // row by row: a row's words are loaded once for the tokens that start in it (their address is
            // invariant in the token loop), the next row's only for the token that straddles into it
            for (int k = 0, e = 0; k < bits; k++) {
                long row = group + k * rowBytes;
                IntVector w0 = IntVector.fromMemorySegment(IS, page, row, LE);
                IntVector w1 = IntVector.fromMemorySegment(IS, page, row + step, LE);
                IntVector w2 = IntVector.fromMemorySegment(IS, page, row + 2 * step, LE);
                // a counted loop: no safepoint poll, bounds checks hoisted
                for (int end = Math.min(32, (32 * k + 31 + bits) / bits); e < end; e++) {
                    int sh = bits * e - 32 * k;
                    IntVector x0 = w0.lanewise(VectorOperators.LSHR, sh);
                    IntVector x1 = w1.lanewise(VectorOperators.LSHR, sh);
                    IntVector x2 = w2.lanewise(VectorOperators.LSHR, sh);
                    if (sh + bits > 32) {
                        int up = 32 - sh;
                        long next = row + rowBytes;
                        x0 = x0.or(IntVector.fromMemorySegment(IS, page, next, LE).lanewise(VectorOperators.LSHL, up));
                        x1 = x1.or(IntVector.fromMemorySegment(IS, page, next + step, LE)
                                .lanewise(VectorOperators.LSHL, up));
                        x2 = x2.or(IntVector.fromMemorySegment(IS, page, next + 2 * step, LE)
                                .lanewise(VectorOperators.LSHL, up));
                    }
                    FloatVector w = FloatVector.broadcast(FS, alpha[a0 + e]);
                    c0 = lookup16(x0, lo, hi).fma(w, c0);
                    c1 = lookup16(x1, lo, hi).fma(w, c1);
                    c2 = lookup16(x2, lo, hi).fma(w, c2);
                }
            }
        }
        int at = oAt + j0;
        add(o, at, c0, valid);
        add(o, at + LANES, c1, valid - LANES);
        add(o, at + 2 * LANES, c2, valid - 2 * LANES);
    }

    /** Two vectors of channels from {@code j0} ({@link #oneWide} with two accumulators). */
    private static void oneWide2(int bits, MemorySegment page, long codesAt, int channels, long groupBytes, int groups,
                                 int[] valueTable, float[] alpha, int alphaAt, float[] o, int oAt, int j0, int valid) {
        IntVector lo = tableLo(valueTable, 0);
        IntVector hi = tableHi(valueTable, 0, lo);
        long rowBytes = 4L * channels;
        long step = 4L * LANES;
        FloatVector c0 = FloatVector.zero(FS);
        FloatVector c1 = c0;
        for (int tg = 0; tg < groups; tg++) {
            long group = codesAt + (long) tg * groupBytes + 4L * j0;
            int a0 = alphaAt + 32 * tg;
            // row by row: a row's words are loaded once for the tokens that start in it (their address is
            // invariant in the token loop), the next row's only for the token that straddles into it
            for (int k = 0, e = 0; k < bits; k++) {
                long row = group + k * rowBytes;
                IntVector w0 = IntVector.fromMemorySegment(IS, page, row, LE);
                IntVector w1 = IntVector.fromMemorySegment(IS, page, row + step, LE);
                // a counted loop: no safepoint poll, bounds checks hoisted
                for (int end = Math.min(32, (32 * k + 31 + bits) / bits); e < end; e++) {
                    int sh = bits * e - 32 * k;
                    IntVector x0 = w0.lanewise(VectorOperators.LSHR, sh);
                    IntVector x1 = w1.lanewise(VectorOperators.LSHR, sh);
                    if (sh + bits > 32) {
                        int up = 32 - sh;
                        long next = row + rowBytes;
                        x0 = x0.or(IntVector.fromMemorySegment(IS, page, next, LE).lanewise(VectorOperators.LSHL, up));
                        x1 = x1.or(IntVector.fromMemorySegment(IS, page, next + step, LE)
                                .lanewise(VectorOperators.LSHL, up));
                    }
                    FloatVector w = FloatVector.broadcast(FS, alpha[a0 + e]);
                    c0 = lookup16(x0, lo, hi).fma(w, c0);
                    c1 = lookup16(x1, lo, hi).fma(w, c1);
                }
            }
        }
        int at = oAt + j0;
        add(o, at, c0, valid);
        add(o, at + LANES, c1, valid - LANES);
    }

    /**
     * One vector of channels from {@code j0} of one query head; {@code lanes} masks the reads of a group's last few
     * (null: a whole vector, read without a mask as the hot path, maybe past the group's end inside the page).
     */
    private static void oneNarrow(int bits, MemorySegment page, long codesAt, int channels, long groupBytes, int groups,
                                  int[] valueTable, float[] alpha, int alphaAt, float[] o, int oAt, int j0,
                                  VectorMask<Integer> lanes) {
        IntVector lo = tableLo(valueTable, 0);
        IntVector hi = tableHi(valueTable, 0, lo);
        long rowBytes = 4L * channels;
        FloatVector c0 = FloatVector.zero(FS);
        for (int tg = 0; tg < groups; tg++) {
            long group = codesAt + (long) tg * groupBytes + 4L * j0;
            int a0 = alphaAt + 32 * tg;
            for (int k = 0, e = 0; k < bits; k++) {   // row by row, as in oneWide
                long row = group + k * rowBytes;
                IntVector w0 = codes(page, row, lanes);
                for (int end = Math.min(32, (32 * k + 31 + bits) / bits); e < end; e++) {
                    int sh = bits * e - 32 * k;
                    IntVector x0 = w0.lanewise(VectorOperators.LSHR, sh);
                    if (sh + bits > 32) {
                        x0 = x0.or(codes(page, row + rowBytes, lanes).lanewise(VectorOperators.LSHL, 32 - sh));
                    }
                    c0 = lookup16(x0, lo, hi).fma(FloatVector.broadcast(FS, alpha[a0 + e]), c0);
                }
            }
        }
        add(o, oAt + j0, c0, channels - j0);   // a vector read past the group's end stores its channels only
    }

    private static IntVector codes(MemorySegment page, long at, VectorMask<Integer> lanes) {
        return lanes == null ? IntVector.fromMemorySegment(IS, page, at, LE)
                : IntVector.fromMemorySegment(IS, page, at, LE, lanes);
    }

    /**
     * Four query heads of a GQA group: 2·LANES channels × 4 heads (8 accumulators) per pass; the last pass may
     * read past the group's end (see {@link #values}) and stores only its channels.
     */
    private static void four(int bits, MemorySegment page, long codesAt, int channels, long groupBytes, int groups, int[] valueTable,
                             float[] alpha, int alphaAt, int pageTokens, float[] o, int oAt, int stride) {
        IntVector lo = tableLo(valueTable, 0);
        IntVector hi = tableHi(valueTable, 0, lo);
        long rowBytes = 4L * channels;
        long step = 4L * LANES;
        for (int j0 = 0; j0 < channels; j0 += 2 * LANES) {
            int valid = channels - j0;
            FloatVector a0 = FloatVector.zero(FS);
            FloatVector a1 = a0;
            FloatVector b0 = a0;
            FloatVector b1 = a0;
            FloatVector c0 = a0;
            FloatVector c1 = a0;
            FloatVector e0 = a0;
            FloatVector e1 = a0;
            for (int tg = 0; tg < groups; tg++) {
                long group = codesAt + (long) tg * groupBytes + 4L * j0;
                int first = alphaAt + 32 * tg;
                for (int k = 0, e = 0; k < bits; k++) {   // row by row, as in oneWide
                    long row = group + k * rowBytes;
                    IntVector w0 = IntVector.fromMemorySegment(IS, page, row, LE);
                    IntVector w1 = IntVector.fromMemorySegment(IS, page, row + step, LE);
                    for (int end = Math.min(32, (32 * k + 31 + bits) / bits); e < end; e++) {
                        int sh = bits * e - 32 * k;
                        int r = first + e;
                        IntVector x0 = w0.lanewise(VectorOperators.LSHR, sh);
                        IntVector x1 = w1.lanewise(VectorOperators.LSHR, sh);
                        if (sh + bits > 32) {
                            int up = 32 - sh;
                            x0 = x0.or(IntVector.fromMemorySegment(IS, page, row + rowBytes, LE)
                                    .lanewise(VectorOperators.LSHL, up));
                            x1 = x1.or(IntVector.fromMemorySegment(IS, page, row + rowBytes + step, LE)
                                    .lanewise(VectorOperators.LSHL, up));
                        }
                        FloatVector v0 = lookup16(x0, lo, hi);
                        FloatVector v1 = lookup16(x1, lo, hi);
                        FloatVector w = FloatVector.broadcast(FS, alpha[r]);
                        a0 = v0.fma(w, a0);
                        a1 = v1.fma(w, a1);
                        w = FloatVector.broadcast(FS, alpha[r + pageTokens]);
                        b0 = v0.fma(w, b0);
                        b1 = v1.fma(w, b1);
                        w = FloatVector.broadcast(FS, alpha[r + 2 * pageTokens]);
                        c0 = v0.fma(w, c0);
                        c1 = v1.fma(w, c1);
                        w = FloatVector.broadcast(FS, alpha[r + 3 * pageTokens]);
                        e0 = v0.fma(w, e0);
                        e1 = v1.fma(w, e1);
                    }
                }
            }
            int at = oAt + j0;
            add(o, at, a0, valid);
            add(o, at + LANES, a1, valid - LANES);
            at += stride;
            add(o, at, b0, valid);
            add(o, at + LANES, b1, valid - LANES);
            at += stride;
            add(o, at, c0, valid);
            add(o, at + LANES, c1, valid - LANES);
            at += stride;
            add(o, at, e0, valid);
            add(o, at + LANES, e1, valid - LANES);
        }
    }

    /** The scalar reference: each (head, channel ≥ {@code from}) summed over the 32-token groups in token order. */
    static void scalar(int bits, MemorySegment page, long codesAt, int channels, int from, long groupBytes, int groups,
                       int[] valueTable, float[] alpha, int alphaAt, int pageTokens, int count, float[] o, int oAt,
                       int stride) {
        int mask = (1 << bits) - 1;
        for (int g = 0; g < count; g++) {
            for (int j = from; j < channels; j++) {
                float acc = 0f;
                for (int r = 0; r < 32 * groups; r++) {
                    int bit = bits * (r & 31);
                    long at = codesAt + (r >>> 5) * groupBytes + ((long) (bit >>> 5) * channels + j) * 4;
                    int sh = bit & 31;
                    int code = page.get(INT, at) >>> sh;
                    if (sh + bits > 32) {
                        code |= page.get(INT, at + 4L * channels) << (32 - sh);
                    }
                    acc = Math.fma(alpha[alphaAt + g * pageTokens + r], Float.intBitsToFloat(valueTable[code & mask]),
                            acc);
                }
                o[oAt + g * stride + j] += acc;
            }
        }
    }
}
