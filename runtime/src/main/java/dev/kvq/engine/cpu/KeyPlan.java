package dev.kvq.engine.cpu;

import dev.kvq.geometry.RopePairing;
import dev.kvq.quant.BitPacking;

/**
 * Where every RoPE channel pair of one KV head sits in a page's packed key words, precomputed once
 * per cache: for pair k, channels {@code j} (first of the pair) and {@code p} (its partner), their word
 * rows, bit shifts and whether the code straddles into the next word (b = 3, elements 10 and 21).
 * Word rows are in units of {@code pageTokens} words, as in {@code PageLayout} (keyCodes).
 */
final class KeyPlan {
    final int pairs;
    final int[] first;      // [pairs] in-head channel j
    final int[] second;     // [pairs] in-head partner p
    final int[] frequency;  // [pairs] RoPE frequency index
    final int[] rowFirst;   // [pairs] word row of j: (c/32)·b + word
    final int[] shiftFirst;
    final boolean[] straddleFirst;
    final int[] rowSecond;
    final int[] shiftSecond;
    final boolean[] straddleSecond;
    final int headDim;
    final int bits;
    final int channelBase;  // h·headDim
    // Pairs ordered by their channel groups: every run of pairs whose first channels share a 32-channel
    // group, and whose partners share one, forms a block whose word rows are loaded once.
    final int blocks;
    final int[] blockFrom;      // [blocks + 1] pair range of each block
    final int[] blockRowFirst;  // [blocks] first word row of the group of the first channels: g·b
    final int[] blockRowSecond; // [blocks] same for the partners
    final int[] wordFirst;      // [pairs] word (0 … b−1) inside the group
    final int[] wordSecond;

    public KeyPlan(int kvHead, int headDim, int bits, RopePairing pairing) {
        this.headDim = headDim;
        this.bits = bits;
        this.channelBase = kvHead * headDim;
        this.pairs = headDim / 2;
        first = new int[pairs];
        second = new int[pairs];
        frequency = new int[pairs];
        rowFirst = new int[pairs];
        shiftFirst = new int[pairs];
        straddleFirst = new boolean[pairs];
        rowSecond = new int[pairs];
        shiftSecond = new int[pairs];
        straddleSecond = new boolean[pairs];
        int k = 0;
        for (int j = 0; j < headDim; j++) {
            if (!pairing.isFirstOfPair(j, headDim)) {
                continue;
            }
            int p = pairing.partner(j, headDim);
            first[k] = j;
            second[k] = p;
            frequency[k] = pairing.frequencyIndex(j, headDim);
            int cj = channelBase + j;
            int cp = channelBase + p;
            rowFirst[k] = (cj >>> 5) * bits + BitPacking.wordOf(bits, cj & 31);
            shiftFirst[k] = BitPacking.shiftOf(bits, cj & 31);
            straddleFirst[k] = shiftFirst[k] + bits > 32;
            rowSecond[k] = (cp >>> 5) * bits + BitPacking.wordOf(bits, cp & 31);
            shiftSecond[k] = BitPacking.shiftOf(bits, cp & 31);
            straddleSecond[k] = shiftSecond[k] + bits > 32;
            k++;
        }
        wordFirst = new int[pairs];
        wordSecond = new int[pairs];
        int[] from = new int[pairs + 1];
        int[] rowsFirst = new int[pairs];
        int[] rowsSecond = new int[pairs];
        int n = 0;
        for (int i = 0; i < pairs; i++) {
            int gj = (channelBase + first[i]) >>> 5;
            int gp = (channelBase + second[i]) >>> 5;
            wordFirst[i] = rowFirst[i] - gj * bits;
            wordSecond[i] = rowSecond[i] - gp * bits;
            if (n == 0 || rowsFirst[n - 1] != gj * bits || rowsSecond[n - 1] != gp * bits) {
                from[n] = i;
                rowsFirst[n] = gj * bits;
                rowsSecond[n] = gp * bits;
                n++;
            }
        }
        from[n] = pairs;
        blocks = n;
        blockFrom = java.util.Arrays.copyOf(from, n + 1);
        blockRowFirst = java.util.Arrays.copyOf(rowsFirst, n);
        blockRowSecond = java.util.Arrays.copyOf(rowsSecond, n);
    }
}
