package dev.kvq.example.consumer;

import dev.kvq.cache.Backend;
import dev.kvq.cache.KvCache;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.kernels.KernelCatalog;
import dev.kvq.layout.MemoryReport;
import dev.kvq.quant.Activations;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.FisherWeighting;
import dev.kvq.quant.LayerCalibration;
import dev.kvq.quant.Provenance;
import dev.kvq.quant.QuantSpec;
import dev.kvq.quant.WeightedKMeans;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Calibrates a 4-bit cache on synthetic activations, appends a prompt's keys and values, runs one
 * decode step and compares it with the same step over an unquantized (fp32) cache. Exits with an
 * exception when anything is off, so the build that runs it fails.
 */
public final class DecodeStep {

    /** Relative L2 error of nuq4-1% attention against fp32 above which the example fails. */
    static final double MAX_RELATIVE_ERROR = 0.15;

    private DecodeStep() {
    }

    /**
     * Runs the example.
     *
     * @param args ignored
     */
    public static void main(String[] args) {
        if (!KvCache.class.getModule().isNamed() || !DecodeStep.class.getModule().isNamed()) {
            throw new IllegalStateException("expected to run on the module path, but " + KvCache.class.getModule()
                    + " / " + DecodeStep.class.getModule() + " is unnamed");
        }
        // the two modules that call native code must be granted it (README: --enable-native-access)
        for (String name : List.of("dev.kvq.bindings", "dev.kvq.driver")) {
            Module module = ModuleLayer.boot().findModule(name)
                    .orElseThrow(() -> new IllegalStateException("module " + name + " is not in the boot layer"));
            if (!module.isNativeAccessEnabled()) {
                throw new IllegalStateException("native access is not enabled for " + name);
            }
        }
        // one layer, 8 query heads sharing 2 KV heads (GQA), head dim 64, standard RoPE
        AttentionShape shape = new AttentionShape(1, 8, 2, 64);
        // no model gradients here, so the k-means runs unweighted (a real calibration passes Fisher weights)
        QuantSpec spec = QuantSpec.nuq(4).outliers(0.01).sinkTokens(1).weighting(FisherWeighting.UNWEIGHTED);
        int d = shape.kvChannels();

        int calibrationTokens = 1024;
        Calibration calibration = new Calibration(shape, spec, Provenance.unknown(), List.of(LayerCalibration.calibrate(
                new Activations(keys(calibrationTokens, d, 1), null, calibrationTokens, d, 256),
                new Activations(values(calibrationTokens, d, 2), null, calibrationTokens, d, 256),
                spec, WeightedKMeans.Options.defaults())));

        int prompt = 512; // two full 256-token pages
        float[] keys = keys(prompt, d, 3);
        float[] values = values(prompt, d, 4);
        SplittableRandom random = new SplittableRandom(5);
        float[] query = new float[shape.queryHeads() * shape.headDim()];
        for (int i = 0; i < query.length; i++) {
            query[i] = (float) (random.nextGaussian() * 0.3);
        }

        float[] packed = new float[query.length];
        float[] exact = new float[query.length];
        MemoryReport memory;
        try (KvCache cache = KvCache.open(shape, spec, calibration, Backend.auto());
             KvCache reference = KvCache.open(shape, QuantSpec.fp32(), null, Backend.cpu())) {
            cache.append(0, keys, values);
            reference.append(0, keys, values);
            cache.attend(0, query, packed);
            reference.attend(0, query, exact);
            memory = cache.memory();
            if (cache.length(0) != prompt) {
                throw new IllegalStateException("cache holds " + cache.length(0) + " tokens, expected " + prompt);
            }
        }

        double err = 0;
        double norm = 0;
        for (int i = 0; i < exact.length; i++) {
            if (!Float.isFinite(packed[i])) {
                throw new IllegalStateException("attention output " + i + " is " + packed[i]);
            }
            err += (packed[i] - exact[i]) * (double) (packed[i] - exact[i]);
            norm += exact[i] * (double) exact[i];
        }
        double relative = Math.sqrt(err / norm);
        int ptxEntries = KernelCatalog.get().entries("vector_add", 80).size();
        System.out.printf("kvq consumer: module %s, backend %s, %s over %d tokens: %.2f bits/element,"
                        + " relative error vs fp32 %.4f; PTX entries in vector_add.sm_80: %d%n",
                KvCache.class.getModule().getName(), Backend.auto().kind(), spec.name(), prompt,
                memory.effectiveBits(), relative, ptxEntries);
        if (!(relative < MAX_RELATIVE_ERROR)) {
            throw new IllegalStateException("4-bit attention is off by " + relative + " (relative L2) from fp32, limit "
                    + MAX_RELATIVE_ERROR);
        }
        if (ptxEntries == 0) {
            throw new IllegalStateException("no kernel entry points read from the kvq-kernels-cu jar");
        }
    }

    /** Pre-RoPE keys with per-channel offsets and scales, a few channels much larger (as in LLaMA). */
    private static float[] keys(int tokens, int d, long seed) {
        SplittableRandom channels = new SplittableRandom(11); // same channel statistics for every call
        float[] offset = new float[d];
        float[] scale = new float[d];
        for (int c = 0; c < d; c++) {
            scale[c] = (float) ((0.3 + 0.7 * channels.nextDouble()) * (channels.nextInt(40) == 0 ? 8 : 1));
            offset[c] = (float) (channels.nextGaussian() * 0.4 * scale[c]);
        }
        SplittableRandom random = new SplittableRandom(seed);
        float[] k = new float[tokens * d];
        for (int t = 0; t < tokens; t++) {
            for (int c = 0; c < d; c++) {
                k[t * d + c] = (float) (offset[c] + scale[c] * random.nextGaussian());
            }
        }
        return k;
    }

    /** Values whose magnitude varies per token. */
    private static float[] values(int tokens, int d, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] v = new float[tokens * d];
        for (int t = 0; t < tokens; t++) {
            double tokenScale = 0.2 + random.nextDouble();
            for (int c = 0; c < d; c++) {
                v[t * d + c] = (float) (tokenScale * random.nextGaussian());
            }
        }
        return v;
    }
}
