package dev.kvq.engine;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.layout.ChannelPlan;
import dev.kvq.layout.Occupancy;
import dev.kvq.layout.PageLayout;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.LayerCalibration;
import dev.kvq.quant.QuantSpec;
import java.util.Arrays;

/**
 * What every sequence of a cache or pool shares and every engine is built from: the geometry, the
 * spec, the calibration, and each layer's page layout (from its channel plan) with its occupancy rules.
 * Layers share one layout unless a bit allocation gives them different widths. Checked by the cache
 * before an engine sees it.
 */
public final class CacheSetup {
    private final AttentionShape shape;
    private final QuantSpec spec;
    private final Calibration calibration;
    private final int pageTokens;
    private final PageLayout[] layouts;      // [layers]; one shared instance when the plans agree
    private final Occupancy[] occupancies;   // [layers]

    private CacheSetup(AttentionShape shape, QuantSpec spec, Calibration calibration, int pageTokens) {
        this.shape = shape;
        this.spec = spec;
        this.calibration = calibration;
        this.pageTokens = pageTokens;
        this.layouts = new PageLayout[shape.layers()];
        this.occupancies = new Occupancy[shape.layers()];
        for (int l = 0; l < layouts.length; l++) {
            ChannelPlan plan = !spec.quantized() ? null
                    : spec.allocated() ? ChannelPlan.of(shape, calibration.layer(l)) : ChannelPlan.uniform(shape, spec.bits());
            PageLayout shared = l > 0 && java.util.Objects.equals(layouts[l - 1].plan(), plan) ? layouts[l - 1] : null;
            layouts[l] = shared != null ? shared : new PageLayout(shape, spec, plan, pageTokens);
            occupancies[l] = shared != null ? occupancies[l - 1] : new Occupancy(shape, spec, layouts[l]);
        }
    }

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
        return new CacheSetup(shape, spec, calibration, pageTokens);
    }

    /**
     * The attention geometry.
     *
     * @return the shape
     */
    public AttentionShape shape() {
        return shape;
    }

    /**
     * What is stored.
     *
     * @return the spec
     */
    public QuantSpec spec() {
        return spec;
    }

    /**
     * Thresholds and codebooks.
     *
     * @return the calibration; null for the fp16/fp32 baselines
     */
    public Calibration calibration() {
        return calibration;
    }

    /**
     * Tokens per page.
     *
     * @return a multiple of 32
     */
    public int pageTokens() {
        return pageTokens;
    }

    /**
     * The page layout of one layer.
     *
     * @param layer layer index
     * @return its layout
     */
    public PageLayout layout(int layer) {
        return layouts[layer];
    }

    /**
     * The occupancy rules of one layer.
     *
     * @param layer layer index
     * @return its rules
     */
    public Occupancy occupancy(int layer) {
        return occupancies[layer];
    }

    /**
     * Whether every layer has the same page layout (no bit allocation, or one that gave every layer the same
     * widths).
     *
     * @return true when {@link #layout()} answers
     */
    public boolean sharedLayout() {
        return Arrays.stream(layouts).allMatch(l -> l == layouts[0]);
    }

    /**
     * The page layout of every layer, for code that serves only setups whose layers share one.
     *
     * @return the shared layout
     * @throws IllegalStateException when the layers' widths differ ({@link #layout(int)})
     */
    public PageLayout layout() {
        requireShared();
        return layouts[0];
    }

    /**
     * The occupancy rules of every layer, for code that serves only setups whose layers share one layout.
     *
     * @return the shared rules
     * @throws IllegalStateException when the layers' widths differ ({@link #occupancy(int)})
     */
    public Occupancy occupancy() {
        requireShared();
        return occupancies[0];
    }

    private void requireShared() {
        if (!sharedLayout()) {
            throw new IllegalStateException(spec.name() + " gives its layers different code widths: each has its own"
                    + " page layout");
        }
    }

    /**
     * The calibration of one layer.
     *
     * @param layer layer index
     * @return its key quantizer and value codebooks; null for the baselines
     */
    public LayerCalibration layer(int layer) {
        return spec.quantized() ? calibration.layer(layer) : null;
    }
}
