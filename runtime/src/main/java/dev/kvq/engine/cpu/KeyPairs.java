package dev.kvq.engine.cpu;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.RopePairing;

/**
 * Where every RoPE pair of a layer's keys sits in a page's key words, in the order the kernels visit
 * the pairs, precomputed once per cache. A pair's two codes are adjacent in the token's bit stream:
 * one {@code 2b}-bit field whose low {@code b} bits are the code of the pair's first channel, so one
 * shift (plus an OR when the field straddles two words) yields the pair's table index
 * {@code a + 2^b·b'}.
 *
 * <p>Index {@code h·pairs + k} is pair k of KV head h. Word rows are in units of {@code pageTokens}
 * words from the start of keyCodes (tokens contiguous, {@code PageLayout}).
 */
final class KeyPairs {
    final int pairs;          // per KV head: d/2
    final int bits;           // code width of every pair's channels
    final int[] row;          // [Hkv·pairs] word row of the field's low bit
    final int[] shift;        // [Hkv·pairs] bit of the field's low bit in that word
    final boolean[] straddle; // [Hkv·pairs] the field continues in the next row
    final int[] first;        // [Hkv·pairs] in-head channel of the code in the low bits
    final int[] second;       // [Hkv·pairs] in-head channel of its RoPE partner
    final int[] frequency;    // [Hkv·pairs] RoPE frequency index (row of the page's cos/sin tables)

    private KeyPairs(int kvHeads, int pairs, int bits) {
        this.pairs = pairs;
        this.bits = bits;
        int n = kvHeads * pairs;
        row = new int[n];
        shift = new int[n];
        straddle = new boolean[n];
        first = new int[n];
        second = new int[n];
        frequency = new int[n];
    }

    /**
     * The pairs of page format v1 at a uniform width, or null where a pair's codes are not adjacent
     * there: v1 orders key codes by channel, so only {@link RopePairing#INTERLEAVED} puts partners
     * (2i, 2i+1) side by side.
     */
    static KeyPairs uniform(AttentionShape shape, int bits) {
        RopePairing pairing = shape.rope().pairing();
        if (pairing != RopePairing.INTERLEAVED) {
            return null;
        }
        int d = shape.headDim();
        KeyPairs p = new KeyPairs(shape.kvHeads(), d / 2, bits);
        for (int h = 0; h < shape.kvHeads(); h++) {
            for (int k = 0; k < d / 2; k++) {
                int i = h * p.pairs + k;
                int j = 2 * k;
                long bit = (long) (h * d + j) * bits;   // v1: channel c's code at stream bit c·b
                p.row[i] = (int) (bit >>> 5);
                p.shift[i] = (int) (bit & 31);
                p.straddle[i] = p.shift[i] + 2 * bits > 32;
                p.first[i] = j;
                p.second[i] = pairing.partner(j, d);
                p.frequency[i] = pairing.frequencyIndex(j, d);
            }
        }
        return p;
    }
}
