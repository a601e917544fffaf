package dev.kvq.engine;

import dev.kvq.quant.Codebook;
import dev.kvq.quant.KeyQuantizer;

/**
 * The dequantization tables both engines' kernels look codes up in, indexed by a code's low 4 bits so
 * that a lookup can ignore the bits above the code: the key table {@code [D][16]} holds
 * {@code z_c + s_c·c'_K[x mod 2^b]}, the value table {@code [16]} holds {@code c'_V[x mod 2^b]}.
 */
public final class CodeTables {
    private CodeTables() {}

    /** Entries per channel of the key table and of the value table. */
    public static final int ENTRIES = 16;

    /**
     * The key table of one layer.
     *
     * @param keys     the layer's key quantizer
     * @param bits     code width
     * @param channels D
     * @return {@code [D][16]} dequantized keys, pre-RoPE
     */
    public static float[] keys(KeyQuantizer keys, int bits, int channels) {
        int mask = (1 << bits) - 1;
        float[] t = new float[channels * ENTRIES];
        for (int c = 0; c < channels; c++) {
            for (int x = 0; x < ENTRIES; x++) {
                t[c * ENTRIES + x] = keys.dequantize(c, x & mask);
            }
        }
        return t;
    }

    /**
     * The value table of one layer.
     *
     * @param values the layer's value codebook
     * @param bits   code width
     * @return {@code [16]} codebook entries
     */
    public static float[] values(Codebook values, int bits) {
        int mask = (1 << bits) - 1;
        float[] t = new float[ENTRIES];
        for (int x = 0; x < ENTRIES; x++) {
            t[x] = values.dequant(x & mask);
        }
        return t;
    }
}
