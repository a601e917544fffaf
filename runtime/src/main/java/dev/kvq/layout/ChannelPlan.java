package dev.kvq.layout;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.RopePairing;
import dev.kvq.quant.LayerCalibration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Where every channel of one layer sits in a packed page of format v2 ({@link PageLayout}): the code width
 * of each key and value channel (0–6), the physical order of both tensors, the bit offsets of the key
 * stream and the width groups of the values. The order is {@link LayerCalibration#keyPackedOrder(int[], int,
 * RopePairing)} and {@link LayerCalibration#valuePackedOrder(int[], int)} — head-major, widest first, key RoPE
 * pairs adjacent — the same order the calibration file stores. Static per layer: built once from the
 * calibration, or from the spec's width when every channel has it.
 *
 * <p>Keys: one little-endian bit stream per token; physical channel {@code i} (logical {@code order[i]})
 * occupies stream bits {@code [o_i, o_i + w_i)}, {@code o_i = Σ_{i'<i} w_{i'}}. A RoPE pair is one field of
 * {@code 2w} bits: the first channel's code in the low {@code w} bits, the partner's above.
 *
 * <p>Values: per KV head, the channels of one width form a group of {@code n} consecutive physical
 * positions; per 32-token group a channel of width {@code w} has {@code w} words, and a group's words
 * are rows {@code [w][n]} (the universal rule along tokens, channels contiguous). A head has
 * {@code W_h = Σ w_j} words per token group.
 */
public final class ChannelPlan {
    /**
     * One RoPE pair of a KV head in the key stream.
     *
     * @param first     the in-head channel whose code sits in the low bits of the field (first of the pair)
     * @param partner   its RoPE partner, in-head
     * @param frequency the pair's RoPE frequency index
     * @param width     bits of each of the two codes
     * @param bit       the field's first stream bit (from the start of the token's stream)
     */
    public record KeyPair(int first, int partner, int frequency, int width, int bit) {}

    /**
     * The value channels of one width in one KV head.
     *
     * @param width      bits per code, 0–6
     * @param channels   channels in the group, {@code n}
     * @param position   in-head physical position of the group's first channel
     * @param wordOffset words from the start of the head's token group to the group's row 0
     */
    public record ValueGroup(int width, int channels, int position, int wordOffset) {}

    private final int kvHeads;
    private final int headDim;
    private final int[] keyWidth;     // [D] by logical channel
    private final int[] keyOrder;     // [D] physical position → logical channel
    private final int[] keyBit;       // [D] logical channel → first stream bit
    private final int keyBits;
    private final KeyPair[][] pairs;  // [Hkv][d/2] in physical order
    private final int[] valueWidth;   // [D]
    private final int[] valueOrder;   // [D] physical position → logical channel (head-major)
    private final ValueGroup[][] groups;   // [Hkv][groups] widest first
    private final int[] valueGroup;   // [D] logical channel → group index within its head
    private final int[] valuePosition;     // [D] logical channel → position within its group
    private final int[] headWords;    // [Hkv] W_h
    private final int[] wordsBefore;  // [Hkv] Σ_{h'<h} W_{h'}
    private final int maxWidth;

    private ChannelPlan(AttentionShape shape, int[] keyWidth, int[] valueWidth) {
        this.kvHeads = shape.kvHeads();
        this.headDim = shape.headDim();
        int d = shape.kvChannels();
        if (keyWidth.length != d || valueWidth.length != d) {
            throw new IllegalArgumentException(keyWidth.length + " key and " + valueWidth.length + " value widths for "
                    + d + " channels");
        }
        int max = 0;
        for (int c = 0; c < d; c++) {
            for (int w : new int[] {keyWidth[c], valueWidth[c]}) {
                if (w < 0 || w > MAX_WIDTH) {
                    throw new IllegalArgumentException("channel " + c + " has a " + w + "-bit code; page format v2 holds 0–"
                            + MAX_WIDTH);
                }
                max = Math.max(max, w);
            }
        }
        this.maxWidth = max;
        this.keyWidth = keyWidth.clone();
        this.valueWidth = valueWidth.clone();
        RopePairing pairing = shape.rope().pairing();
        this.keyOrder = LayerCalibration.keyPackedOrder(keyWidth, headDim, pairing);
        this.keyBit = new int[d];
        int bit = 0;
        for (int i = 0; i < d; i++) {
            keyBit[keyOrder[i]] = bit;
            bit += keyWidth[keyOrder[i]];
        }
        this.keyBits = bit;
        this.pairs = new KeyPair[kvHeads][headDim / 2];
        for (int h = 0; h < kvHeads; h++) {
            for (int k = 0; k < headDim / 2; k++) {
                int first = keyOrder[h * headDim + 2 * k] - h * headDim;
                int partner = keyOrder[h * headDim + 2 * k + 1] - h * headDim;
                pairs[h][k] = new KeyPair(first, partner, pairing.frequencyIndex(first, headDim), keyWidth[h * headDim + first],
                        keyBit[h * headDim + first]);
            }
        }
        this.valueOrder = LayerCalibration.valuePackedOrder(valueWidth, headDim);
        this.groups = new ValueGroup[kvHeads][];
        this.valueGroup = new int[d];
        this.valuePosition = new int[d];
        this.headWords = new int[kvHeads];
        this.wordsBefore = new int[kvHeads];
        int before = 0;
        for (int h = 0; h < kvHeads; h++) {
            List<ValueGroup> list = new ArrayList<>();
            int words = 0;
            for (int i = 0; i < headDim; ) {
                int w = valueWidth[valueOrder[h * headDim + i]];
                int n = 0;
                while (i + n < headDim && valueWidth[valueOrder[h * headDim + i + n]] == w) {
                    int c = valueOrder[h * headDim + i + n];
                    valueGroup[c] = list.size();
                    valuePosition[c] = n;
                    n++;
                }
                list.add(new ValueGroup(w, n, i, words));
                words += w * n;
                i += n;
            }
            groups[h] = list.toArray(ValueGroup[]::new);
            headWords[h] = words;
            wordsBefore[h] = before;
            before += words;
        }
    }

    /** The widest code page format v2 holds. */
    public static final int MAX_WIDTH = 6;

    /**
     * The plan of a layer whose channels all have {@code bits} bits (a spec without a bit allocation).
     *
     * @param shape the attention geometry
     * @param bits the code width of every channel
     * @return the plan
     */
    public static ChannelPlan uniform(AttentionShape shape, int bits) {
        int[] w = new int[shape.kvChannels()];
        Arrays.fill(w, bits);
        return new ChannelPlan(shape, w, w);
    }

    /**
     * The plan of one calibrated layer: its channels' widths (a channel's width is its codebook's).
     *
     * @param shape the attention geometry
     * @param layer the layer's calibration
     * @return the plan
     * @throws IllegalArgumentException when the widths do not fit the geometry (a RoPE pair with two widths)
     */
    public static ChannelPlan of(AttentionShape shape, LayerCalibration layer) {
        return new ChannelPlan(shape, layer.keyWidths(), layer.valueWidths());
    }

    /**
     * KV heads.
     *
     * @return {@code Hkv}
     */
    public int kvHeads() {
        return kvHeads;
    }

    /**
     * Channels per head.
     *
     * @return {@code d}
     */
    public int headDim() {
        return headDim;
    }

    /**
     * The widest code of the layer, keys and values.
     *
     * @return bits, 0–6
     */
    public int maxWidth() {
        return maxWidth;
    }

    /**
     * The width every channel of both tensors has, or −1 when they differ.
     *
     * @return the common width, or −1
     */
    public int uniformWidth() {
        int w = keyWidth[0];
        for (int c = 0; c < keyWidth.length; c++) {
            if (keyWidth[c] != w || valueWidth[c] != w) {
                return -1;
            }
        }
        return w;
    }

    /**
     * Whether every key channel sits at its own index in the stream (interleaved pairing at one width): the
     * key stream of page format v1.
     *
     * @return true when physical = logical for the keys
     */
    public boolean keysInLogicalOrder() {
        for (int i = 0; i < keyOrder.length; i++) {
            if (keyOrder[i] != i) {
                return false;
            }
        }
        return true;
    }

    /**
     * The code width of key channel {@code c}.
     *
     * @param c logical channel, {@code h·d + j}
     * @return bits, 0–6
     */
    public int keyWidth(int c) {
        return keyWidth[c];
    }

    /**
     * The first stream bit of key channel {@code c}'s code.
     *
     * @param c logical channel
     * @return {@code o_i} of its physical position
     */
    public int keyBit(int c) {
        return keyBit[c];
    }

    /**
     * Key code bits per token.
     *
     * @return {@code Σ_c w_c}
     */
    public int keyBits() {
        return keyBits;
    }

    /**
     * 32-bit words of one token's key stream.
     *
     * @return {@code Kw = ⌈Σ w / 32⌉}
     */
    public int keyWords() {
        return (keyBits + 31) >>> 5;
    }

    /**
     * The logical channel at physical key position {@code i}.
     *
     * @param i physical position, {@code [0, D)}
     * @return the logical channel
     */
    public int keyChannelAt(int i) {
        return keyOrder[i];
    }

    /**
     * The RoPE pairs of KV head {@code h} in the order of the stream.
     *
     * @param h KV head
     * @return its {@code d/2} pairs, physical order
     */
    public List<KeyPair> keyPairs(int h) {
        return List.of(pairs[h]);
    }

    /**
     * The code width of value channel {@code c}.
     *
     * @param c logical channel
     * @return bits, 0–6
     */
    public int valueWidth(int c) {
        return valueWidth[c];
    }

    /**
     * The value width groups of KV head {@code h}, widest first.
     *
     * @param h KV head
     * @return its groups
     */
    public List<ValueGroup> valueGroups(int h) {
        return List.of(groups[h]);
    }

    /**
     * The in-head value channel at in-head physical position {@code i} of head {@code h}.
     *
     * @param h KV head
     * @param i physical position within the head, {@code [0, d)}
     * @return the logical in-head channel
     */
    public int valueChannelAt(int h, int i) {
        return valueOrder[h * headDim + i] - h * headDim;
    }

    /**
     * The group (index into {@link #valueGroups}) of value channel {@code c} within its head.
     *
     * @param c logical channel
     * @return the group index
     */
    public int valueGroupOf(int c) {
        return valueGroup[c];
    }

    /**
     * The position of value channel {@code c} within its group.
     *
     * @param c logical channel
     * @return {@code [0, n)}
     */
    public int valuePositionOf(int c) {
        return valuePosition[c];
    }

    /**
     * Value words of KV head {@code h} per 32-token group.
     *
     * @param h KV head
     * @return {@code W_h}
     */
    public int headValueWords(int h) {
        return headWords[h];
    }

    /**
     * Value words per 32-token group of the heads before {@code h}.
     *
     * @param h KV head
     * @return {@code Σ_{h'<h} W_{h'}}
     */
    public int valueWordsBefore(int h) {
        return wordsBefore[h];
    }

    /**
     * Value words of all heads per 32-token group.
     *
     * @return {@code Σ_h W_h}
     */
    public int valueWords() {
        return wordsBefore[kvHeads - 1] + headWords[kvHeads - 1];
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ChannelPlan p && kvHeads == p.kvHeads && headDim == p.headDim
                && Arrays.equals(keyWidth, p.keyWidth) && Arrays.equals(valueWidth, p.valueWidth)
                && Arrays.equals(keyOrder, p.keyOrder);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(keyWidth) * 31 + Arrays.hashCode(valueWidth);
    }

    @Override
    public String toString() {
        int u = uniformWidth();
        return "ChannelPlan[" + (u >= 0 ? u + " bits" : keyBits + " key bits, " + valueWords() + " value bits")
                + " per token, " + kvHeads + "×" + headDim + "]";
    }
}
