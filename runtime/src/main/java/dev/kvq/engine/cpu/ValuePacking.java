package dev.kvq.engine.cpu;

import dev.kvq.layout.ChannelPlan;
import dev.kvq.layout.PageLayout;
import dev.kvq.quant.BitPacking;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Writes one token's value codes into the token-packed layout of page format v2: the token is element
 * {@code r mod 32} of its token group, so every channel of a width group gets its w-bit field OR-ed into
 * word(s) of row {@code wordOf(e)} of that group; a group's channels are contiguous there, so whole vectors
 * are updated after the token's codes are gathered into the group's (physical) order.
 */
final class ValuePacking {
    private ValuePacking() {}

    private static final VectorSpecies<Integer> IS =
            VectorSpecies.of(int.class, PageKernels.FS.vectorShape());
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /**
     * ORs the codes of slot {@code r} into its page.
     *
     * @param codes {@code [D]} the token's codes by logical channel
     * @param physical scratch of at least {@code headDim} ints
     */
    static void orToken(MemorySegment page, PageLayout layout, int r, int[] codes, int[] physical) {
        ChannelPlan plan = layout.plan();
        long valueCodes = layout.offset(PageLayout.Part.VALUE_CODES);
        int headDim = plan.headDim();
        int e = r & 31;
        int lanes = IS.length();
        for (int h = 0; h < plan.kvHeads(); h++) {
            var groups = plan.valueGroups(h);
            for (int g = 0; g < groups.size(); g++) {
                ChannelPlan.ValueGroup group = groups.get(g);
                int b = group.width();
                if (b == 0) {
                    continue;
                }
                int n = group.channels();
                for (int i = 0; i < n; i++) {
                    physical[i] = codes[h * headDim + plan.valueChannelAt(h, group.position() + i)];
                }
                int word = BitPacking.wordOf(b, e);
                int shift = BitPacking.shiftOf(b, e);
                boolean straddle = shift + b > 32;
                long rowWord = layout.valueWord(h, r >>> 5, g, 0, 0);
                long row = valueCodes + (rowWord + (long) word * n) * 4;
                long next = row + (long) n * 4;
                int i = 0;
                for (; i + lanes <= n; i += lanes) {
                    IntVector c = IntVector.fromArray(IS, physical, i);
                    long at = row + i * 4L;
                    IntVector.fromMemorySegment(IS, page, at, LE).or(c.lanewise(VectorOperators.LSHL, shift))
                            .intoMemorySegment(page, at, LE);
                    if (straddle) {
                        long at2 = next + i * 4L;
                        IntVector.fromMemorySegment(IS, page, at2, LE).or(c.lanewise(VectorOperators.LSHR, 32 - shift))
                                .intoMemorySegment(page, at2, LE);
                    }
                }
                for (; i < n; i++) {
                    BitPacking.orCode(page, valueCodes / 4 + rowWord + i, n, b, e, physical[i]);
                }
            }
        }
    }
}
