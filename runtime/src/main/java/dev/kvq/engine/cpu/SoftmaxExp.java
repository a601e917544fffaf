package dev.kvq.engine.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

/**
 * {@code exp(x)} for the softmax's {@code x = score − max ≤ 0}, built only from IEEE-exact operations
 * (multiply, add, fused multiply-add, exact conversions and bit shifts), in a vector and a scalar form
 * that give the same bits.
 *
 * <p>Why not {@code lanewise(EXP)}: the Vector API computes transcendental lanes with an intrinsic
 * math library once the kernel is JIT-compiled and with {@code Math.exp} before, and the two differ in
 * the last bit; attention outputs then depended on how warm the JVM was, so a sequence replayed in
 * another thread or later in the run did not reproduce its outputs bit for bit.
 *
 * <p>Method: {@code exp(x) = 2^n · exp(r)}, {@code n = round(x/ln 2)}, {@code r = x − n·ln 2} in
 * {@code [−ln2/2, ln2/2]} (ln 2 split in two parts so that {@code n·ln2hi} is exact), {@code exp(r)} by
 * the degree-6 minimax polynomial of the Cephes {@code expf}; about 1 ulp. Inputs below −87 (where
 * {@code exp} leaves the normal range) give 0, which the softmax cannot tell from the true tiny value.
 */
final class SoftmaxExp {
    private SoftmaxExp() {}

    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    /** 1.5·2^23: adding and subtracting it rounds a float of magnitude below 2^22 to an integer. */
    private static final float ROUND = 12582912f;
    private static final float LOWEST = -87f;
    private static final float P0 = 1.9875691500e-4f;
    private static final float P1 = 1.3981999507e-3f;
    private static final float P2 = 8.3334519073e-3f;
    private static final float P3 = 4.1665795894e-2f;
    private static final float P4 = 1.6666665459e-1f;
    private static final float P5 = 5.0000001201e-1f;

    /** {@code exp(x)} for {@code x ≤ 0}, the same bits as each lane of {@link #exp(FloatVector)}. */
    static float exp(float x) {
        if (x < LOWEST) {
            return 0f;
        }
        float n = (x * LOG2E + ROUND) - ROUND;
        float r = Math.fma(n, -LN2_HI, x);
        r = Math.fma(n, -LN2_LO, r);
        float p = Math.fma(P0, r, P1);
        p = Math.fma(p, r, P2);
        p = Math.fma(p, r, P3);
        p = Math.fma(p, r, P4);
        p = Math.fma(p, r, P5);
        float y = Math.fma(p, r * r, r) + 1f;
        return y * Float.intBitsToFloat(((int) n + 127) << 23);
    }

    /** {@code exp} of every lane ({@code x ≤ 0}). */
    static FloatVector exp(FloatVector x) {
        var species = x.species();
        VectorMask<Float> tiny = x.compare(VectorOperators.LT, LOWEST);
        FloatVector c = x.max(LOWEST);
        FloatVector n = c.mul(LOG2E).add(ROUND).sub(ROUND);
        FloatVector r = n.fma(FloatVector.broadcast(species, -LN2_HI), c);
        r = n.fma(FloatVector.broadcast(species, -LN2_LO), r);
        FloatVector p = FloatVector.broadcast(species, P0).fma(r, FloatVector.broadcast(species, P1));
        p = p.fma(r, FloatVector.broadcast(species, P2));
        p = p.fma(r, FloatVector.broadcast(species, P3));
        p = p.fma(r, FloatVector.broadcast(species, P4));
        p = p.fma(r, FloatVector.broadcast(species, P5));
        FloatVector y = p.fma(r.mul(r), r).add(1f);
        FloatVector scale = n.convert(VectorOperators.F2I, 0).reinterpretAsInts().add(127)
                .lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return y.mul(scale).blend(0f, tiny);
    }
}
