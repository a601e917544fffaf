package dev.kvq.engine.cpu;

import dev.kvq.layout.ChannelPlan;
import java.util.List;

/**
 * Where every RoPE pair of a layer's keys sits in a page's key words, in the order the kernels visit the
 * pairs (the layer's {@link ChannelPlan} order: per head, pairs grouped by width), precomputed once per
 * layer. In page format v2 a pair's two codes are adjacent in the token's bit stream for both pairings:
 * one {@code 2w}-bit field whose low {@code w} bits are the code of the pair's first channel, so one shift
 * (plus an OR when the field straddles two words) yields the pair's table index {@code a + 2^w·b'}.
 * Rotate-half differs from interleaved only in which in-head channels and which frequency a pair is.
 *
 * <p>Each head's pairs form runs of one width ({@link #runFrom}, {@link #runTo}, {@link #runWidth}; a
 * one-width layer has one run per head), which the kernels serve with the width fixed. Index
 * {@code h·pairs + k} is pair k of KV head h. Word rows are in units of {@code pageTokens} words from the
 * start of keyCodes (tokens contiguous, {@code PageLayout}).
 */
final class KeyPairs {
    final int pairs;          // per KV head: d/2
    final int entries;        // key table entries per channel (CodeTables.entries)
    final int[] width;        // [Hkv·pairs] code width of the pair's two channels, 0–6
    final int[] row;          // [Hkv·pairs] word row of the field's low bit (0 for width 0: nothing to read)
    final int[] shift;        // [Hkv·pairs] bit of the field's low bit in that word
    final boolean[] straddle; // [Hkv·pairs] the 2w-bit field continues in the next row
    final int[] first;        // [Hkv·pairs] in-head channel of the code in the low bits
    final int[] second;       // [Hkv·pairs] in-head channel of its RoPE partner
    final int[] frequency;    // [Hkv·pairs] RoPE frequency index (row of the page's cos/sin tables)
    final int[] headRuns;     // [Hkv + 1] head h's runs are [headRuns[h], headRuns[h + 1])
    final int[] runFrom;      // [runs] first pair (global index) of the run
    final int[] runTo;        // [runs] end (exclusive)
    final int[] runWidth;     // [runs] the run's code width

    KeyPairs(ChannelPlan plan, int entries) {
        int kvHeads = plan.kvHeads();
        this.pairs = plan.headDim() / 2;
        this.entries = entries;
        int n = kvHeads * pairs;
        width = new int[n];
        row = new int[n];
        shift = new int[n];
        straddle = new boolean[n];
        first = new int[n];
        second = new int[n];
        frequency = new int[n];
        headRuns = new int[kvHeads + 1];
        int[] from = new int[n];
        int[] to = new int[n];
        int[] w = new int[n];
        int runs = 0;
        for (int h = 0; h < kvHeads; h++) {
            headRuns[h] = runs;
            List<ChannelPlan.KeyPair> list = plan.keyPairs(h);
            for (int k = 0; k < pairs; k++) {
                ChannelPlan.KeyPair pair = list.get(k);
                int i = h * pairs + k;
                int b = pair.width();
                width[i] = b;
                if (b > 0) {
                    row[i] = pair.bit() >>> 5;
                    shift[i] = pair.bit() & 31;
                    straddle[i] = shift[i] + 2 * b > 32;
                }
                first[i] = pair.first();
                second[i] = pair.partner();
                frequency[i] = pair.frequency();
                if (k == 0 || width[i - 1] != b) {
                    from[runs] = i;
                    w[runs] = b;
                    runs++;
                }
                to[runs - 1] = i + 1;
            }
        }
        headRuns[kvHeads] = runs;
        runFrom = java.util.Arrays.copyOf(from, runs);
        runTo = java.util.Arrays.copyOf(to, runs);
        runWidth = java.util.Arrays.copyOf(w, runs);
    }
}
