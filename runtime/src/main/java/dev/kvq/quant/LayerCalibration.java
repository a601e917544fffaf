package dev.kvq.quant;

import java.util.Arrays;

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
     * The order in which a packed token lays out one tensor's codes: widest channels first, channels of one
     * width in ascending order, so that each width is one contiguous group (with interleaved RoPE pairs,
     * the two channels of a key pair stay adjacent).
     *
     * @param widths {@code [channels]} code widths
     * @return {@code order[i]} = the channel at packed position {@code i}
     */
    public static int[] packedOrder(int[] widths) {
        return java.util.stream.IntStream.range(0, widths.length).boxed()
                .sorted(java.util.Comparator.<Integer>comparingInt(c -> -widths[c]).thenComparingInt(c -> c))
                .mapToInt(Integer::intValue).toArray();
    }

    /**
     * The packed order of the key channels ({@link #packedOrder}).
     *
     * @return {@code [channels]} channels by packed position
     */
    public int[] keyPackedOrder() {
        int[] w = new int[keys.channels()];
        for (int c = 0; c < w.length; c++) {
            w[c] = keys.width(c);
        }
        return packedOrder(w);
    }

    /**
     * The packed order of the value channels ({@link #packedOrder}).
     *
     * @return {@code [channels]} channels by packed position
     */
    public int[] valuePackedOrder() {
        int[] w = new int[values.length];
        for (int c = 0; c < w.length; c++) {
            w[c] = values[c].bits();
        }
        return packedOrder(w);
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
