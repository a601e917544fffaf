package dev.kvq.cli;

import dev.kvq.cache.Backend;
import dev.kvq.cache.KvCache;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.layout.MemoryReport;
import dev.kvq.quant.Activations;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.LayerCalibration;
import dev.kvq.quant.Provenance;
import dev.kvq.quant.QuantSpec;
import dev.kvq.quant.WeightedKMeans;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The KV bytes of a model geometry at a long context, counted as kvq's cache stores them. A one-layer
 * cache of the geometry is filled with its sink tokens and two whole pages, and its {@link MemoryReport}
 * gives the bytes that do not grow (fp16 sinks and recent-token window, per-layer tables) and, as the rest, what a page allocates
 * (codes, scales, outlier slots, alignment padding). A context of {@code T} tokens then costs, per layer, those fixed bytes plus
 * {@code ⌈(T − sinks) / pageTokens⌉} pages, as the cache allocates them. Exact for fixed-slot outliers;
 * a token-major sparse form stores a data-dependent number of entries, so its figure is the random
 * fill's.
 */
final class KvFootprint {
    private static final int FILL_PAGES = 2;

    private final int layers;
    private final int channels;
    private final int sinkTokens;
    private final int pageTokens;
    private final long pageBytes;
    private final long fixedBytes;

    private KvFootprint(int layers, int channels, int sinkTokens, int pageTokens, long pageBytes, long fixedBytes) {
        this.layers = layers;
        this.channels = channels;
        this.sinkTokens = sinkTokens;
        this.pageTokens = pageTokens;
        this.pageBytes = pageBytes;
        this.fixedBytes = fixedBytes;
    }

    /**
     * Measures {@code spec} on one layer of {@code preset}'s geometry. nuq specs get a calibration fitted on
     * random activations of that width: only its size matters here, not its fit.
     */
    static KvFootprint measure(PlanCommand.Preset preset, QuantSpec spec) {
        AttentionShape layer = new AttentionShape(1, preset.heads(), preset.kvHeads(), preset.headDim());
        int d = layer.kvChannels();
        SplittableRandom random = new SplittableRandom(11);
        Calibration calibration = null;
        if (spec.quantized()) {
            int rows = 32;   // enough for a valid codebook; the cache's size does not depend on it
            float[] k = gaussian(random, rows * d);
            float[] v = gaussian(random, rows * d);
            float[] fisher = new float[rows * d];
            java.util.Arrays.fill(fisher, 1f);
            LayerCalibration lc = LayerCalibration.calibrate(new Activations(k, fisher, rows, d, rows),
                    new Activations(v, fisher, rows, d, rows), spec, WeightedKMeans.Options.defaults());
            calibration = new Calibration(layer, spec, new Provenance("random activations (sizing only)", "", 1, rows,
                    "kvq demo", ""), List.of(lc));
        }
        try (KvCache cache = KvCache.open(layer, spec, calibration, Backend.cpu())) {
            int sinks = spec.sinkTokens();
            int n = sinks + FILL_PAGES * cache.pageTokens();
            cache.append(0, gaussian(random, n * d), gaussian(random, n * d));
            MemoryReport m = cache.memory();
            long fixed = m.sinks() + m.window() + m.sideData();   // the window ring does not grow either
            // everything else was allocated for the whole pages: codes, scales, outliers and the page padding
            return new KvFootprint(preset.layers(), d, sinks, cache.pageTokens(), (m.totalBytes() - fixed) / FILL_PAGES, fixed);
        }
    }

    private static float[] gaussian(SplittableRandom random, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) random.nextGaussian();
        }
        return x;
    }

    /** Bytes of every layer's keys and values at {@code tokens} of context, whole pages as allocated. */
    double bytes(long tokens) {
        long paged = Math.max(0, tokens - sinkTokens);
        long pages = (paged + pageTokens - 1) / pageTokens;
        return (double) layers * (fixedBytes + pages * pageBytes);
    }

    /** {@link #bytes} per stored K or V element. */
    double bitsPerElement(long tokens) {
        return bytes(tokens) * 8 / (2.0 * layers * tokens * channels);
    }
}
