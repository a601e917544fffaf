package dev.kvq.quant;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The universal packing rule (spec §8.1): 32 codes of {@code b} bits fill {@code b} consecutive 32-bit
 * words as a little-endian bit stream; element {@code e} occupies stream bits {@code [b·e, b·e + b)},
 * stream bit {@code B} being bit {@code B mod 32} of word {@code ⌊B/32⌋}. At b = 3, codes 10 and 21
 * straddle two words.
 *
 * <p>The words of a group need not be adjacent in memory: {@code wordStride} is the distance between
 * them, so the same rule packs keys along channels (words {@code pageTokens} apart, tokens contiguous)
 * and values along tokens (words {@code headDim} apart). Packing ORs into words that must start zeroed.
 */
public final class BitPacking {
    private BitPacking() {}

    /** Codes per packing group. */
    public static final int GROUP = 32;

    private static final ValueLayout.OfInt WORD = ValueLayout.JAVA_INT_UNALIGNED;

    /**
     * Word (0 … b−1) of the group that holds the low bit of element {@code e}.
     *
     * @param bits code width b (2, 3 or 4)
     * @param e element of the group, 0 … 31
     * @return the word index within the group
     */
    public static int wordOf(int bits, int e) {
        return (bits * e) >>> 5;
    }

    /**
     * Bit offset of element {@code e} inside {@link #wordOf}.
     *
     * @param bits code width b (2, 3 or 4)
     * @param e element of the group, 0 … 31
     * @return the bit position, 0 … 31
     */
    public static int shiftOf(int bits, int e) {
        return (bits * e) & 31;
    }

    /**
     * Packs {@code codes[from, from+32)} into the b words at {@code words[base + w·stride]}, OR-ing into zeroed
     * words.
     *
     * @param codes codes to pack, each below {@code 2^bits}
     * @param from first of the 32 codes
     * @param bits code width b (2, 3 or 4)
     * @param words the packed words (zeroed beforehand)
     * @param base index of the group's first word
     * @param stride distance between the group's words
     */
    public static void packGroup(int[] codes, int from, int bits, int[] words, int base, int stride) {
        Checks.requireBits(bits);
        int mask = (1 << bits) - 1;
        for (int e = 0; e < GROUP; e++) {
            int code = codes[from + e];
            if ((code & ~mask) != 0) {
                throw new IllegalArgumentException("code " + code + " at element " + e + " does not fit in " + bits + " bits");
            }
            orCode(words, base, stride, bits, e, code);
        }
    }

    /**
     * ORs one code into element {@code e} of the group at {@code words[base + w·stride]}.
     *
     * @param words the packed words
     * @param base index of the group's first word
     * @param stride distance between the group's words
     * @param bits code width b (2, 3 or 4)
     * @param e element of the group, 0 … 31
     * @param code the code, below {@code 2^bits}
     */
    public static void orCode(int[] words, int base, int stride, int bits, int e, int code) {
        int bit = bits * e;
        int w = bit >>> 5;
        int shift = bit & 31;
        words[base + w * stride] |= code << shift;
        if (shift + bits > 32) {
            words[base + (w + 1) * stride] |= code >>> (32 - shift);
        }
    }

    /**
     * Reads element {@code e} of the group at {@code words[base + w·stride]}.
     *
     * @param words the packed words
     * @param base index of the group's first word
     * @param stride distance between the group's words
     * @param bits code width b (2, 3 or 4)
     * @param e element of the group, 0 … 31
     * @return the code
     */
    public static int unpack(int[] words, int base, int stride, int bits, int e) {
        int bit = bits * e;
        int w = bit >>> 5;
        int shift = bit & 31;
        int mask = (1 << bits) - 1;
        int v = words[base + w * stride] >>> shift;
        if (shift + bits > 32) {
            v |= words[base + (w + 1) * stride] << (32 - shift);
        }
        return v & mask;
    }

    /**
     * Unpacks a whole group into {@code codes[to, to+32)}.
     *
     * @param words the packed words
     * @param base index of the group's first word
     * @param stride distance between the group's words
     * @param bits code width b (2, 3 or 4)
     * @param codes receives the 32 codes
     * @param to index of the first code in {@code codes}
     */
    public static void unpackGroup(int[] words, int base, int stride, int bits, int[] codes, int to) {
        for (int e = 0; e < GROUP; e++) {
            codes[to + e] = unpack(words, base, stride, bits, e);
        }
    }

    /**
     * {@link #orCode} on off-heap words; {@code base} and {@code stride} count 32-bit words.
     *
     * @param words the packed words
     * @param base word index of the group's first word
     * @param stride distance between the group's words, in words
     * @param bits code width b (0–6)
     * @param e element of the group, 0 … 31
     * @param code the code, below {@code 2^bits}
     */
    public static void orCode(MemorySegment words, long base, long stride, int bits, int e, int code) {
        orField(words, base, stride, bits * e, bits, code);
    }

    /**
     * {@link #unpack} on off-heap words.
     *
     * @param words the packed words
     * @param base word index of the group's first word
     * @param stride distance between the group's words, in words
     * @param bits code width b (0–6)
     * @param e element of the group, 0 … 31
     * @return the code
     */
    public static int unpack(MemorySegment words, long base, long stride, int bits, int e) {
        return field(words, base, stride, bits * e, bits);
    }

    /**
     * ORs a {@code width}-bit code into stream bits {@code [bit, bit + width)} of a bit stream whose word
     * {@code k} is {@code words[k]} (the rule of every packed stream: stream bit B is bit B mod 32 of word
     * ⌊B/32⌋). Width 0 stores nothing.
     *
     * @param words the stream's words (zeroed beforehand)
     * @param bit the code's first stream bit
     * @param width code width, 0–31
     * @param code the code, below {@code 2^width}
     */
    public static void orField(int[] words, int bit, int width, int code) {
        if (width == 0) {
            return;
        }
        int w = bit >>> 5;
        int shift = bit & 31;
        words[w] |= code << shift;
        if (shift + width > 32) {
            words[w + 1] |= code >>> (32 - shift);
        }
    }

    /**
     * ORs a {@code width}-bit code into stream bits {@code [bit, bit + width)} of a stream of off-heap words
     * {@code stride} words apart, the first at word index {@code base}.
     *
     * @param words the packed words
     * @param base word index of the stream's word 0
     * @param stride distance between consecutive stream words, in words
     * @param bit the code's first stream bit
     * @param width code width, 0–31
     * @param code the code, below {@code 2^width}
     */
    public static void orField(MemorySegment words, long base, long stride, int bit, int width, int code) {
        if (width == 0) {
            return;
        }
        int w = bit >>> 5;
        int shift = bit & 31;
        long at = (base + w * stride) * Integer.BYTES;
        words.set(WORD, at, words.get(WORD, at) | (code << shift));
        if (shift + width > 32) {
            long next = (base + (w + 1) * stride) * Integer.BYTES;
            words.set(WORD, next, words.get(WORD, next) | (code >>> (32 - shift)));
        }
    }

    /**
     * Reads the {@code width}-bit code at stream bits {@code [bit, bit + width)} of a stream of off-heap words
     * {@code stride} words apart, the first at word index {@code base}; 0 for width 0.
     *
     * @param words the packed words
     * @param base word index of the stream's word 0
     * @param stride distance between consecutive stream words, in words
     * @param bit the code's first stream bit
     * @param width code width, 0–31
     * @return the code
     */
    public static int field(MemorySegment words, long base, long stride, int bit, int width) {
        if (width == 0) {
            return 0;
        }
        int w = bit >>> 5;
        int shift = bit & 31;
        int v = words.get(WORD, (base + w * stride) * Integer.BYTES) >>> shift;
        if (shift + width > 32) {
            v |= words.get(WORD, (base + (w + 1) * stride) * Integer.BYTES) << (32 - shift);
        }
        return v & ((1 << width) - 1);
    }
}
