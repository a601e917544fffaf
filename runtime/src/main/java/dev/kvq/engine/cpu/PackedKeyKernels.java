package dev.kvq.engine.cpu;

import static dev.kvq.engine.cpu.Vectors.FS;
import static dev.kvq.engine.cpu.Vectors.INT;
import static dev.kvq.engine.cpu.Vectors.IS;
import static dev.kvq.engine.cpu.Vectors.LANES;
import static dev.kvq.engine.cpu.Vectors.LE;
import static dev.kvq.engine.cpu.Vectors.lookup16;
import static dev.kvq.engine.cpu.Vectors.lookup64;
import static dev.kvq.engine.cpu.Vectors.tableHi;
import static dev.kvq.engine.cpu.Vectors.tableLo;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Packed key scores over one KV head of one page: dequantize → RoPE → dot, fused, with lanes along
 * tokens. The pairs of {@link KeyPairs} are the outer loop: a pair's tables sit in registers while the
 * page's scores (page-local, in L1) accumulate in memory. Every kernel adds to
 * {@code sc[scAt + g·P + r]} for the first {@code blocks} slots (a multiple of 32) of query head g, so a
 * head's runs of pairs of one width ({@link KeyPairs#runFrom}) each go to the kernel of their width.
 *
 * <p>With {@code x} the pair's field ({@code a} = code of the first channel j, {@code b'} = code of
 * its partner p), {@code K_c[·]} the dequantized pre-RoPE key of channel c and the page's step angle
 * (cos, sin) of the pair's frequency, a token contributes
 * {@code cos·(q_j·K_j[a] + q_p·K_p[b']) + sin·(q_p·K_j[a] − q_j·K_p[b'])}.
 *
 * <ul>
 *   <li>{@link #pairs3} (b = 3, one query head per KV head): two 16-entry tables per pair,
 *       {@code TA = [q_p·K_p[0..8) | q_j·K_j[0..8)]}, {@code TB = [−q_j·K_p[0..8) | q_p·K_j[0..8)]}; the two
 *       brackets are {@code TA[8 + a] + TA[b']} and {@code TB[8 + a] + TB[b']}: four lane permutes and two
 *       FMAs per 16 tokens. (A 64-entry table in two-register permutes with a blend measured 10% slower,
 *       per-channel tables 20% slower.)</li>
 *   <li>{@link #pairs2} (b = 0, 1, 2, one query head): one 16-entry table per bracket indexed by the
 *       field itself: two permutes.</li>
 *   <li>{@link #rotateOnce} (GQA at any width, and b = 4, 5, 6 with one query head): per-channel tables (16 entries, 64 at 5–6
 *       bits with 16 lanes); the key pair is decoded and rotated once, then two FMAs per query head (up to four
 *       heads per pass).</li>
 * </ul>
 * Tables of width-{@code b} codes repeat every {@code 2^b} entries, so a lookup ignores the bits above
 * the code. The scalar reference {@link #scalar} computes the same sums from the per-channel table, for
 * every width (it also serves 5- and 6-bit runs where vectors have 8 lanes).
 */
final class PackedKeyKernels {
    private PackedKeyKernels() {}

    /** Entries per table: one 16-entry table is a vector of 16 lanes or two of 8. */
    static final int TABLE = 16;

    /**
     * b = 3, one query head: pairs {@code [from, to)} of {@code plan}.
     *
     * @param codesAt byte offset of keyCodes in the page (int32 {@code [rows][P]})
     * @param tables  this query head's pair tables: pair i's {@code [TA 16 | TB 16]} float bits at
     *                {@code tableAt + (i − from)·32}
     * @param cos     {@code [d/2][P]} the page's step angles, row = the pair's frequency
     */
    static void pairs3(MemorySegment page, long codesAt, int pageTokens, int blocks, KeyPairs plan, int from, int to,
                       int[] tables, int tableAt, float[] cos, float[] sin, float[] sc, int scAt) {
        long rowBytes = 4L * pageTokens;
        for (int k = from; k < to; k++) {
            int sh = plan.shift[k];
            boolean straddle = plan.straddle[k];
            long row = codesAt + plan.row[k] * rowBytes;
            int t = tableAt + (k - from) * 2 * TABLE;
            IntVector aLo = tableLo(tables, t);
            IntVector aHi = tableHi(tables, t, aLo);
            IntVector bLo = tableLo(tables, t + TABLE);
            IntVector bHi = tableHi(tables, t + TABLE, bLo);
            int cs = plan.frequency[k] * pageTokens;
            for (int r0 = 0; r0 < blocks; r0 += LANES) {
                IntVector f = IntVector.fromMemorySegment(IS, page, row + 4L * r0, LE).lanewise(VectorOperators.LSHR, sh);
                if (straddle) {
                    f = f.or(IntVector.fromMemorySegment(IS, page, row + rowBytes + 4L * r0, LE)
                            .lanewise(VectorOperators.LSHL, 32 - sh));
                }
                IntVector g = f.lanewise(VectorOperators.LSHR, 3);
                IntVector ia = f.or(8);
                IntVector ib = g.and(7);
                FloatVector a = lookup16(ia, aLo, aHi).add(lookup16(ib, aLo, aHi));
                FloatVector b = lookup16(ia, bLo, bHi).add(lookup16(ib, bLo, bHi));
                FloatVector s = FloatVector.fromArray(FS, sc, scAt + r0);
                s = a.fma(FloatVector.fromArray(FS, cos, cs + r0), s);
                s = b.fma(FloatVector.fromArray(FS, sin, cs + r0), s);
                s.intoArray(sc, scAt + r0);
            }
        }
    }

    /**
     * b ≤ 2, one query head: pair i's {@code [A 16 | B 16]} at {@code tableAt + (i − from)·32}, entry
     * {@code a + 2^b·b'} = the pair's two brackets (narrower fields' tables repeat; a 0-bit pair's sixteen
     * entries are equal and no code is read).
     */
    static void pairs2(MemorySegment page, long codesAt, int pageTokens, int blocks, KeyPairs plan, int from, int to,
                       int[] tables, int tableAt, float[] cos, float[] sin, float[] sc, int scAt) {
        long rowBytes = 4L * pageTokens;
        IntVector none = IntVector.zero(IS);
        for (int k = from; k < to; k++) {
            int sh = plan.shift[k];
            boolean straddle = plan.straddle[k];
            long row = codesAt + plan.row[k] * rowBytes;
            int t = tableAt + (k - from) * 2 * TABLE;
            IntVector aLo = tableLo(tables, t);
            IntVector aHi = tableHi(tables, t, aLo);
            IntVector bLo = tableLo(tables, t + TABLE);
            IntVector bHi = tableHi(tables, t + TABLE, bLo);
            int cs = plan.frequency[k] * pageTokens;
            boolean codeless = plan.width[k] == 0;
            for (int r0 = 0; r0 < blocks; r0 += LANES) {
                IntVector f = codeless ? none
                        : IntVector.fromMemorySegment(IS, page, row + 4L * r0, LE).lanewise(VectorOperators.LSHR, sh);
                if (straddle) {
                    f = f.or(IntVector.fromMemorySegment(IS, page, row + rowBytes + 4L * r0, LE)
                            .lanewise(VectorOperators.LSHL, 32 - sh));
                }
                FloatVector s = FloatVector.fromArray(FS, sc, scAt + r0);
                s = lookup16(f, aLo, aHi).fma(FloatVector.fromArray(FS, cos, cs + r0), s);
                s = lookup16(f, bLo, bHi).fma(FloatVector.fromArray(FS, sin, cs + r0), s);
                s.intoArray(sc, scAt + r0);
            }
        }
    }

    /**
     * Any width b ≤ 4 (and 5–6 with 16 lanes: 64-entry tables, {@link Vectors#lookup64}), up to four query
     * heads of a KV head (rows {@code qAt + g·d}, scores at
     * {@code scAt + g·P}): per pair, the key pair is looked up in its channel tables and rotated once,
     * then each head adds its two products.
     *
     * @param keyTable {@code [D][E]} float bits of {@code K_c[x mod 2^b]}; this KV head's channel j at
     *                 {@code (channel0 + j)·E}, E = {@code plan.entries}
     * @param nsin     {@code −sin}, same indexing as {@code sin}
     */
    static void rotateOnce(MemorySegment page, long codesAt, int pageTokens, int blocks, KeyPairs plan, int from,
                           int to, int[] keyTable, int channel0, float[] q, int qAt, int d, int count,
                           float[] cos, float[] sin, float[] nsin, float[] sc, int scAt) {
        long rowBytes = 4L * pageTokens;
        int bits = plan.width[from];
        boolean wide = bits > 4;
        if (wide && (LANES != 16 || plan.entries < 4 * TABLE)) {
            throw new IllegalArgumentException(bits + "-bit key pairs need 16 lanes and 64-entry tables");
        }
        int q1 = qAt + Math.min(1, count - 1) * d;
        int q2 = qAt + Math.min(2, count - 1) * d;
        int q3 = qAt + Math.min(3, count - 1) * d;
        int s1 = scAt + Math.min(1, count - 1) * pageTokens;
        int s2 = scAt + Math.min(2, count - 1) * pageTokens;
        int s3 = scAt + Math.min(3, count - 1) * pageTokens;
        for (int k = from; k < to; k++) {
            int sh = plan.shift[k];
            boolean straddle = plan.straddle[k];
            long row = codesAt + plan.row[k] * rowBytes;
            int j = plan.first[k];
            int p = plan.second[k];
            int tj = (channel0 + j) * plan.entries;
            int tp = (channel0 + p) * plan.entries;
            IntVector jLo = tableLo(keyTable, tj);
            IntVector jHi = tableHi(keyTable, tj, jLo);
            IntVector pLo = tableLo(keyTable, tp);
            IntVector pHi = tableHi(keyTable, tp, pLo);
            // 5 and 6 bits: the channel's whole 64-entry table in four registers (wide implies 16 lanes)
            IntVector j1 = wide ? tableLo(keyTable, tj + TABLE) : jLo;
            IntVector j2 = wide ? tableLo(keyTable, tj + 2 * TABLE) : jLo;
            IntVector j3 = wide ? tableLo(keyTable, tj + 3 * TABLE) : jLo;
            IntVector p1 = wide ? tableLo(keyTable, tp + TABLE) : pLo;
            IntVector p2 = wide ? tableLo(keyTable, tp + 2 * TABLE) : pLo;
            IntVector p3 = wide ? tableLo(keyTable, tp + 3 * TABLE) : pLo;
            FloatVector qj0 = FloatVector.broadcast(FS, q[qAt + j]);
            FloatVector qp0 = FloatVector.broadcast(FS, q[qAt + p]);
            FloatVector qj1 = FloatVector.broadcast(FS, q[q1 + j]);
            FloatVector qp1 = FloatVector.broadcast(FS, q[q1 + p]);
            FloatVector qj2 = FloatVector.broadcast(FS, q[q2 + j]);
            FloatVector qp2 = FloatVector.broadcast(FS, q[q2 + p]);
            FloatVector qj3 = FloatVector.broadcast(FS, q[q3 + j]);
            FloatVector qp3 = FloatVector.broadcast(FS, q[q3 + p]);
            int cs = plan.frequency[k] * pageTokens;
            for (int r0 = 0; r0 < blocks; r0 += LANES) {
                IntVector f = IntVector.fromMemorySegment(IS, page, row + 4L * r0, LE).lanewise(VectorOperators.LSHR, sh);
                if (straddle) {
                    f = f.or(IntVector.fromMemorySegment(IS, page, row + rowBytes + 4L * r0, LE)
                            .lanewise(VectorOperators.LSHL, 32 - sh));
                }
                IntVector g = f.lanewise(VectorOperators.LSHR, bits);
                FloatVector kj = wide ? lookup64(f, jLo, j1, j2, j3) : lookup16(f, jLo, jHi);
                FloatVector kp = wide ? lookup64(g, pLo, p1, p2, p3) : lookup16(g, pLo, pHi);
                FloatVector c = FloatVector.fromArray(FS, cos, cs + r0);
                FloatVector rj = kp.fma(FloatVector.fromArray(FS, nsin, cs + r0), kj.mul(c));
                FloatVector rp = kj.fma(FloatVector.fromArray(FS, sin, cs + r0), kp.mul(c));
                int at = scAt + r0;
                rp.fma(qp0, rj.fma(qj0, FloatVector.fromArray(FS, sc, at))).intoArray(sc, at);
                if (count > 1) {
                    at = s1 + r0;
                    rp.fma(qp1, rj.fma(qj1, FloatVector.fromArray(FS, sc, at))).intoArray(sc, at);
                    if (count > 2) {
                        at = s2 + r0;
                        rp.fma(qp2, rj.fma(qj2, FloatVector.fromArray(FS, sc, at))).intoArray(sc, at);
                        if (count > 3) {
                            at = s3 + r0;
                            rp.fma(qp3, rj.fma(qj3, FloatVector.fromArray(FS, sc, at))).intoArray(sc, at);
                        }
                    }
                }
            }
        }
    }

    /**
     * The scalar reference for every width and group size: per slot and query head, the pairs
     * {@code [from, to)} of one KV head summed from the per-channel key table.
     *
     * @param keyTable {@code [D][E]} float bits of {@code K_c[x mod 2^w]} ({@code CpuLayer#keyTable})
     * @param channel0 this KV head's first channel, {@code h·d}
     */
    static void scalar(MemorySegment page, long codesAt, int pageTokens, int tokens, KeyPairs plan, int from, int to,
                       int[] keyTable, int channel0, float[] q, int qAt, int d, int count, float[] cos, float[] sin,
                       float[] sc, int scAt) {
        int e = plan.entries;
        for (int g = 0; g < count; g++) {
            for (int r = 0; r < tokens; r++) {
                float acc = 0f;
                for (int k = from; k < to; k++) {
                    long at = codesAt + ((long) plan.row[k] * pageTokens + r) * 4;
                    int field = page.get(INT, at) >>> plan.shift[k];
                    if (plan.straddle[k]) {
                        field |= page.get(INT, at + 4L * pageTokens) << (32 - plan.shift[k]);
                    }
                    int bits = plan.width[k];
                    int mask = (1 << bits) - 1;
                    int fieldP = field >>> bits;
                    int j = plan.first[k];
                    int p = plan.second[k];
                    float kj = Float.intBitsToFloat(keyTable[(channel0 + j) * e + (field & mask)]);
                    float kp = Float.intBitsToFloat(keyTable[(channel0 + p) * e + (fieldP & mask)]);
                    float qj = q[qAt + g * d + j];
                    float qp = q[qAt + g * d + p];
                    int t = plan.frequency[k] * pageTokens + r;
                    acc = Math.fma(cos[t], Math.fma(kp, qp, kj * qj), acc);
                    acc = Math.fma(sin[t], Math.fma(-kp, qj, kj * qp), acc);
                }
                sc[scAt + g * pageTokens + r] += acc;
            }
        }
    }
}
