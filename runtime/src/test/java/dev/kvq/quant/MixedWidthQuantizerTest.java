package dev.kvq.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Quantizers whose channels have codebooks of their own: per-channel key codebooks and 0–6-bit widths. */
class MixedWidthQuantizerTest {
    private static Codebook levels(int bits, double spread) {
        float[] c = new float[1 << bits];
        for (int i = 0; i < c.length; i++) {
            c[i] = c.length == 1 ? 0.1f : (float) (spread * (-1 + 2.0 * i / (c.length - 1)));
        }
        return Codebook.nonUniform(c);
    }

    @Test
    void codebooksOfZeroToSixBitsSearchAndDecode() {
        for (int bits = 0; bits <= Checks.MAX_ALLOCATED_BITS; bits++) {
            Codebook c = levels(bits, 0.9);
            assertEquals(bits, c.bits());
            assertEquals(1 << bits, c.size());
            int[] codes = new int[3];
            c.nearestAll(new float[] {-5f, 0.1f, 5f}, 0, 3, codes, 0);
            assertEquals(0, codes[0]);
            assertEquals((1 << bits) - 1, codes[2]);
        }
        assertThrows(IllegalArgumentException.class, () -> Codebook.nonUniform(new float[128]));
        assertThrows(IllegalArgumentException.class, () -> Codebook.nonUniform(new float[3]));
    }

    @Test
    void keyChannelsUseTheirOwnCodebooks() {
        int d = 8;
        float[] lo = new float[d];
        float[] hi = new float[d];
        Codebook[] books = new Codebook[d];
        for (int c = 0; c < d; c++) {
            lo[c] = -1 - c;
            hi[c] = 1 + c;
            books[c] = levels(c % 7, 0.5 + 0.05 * c);
        }
        KeyQuantizer kq = new KeyQuantizer(lo, hi, books);
        assertFalse(kq.sharedCodebook());
        assertThrows(IllegalStateException.class, kq::codebook);
        SplittableRandom r = new SplittableRandom(3);
        QuantizedToken tok = new QuantizedToken(d);
        float[] x = new float[d];
        for (int trial = 0; trial < 100; trial++) {
            for (int c = 0; c < d; c++) {
                x[c] = (float) (r.nextGaussian() * (1 + c));
            }
            kq.quantize(x, 0, tok, 0);
            for (int c = 0; c < d; c++) {
                assertEquals(books[c].nearest(kq.normalize(c, x[c])), tok.codes[c], "channel " + c);
                assertEquals(c % 7, kq.width(c));
            }
        }
    }

    @Test
    void valueOutliersKeepTheirChannelsMiddleCodeAndZeroBitChannelsDecodeToOneLevel() {
        int d = 32;
        Codebook[] books = new Codebook[d];
        for (int c = 0; c < d; c++) {
            books[c] = levels(c % 4 == 0 ? 0 : c % 4 + 1, 0.8);
        }
        QuantSpec spec = QuantSpec.parse("nuqa3-1%");
        ValueQuantizer vq = new ValueQuantizer(books, spec, d);
        assertThrows(IllegalStateException.class, vq::codebook);
        SplittableRandom r = new SplittableRandom(9);
        float[] v = new float[d];
        QuantizedToken tok = new QuantizedToken(d);
        for (int trial = 0; trial < 50; trial++) {
            for (int c = 0; c < d; c++) {
                v[c] = (float) r.nextGaussian();
            }
            vq.quantize(v, 0, tok);
            assertEquals(spec.valueOutliersPerToken(d), tok.outlierCount);
            float[] back = new float[d];
            for (int c = 0; c < d; c++) {
                back[c] = vq.dequantize(tok, c, tok.codes[c]);
                if (books[c].bits() == 0) {
                    assertEquals(0, tok.codes[c]);
                    assertEquals(tok.zero + tok.scale * 0.1f, back[c], 0f);
                }
            }
            for (int i = 0; i < tok.outlierCount; i++) {
                int c = tok.outlierChannels[i];
                int bits = books[c].bits();
                assertEquals(bits == 0 ? 0 : (1 << (bits - 1)) - 1, tok.codes[c], "middle code of channel " + c);
                assertEquals(v[c], back[c] + tok.residual(i), Math.abs(v[c]) * 1e-3f + 1e-3f, "outlier " + c);
            }
        }
    }

    @Test
    void aSharedCodebookGivesTheSameCodesThroughEitherConstructor() {
        Codebook shared = levels(3, 0.9);
        int d = 16;
        float[] lo = new float[d];
        float[] hi = new float[d];
        Codebook[] books = new Codebook[d];
        for (int c = 0; c < d; c++) {
            lo[c] = -2;
            hi[c] = 2 + c;
            books[c] = shared;
        }
        KeyQuantizer one = new KeyQuantizer(lo, hi, shared);
        KeyQuantizer many = new KeyQuantizer(lo, hi, books);
        assertEquals(one, many);
        QuantizedToken a = new QuantizedToken(d);
        QuantizedToken b = new QuantizedToken(d);
        float[] x = new float[d];
        for (int c = 0; c < d; c++) {
            x[c] = c - 3.5f;
        }
        one.quantize(x, 0, a, 1);
        many.quantize(x, 0, b, 1);
        assertArrayEquals(a.codes, b.codes);
        assertEquals(a.outlierCount, b.outlierCount);
    }
}
