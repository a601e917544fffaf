package dev.kvq.engine;

import dev.kvq.layout.ChannelPlan;
import dev.kvq.quant.Codebook;
import dev.kvq.quant.KeyQuantizer;

/**
 * The dequantization tables both engines' kernels look codes up in. Each channel (keys) or width (values)
 * has {@code E} entries, E = 16, or 64 in a layer with codes wider than 4 bits, and entry {@code x} holds
 * the value of code {@code x mod 2^w}: a lookup may ignore the bits above the code (a 16-entry lane
 * permute takes the low 4 bits), and a 0-bit channel has its one value everywhere. The key table
 * {@code [D][E]} holds {@code z_c + s_c·c'_c[x mod 2^w_c]}, a value table {@code [E]} holds
 * {@code c'_V[x mod 2^w]}.
 */
public final class CodeTables {
    private CodeTables() {}

    /** Entries per channel of a layer whose codes are at most 4 bits wide (every v1 table). */
    public static final int ENTRIES = 16;

    /**
     * Entries per channel of the tables of a layer.
     *
     * @param plan the layer's channel plan
     * @return 16, or 64 when a code is wider than 4 bits
     */
    public static int entries(ChannelPlan plan) {
        return plan.maxWidth() > 4 ? 1 << ChannelPlan.MAX_WIDTH : ENTRIES;
    }

    /**
     * The key table of one layer.
     *
     * @param keys     the layer's key quantizer (a channel's width is its codebook's)
     * @param entries  entries per channel, {@link #entries}
     * @return {@code [D][entries]} dequantized keys, pre-RoPE
     */
    public static float[] keys(KeyQuantizer keys, int entries) {
        int channels = keys.channels();
        float[] t = new float[channels * entries];
        for (int c = 0; c < channels; c++) {
            int mask = (1 << keys.width(c)) - 1;
            for (int x = 0; x < entries; x++) {
                t[c * entries + x] = keys.dequantize(c, x & mask);
            }
        }
        return t;
    }

    /**
     * A value table: one codebook's entries, repeated.
     *
     * @param values  a value codebook
     * @param entries entries of the table, {@link #entries}
     * @return {@code [entries]} codebook entries
     */
    public static float[] values(Codebook values, int entries) {
        int mask = (1 << values.bits()) - 1;
        float[] t = new float[entries];
        for (int x = 0; x < entries; x++) {
            t[x] = values.dequant(x & mask);
        }
        return t;
    }
}
