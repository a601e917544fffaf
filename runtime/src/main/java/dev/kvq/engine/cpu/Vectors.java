package dev.kvq.engine.cpu;

import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vector species of the CPU kernels and the few tiny helpers they share.
 *
 * <p>The species is fixed per JVM: the Vector API compiles to vector instructions only when the species
 * is a constant, so it is chosen once from {@code kvq.simd} (at first use) and never passed around;
 * every kernel call still picks its SIMD or scalar form with a flag. Branches on {@link #LANES} fold
 * away when the kernels are compiled.
 *
 * <p>JIT rules the kernels follow (measured on JDK 25, C2, AVX-512): a hot method with more than ~40
 * Vector API calls stops inlining them (C2's node-count cutoff) and the vectors that cross a call it
 * did not inline are boxed inside the loop, 20–50× slower; so one method per loop shape, no
 * {@code Vector} arguments except to the tiny helpers below, and accumulators leave a kernel through
 * arrays. {@code IntVector.selectFrom} (one or two tables) compiles to {@code vpermd}/{@code vpermi2d}.
 */
final class Vectors {
    private Vectors() {}

    /** The float species (the preferred one when {@code kvq.simd=0}, so that it is never null). */
    static final VectorSpecies<Float> FS = Simd.species(Simd.lanes() == 0 ? Simd.preferredLanes() : Simd.lanes());
    /** The int species of the same shape. */
    static final VectorSpecies<Integer> IS = VectorSpecies.of(int.class, FS.vectorShape());
    /** Lanes per vector. */
    static final int LANES = FS.length();
    /** Whether the packed kernels have a SIMD form here: their 16-entry lookups need 8 or 16 lanes. */
    static final boolean PACKED = LANES == 16 || LANES == 8;

    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;
    static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED;
    static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;

    /** The first 8 or 16 entries of a 16-entry table at {@code table[at]}: the whole table with 16 lanes. */
    static IntVector tableLo(int[] table, int at) {
        return IntVector.fromArray(IS, table, at);
    }

    /** Entries 8–15 of a 16-entry table with 8 lanes; the same vector as {@link #tableLo} with 16. */
    static IntVector tableHi(int[] table, int at, IntVector lo) {
        return LANES == 16 ? lo : IntVector.fromArray(IS, table, at + 8);
    }

    /**
     * {@code table[index & 15]} per lane as floats: one {@code vpermd} (16 lanes, the index wraps at 16)
     * or one {@code vpermi2d} over the two halves (8 lanes, wraps at 16 too).
     */
    static FloatVector lookup16(IntVector index, IntVector lo, IntVector hi) {
        return (LANES == 16 ? index.selectFrom(lo) : index.selectFrom(lo, hi)).reinterpretAsFloats();
    }

    /**
     * {@code table[index & 63]} per lane as floats from a 64-entry table in four 16-lane registers
     * ({@code t0} = entries 0–15, … {@code t3} = 48–63; 16 lanes only): two {@code vpermi2d} over the halves
     * (each wraps at 32) and a blend on index bit 5. Tables of 5-bit codes repeat every 32 entries.
     */
    static FloatVector lookup64(IntVector index, IntVector t0, IntVector t1, IntVector t2, IntVector t3) {
        IntVector low = index.selectFrom(t0, t1);
        IntVector high = index.selectFrom(t2, t3);
        return low.blend(high, index.and(32).compare(VectorOperators.NE, 0)).reinterpretAsFloats();
    }

    /** Lane sum in a fixed order: {@code reduceLanes(ADD)} may associate differently once compiled. */
    static float laneSum(FloatVector v, float[] scratch) {
        v.intoArray(scratch, 0);
        float s = 0f;
        for (int i = 0; i < LANES; i++) {
            s += scratch[i];
        }
        return s;
    }
}
