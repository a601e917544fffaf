package dev.kvq.cache;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.QuantSpec;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import dev.kvq.layout.PageLayout;

/**
 * Opens the device half of a cache for a non-CPU backend, or falls back to the CPU with a WARN that
 * names the reason (no device, kernels that do not load, a spec the device kernels do not cover).
 * The factory is a field so that tests can inject a failing or fake device without a GPU.
 */
final class DeviceCaches {
    private static final Logger LOG = LogManager.getLogger(KvCache.class);

    private DeviceCaches() {}

    /** The backend a cache really got, and its device half (null on the CPU). */
    record Opened(Backend backend, DeviceCache device) {}

    /** Makes the device half of one cache. */
    @FunctionalInterface
    interface Factory {
        DeviceCache open(AttentionShape shape, QuantSpec spec, Calibration calibration, PageLayout layout,
                         long firstPosition, DeviceCache.Budget budget);
    }

    /** The CUDA factory; tests replace it (and restore it) to simulate start-up failures. */
    static volatile Factory cuda = CudaLayers::open;

    static Opened open(Backend backend, AttentionShape shape, QuantSpec spec, Calibration calibration,
                       PageLayout layout, long firstPosition, DeviceCache.Budget budget) {
        if (backend.kind() == Backend.Kind.CPU) {
            return new Opened(backend, null);
        }
        try {
            return new Opened(backend, cuda.open(shape, spec, calibration, layout, firstPosition, budget));
        } catch (RuntimeException | LinkageError e) {
            String m = e.getMessage();
            String why = "the CUDA backend did not start for this cache (" + e.getClass().getSimpleName()
                    + (m == null || m.isBlank() ? "" : ": " + m.strip()) + ")";
            LOG.warn("falling back to the CPU: {}", why);
            return new Opened(new Backend(Backend.Kind.CPU, why), null);
        }
    }
}
