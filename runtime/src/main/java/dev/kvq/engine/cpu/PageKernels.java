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
 * The packed value matvec of one value width group (page format v2, mixed-width layers of a bit
 * allocation: {@link ValuePlan}), in a SIMD and a scalar form that compute the same quantities
 * ({@code simd == false} selects the scalar one). One-width layers run {@link PackedValueKernels}. Lanes
 * along channels; each token's scale is folded into its softmax weight; query heads of a GQA group are
 * served four at a time from one decode of the packed words. A width group's table
 * ({@code CodeTables.values}) holds {@code c'_V[x mod 2^w]} for x in [0, E), E = 16 (64 in a layer with
 * codes wider than 4 bits), so the permute can ignore the bits above the code.
 */
final class PageKernels {
    private PageKernels() {}

    private static final VectorSpecies<Float> FS = Vectors.FS;
    private static final VectorSpecies<Integer> IS = Vectors.IS;
    private static final int LANES = Vectors.LANES;
    private static final boolean PACKED_SIMD = Vectors.PACKED;

    private static final ValueLayout.OfInt INT = Vectors.INT;
    private static final ByteOrder LE = Vectors.LE;

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
     * {@code out[q][outOffset + i] += Σ_r alpha[q][r]·c'_V[code(r, i)]} over {@code tokens} slots of a
     * page for the {@code channels} channels of one value width group of one KV head (page format v2: per
     * 32-token group, rows {@code [bits][channels]}), query heads {@code [qHead0, qHead0+qCount)}.
     *
     * @param bits        the group's code width, 1–6
     * @param codesOffset byte offset of the group's row 0 in the page's first token group
     * @param channels    channels of the group, {@code n}
     * @param groupWords  words from one token group of the head to the next, {@code W_h}
     * @param valueTable  the width's table, {@code entries} float bits
     * @param alpha       [Hq][P] softmax weight × token scale, index {@code q·P + r}
     * @param out         [Hq][outStride], channels of the group at {@code [outOffset, outOffset + n)}
     */
    public static void packedValues(boolean simd, int bits, MemorySegment codes, long codesOffset, int channels,
                                    int groupWords, int pageTokens, int tokens, int[] valueTable, float[] alpha,
                                    int qHead0, int qCount, float[] out, int outStride, int outOffset) {
        int vector = !simd || !PACKED_SIMD ? 0 : channels - channels % LANES;
        for (int g0 = 0; g0 < qCount && vector > 0; g0 += 4) {
            packedValuesVector(bits, codes, codesOffset, channels, vector, groupWords, pageTokens, tokens, valueTable,
                    alpha, qHead0 + g0, Math.min(4, qCount - g0), out, outStride, outOffset);
        }
        packedValuesScalar(bits, codes, codesOffset, channels, vector, groupWords, pageTokens, tokens, valueTable, alpha,
                qHead0, qCount, out, outStride, outOffset);
    }

    /** The scalar reference for channels {@code [from, channels)} of the group. */
    private static void packedValuesScalar(int bits, MemorySegment codes, long codesOffset, int channels, int from,
                                           int groupWords, int pageTokens, int tokens, int[] valueTable, float[] alpha,
                                           int qHead0, int qCount, float[] out, int outStride,
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
                out[q * outStride + outOffset + i] += acc;
            }
        }
    }

    private static void packedValuesVector(int bits, MemorySegment codes, long codesOffset, int channels, int vector,
                                           int groupWords, int pageTokens, int tokens, int[] valueTable,
                                           float[] alpha, int qh, int qCount, float[] out,
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
            addInto(fs, acc0, out, qh * outStride + outOffset + j0);
            if (qCount > 1) {
                addInto(fs, acc1, out, (qh + 1) * outStride + outOffset + j0);
                if (qCount > 2) {
                    addInto(fs, acc2, out, (qh + 2) * outStride + outOffset + j0);
                    if (qCount > 3) {
                        addInto(fs, acc3, out, (qh + 3) * outStride + outOffset + j0);
                    }
                }
            }
        }
    }

    private static void addInto(VectorSpecies<Float> fs, FloatVector acc, float[] out, int at) {
        FloatVector.fromArray(fs, out, at).add(acc).intoArray(out, at);
    }
}
