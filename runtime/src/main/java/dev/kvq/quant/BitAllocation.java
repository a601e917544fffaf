package dev.kvq.quant;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Fisher-guided bit allocation: whole widths 0–{@value Checks#MAX_ALLOCATED_BITS} per unit (a channel, a
 * RoPE pair, a head or a whole row) that minimise the summed error {@code Σ err_u(w_u)} under a budget of
 * code bits per token.
 *
 * <p>A row is one layer's keys or values. Greedy marginal allocation: the unit whose next widening lowers
 * the error most per bit spent is widened (looking several widths ahead, so that a unit whose first bit
 * buys little but whose second buys much is not starved); its order gives an error curve {@code E(T)}
 * over the code bits {@code T}. An aligned row's code bits per token must fill whole words (the packed
 * format stores each token's codes of that tensor as one bitstream of 32-bit words): a dynamic programme
 * over the aligned rows' curves, in whole words, splits their share of the budget; the rows without that
 * constraint are allocated together by one greedy, and the split between the two groups is the one of
 * least total error.
 */
final class BitAllocation {
    private BitAllocation() {}

    /**
     * One row to allocate.
     *
     * @param error {@code [channels][MAX+1]} the error of each channel at each width
     * @param units the channel sets that share one width (each channel in exactly one)
     * @param aligned whether the row's code bits per token must be a multiple of the word
     */
    record Row(double[][] error, int[][] units, boolean aligned) {}

    /** The greedy path of one row: after step i the row has {@code bits[i]} code bits and error {@code error[i]}. */
    private record Path(int[] unit, int[] width, int[] bits, double[] error) {}

    /**
     * Allocates the widths of every row.
     *
     * @param rows the rows
     * @param budgetBits the code bits per token of all rows together
     * @param word the bits an aligned row's code bits per token are a multiple of
     * @return {@code [row][channel]} widths
     */
    static int[][] allocate(List<Row> rows, long budgetBits, int word) {
        if (word < 1) {
            throw new IllegalArgumentException("word must be >= 1 bit, got " + word);
        }
        List<Row> aligned = new ArrayList<>();
        List<Integer> alignedIndex = new ArrayList<>();
        List<Integer> freeIndex = new ArrayList<>();
        for (int r = 0; r < rows.size(); r++) {
            if (rows.get(r).aligned()) {
                aligned.add(rows.get(r));
                alignedIndex.add(r);
            } else {
                freeIndex.add(r);
            }
        }
        Row free = merge(rows, freeIndex);
        Path freePath = greedy(free);
        int words = (int) Math.min(Integer.MAX_VALUE - 1, budgetBits / word);
        int n = aligned.size();
        List<Path> paths = new ArrayList<>();
        for (Row r : aligned) {
            paths.add(greedy(r));
        }
        // best[r][k]: least error of aligned rows [0, r) with at most k words; pick[r][k]: words given to row r-1
        double[][] best = new double[n + 1][words + 1];
        int[][] pick = new int[n + 1][words + 1];
        for (int r = 1; r <= n; r++) {
            Path p = paths.get(r - 1);
            int last = p.bits()[p.bits().length - 1];
            int rowMax = (last + word - 1) / word;
            double[] curve = curve(p, word, rowMax);
            for (int k = 0; k <= words; k++) {
                double b = Double.POSITIVE_INFINITY;
                int arg = 0;
                for (int t = 0; t <= Math.min(k, rowMax); t++) {
                    double e = best[r - 1][k - t] + curve[t];
                    if (e < b) {
                        b = e;
                        arg = t;
                    }
                }
                best[r][k] = b;
                pick[r][k] = arg;
            }
        }
        // the free rows take what the aligned ones leave
        int alignedWords = 0;
        double least = Double.POSITIVE_INFINITY;
        for (int k = 0; k <= words; k++) {
            double e = best[n][k] + leastWithin(freePath, budgetBits - (long) k * word);
            if (e < least) {
                least = e;
                alignedWords = k;
            }
        }
        int[][] widths = new int[rows.size()][];
        int k = alignedWords;
        for (int r = n; r >= 1; r--) {
            int t = pick[r][k];
            widths[alignedIndex.get(r - 1)] = replay(aligned.get(r - 1), paths.get(r - 1), (long) t * word);
            k -= t;
        }
        int[] freeWidths = replay(free, freePath, budgetBits - (long) alignedWords * word);
        int offset = 0;
        for (int r : freeIndex) {
            int d = rows.get(r).error().length;
            widths[r] = java.util.Arrays.copyOfRange(freeWidths, offset, offset + d);
            offset += d;
        }
        return widths;
    }

    /** The rows {@code which} as one row (channels and units renumbered one row after the other). */
    private static Row merge(List<Row> rows, List<Integer> which) {
        List<double[]> error = new ArrayList<>();
        List<int[]> units = new ArrayList<>();
        for (int r : which) {
            Row row = rows.get(r);
            int offset = error.size();
            error.addAll(List.of(row.error()));
            for (int[] u : row.units()) {
                int[] shifted = new int[u.length];
                for (int i = 0; i < u.length; i++) {
                    shifted[i] = u[i] + offset;
                }
                units.add(shifted);
            }
        }
        return new Row(error.toArray(double[][]::new), units.toArray(int[][]::new), false);
    }

    /** The least error of the path within {@code bits} code bits (+∞ for a negative budget). */
    private static double leastWithin(Path p, long bits) {
        double least = Double.POSITIVE_INFINITY;
        for (int i = 0; i < p.bits().length && p.bits()[i] <= bits; i++) {
            least = Math.min(least, p.error()[i]);
        }
        return least;
    }

    /** {@code curve[t]}: the least error of the path with at most {@code t·chunk} code bits. */
    private static double[] curve(Path p, int chunk, int max) {
        double[] c = new double[max + 1];
        int i = 0;
        double least = Double.POSITIVE_INFINITY;
        for (int t = 0; t <= max; t++) {
            while (i < p.bits().length && p.bits()[i] <= (long) t * chunk) {
                least = Math.min(least, p.error()[i]);
                i++;
            }
            c[t] = least;
        }
        return c;
    }

    /** The widths at the step of least error within {@code bits} code bits. */
    private static int[] replay(Row row, Path p, long bits) {
        int at = 0;
        for (int i = 0; i < p.bits().length && p.bits()[i] <= bits; i++) {
            if (p.error()[i] < p.error()[at]) {
                at = i;
            }
        }
        int[] w = new int[row.error().length];
        for (int i = 1; i <= at; i++) {
            for (int c : row.units()[p.unit()[i]]) {
                w[c] = p.width()[i];
            }
        }
        return w;
    }

    /** Widens one unit at a time, the best error reduction per bit first, until every unit is at the maximum. */
    private static Path greedy(Row row) {
        int max = Checks.MAX_ALLOCATED_BITS;
        int units = row.units().length;
        double[][] unitError = new double[units][max + 1];
        for (int u = 0; u < units; u++) {
            for (int c : row.units()[u]) {
                for (int w = 0; w <= max; w++) {
                    unitError[u][w] += row.error()[c][w];
                }
            }
        }
        int[] width = new int[units];
        int steps = units * max + 1;
        int[] stepUnit = new int[steps];
        int[] stepWidth = new int[steps];
        int[] stepBits = new int[steps];
        double[] stepError = new double[steps];
        double total = 0;
        for (int u = 0; u < units; u++) {
            total += unitError[u][0];
        }
        stepUnit[0] = -1;
        stepError[0] = total;
        int s = 1;
        int bits = 0;
        while (true) {
            int bestUnit = -1;
            int bestTo = 0;
            double bestRate = Double.NEGATIVE_INFINITY;
            for (int u = 0; u < units; u++) {
                int cost = row.units()[u].length;
                for (int to = width[u] + 1; to <= max; to++) {
                    double rate = (unitError[u][width[u]] - unitError[u][to]) / ((double) cost * (to - width[u]));
                    if (rate > bestRate) {
                        bestRate = rate;
                        bestUnit = u;
                        bestTo = to;
                    }
                }
            }
            if (bestUnit < 0) {
                break;
            }
            // take the look-ahead jump one width at a time, so every intermediate total is on the curve
            for (int to = width[bestUnit] + 1; to <= bestTo; to++) {
                total += unitError[bestUnit][to] - unitError[bestUnit][to - 1];
                bits += row.units()[bestUnit].length;
                stepUnit[s] = bestUnit;
                stepWidth[s] = to;
                stepBits[s] = bits;
                stepError[s] = total;
                s++;
            }
            width[bestUnit] = bestTo;
        }
        return new Path(Arrays.copyOf(stepUnit, s), Arrays.copyOf(stepWidth, s), Arrays.copyOf(stepBits, s),
                Arrays.copyOf(stepError, s));
    }
}
