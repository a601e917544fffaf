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
 * <p>Tables ({@code CodeTables}): {@code keyTable[c·E + x]} holds float bits of {@code z_c + s_c·c'[x mod 2^w]}
 * for x in [0, E), E = 16 (64 in a layer with codes wider than 4 bits), so the permute can ignore the bits
 * above the code; a value width group's {@code valueTable[x]} likewise holds {@code c'_V[x mod 2^w]}.
 */
final class PageKernels {
    private PageKernels() {}

    /**
     * The SIMD species, fixed per JVM: the Vector API compiles to vector instructions only when the
     * species is a constant, so it is chosen once from {@code kvq.simd} (at first use) and never passed
     * around. Each call still picks SIMD or scalar with its {@code simd} flag.
     */
    public static final VectorSpecies<Float> FS = Simd.species(Simd.lanes() == 0 ? Simd.preferredLanes() : Simd.lanes());
    static final VectorSpecies<Integer> IS = VectorSpecies.of(int.class, FS.vectorShape());
    static final int LANES = FS.length();
    /** Whether the packed kernels have a SIMD form here (the 16-entry lookup needs 8 or 16 lanes). */
    public static final boolean PACKED_SIMD = LANES == 16 || LANES == 8;

    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    // ------------------------------------------------------------------ packed keys

    /**
     * Scores of {@code tokens} packed slots of one page against query heads {@code [qHead0, qHead0+qCount)}
     * of one KV head (scaled, post-RoPE queries), written to {@code scores[q·stride + base + r]} for
     * r &lt; tokens only.
     *
     * @param codes     the page segment; {@code codesOffset} = byte offset of keyCodes int32 [Kw][P]
     * @param cos       [d/2][P] cos of each slot's angle for this page, index {@code i·P + r}
     * @param sin       [d/2][P] sin, same indexing
     * @param queries   [Hq][d] post-RoPE queries, already multiplied by 1/√d
     * @param keyTable  [D][E] float bits, see the class comment
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
        int e = plan.entries;
        for (int r = 0; r < tokens; r++) {
            for (int g = 0; g < qCount; g++) {
                int qo = (qHead0 + g) * d;
                float acc = 0f;
                for (int k = 0; k < plan.pairs; k++) {
                    int j = plan.first[k];
                    int p = plan.second[k];
                    int field = plan.width[k] == 0 ? 0 : scalarCode(codes, codesOffset, pageTokens, r, plan.row[k],
                            plan.shift[k], plan.straddle[k]);
                    // tables repeat every 2^w entries, so the bits above a code do not matter
                    float kj = Float.intBitsToFloat(keyTable[(cb + j) * e + (field & (e - 1))]);
                    float kp = Float.intBitsToFloat(keyTable[(cb + p) * e + ((field >>> plan.width[k]) & (e - 1))]);
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

    /** Word row {@code i} of a block for lanes of tokens from {@code at}, or {@code alias} past the block's rows. */
    private static IntVector blockRow(MemorySegment codes, long at, long rowBytes, int rows, int i, IntVector alias) {
        return i < rows ? IntVector.fromMemorySegment(IS, codes, at + i * rowBytes, LE) : alias;
    }

    /** Dequantized keys of one block of tokens for one KV head: {@code decoded[j·lanes + lane]}. */
    private static void decodeBlock(KeyPlan plan, MemorySegment codes, long codesOffset, int pageTokens, int r0,
                                    int[] keyTable, float[] decoded) {
        var is = IS;
        int lanes = LANES;
        int cb = plan.channelBase;
        int e = plan.entries;
        long rowBytes = (long) pageTokens * 4;
        long at = codesOffset + (long) r0 * 4;
        IntVector zero = IntVector.zero(is);
        for (int blk = 0; blk < plan.blocks; blk++) {
            long rowAt = at + plan.blockRow[blk] * rowBytes;
            int rows = plan.blockRows[blk];
            IntVector w0 = blockRow(codes, rowAt, rowBytes, rows, 0, zero);
            IntVector w1 = blockRow(codes, rowAt, rowBytes, rows, 1, w0);
            IntVector w2 = blockRow(codes, rowAt, rowBytes, rows, 2, w1);
            IntVector w3 = blockRow(codes, rowAt, rowBytes, rows, 3, w2);
            for (int k = plan.blockFrom[blk]; k < plan.blockFrom[blk + 1]; k++) {
                int j = plan.first[k];
                int p = plan.second[k];
                int w = plan.width[k];
                IntVector field = code(plan.word[k], plan.shift[k], plan.straddle[k], w0, w1, w2, w3);
                lookup(is, lanes, field, w, keyTable, (cb + j) * e).intoArray(decoded, j * lanes);
                lookup(is, lanes, field.lanewise(VectorOperators.LSHR, w), w, keyTable, (cb + p) * e)
                        .intoArray(decoded, p * lanes);
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
        int e = plan.entries;
        int q0 = qh * plan.headDim;
        long rowBytes = (long) pageTokens * 4;
        IntVector zero = IntVector.zero(is);
        for (int r0 = 0; r0 < tokens; r0 += lanes) {
            FloatVector acc = FloatVector.zero(fs);
            long at = codesOffset + (long) r0 * 4;
            for (int blk = 0; blk < plan.blocks; blk++) {
                long rowAt = at + plan.blockRow[blk] * rowBytes;
                int rows = plan.blockRows[blk];
                IntVector w0 = blockRow(codes, rowAt, rowBytes, rows, 0, zero);
                IntVector w1 = blockRow(codes, rowAt, rowBytes, rows, 1, w0);
                IntVector w2 = blockRow(codes, rowAt, rowBytes, rows, 2, w1);
                IntVector w3 = blockRow(codes, rowAt, rowBytes, rows, 3, w2);
                for (int k = plan.blockFrom[blk]; k < plan.blockFrom[blk + 1]; k++) {
                    int j = plan.first[k];
                    int p = plan.second[k];
                    int w = plan.width[k];
                    IntVector field = code(plan.word[k], plan.shift[k], plan.straddle[k], w0, w1, w2, w3);
                    FloatVector kj = lookup(is, lanes, field, w, keyTable, (cb + j) * e);
                    FloatVector kp = lookup(is, lanes, field.lanewise(VectorOperators.LSHR, w), w, keyTable, (cb + p) * e);
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

    /**
     * Lane-wise {@code table[offset + code mod 2^width]}: the 16-entry permute for codes of at most 4 bits (the
     * table repeats every 2^w entries, so the bits above the code do not matter), and for 5 and 6 bits one
     * permute per 16 (or 8) entries with the upper code bits choosing among them.
     */
    private static FloatVector lookup(VectorSpecies<Integer> is, int lanes, IntVector code, int width, int[] table,
                                      int offset) {
        if (width <= 4) {
            return lookup(is, lanes, code, table, offset);
        }
        var shuffle = code.and(lanes - 1).toShuffle();
        IntVector chunk = code.and((1 << width) - 1).lanewise(VectorOperators.LSHR, lanes == 16 ? 4 : 3);
        IntVector result = IntVector.fromArray(is, table, offset).rearrange(shuffle);
        for (int i = 1; i < (1 << width) / lanes; i++) {
            IntVector part = IntVector.fromArray(is, table, offset + i * lanes).rearrange(shuffle);
            result = result.blend(part, chunk.compare(VectorOperators.EQ, i));
        }
        return result.reinterpretAsFloats();
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

    // ------------------------------------------------------------------ packed values

    /** Per-element word and shift of the 32 tokens of a value word group, by bit width. */
    private static final int[][] WORD = new int[7][32];
    private static final int[][] SHIFT = new int[7][32];

    static {
        for (int b = 1; b <= 6; b++) {
            for (int e = 0; e < 32; e++) {
                WORD[b][e] = BitPacking.wordOf(b, e);
                SHIFT[b][e] = BitPacking.shiftOf(b, e);
            }
        }
    }

    /**
     * {@code out[q][outOffset + i] += Σ_r alpha[q][r]·c'_V[code(r, i)] + beta[q]} over {@code tokens} slots of a
     * page for the {@code channels} channels of one value width group of one KV head (page format v2: per
     * 32-token group, rows {@code [bits][channels]}), query heads {@code [qHead0, qHead0+qCount)}.
     *
     * @param bits        the group's code width, 1–6
     * @param codesOffset byte offset of the group's row 0 in the page's first token group
     * @param channels    channels of the group, {@code n}
     * @param groupWords  words from one token group of the head to the next, {@code W_h}
     * @param valueTable  the width's table, {@code entries} float bits
     * @param alpha       [Hq][P] softmax weight × token scale, index {@code q·P + r}
     * @param beta        [Hq] Σ_r softmax weight × token zero, already summed
     * @param out         [Hq][outStride], channels of the group at {@code [outOffset, outOffset + n)}
     */
    public static void packedValues(boolean simd, int bits, MemorySegment codes, long codesOffset, int channels,
                                    int groupWords, int pageTokens, int tokens, int[] valueTable, float[] alpha,
                                    float[] beta, int qHead0, int qCount, float[] out, int outStride, int outOffset) {
        int vector = !simd || !PACKED_SIMD ? 0 : channels - channels % LANES;
        for (int g0 = 0; g0 < qCount && vector > 0; g0 += 4) {
            packedValuesVector(bits, codes, codesOffset, channels, vector, groupWords, pageTokens, tokens, valueTable,
                    alpha, beta, qHead0 + g0, Math.min(4, qCount - g0), out, outStride, outOffset);
        }
        packedValuesScalar(bits, codes, codesOffset, channels, vector, groupWords, pageTokens, tokens, valueTable, alpha,
                beta, qHead0, qCount, out, outStride, outOffset);
    }

    /** The scalar reference for channels {@code [from, channels)} of the group. */
    private static void packedValuesScalar(int bits, MemorySegment codes, long codesOffset, int channels, int from,
                                           int groupWords, int pageTokens, int tokens, int[] valueTable, float[] alpha,
                                           float[] beta, int qHead0, int qCount, float[] out, int outStride,
                                           int outOffset) {
        int mask = valueTable.length - 1;
        for (int g = 0; g < qCount; g++) {
            int q = qHead0 + g;
            for (int i = from; i < channels; i++) {
                float acc = 0f;
                for (int r = 0; r < tokens; r++) {
                    int e = r & 31;
                    long at = codesOffset + ((long) (r >>> 5) * groupWords + (long) WORD[bits][e] * channels + i) * 4;
                    int shift = SHIFT[bits][e];
                    int code = codes.get(INT, at) >>> shift;
                    if (shift + bits > 32) {
                        code |= codes.get(INT, at + (long) channels * 4) << (32 - shift);
                    }
                    acc = Math.fma(alpha[q * pageTokens + r], Float.intBitsToFloat(valueTable[code & mask]), acc);
                }
                out[q * outStride + outOffset + i] += acc + beta[q];
            }
        }
    }

    private static void packedValuesVector(int bits, MemorySegment codes, long codesOffset, int channels, int vector,
                                           int groupWords, int pageTokens, int tokens, int[] valueTable,
                                           float[] alpha, float[] beta, int qh, int qCount, float[] out,
                                           int outStride, int outOffset) {
        var fs = FS;
        var is = IS;
        int lanes = LANES;
        IntVector tableLo = IntVector.fromArray(is, valueTable, 0);
        IntVector tableHi = lanes == 16 ? tableLo : IntVector.fromArray(is, valueTable, 8);
        int a0 = qh * pageTokens;
        int a1 = (qh + Math.min(1, qCount - 1)) * pageTokens;
        int a2 = (qh + Math.min(2, qCount - 1)) * pageTokens;
        int a3 = (qh + Math.min(3, qCount - 1)) * pageTokens;
        long rowBytes = (long) channels * 4;
        int[] wordOf = WORD[bits];
        int[] shiftOf = SHIFT[bits];
        for (int j0 = 0; j0 < vector; j0 += lanes) {
            FloatVector acc0 = FloatVector.zero(fs);
            FloatVector acc1 = acc0;
            FloatVector acc2 = acc0;
            FloatVector acc3 = acc0;
            for (int r0 = 0; r0 < tokens; r0 += 32) {
                long groupAt = codesOffset + ((long) (r0 >>> 5) * groupWords + j0) * 4;
                IntVector w0 = IntVector.fromMemorySegment(is, codes, groupAt, LE);
                IntVector w1 = bits > 1 ? IntVector.fromMemorySegment(is, codes, groupAt + rowBytes, LE) : w0;
                IntVector w2 = bits > 2 ? IntVector.fromMemorySegment(is, codes, groupAt + 2 * rowBytes, LE) : w1;
                IntVector w3 = bits > 3 ? IntVector.fromMemorySegment(is, codes, groupAt + 3 * rowBytes, LE) : w2;
                int end = Math.min(32, tokens - r0);
                for (int e = 0; e < end; e++) {
                    int w = wordOf[e];
                    int shift = shiftOf[e];
                    IntVector code;
                    if (bits <= 4) {
                        IntVector word = w == 0 ? w0 : w == 1 ? w1 : w == 2 ? w2 : w3;
                        code = word.lanewise(VectorOperators.LSHR, shift);
                        if (shift + bits > 32) {
                            IntVector next = w == 0 ? w1 : w == 1 ? w2 : w3;
                            code = code.or(next.lanewise(VectorOperators.LSHL, 32 - shift));
                        }
                    } else {
                        // 5 and 6 bits: more rows than registers kept; read the element's words (L1-resident)
                        code = IntVector.fromMemorySegment(is, codes, groupAt + w * rowBytes, LE)
                                .lanewise(VectorOperators.LSHR, shift);
                        if (shift + bits > 32) {
                            code = code.or(IntVector.fromMemorySegment(is, codes, groupAt + (w + 1) * rowBytes, LE)
                                    .lanewise(VectorOperators.LSHL, 32 - shift));
                        }
                    }
                    FloatVector v = bits <= 4 ? permute(lanes, code, tableLo, tableHi)
                            : lookup(is, lanes, code, bits, valueTable, 0);
                    int r = r0 + e;
                    acc0 = v.fma(v.broadcast(alpha[a0 + r]), acc0);
                    if (qCount > 1) {
                        acc1 = v.fma(v.broadcast(alpha[a1 + r]), acc1);
                        if (qCount > 2) {
                            acc2 = v.fma(v.broadcast(alpha[a2 + r]), acc2);
                            if (qCount > 3) {
                                acc3 = v.fma(v.broadcast(alpha[a3 + r]), acc3);
                            }
                        }
                    }
                }
            }
            addInto(fs, acc0, beta[qh], out, qh * outStride + outOffset + j0);
            if (qCount > 1) {
                addInto(fs, acc1, beta[qh + 1], out, (qh + 1) * outStride + outOffset + j0);
                if (qCount > 2) {
                    addInto(fs, acc2, beta[qh + 2], out, (qh + 2) * outStride + outOffset + j0);
                    if (qCount > 3) {
                        addInto(fs, acc3, beta[qh + 3], out, (qh + 3) * outStride + outOffset + j0);
                    }
                }
            }
        }
    }

    private static void addInto(VectorSpecies<Float> fs, FloatVector acc, float beta, float[] out, int at) {
        FloatVector.fromArray(fs, out, at).add(acc.add(beta)).intoArray(out, at);
    }

    // ------------------------------------------------------------------ fp16 / fp32 baselines

    /**
     * Baseline scores over unquantized post-RoPE keys {@code [kvHeads][headDim][P]} (fp16 or fp32) for
     * one KV head: the same lanes-along-tokens loop as the packed kernel, without decoding or RoPE.
     *
     * @param keysOffset byte offset of this head's keys: [headDim][P]
     */
    public static void plainKeyScores(boolean simd, boolean half, MemorySegment keys, long keysOffset,
                                      int headDim, int pageTokens, int tokens, float[] queries, int qHead0, int qCount,
                                      float[] scores, int stride, int base) {
        if (!simd) {
            for (int r = 0; r < tokens; r++) {
                for (int g = 0; g < qCount; g++) {
                    int qo = (qHead0 + g) * headDim;
                    float acc = 0f;
                    for (int j = 0; j < headDim; j++) {
                        acc = Math.fma(element(keys, keysOffset, half, (long) j * pageTokens + r), queries[qo + j], acc);
                    }
                    scores[(qHead0 + g) * stride + base + r] = acc;
                }
            }
            return;
        }
        for (int g0 = 0; g0 < qCount; g0 += 4) {
            plainKeyScoresVector(half, keys, keysOffset, headDim, pageTokens, tokens, queries, qHead0 + g0,
                    Math.min(4, qCount - g0), scores, stride, base);
        }
    }

    private static float element(MemorySegment seg, long offset, boolean half, long index) {
        return half ? Float.float16ToFloat(seg.get(SHORT, offset + index * 2)) : seg.get(FLOAT, offset + index * 4);
    }

    private static void plainKeyScoresVector(boolean half, MemorySegment keys,
                                             long keysOffset, int headDim, int pageTokens, int tokens,
                                             float[] queries, int qh, int qCount, float[] scores, int stride,
                                             int base) {
        var fs = FS;
        int lanes = LANES;
        int q0 = qh * headDim;
        int q1 = (qh + Math.min(1, qCount - 1)) * headDim;
        int q2 = (qh + Math.min(2, qCount - 1)) * headDim;
        int q3 = (qh + Math.min(3, qCount - 1)) * headDim;
        int elementBytes = half ? 2 : 4;
        long rowBytes = (long) pageTokens * elementBytes;
        for (int r0 = 0; r0 < tokens; r0 += lanes) {
            FloatVector acc0 = FloatVector.zero(fs);
            FloatVector acc1 = acc0;
            FloatVector acc2 = acc0;
            FloatVector acc3 = acc0;
            long at = keysOffset + (long) r0 * elementBytes;
            for (int j = 0; j < headDim; j++, at += rowBytes) {
                FloatVector k = half ? Fp16Vectors.load(keys, at) : FloatVector.fromMemorySegment(fs, keys, at, LE);
                acc0 = k.fma(k.broadcast(queries[q0 + j]), acc0);
                if (qCount > 1) {
                    acc1 = k.fma(k.broadcast(queries[q1 + j]), acc1);
                    if (qCount > 2) {
                        acc2 = k.fma(k.broadcast(queries[q2 + j]), acc2);
                        if (qCount > 3) {
                            acc3 = k.fma(k.broadcast(queries[q3 + j]), acc3);
                        }
                    }
                }
            }
            store(fs, tokens - r0, acc0, scores, qh * stride + base + r0);
            if (qCount > 1) {
                store(fs, tokens - r0, acc1, scores, (qh + 1) * stride + base + r0);
                if (qCount > 2) {
                    store(fs, tokens - r0, acc2, scores, (qh + 2) * stride + base + r0);
                    if (qCount > 3) {
                        store(fs, tokens - r0, acc3, scores, (qh + 3) * stride + base + r0);
                    }
                }
            }
        }
    }

    /**
     * Baseline value matvec over unquantized values {@code [kvHeads][P][headDim]}: {@code out[q][j] +=
     * Σ_r p[q][r]·v[r][j]} for one KV head.
     *
     * @param valuesOffset byte offset of this head's values: [P][headDim]
     * @param weights      [Hq][P] softmax weights of this page, index {@code q·P + r}
     */
    public static void plainValues(boolean simd, boolean half, MemorySegment values,
                                   long valuesOffset, int headDim, int pageTokens, int tokens, float[] weights,
                                   int qHead0, int qCount, float[] out) {
        if (!simd || headDim % LANES != 0) {
            for (int g = 0; g < qCount; g++) {
                int q = qHead0 + g;
                for (int j = 0; j < headDim; j++) {
                    float acc = 0f;
                    for (int r = 0; r < tokens; r++) {
                        acc = Math.fma(weights[q * pageTokens + r],
                                element(values, valuesOffset, half, (long) r * headDim + j), acc);
                    }
                    out[q * headDim + j] += acc;
                }
            }
            return;
        }
        var fs = FS;
        int lanes = LANES;
        int elementBytes = half ? 2 : 4;
        for (int g0 = 0; g0 < qCount; g0 += 4) {
            int qh = qHead0 + g0;
            int n = Math.min(4, qCount - g0);
            int a0 = qh * pageTokens;
            int a1 = (qh + Math.min(1, n - 1)) * pageTokens;
            int a2 = (qh + Math.min(2, n - 1)) * pageTokens;
            int a3 = (qh + Math.min(3, n - 1)) * pageTokens;
            for (int j0 = 0; j0 < headDim; j0 += lanes) {
                FloatVector acc0 = FloatVector.zero(fs);
                FloatVector acc1 = acc0;
                FloatVector acc2 = acc0;
                FloatVector acc3 = acc0;
                long at = valuesOffset + (long) j0 * elementBytes;
                long rowBytes = (long) headDim * elementBytes;
                for (int r = 0; r < tokens; r++, at += rowBytes) {
                    FloatVector v = half ? Fp16Vectors.load(values, at) : FloatVector.fromMemorySegment(fs, values, at, LE);
                    acc0 = v.fma(v.broadcast(weights[a0 + r]), acc0);
                    if (n > 1) {
                        acc1 = v.fma(v.broadcast(weights[a1 + r]), acc1);
                        if (n > 2) {
                            acc2 = v.fma(v.broadcast(weights[a2 + r]), acc2);
                            if (n > 3) {
                                acc3 = v.fma(v.broadcast(weights[a3 + r]), acc3);
                            }
                        }
                    }
                }
                addInto(fs, acc0, 0f, out, qh * headDim + j0);
                if (n > 1) {
                    addInto(fs, acc1, 0f, out, (qh + 1) * headDim + j0);
                    if (n > 2) {
                        addInto(fs, acc2, 0f, out, (qh + 2) * headDim + j0);
                        if (n > 3) {
                            addInto(fs, acc3, 0f, out, (qh + 3) * headDim + j0);
                        }
                    }
                }
            }
        }
    }
}
