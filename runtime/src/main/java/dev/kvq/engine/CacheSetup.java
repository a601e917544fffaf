package dev.kvq.engine;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.layout.Occupancy;
import dev.kvq.layout.PageLayout;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.LayerCalibration;
import dev.kvq.quant.QuantSpec;

/**
 * What every sequence of a cache or pool shares and every engine is built from: the geometry, the
 * spec, the calibration, the page layout and its occupancy rules. Checked by the cache before an
 * engine sees it.
 *
 * @param shape       the attention geometry
 * @param spec        what is stored
 * @param calibration thresholds and codebooks; null for the fp16/fp32 baselines
 * @param layout      the page layout of {@code shape} and {@code spec}
 * @param occupancy   what a number of tokens occupies in that layout
 */
public record CacheSetup(AttentionShape shape, QuantSpec spec, Calibration calibration, PageLayout layout,
                         Occupancy occupancy) {

    /**
     * The setup of a cache with pages of {@code pageTokens} tokens.
     *
     * @param shape       the attention geometry
     * @param spec        what is stored
     * @param calibration thresholds and codebooks; null for fp16/fp32
     * @param pageTokens  tokens per page
     * @return the setup
     */
    public static CacheSetup of(AttentionShape shape, QuantSpec spec, Calibration calibration, int pageTokens) {
        PageLayout layout = new PageLayout(shape, spec, pageTokens);
        return new CacheSetup(shape, spec, calibration, layout, new Occupancy(shape, spec, layout));
    }

    /**
     * The calibration of one layer.
     *
     * @param layer layer index
     * @return its key quantizer and value codebook; null for the baselines
     */
    public LayerCalibration layer(int layer) {
        return spec.quantized() ? calibration.layer(layer) : null;
    }
}
