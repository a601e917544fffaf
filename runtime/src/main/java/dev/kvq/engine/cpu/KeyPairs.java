package dev.kvq.engine.cpu;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.RopePairing;

/**
 * Where every RoPE pair of a layer's keys sits in a page's key words, in the order the kernels visit
 * the pairs, precomputed once per cache. When a pair's two codes are adjacent in the token's bit
 * stream ({@link #adjacent}: interleaved pairing in page format v1, every pairing in v2) they form one
 * {@code 2b}-bit field whose low {@code b} bits are the code of the pair's first channel, so one shift
 * (plus an OR when the field straddles two words) yields the pair's table index {@code a + 2^b·b'}.
 * Otherwise (rotate-half pairing in v1: partners d/2 apart) the partner's code is a second {@code b}-bit
 * field read the same way ({@link #rowSecond}, {@link #shiftSecond}, {@link #straddleSecond}).
 *
 * <p>Index {@code h·pairs + k} is pair k of KV head h. Word rows are in units of {@code pageTokens}
 * words from the start of keyCodes (tokens contiguous, {@code PageLayout}).
 */
final class KeyPairs {
    final int pairs;          // per KV head: d/2
    final int bits;           // code width of every pair's channels
    final boolean adjacent;   // a pair's two codes form one 2b-bit field
    final int[] row;          // [Hkv·pairs] word row of the (first) field's low bit
    final int[] shift;        // [Hkv·pairs] bit of the field's low bit in that word
    final boolean[] straddle; // [Hkv·pairs] the field (2b bits when adjacent, else b) continues in the next row
    final int[] rowSecond;    // [Hkv·pairs] the partner's field when not adjacent (else = row)
    final int[] shiftSecond;
    final boolean[] straddleSecond;
    final int[] first;        // [Hkv·pairs] in-head channel of the code in the low bits
    final int[] second;       // [Hkv·pairs] in-head channel of its RoPE partner
    final int[] frequency;    // [Hkv·pairs] RoPE frequency index (row of the page's cos/sin tables)

    private KeyPairs(int kvHeads, int pairs, int bits, boolean adjacent) {
        this.pairs = pairs;
        this.bits = bits;
        this.adjacent = adjacent;
        int n = kvHeads * pairs;
        row = new int[n];
        shift = new int[n];
        straddle = new boolean[n];
        rowSecond = new int[n];
        shiftSecond = new int[n];
        straddleSecond = new boolean[n];
        first = new int[n];
        second = new int[n];
        frequency = new int[n];
    }

    /**
     * The pairs of page format v1 at a uniform width {@code bits}: channel c's code at stream bit
     * {@code c·b}, so partners are adjacent for {@link RopePairing#INTERLEAVED} (2i, 2i+1) and d/2
     * apart for rotate-half; each pair is visited from its first channel.
     */
    static KeyPairs uniform(AttentionShape shape, int bits) {
        RopePairing pairing = shape.rope().pairing();
        int d = shape.headDim();
        KeyPairs p = new KeyPairs(shape.kvHeads(), d / 2, bits, pairing == RopePairing.INTERLEAVED);
        for (int h = 0; h < shape.kvHeads(); h++) {
            int k = 0;
            for (int j = 0; j < d; j++) {
                if (!pairing.isFirstOfPair(j, d)) {
                    continue;
                }
                int i = h * p.pairs + k++;
                int partner = pairing.partner(j, d);
                long bit = (long) (h * d + j) * bits;
                long bitSecond = (long) (h * d + partner) * bits;
                p.row[i] = (int) (bit >>> 5);
                p.shift[i] = (int) (bit & 31);
                p.straddle[i] = p.shift[i] + (p.adjacent ? 2 * bits : bits) > 32;
                p.rowSecond[i] = (int) (bitSecond >>> 5);
                p.shiftSecond[i] = (int) (bitSecond & 31);
                p.straddleSecond[i] = p.shiftSecond[i] + bits > 32;
                p.first[i] = j;
                p.second[i] = partner;
                p.frequency[i] = pairing.frequencyIndex(j, d);
            }
        }
        return p;
    }
}
