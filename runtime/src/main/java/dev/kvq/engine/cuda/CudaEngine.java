package dev.kvq.engine.cuda;

import dev.kvq.engine.Budget;
import dev.kvq.engine.CacheSetup;
import dev.kvq.engine.Engine;
import dev.kvq.engine.Sequence;
import dev.kvq.layout.PageLayout;
import dev.kvq.quant.QuantSpec;

/**
 * The CUDA engine: pages on the device, byte for byte the CPU's (page format v2), packed and attended to by
 * kvq's PTX kernels ({@link KvKernels}: the v2 appends and the fused FlashDecoding decode) on the JVM's
 * {@link CudaRuntime}. Each sequence ({@link CudaSequence}) has its own pools, stream and scratch today; a
 * device page pool shared by a pool's sequences and batched decode launches across them would live here.
 */
public final class CudaEngine implements Engine {
    private final CudaRuntime runtime;
    private final CacheSetup setup;

    private CudaEngine(CudaRuntime runtime, CacheSetup setup) {
        this.runtime = runtime;
        this.setup = setup;
    }

    /**
     * The CUDA engine for caches of {@code setup}, on the JVM's runtime (started now if it is not yet).
     *
     * @param setup the shape, spec, calibration and layout of the caches
     * @return the engine
     * @throws UnsupportedOperationException for a spec or geometry the kernels do not cover here
     * @throws IllegalStateException         when CUDA does not start
     */
    public static CudaEngine open(CacheSetup setup) {
        requireServed(setup);
        // the layers' layouts differ at most in their widths: the kernels' shapes and shared memory do not
        KvKernels.requireSupported(setup.shape(), setup.spec(), setup.layout(0));
        CudaRuntime runtime = CudaRuntime.shared();
        runtime.bind();
        KvKernels.allowShared(runtime, setup.shape(), setup.spec(), setup.layout(0));
        return new CudaEngine(runtime, setup);
    }

    /**
     * The one rule of which caches this engine serves. Its page format v2 kernels ({@code kvq_pack_keys_v2},
     * {@code kvq_pack_values_v2}, {@code kvq_side_append}, the fused decode) cover one code width and the mixed
     * widths of a bit allocation (the {@code nuqaB} modes and the presets: each layer's width plan walked by width
     * group, {@code kvq_decode_packed_groups}) with fixed-slot or no outliers, sinks and a recent-token window,
     * both RoPE pairings, per-layer or per-channel key codebooks, any head dim and page size, and fp16 pages. They
     * do not cover fixed-slot lists longer than the format's 255 slots. The TOKEN_MAJOR_SPARSE form runs on the
     * format v1 kernels, within what they write ({@link PageLayout#versionOneWriterDifference}: one code width, no
     * window, whole 32-channel key groups, one key codebook per layer). Every other setup runs on the CPU engine;
     * {@code Engines} logs the WARN naming the reason.
     *
     * @param setup the caches' setup
     * @throws UnsupportedOperationException naming what the kernels do not cover
     */
    public static void requireServed(CacheSetup setup) {
        String missing = uncovered(setup);
        if (missing != null) {
            throw new UnsupportedOperationException(setup.spec().name() + " needs " + missing
                    + ", which the CUDA engine's kernels do not cover");
        }
    }

    /** What {@link #requireServed} refuses for {@code setup}, in words, or null. */
    private static String uncovered(CacheSetup setup) {
        QuantSpec spec = setup.spec();
        if (!spec.quantized()) {
            return null;
        }
        if (setup.layout(0).sparseOutliers()) {
            if (spec.allocated()) {
                return "TOKEN_MAJOR_SPARSE outliers with mixed code widths (the sparse form runs on the page format v1 "
                        + "kernels, which pack one width)";
            }
            if (spec.keyCodebooks() == QuantSpec.KeyCodebooks.PER_CHANNEL) {
                return "TOKEN_MAJOR_SPARSE outliers with per-channel key codebooks (the sparse form runs on the page "
                        + "format v1 kernels, whose pack kernel searches one key codebook per layer)";
            }
            String v1 = PageLayout.versionOneWriterDifference(setup.shape(), spec);
            return v1 == null ? null : "TOKEN_MAJOR_SPARSE outliers with " + v1
                    + " (the sparse form runs on the page format v1 kernels)";
        }
        int slots = Math.max(setup.layout(0).keySlots(), setup.layout(0).valueSlots());
        if (slots > PageLayout.MAX_FIXED_SLOTS) {
            return slots + " fixed outlier slots per token (the page format v2 kernels hold "
                    + PageLayout.MAX_FIXED_SLOTS + ")";
        }
        return null;
    }

    @Override
    public Sequence open(long firstPosition, Budget budget) {
        runtime.bind();
        return new CudaSequence(runtime, setup, firstPosition, budget);
    }

    @Override
    public void close() {
        // the runtime lives as long as the JVM; sequences own their device memory
    }
}
