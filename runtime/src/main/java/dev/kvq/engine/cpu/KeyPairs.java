package dev.kvq.engine.cpu;

import dev.kvq.layout.ChannelPlan;
import java.util.List;

/**
 * Where every RoPE pair of a one-width layer's keys sits in a page's key words, in the order the kernels
 * visit the pairs, precomputed once per layer from its {@link ChannelPlan}. In page format v2 a pair's two
 * codes are adjacent in the token's bit stream for both pairings: one {@code 2b}-bit field whose low
 * {@code b} bits are the code of the pair's first channel, so one shift (plus an OR when the field
 * straddles two words) yields the pair's table index {@code a + 2^b·b'}. Rotate-half differs from
 * interleaved only in which in-head channels and which frequency a pair is.
 *
 * <p>Index {@code h·pairs + k} is pair k of KV head h. Word rows are in units of {@code pageTokens}
 * words from the start of keyCodes (tokens contiguous, {@code PageLayout}).
 */
final class KeyPairs {
    final int pairs;          // per KV head: d/2
    final int bits;           // code width of every pair's channels
    final int[] row;          // [Hkv·pairs] word row of the field's low bit
    final int[] shift;        // [Hkv·pairs] bit of the field's low bit in that word
    final boolean[] straddle; // [Hkv·pairs] the 2b-bit field continues in the next row
    final int[] first;        // [Hkv·pairs] in-head channel of the code in the low bits
    final int[] second;       // [Hkv·pairs] in-head channel of its RoPE partner
    final int[] frequency;    // [Hkv·pairs] RoPE frequency index (row of the page's cos/sin tables)

    /** The pairs of {@code plan}, whose key channels all have width {@code bits}. */
    KeyPairs(ChannelPlan plan, int bits) {
        int kvHeads = plan.kvHeads();
        this.pairs = plan.headDim() / 2;
        this.bits = bits;
        int n = kvHeads * pairs;
        row = new int[n];
        shift = new int[n];
        straddle = new boolean[n];
        first = new int[n];
        second = new int[n];
        frequency = new int[n];
        for (int h = 0; h < kvHeads; h++) {
            List<ChannelPlan.KeyPair> list = plan.keyPairs(h);
            for (int k = 0; k < pairs; k++) {
                ChannelPlan.KeyPair pair = list.get(k);
                if (pair.width() != bits) {
                    throw new IllegalArgumentException("KeyPairs needs one key width, pair " + k + " of head " + h
                            + " has " + pair.width() + " bits, not " + bits);
                }
                int i = h * pairs + k;
                row[i] = pair.bit() >>> 5;
                shift[i] = pair.bit() & 31;
                straddle[i] = shift[i] + 2 * bits > 32;
                first[i] = pair.first();
                second[i] = pair.partner();
                frequency[i] = pair.frequency();
            }
        }
    }
}
