package dev.kvq.engine.cpu;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * fp16 → fp32 for vectors. The Vector API of JDK 25 has no half-float conversion, so it is done with
 * integer operations: the magnitude bits shifted into fp32 position and scaled by 2^112 (exact for
 * normal and subnormal halves), then the sign. Stored halves are always finite.
 */
final class Fp16Vectors {
    private Fp16Vectors() {}

    private static final VectorSpecies<Short> SS =
            VectorSpecies.of(short.class, VectorShape.forBitSize(PageKernels.LANES * 16));

    /** Loads {@code LANES} halves at {@code offset} and widens them to floats. */
    static FloatVector load(MemorySegment seg, long offset) {
        ShortVector h = ShortVector.fromMemorySegment(SS, seg, offset, ByteOrder.LITTLE_ENDIAN);
        IntVector i = (IntVector) h.convertShape(VectorOperators.S2I, PageKernels.IS, 0);
        FloatVector magnitude = i.and(0x7fff).lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(0x1p112f);
        IntVector sign = i.and(0x8000).lanewise(VectorOperators.LSHL, 16);
        return magnitude.reinterpretAsInts().or(sign).reinterpretAsFloats();
    }
}
