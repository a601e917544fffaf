package dev.kvq.engine.cpu;

import dev.kvq.quant.BitPacking;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The CPU hot loops over one page of one KV head, in a SIMD and a scalar form that compute the same
 * quantities (the scalar form is the readable reference; {@code simd == false} selects it).
 *
 * <p>Packed keys put vector lanes along tokens: one load of a packed word row gives a channel's codes
 * for a block of tokens; the per-channel table {@code z_c + s_c·c'[code]} is one lane permute; a RoPE
 * channel pair is rotated and dotted with the query from the page's cos/sin tables. Packed values put
 * lanes along channels and fold each token's scale into its softmax weight. Query heads of a GQA
 * group are served four at a time from one decode of the packed words.
 *
 * <p>Tables: {@code keyTable[c·16 + x]} holds float bits of {@code z_c + s_c·c'[x mod 2^b]} for
 * x in [0, 16), so the permute can ignore the bits above the code; {@code valueTable[x]} likewise holds
 * {@code c'_V[x mod 2^b]}.
 */
final class PageKernels {
    private PageKernels() {}

    /**
     * The SIMD species, fixed per JVM: the Vector API compiles to vector instructions only when the
     * species is a constant, so it is chosen once from {@code kvq.simd} (at first use) and never passed
     * around. Each call still picks SIMD or scalar with its {@code simd} flag.
     */
    static final VectorSpecies<Float> FS = Vectors.FS;
    static final VectorSpecies<Integer> IS = Vectors.IS;
    static final int LANES = Vectors.LANES;
    /** Whether the packed kernels have a SIMD form here (the 16-entry lookup needs 8 or 16 lanes). */
    static final boolean PACKED_SIMD = Vectors.PACKED;

    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    // ------------------------------------------------------------------ packed keys

    /**
     * Scores of {@code tokens} packed slots of one page against query heads {@code [qHead0, qHead0+qCount)}
     * of one KV head (scaled, post-RoPE queries), written to {@code scores[q·stride + base + r]} for
     * r &lt; tokens only.
     *
     * @param codes     the page segment; {@code codesOffset} = byte offset of keyCodes int32 [G·b][P]
     * @param cos       [d/2][P] cos of each slot's angle for this page, index {@code i·P + r}
     * @param sin       [d/2][P] sin, same indexing
     * @param queries   [Hq][d] post-RoPE queries, already multiplied by 1/√d
     * @param keyTable  [D][16] float bits, see the class comment
     */
    public static void packedKeyScores(boolean simd, KeyPlan plan, MemorySegment codes,
                                       long codesOffset, int pageTokens, int tokens, int[] keyTable,
                                       float[] cos, float[] sin, float[] queries, int qHead0, int qCount,
                                       float[] scores, int stride, int base) {
        if (!simd || !PACKED_SIMD) {
            packedKeyScoresScalar(plan, codes, codesOffset, pageTokens, tokens, keyTable, cos, sin, queries, qHead0,
                    qCount, scores, stride, base);
        } else {
            if (qCount == 1) {
                packedKeyScoresOne(plan, codes, codesOffset, pageTokens, tokens, keyTable, cos, sin,
                        queries, qHead0, scores, stride, base);
            } else {
                packedKeyScoresGroup(plan, codes, codesOffset, pageTokens, tokens, keyTable, cos, sin,
                        queries, qHead0, qCount, scores, stride, base);
            }
        }
    }

    private static void packedKeyScoresScalar(KeyPlan plan, MemorySegment codes, long codesOffset, int pageTokens,
                                              int tokens, int[] keyTable, float[] cos, float[] sin, float[] queries,
                                              int qHead0, int qCount, float[] scores, int stride, int base) {
        int d = plan.headDim;
        int cb = plan.channelBase;
        for (int r = 0; r < tokens; r++) {
            for (int g = 0; g < qCount; g++) {
                int qo = (qHead0 + g) * d;
                float acc = 0f;
                for (int k = 0; k < plan.pairs; k++) {
                    int j = plan.first[k];
                    int p = plan.second[k];
                    int codeJ = scalarCode(codes, codesOffset, pageTokens, r, plan.rowFirst[k], plan.shiftFirst[k],
                            plan.straddleFirst[k]);
                    int codeP = scalarCode(codes, codesOffset, pageTokens, r, plan.rowSecond[k], plan.shiftSecond[k],
                            plan.straddleSecond[k]);
                    float kj = Float.intBitsToFloat(keyTable[(cb + j) * 16 + (codeJ & 15)]);
                    float kp = Float.intBitsToFloat(keyTable[(cb + p) * 16 + (codeP & 15)]);
                    float qj = queries[qo + j];
                    float qp = queries[qo + p];
                    int t = plan.frequency[k] * pageTokens + r;
                    float a = Math.fma(kp, qp, kj * qj);
                    float b = Math.fma(-kp, qj, kj * qp);
                    acc = Math.fma(cos[t], a, acc);
                    acc = Math.fma(sin[t], b, acc);
                }
                scores[(qHead0 + g) * stride + base + r] = acc;
            }
        }
    }

    private static int scalarCode(MemorySegment codes, long offset, int pageTokens, int r, int row, int shift,
                                  boolean straddle) {
        int v = codes.get(INT, offset + ((long) row * pageTokens + r) * 4) >>> shift;
        if (straddle) {
            v |= codes.get(INT, offset + ((long) (row + 1) * pageTokens + r) * 4) << (32 - shift);
        }
        return v;
    }

    /** Scratch for the GQA kernel: one block of decoded keys, [headDim][lanes]. */
    private static final ThreadLocal<float[]> DECODED = ThreadLocal.withInitial(() -> new float[256 * 16]);

    /**
     * GQA: each block of tokens is decoded once into a small L1-resident scratch {@code [d][lanes]},
     * then every query head of the group runs its RoPE dot products from there. (Keeping several
     * query heads' accumulators in one loop defeats the JIT's vector register allocation.)
     */
    private static void packedKeyScoresGroup(KeyPlan plan, MemorySegment codes, long codesOffset, int pageTokens,
                                             int tokens, int[] keyTable, float[] cos, float[] sin, float[] queries,
                                             int qHead0, int qCount, float[] scores, int stride, int base) {
        float[] decoded = DECODED.get();
        int lanes = LANES;
        for (int r0 = 0; r0 < tokens; r0 += lanes) {
            decodeBlock(plan, codes, codesOffset, pageTokens, r0, keyTable, decoded);
            for (int g = 0; g < qCount; g++) {
                scoreBlock(plan, decoded, pageTokens, r0, tokens, cos, sin, queries, qHead0 + g, scores, stride, base);
            }
        }
    }

    /** Dequantized keys of one block of tokens for one KV head: {@code decoded[j·lanes + lane]}. */
    private static void decodeBlock(KeyPlan plan, MemorySegment codes, long codesOffset, int pageTokens, int r0,
                                    int[] keyTable, float[] decoded) {
        var is = IS;
        int lanes = LANES;
        int cb = plan.channelBase;
        long rowBytes = (long) pageTokens * 4;
        long at = codesOffset + (long) r0 * 4;
        for (int blk = 0; blk < plan.blocks; blk++) {
            long rowJ = at + plan.blockRowFirst[blk] * rowBytes;
            long rowP = at + plan.blockRowSecond[blk] * rowBytes;
            IntVector j0 = IntVector.fromMemorySegment(is, codes, rowJ, LE);
            IntVector j1 = IntVector.fromMemorySegment(is, codes, rowJ + rowBytes, LE);
            IntVector j2 = plan.bits > 2 ? IntVector.fromMemorySegment(is, codes, rowJ + 2 * rowBytes, LE) : j1;
            IntVector j3 = plan.bits > 3 ? IntVector.fromMemorySegment(is, codes, rowJ + 3 * rowBytes, LE) : j2;
            IntVector p0 = IntVector.fromMemorySegment(is, codes, rowP, LE);
            IntVector p1 = IntVector.fromMemorySegment(is, codes, rowP + rowBytes, LE);
            IntVector p2 = plan.bits > 2 ? IntVector.fromMemorySegment(is, codes, rowP + 2 * rowBytes, LE) : p1;
            IntVector p3 = plan.bits > 3 ? IntVector.fromMemorySegment(is, codes, rowP + 3 * rowBytes, LE) : p2;
            for (int k = plan.blockFrom[blk]; k < plan.blockFrom[blk + 1]; k++) {
                int j = plan.first[k];
                int p = plan.second[k];
                IntVector codeJ = code(plan.wordFirst[k], plan.shiftFirst[k], plan.straddleFirst[k], j0, j1, j2, j3);
                IntVector codeP = code(plan.wordSecond[k], plan.shiftSecond[k], plan.straddleSecond[k], p0, p1, p2, p3);
                lookup(is, lanes, codeJ, keyTable, (cb + j) * 16).intoArray(decoded, j * lanes);
                lookup(is, lanes, codeP, keyTable, (cb + p) * 16).intoArray(decoded, p * lanes);
            }
        }
    }

    /** RoPE dot products of one query head with a decoded block. */
    private static void scoreBlock(KeyPlan plan, float[] decoded, int pageTokens, int r0, int tokens, float[] cos,
                                   float[] sin, float[] queries, int qh, float[] scores, int stride, int base) {
        var fs = FS;
        int lanes = LANES;
        int q0 = qh * plan.headDim;
        FloatVector acc = FloatVector.zero(fs);
        for (int k = 0; k < plan.pairs; k++) {
            int j = plan.first[k];
            int p = plan.second[k];
            FloatVector kj = FloatVector.fromArray(fs, decoded, j * lanes);
            FloatVector kp = FloatVector.fromArray(fs, decoded, p * lanes);
            int t = plan.frequency[k] * pageTokens + r0;
            acc = pair(kj, kp, FloatVector.fromArray(fs, cos, t), FloatVector.fromArray(fs, sin, t), queries[q0 + j],
                    queries[q0 + p], acc);
        }
        store(fs, tokens - r0, acc, scores, qh * stride + base + r0);
    }

    /**
     * The fused kernel for one query head per KV head (MHA): decode and dot in one pass. It repeats
     * {@link #decodeBlock}'s row loads on purpose: decoding to the scratch and scoring from it
     * measured 15% slower at 32K tokens when there is only one query head to serve.
     */
    private static void packedKeyScoresOne(KeyPlan plan, MemorySegment codes, long codesOffset, int pageTokens,
                                           int tokens, int[] keyTable, float[] cos, float[] sin, float[] queries,
                                           int qh, float[] scores, int stride, int base) {
        var fs = FS;
        var is = IS;
        int lanes = LANES;
        int cb = plan.channelBase;
        int q0 = qh * plan.headDim;
        long rowBytes = (long) pageTokens * 4;
        for (int r0 = 0; r0 < tokens; r0 += lanes) {
            FloatVector acc = FloatVector.zero(fs);
            long at = codesOffset + (long) r0 * 4;
            for (int blk = 0; blk < plan.blocks; blk++) {
                long rowJ = at + plan.blockRowFirst[blk] * rowBytes;
                long rowP = at + plan.blockRowSecond[blk] * rowBytes;
                IntVector j0 = IntVector.fromMemorySegment(is, codes, rowJ, LE);
                IntVector j1 = IntVector.fromMemorySegment(is, codes, rowJ + rowBytes, LE);
                IntVector j2 = plan.bits > 2 ? IntVector.fromMemorySegment(is, codes, rowJ + 2 * rowBytes, LE) : j1;
                IntVector j3 = plan.bits > 3 ? IntVector.fromMemorySegment(is, codes, rowJ + 3 * rowBytes, LE) : j2;
                IntVector p0 = IntVector.fromMemorySegment(is, codes, rowP, LE);
                IntVector p1 = IntVector.fromMemorySegment(is, codes, rowP + rowBytes, LE);
                IntVector p2 = plan.bits > 2 ? IntVector.fromMemorySegment(is, codes, rowP + 2 * rowBytes, LE) : p1;
                IntVector p3 = plan.bits > 3 ? IntVector.fromMemorySegment(is, codes, rowP + 3 * rowBytes, LE) : p2;
                for (int k = plan.blockFrom[blk]; k < plan.blockFrom[blk + 1]; k++) {
                    int j = plan.first[k];
                    int p = plan.second[k];
                    IntVector codeJ = code(plan.wordFirst[k], plan.shiftFirst[k], plan.straddleFirst[k], j0, j1, j2, j3);
                    IntVector codeP = code(plan.wordSecond[k], plan.shiftSecond[k], plan.straddleSecond[k],
                            p0, p1, p2, p3);
                    FloatVector kj = lookup(is, lanes, codeJ, keyTable, (cb + j) * 16);
                    FloatVector kp = lookup(is, lanes, codeP, keyTable, (cb + p) * 16);
                    int t = plan.frequency[k] * pageTokens + r0;
                    FloatVector c = FloatVector.fromArray(fs, cos, t);
                    FloatVector s = FloatVector.fromArray(fs, sin, t);
                    acc = pair(kj, kp, c, s, queries[q0 + j], queries[q0 + p], acc);
                }
            }
            store(fs, tokens - r0, acc, scores, qh * stride + base + r0);
        }
    }

    /**
     * One channel's codes for a block of tokens from the group's word rows {@code w0..w3} (already in
     * registers): word {@code word} shifted, plus the next word when the code straddles.
     */
    private static IntVector code(int word, int shift, boolean straddle, IntVector w0, IntVector w1, IntVector w2,
                                  IntVector w3) {
        IntVector w = word == 0 ? w0 : word == 1 ? w1 : word == 2 ? w2 : w3;
        IntVector v = w.lanewise(VectorOperators.LSHR, shift);
        if (straddle) {
            IntVector next = word == 0 ? w1 : word == 1 ? w2 : w3;
            v = v.or(next.lanewise(VectorOperators.LSHL, 32 - shift));
        }
        return v;
    }

    /** Stores a block of scores, masked when fewer than a vector of tokens remain: never past the page's tokens. */
    private static void store(VectorSpecies<Float> fs, int valid, FloatVector acc, float[] scores, int at) {
        if (valid >= fs.length()) {
            acc.intoArray(scores, at);
        } else {
            acc.intoArray(scores, at, fs.indexInRange(0, valid));
        }
    }

    /** acc + cos·(kj·qj + kp·qp) + sin·(kj·qp − kp·qj): the pair's RoPE-rotated dot product. */
    private static FloatVector pair(FloatVector kj, FloatVector kp, FloatVector c, FloatVector s, float qj, float qp,
                                    FloatVector acc) {
        FloatVector a = kj.mul(qj).add(kp.mul(qp));
        FloatVector b = kj.mul(qp).sub(kp.mul(qj));
        return a.fma(c, b.fma(s, acc));
    }

    /** Lane-wise table[(code & 15)], the table being 16 float bit patterns at {@code table[offset..]}. */
    private static FloatVector lookup(VectorSpecies<Integer> is, int lanes, IntVector code, int[] table, int offset) {
        IntVector lo = IntVector.fromArray(is, table, offset);
        return permute(lanes, code, lo, lanes == 16 ? lo : IntVector.fromArray(is, table, offset + 8));
    }

    /**
     * The 16-entry lookup as lane permutes: {@code rearrange} with an in-range shuffle compiles to one
     * vpermd; {@code selectFrom} does not (it costs ten times more on JDK 25), hence the explicit mask.
     * With 8 lanes the table is two vectors and bit 3 of the code picks one.
     */
    private static FloatVector permute(int lanes, IntVector code, IntVector lo, IntVector hi) {
        if (lanes == 16) {
            return lo.rearrange(code.and(15).toShuffle()).reinterpretAsFloats();
        }
        var shuffle = code.and(7).toShuffle();
        return lo.rearrange(shuffle).blend(hi.rearrange(shuffle), code.and(8).compare(VectorOperators.NE, 0))
                .reinterpretAsFloats();
    }
}
