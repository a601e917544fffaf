package dev.kvq.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class BitPackingTest {

    private static int[] pack(int bits, int[] codes) {
        int[] words = new int[bits];
        BitPacking.packGroup(codes, 0, bits, words, 0, 1);
        return words;
    }

    private static int[] codes(java.util.function.IntUnaryOperator f) {
        int[] c = new int[32];
        for (int e = 0; e < 32; e++) {
            c[e] = f.applyAsInt(e);
        }
        return c;
    }

    // Expected words worked out from the bit-stream definition of spec §8.1, not from the code.
    @Test
    void fourBitWordsMatchHandComputedValues() {
        assertArrayEquals(new int[] {0x76543210, 0xfedcba98, 0x76543210, 0xfedcba98}, pack(4, codes(e -> e % 16)));
    }

    @Test
    void twoBitWordsMatchHandComputedValues() {
        assertArrayEquals(new int[] {0xe4e4e4e4, 0xe4e4e4e4}, pack(2, codes(e -> e % 4)));
    }

    @Test
    void threeBitWordsMatchHandComputedValues() {
        assertArrayEquals(new int[] {0x88fac688, 0xc688fac6, 0xfac688fa}, pack(3, codes(e -> e % 8)));
        assertArrayEquals(new int[] {0x53977053, 0x70539770, 0x97705397}, pack(3, codes(e -> (e * 7 + 3) % 8)));
    }

    @Test
    void threeBitCodesTenAndTwentyOneStraddleWords() {
        // code 10 = 0b111: word 0 bits 30-31 and word 1 bit 0; code 21 = 0b101: word 1 bit 31, word 2 bits 0-1
        int[] words = pack(3, codes(e -> e == 10 ? 7 : e == 21 ? 5 : 0));
        assertArrayEquals(new int[] {0xc0000000, 0x80000001, 0x00000002}, words);
        assertEquals(7, BitPacking.unpack(words, 0, 1, 3, 10));
        assertEquals(5, BitPacking.unpack(words, 0, 1, 3, 21));
        assertEquals(0, BitPacking.wordOf(3, 10));
        assertEquals(30, BitPacking.shiftOf(3, 10));
        assertEquals(1, BitPacking.wordOf(3, 21));
        assertEquals(31, BitPacking.shiftOf(3, 21));
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 3, 4})
    void packThenUnpackIsIdentityAtRandomOffsetsAndStrides(int bits) {
        SplittableRandom random = new SplittableRandom(42 + bits);
        for (int trial = 0; trial < 500; trial++) {
            int stride = 1 + random.nextInt(40);
            int base = random.nextInt(100);
            int[] words = new int[base + bits * stride + 7];
            int[] codes = new int[32 + 5];
            int from = random.nextInt(5);
            for (int i = 0; i < codes.length; i++) {
                codes[i] = random.nextInt(1 << bits);
            }
            BitPacking.packGroup(codes, from, bits, words, base, stride);
            int[] back = new int[32];
            BitPacking.unpackGroup(words, base, stride, bits, back, 0);
            for (int e = 0; e < 32; e++) {
                assertEquals(codes[from + e], back[e], "bits " + bits + " element " + e);
            }
            // nothing outside the group's words was touched
            for (int i = 0; i < words.length; i++) {
                boolean ours = i >= base && (i - base) % stride == 0 && (i - base) / stride < bits;
                if (!ours) {
                    assertEquals(0, words[i], "word " + i + " outside the group changed");
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 3, 4})
    void offHeapPackingWritesTheSameWords(int bits) {
        SplittableRandom random = new SplittableRandom(7 * bits);
        int stride = 5;
        int[] codes = new int[32];
        for (int e = 0; e < 32; e++) {
            codes[e] = random.nextInt(1 << bits);
        }
        int[] heap = new int[bits * stride + 3];
        BitPacking.packGroup(codes, 0, bits, heap, 3, stride);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate((long) heap.length * Integer.BYTES, 16);
            for (int e = 0; e < 32; e++) {
                BitPacking.orCode(seg, 3, stride, bits, e, codes[e]);
            }
            assertArrayEquals(heap, seg.toArray(ValueLayout.JAVA_INT));
            for (int e = 0; e < 32; e++) {
                assertEquals(codes[e], BitPacking.unpack(seg, 3, stride, bits, e));
            }
        }
    }

    @Test
    void rejectsCodesThatDoNotFitAndBadBitWidths() {
        int[] words = new int[4];
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> BitPacking.packGroup(codes(i -> i == 3 ? 8 : 0), 0, 3, words, 0, 1));
        assertEquals("code 8 at element 3 does not fit in 3 bits", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> BitPacking.packGroup(new int[32], 0, 5, new int[5], 0, 1));
    }
}
