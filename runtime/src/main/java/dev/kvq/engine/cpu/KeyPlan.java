package dev.kvq.engine.cpu;

import dev.kvq.layout.ChannelPlan;
import java.util.Arrays;
import java.util.List;

/**
 * Where every RoPE pair of one KV head sits in a page's key stream (page format v2, {@link ChannelPlan}),
 * precomputed once per layer: each pair is one field of {@code 2w} bits (first channel's code low, the
 * partner's above) at a bit offset of the token's stream. Pairs are grouped into blocks whose fields lie in
 * at most four consecutive stream words, so that the kernels load a block's word rows once; word rows are
 * in units of {@code pageTokens} words, as in {@code PageLayout} (keyCodes). The lookup tables have
 * {@code entries} floats per channel ({@code CodeTables}).
 */
final class KeyPlan {
    /** Word rows one block may span. */
    static final int BLOCK_ROWS = 4;

    final int pairs;
    final int[] first;      // [pairs] in-head channel whose code is the field's low bits
    final int[] second;     // [pairs] its RoPE partner
    final int[] frequency;  // [pairs] RoPE frequency index
    final int[] width;      // [pairs] bits of each code, 0–6
    final int[] row;        // [pairs] stream word of the field's first bit
    final int[] word;       // [pairs] that word relative to the block's first row, 0 … 3
    final int[] shift;      // [pairs] the field's first bit within that word
    final boolean[] straddle;   // [pairs] the field continues in the next word
    final int headDim;
    final int channelBase;  // h·headDim
    final int entries;      // table entries per channel
    final int blocks;
    final int[] blockFrom;  // [blocks + 1] pair range of each block
    final int[] blockRow;   // [blocks] the block's first word row
    final int[] blockRows;  // [blocks] word rows the block loads, 0 … 4 (0: only 0-bit pairs)

    KeyPlan(int kvHead, ChannelPlan plan, int entries) {
        this.headDim = plan.headDim();
        this.channelBase = kvHead * headDim;
        this.entries = entries;
        List<ChannelPlan.KeyPair> list = plan.keyPairs(kvHead);
        this.pairs = list.size();
        first = new int[pairs];
        second = new int[pairs];
        frequency = new int[pairs];
        width = new int[pairs];
        row = new int[pairs];
        word = new int[pairs];
        shift = new int[pairs];
        straddle = new boolean[pairs];
        int[] from = new int[pairs + 1];
        int[] rows0 = new int[pairs];
        int[] rowCounts = new int[pairs];
        int n = 0;
        for (int k = 0; k < pairs; k++) {
            ChannelPlan.KeyPair pair = list.get(k);
            first[k] = pair.first();
            second[k] = pair.partner();
            frequency[k] = pair.frequency();
            width[k] = pair.width();
            if (pair.width() == 0) {
                // no bits: its table is one value repeated, so any code reads it; it rides along any block
                if (n == 0) {
                    from[n] = k;
                    n++;
                }
                continue;
            }
            int start = pair.bit() >>> 5;
            int end = (pair.bit() + 2 * pair.width() - 1) >>> 5;
            boolean fits = n > 0 && (rowCounts[n - 1] == 0 || (start >= rows0[n - 1] && end - rows0[n - 1] < BLOCK_ROWS));
            if (!fits) {
                from[n] = k;
                n++;
            }
            if (rowCounts[n - 1] == 0) {
                rows0[n - 1] = start;
            }
            rowCounts[n - 1] = Math.max(rowCounts[n - 1], end - rows0[n - 1] + 1);
            row[k] = start;
            word[k] = start - rows0[n - 1];
            shift[k] = pair.bit() & 31;
            straddle[k] = end != start;
        }
        from[n] = pairs;
        blocks = n;
        blockFrom = Arrays.copyOf(from, n + 1);
        blockRow = Arrays.copyOf(rows0, n);
        blockRows = Arrays.copyOf(rowCounts, n);
    }
}
