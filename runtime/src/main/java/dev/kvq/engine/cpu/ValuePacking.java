package dev.kvq.engine.cpu;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.layout.PageLayout;
import dev.kvq.quant.BitPacking;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Writes one token's value codes into the token-packed layout: the token is element {@code r mod 32}
 * of its token group, so every channel gets its b-bit field OR-ed into word(s) of row
 * {@code (r/32)·b + wordOf(e)}; a head's channels are contiguous there, so whole vectors are updated.
 */
final class ValuePacking {
    private ValuePacking() {}

    private static final VectorSpecies<Integer> IS =
            VectorSpecies.of(int.class, Vectors.FS.vectorShape());
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    static void orToken(MemorySegment page, long valueCodesOffset, PageLayout layout, AttentionShape shape, int r,
                        int[] codes) {
        int b = layout.bits();
        int headDim = shape.headDim();
        int e = r & 31;
        int word = BitPacking.wordOf(b, e);
        int shift = BitPacking.shiftOf(b, e);
        boolean straddle = shift + b > 32;
        int lanes = IS.length();
        for (int h = 0; h < shape.kvHeads(); h++) {
            long row = valueCodesOffset + layout.valueWord(h, (r >>> 5) * b + word, 0, headDim) * 4;
            long next = row + (long) headDim * 4;
            int j = 0;
            for (; j + lanes <= headDim; j += lanes) {
                IntVector c = IntVector.fromArray(IS, codes, h * headDim + j);
                long at = row + j * 4L;
                IntVector.fromMemorySegment(IS, page, at, LE).or(c.lanewise(VectorOperators.LSHL, shift))
                        .intoMemorySegment(page, at, LE);
                if (straddle) {
                    long at2 = next + j * 4L;
                    IntVector.fromMemorySegment(IS, page, at2, LE).or(c.lanewise(VectorOperators.LSHR, 32 - shift))
                            .intoMemorySegment(page, at2, LE);
                }
            }
            for (; j < headDim; j++) {
                BitPacking.orCode(page, (row - 0) / 4 - (long) word * headDim + j, headDim, b, e, codes[h * headDim + j]);
            }
        }
    }
}
