package dev.kvq.quant;

/**
 * One layer's quantizers: per-channel key thresholds with the K codebook, and the V codebook.
 *
 * @param keys per-channel key thresholds and the K codebook
 * @param values the V codebook
 */
public record LayerCalibration(KeyQuantizer keys, Codebook values) {
    /** Rejects missing quantizers and key/value codebooks of different bit widths. */
    public LayerCalibration {
        if (keys == null || values == null) {
            throw new IllegalArgumentException("layer calibration needs key and value quantizers");
        }
        if (keys.codebook().bits() != values.bits()) {
            throw new IllegalArgumentException("key codebook has " + keys.codebook().bits() + " bits, value codebook "
                    + values.bits());
        }
    }

    /**
     * Calibrates one layer from its key and value activations (spec §1 step 2).
     *
     * @param keys the layer's pre-RoPE key activations
     * @param values the layer's value activations
     * @param spec the quantization to calibrate for
     * @param options k-means settings
     * @return the layer's quantizers
     */
    public static LayerCalibration calibrate(Activations keys, Activations values, QuantSpec spec,
                                             WeightedKMeans.Options options) {
        if (keys == null || values == null) {
            throw new IllegalArgumentException("calibration needs key and value activations");
        }
        if (keys.channels() != values.channels()) {
            // one layer's K and V projections have the same width; a mismatch means mixed-up inputs
            throw new IllegalArgumentException("keys have " + keys.channels() + " channels, values "
                    + values.channels() + ": both must come from the same layer");
        }
        return new LayerCalibration(KeyQuantizer.calibrate(keys, spec, options),
                ValueQuantizer.calibrate(values, spec, options));
    }
}
