package dev.kvq.quant;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.RopePairing;
import java.util.Arrays;
import java.util.Comparator;
import java.util.stream.IntStream;

/**
 * One layer's quantizers: per-channel key thresholds with the key codebooks, and the value codebooks.
 * In the paper's form all key channels share one codebook and all value channels another, of the same
 * width; per-channel key codebooks and Fisher bit allocations give channels codebooks of their own
 * (a channel's code width is its codebook's).
 */
public final class LayerCalibration {
    private final KeyQuantizer keys;
    private final Codebook[] values;   // [D]
    private final Codebook sharedValues;

    /**
     * A layer whose value channels share one codebook.
     *
     * @param keys per-channel key thresholds and the key codebook(s)
     * @param values the V codebook
     */
    public LayerCalibration(KeyQuantizer keys, Codebook values) {
        this(keys, fill(keys, values));
        if (keys.sharedCodebook() && keys.codebook().bits() != values.bits()) {
            throw new IllegalArgumentException("key codebook has " + keys.codebook().bits() + " bits, value codebook "
                    + values.bits());
        }
    }

    /**
     * A layer whose value channels have codebooks of their own.
     *
     * @param keys per-channel key thresholds and the key codebook(s)
     * @param valueCodebooks {@code [channels]} the codebook of each value channel
     */
    public LayerCalibration(KeyQuantizer keys, Codebook[] valueCodebooks) {
        if (keys == null || valueCodebooks == null) {
            throw new IllegalArgumentException("layer calibration needs key and value quantizers");
        }
        if (valueCodebooks.length != keys.channels()) {
            throw new IllegalArgumentException(valueCodebooks.length + " value codebooks for " + keys.channels()
                    + " key channels: both must come from the same layer");
        }
        for (int c = 0; c < valueCodebooks.length; c++) {
            if (valueCodebooks[c] == null) {
                throw new IllegalArgumentException("value channel " + c + " has no codebook");
            }
        }
        this.keys = keys;
        this.values = valueCodebooks.clone();
        this.sharedValues = KeyQuantizer.sharedOf(this.values);
    }

    private static Codebook[] fill(KeyQuantizer keys, Codebook values) {
        if (keys == null || values == null) {
            throw new IllegalArgumentException("layer calibration needs key and value quantizers");
        }
        Codebook[] all = new Codebook[keys.channels()];
        Arrays.fill(all, values);
        return all;
    }

    /**
     * Calibrates one layer from its key and value activations (spec §1 step 2), one codebook per tensor.
     *
     * @param keys the layer's pre-RoPE key activations
     * @param values the layer's value activations
     * @param spec the quantization to calibrate for
     * @param options k-means settings
     * @return the layer's quantizers
     */
    public static LayerCalibration calibrate(Activations keys, Activations values, QuantSpec spec,
                                             WeightedKMeans.Options options) {
        requireSameLayer(keys, values);
        return new LayerCalibration(KeyQuantizer.calibrate(keys, spec, options),
                ValueQuantizer.calibrate(values, spec, options));
    }

    static void requireSameLayer(Activations keys, Activations values) {
        if (keys == null || values == null) {
            throw new IllegalArgumentException("calibration needs key and value activations");
        }
        if (keys.channels() != values.channels()) {
            // one layer's K and V projections have the same width; a mismatch means mixed-up inputs
            throw new IllegalArgumentException("keys have " + keys.channels() + " channels, values "
                    + values.channels() + ": both must come from the same layer");
        }
    }

    /**
     * The key quantizer: per-channel thresholds and codebooks.
     *
     * @return the key quantizer
     */
    public KeyQuantizer keys() {
        return keys;
    }

    /**
     * The V codebook shared by every value channel.
     *
     * @return the codebook
     * @throws IllegalStateException when the value channels have codebooks of their own
     */
    public Codebook values() {
        if (sharedValues == null) {
            throw new IllegalStateException("this layer's value channels have codebooks of their own; use valueCodebook(channel)");
        }
        return sharedValues;
    }

    /**
     * The codebook of one value channel.
     *
     * @param channel the value channel, {@code [0, channels)}
     * @return its codebook
     */
    public Codebook valueCodebook(int channel) {
        return values[channel];
    }

    /**
     * The codebooks of every value channel.
     *
     * @return a copy, {@code [channels]}
     */
    public Codebook[] valueCodebooks() {
        return values.clone();
    }

    /**
     * Whether every value channel uses one codebook.
     *
     * @return true when {@link #values()} answers
     */
    public boolean sharedValueCodebook() {
        return sharedValues != null;
    }

    /**
     * The code width of one value channel.
     *
     * @param channel the value channel
     * @return its codebook's bits
     */
    public int valueWidth(int channel) {
        return values[channel].bits();
    }

    /**
     * Bits of one token's key codes: the sum of the key channels' widths.
     *
     * @return {@code Σ_c width_K(c)}
     */
    public int keyCodeBits() {
        int sum = 0;
        for (int c = 0; c < keys.channels(); c++) {
            sum += keys.width(c);
        }
        return sum;
    }

    /**
     * Bits of one token's value codes: the sum of the value channels' widths.
     *
     * @return {@code Σ_c width_V(c)}
     */
    public int valueCodeBits() {
        int sum = 0;
        for (Codebook c : values) {
            sum += c.bits();
        }
        return sum;
    }

    /**
     * The physical order of the key channels in a packed token (page format v2, {@code docs/FORMATS.md}):
     * head-major; inside a head its RoPE pairs widest first, pairs of one width by frequency index, each
     * pair stored as (first, partner) adjacent, so that one shift and mask yield a pair's two codes for
     * either pairing. Interleaved pairing at one width is the identity; rotate-half at one width is
     * {@code (0, d/2, 1, d/2+1, …)} per head. Head-major (rather than one width group over the whole
     * vector) keeps each KV head's codes in one contiguous run of the stream, which is what a decode
     * step reads per head.
     *
     * @param widths {@code [channels]} key code widths, equal within each RoPE pair
     * @param headDim channels per head
     * @param pairing which channels RoPE rotates together
     * @return {@code order[i]} = the channel at physical position {@code i}
     * @throws IllegalArgumentException when the two channels of a RoPE pair have different widths
     */
    public static int[] keyPackedOrder(int[] widths, int headDim, RopePairing pairing) {
        requireHeads(widths.length, headDim);
        int[] order = new int[widths.length];
        int at = 0;
        for (int base = 0; base < widths.length; base += headDim) {
            int b = base;
            Integer[] firsts = IntStream.range(0, headDim).filter(j -> pairing.isFirstOfPair(j, headDim)).boxed()
                    .toArray(Integer[]::new);
            for (int j : firsts) {
                int p = pairing.partner(j, headDim);
                if (widths[b + j] != widths[b + p]) {
                    throw new IllegalArgumentException("key channels " + (b + j) + " and " + (b + p) + " form a RoPE pair"
                            + " but have widths " + widths[b + j] + " and " + widths[b + p]);
                }
            }
            Arrays.sort(firsts, Comparator.<Integer>comparingInt(j -> -widths[b + j])
                    .thenComparingInt(j -> pairing.frequencyIndex(j, headDim)));
            for (int j : firsts) {
                order[at++] = b + j;
                order[at++] = b + pairing.partner(j, headDim);
            }
        }
        return order;
    }

    /**
     * The physical order of the value channels in a packed page (page format v2): head-major; inside a head
     * widest first, channels of one width by index, so that each width is one contiguous group of rows.
     *
     * @param widths {@code [channels]} value code widths
     * @param headDim channels per head
     * @return {@code order[i]} = the channel at physical position {@code i}
     */
    public static int[] valuePackedOrder(int[] widths, int headDim) {
        requireHeads(widths.length, headDim);
        int[] order = new int[widths.length];
        for (int base = 0; base < widths.length; base += headDim) {
            int b = base;
            int[] head = IntStream.range(b, b + headDim).boxed()
                    .sorted(Comparator.<Integer>comparingInt(c -> -widths[c]).thenComparingInt(c -> c))
                    .mapToInt(Integer::intValue).toArray();
            System.arraycopy(head, 0, order, b, headDim);
        }
        return order;
    }

    private static void requireHeads(int channels, int headDim) {
        if (headDim <= 0 || headDim % 2 != 0 || channels % headDim != 0) {
            throw new IllegalArgumentException(channels + " channels do not split into heads of " + headDim);
        }
    }

    /**
     * The key widths of every channel.
     *
     * @return {@code [channels]} code widths, 0–6
     */
    public int[] keyWidths() {
        int[] w = new int[keys.channels()];
        for (int c = 0; c < w.length; c++) {
            w[c] = keys.width(c);
        }
        return w;
    }

    /**
     * The value widths of every channel.
     *
     * @return {@code [channels]} code widths, 0–6
     */
    public int[] valueWidths() {
        int[] w = new int[values.length];
        for (int c = 0; c < w.length; c++) {
            w[c] = values[c].bits();
        }
        return w;
    }

    /**
     * The physical order of this layer's key channels ({@link #keyPackedOrder(int[], int, RopePairing)}).
     *
     * @param shape the geometry (head dim and RoPE pairing)
     * @return {@code [channels]} channels by physical position
     */
    public int[] keyPackedOrder(AttentionShape shape) {
        return keyPackedOrder(keyWidths(), shape.headDim(), shape.rope().pairing());
    }

    /**
     * The physical order of this layer's value channels ({@link #valuePackedOrder(int[], int)}).
     *
     * @param shape the geometry (head dim)
     * @return {@code [channels]} channels by physical position
     */
    public int[] valuePackedOrder(AttentionShape shape) {
        return valuePackedOrder(valueWidths(), shape.headDim());
    }

    /**
     * A value quantizer with this layer's value codebooks.
     *
     * @param spec the cache's nuq spec
     * @return a new quantizer (it holds scratch: one per thread)
     */
    public ValueQuantizer valueQuantizer(QuantSpec spec) {
        return new ValueQuantizer(values, spec, values.length);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LayerCalibration l && keys.equals(l.keys) && Arrays.equals(values, l.values);
    }

    @Override
    public int hashCode() {
        return keys.hashCode() * 31 + Arrays.hashCode(values);
    }

    @Override
    public String toString() {
        return "LayerCalibration[keys " + keys.channels() + " channels, " + keyCodeBits() + " + " + valueCodeBits()
                + " code bits per token]";
    }
}
