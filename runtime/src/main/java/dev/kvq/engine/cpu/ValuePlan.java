package dev.kvq.engine.cpu;

import dev.kvq.engine.CodeTables;
import dev.kvq.layout.ChannelPlan;
import dev.kvq.layout.PageLayout;
import dev.kvq.quant.Codebook;
import dev.kvq.quant.LayerCalibration;
import java.lang.foreign.MemorySegment;

/**
 * The value width groups of one layer as the CPU kernels read them (page format v2): per KV head, each
 * group's rows with its width fixed inside the loop ({@link PageKernels#packedValues}), the table of each
 * width, and the map from the groups' physical order back to logical channels. When every head's channels
 * are one group in logical order (one width), the kernels write the output directly.
 */
final class ValuePlan {
    private final PageLayout layout;
    private final ChannelPlan plan;
    private final int[][] tables;          // [width] float bits of its table, null when no channel has it
    private final boolean logicalOrder;

    ValuePlan(PageLayout layout, LayerCalibration calibration) {
        this.layout = layout;
        this.plan = layout.plan();
        int entries = CodeTables.entries(plan);
        int d = plan.kvHeads() * plan.headDim();
        Codebook[] byWidth = new Codebook[ChannelPlan.MAX_WIDTH + 1];
        for (int c = 0; c < d; c++) {
            Codebook book = calibration.valueCodebook(c);
            int w = plan.valueWidth(c);
            if (byWidth[w] == null) {
                byWidth[w] = book;
            } else if (!byWidth[w].equals(book)) {
                // the kernels read one table per width group; the calibrator fits one codebook per width in use
                throw new IllegalArgumentException("value channels of width " + w + " have different codebooks; the"
                        + " packed cache needs one value codebook per width");
            }
        }
        this.tables = new int[byWidth.length][];
        for (int w = 0; w < byWidth.length; w++) {
            if (byWidth[w] != null) {
                float[] t = CodeTables.values(byWidth[w], entries);
                tables[w] = new int[t.length];
                for (int x = 0; x < t.length; x++) {
                    tables[w][x] = Float.floatToRawIntBits(t[x]);
                }
            }
        }
        boolean logical = true;
        for (int h = 0; h < plan.kvHeads(); h++) {
            logical &= plan.valueGroups(h).size() == 1;
        }
        this.logicalOrder = logical;
    }

    /**
     * Whether the kernels' output is in logical channel order (every head one width group): then
     * {@link #addPage} writes {@code out} directly, else a physical-order scratch for {@link #addLogical}.
     */
    boolean logicalOrder() {
        return logicalOrder;
    }

    /**
     * Adds {@code Σ_r alpha[q][r]·c'(code)} of the page's first {@code tokens} slots to every channel of
     * KV head {@code h} for its {@code group} query heads, into {@code out[q·d + physical position]}.
     */
    void addPage(boolean simd, MemorySegment page, int tokens, float[] alpha, int h, int group,
                 float[] out) {
        int d = plan.headDim();
        int p = layout.pageTokens();
        long valueCodes = layout.offset(PageLayout.Part.VALUE_CODES);
        var groups = plan.valueGroups(h);
        for (int g = 0; g < groups.size(); g++) {
            ChannelPlan.ValueGroup vg = groups.get(g);
            int[] table = tables[vg.width()];
            if (vg.width() == 0) {
                // no codes: every token decodes to its zero-point plus its scale times the one centroid
                float v = Float.intBitsToFloat(table[0]);
                for (int q = h * group; q < (h + 1) * group; q++) {
                    float sum = 0f;
                    for (int r = 0; r < tokens; r++) {
                        sum += alpha[q * p + r];
                    }
                    for (int i = 0; i < vg.channels(); i++) {
                        out[q * d + vg.position() + i] += sum * v;
                    }
                }
                continue;
            }
            long codesAt = valueCodes + layout.valueWord(h, 0, g, 0, 0) * 4;
            if (vg.width() <= 4) {
                // the one-width kernels, stepping over the head's other groups between token groups
                PackedValueKernels.values(simd, vg.width(), page, codesAt, vg.channels(), plan.headValueWords(h), p,
                        tokens, table, alpha, h * group * p, group, out, h * group * d + vg.position(), d);
                continue;
            }
            PageKernels.packedValues(simd, vg.width(), page, codesAt, vg.channels(), plan.headValueWords(h), p, tokens,
                    table, alpha, h * group, group, out, d, vg.position());
        }
    }

    /**
     * {@code out[outAt + q·d + logical j] += physical[q·d + i]} for the {@code queryHeads} heads; {@code group}
     * per KV head.
     */
    void addLogical(float[] physical, float[] out, int outAt, int queryHeads, int group) {
        int d = plan.headDim();
        for (int q = 0; q < queryHeads; q++) {
            int h = q / group;
            for (int i = 0; i < d; i++) {
                out[outAt + q * d + plan.valueChannelAt(h, i)] += physical[q * d + i];
            }
        }
    }

    /** The float bits of the value table of width {@code w} ({@code CodeTables.values}), null when no channel has it. */
    int[] table(int w) {
        return tables[w];
    }
}
