package dev.kvq.quant;

/** One layer's quantizers: per-channel key thresholds with the K codebook, and the V codebook. */
public record LayerCalibration(KeyQuantizer keys, Codebook values) {
    public LayerCalibration {
        if (keys == null || values == null) {
            throw new IllegalArgumentException("layer calibration needs key and value quantizers");
        }
        if (keys.codebook().bits() != values.bits()) {
            throw new IllegalArgumentException("key codebook has " + keys.codebook().bits() + " bits, value codebook "
                    + values.bits());
        }
    }

    /** Calibrates one layer from its key and value activations (spec §1 step 2). */
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
