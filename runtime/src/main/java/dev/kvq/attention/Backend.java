package dev.kvq.attention;

import dev.kvq.driver.CudaDriver;
import dev.kvq.driver.CudaProbe;
import java.util.Locale;
import java.util.function.Supplier;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

/**
 * Where attention runs. {@link #auto()} chooses once per JVM: CUDA when the driver probe finds a
 * device and the CUDA backend is part of the build, else the CPU; {@code -Dkvq.backend=cpu|cuda|auto}
 * forces the choice. A CUDA start-up failure logs a WARN with the reason and falls back to the CPU.
 *
 * @param kind   the backend chosen
 * @param reason why, in one line (shown by {@code kvq info})
 */
public record Backend(Kind kind, String reason) {
    private static final Logger LOG = LogManager.getLogger(Backend.class);

    /** The system property that forces the backend: {@code cpu}, {@code cuda} or {@code auto}. */
    public static final String PROPERTY = "kvq.backend";

    /**
     * Whether this build contains the CUDA attention backend (the kernels of the packed cache). The
     * driver layer and the probe exist; the cache kernels arrive with the CUDA-kernels work.
     */
    public static final boolean CUDA_BACKEND_BUILT = false;

    /** The two backends. */
    public enum Kind {
        /** The Vector API kernels on the CPU. */
        CPU,
        /** The CUDA kernels on a GPU. */
        CUDA
    }

    private static volatile Backend auto;

    /** Rejects a null kind or reason. */
    public Backend {
        if (kind == null || reason == null) {
            throw new IllegalArgumentException("backend kind and reason must not be null");
        }
    }

    /**
     * The CPU backend (Vector API, or scalar with {@code -Dkvq.simd=0}).
     *
     * @return a CPU backend whose reason is "requested"
     */
    public static Backend cpu() {
        return new Backend(Kind.CPU, "requested");
    }

    /**
     * The backend chosen for this JVM; the first call probes and logs the choice.
     *
     * @return the backend every {@code KvCache.open(..., Backend.auto())} of this JVM gets
     */
    public static Backend auto() {
        Backend b = auto;
        if (b == null) {
            synchronized (Backend.class) {
                b = auto;
                if (b == null) {
                    b = select(System.getProperty(PROPERTY), CudaDriver::probe);
                    if (b.kind() == Kind.CPU) {
                        LOG.info("kvq backend: cpu ({})", b.reason());
                    } else {
                        LOG.info("kvq backend: cuda ({})", b.reason());
                    }
                    auto = b;
                }
            }
        }
        return b;
    }

    /** The selection rule, separate from the JVM-wide cache so it can be tested. */
    static Backend select(String setting, Supplier<CudaProbe> probe) {
        String s = setting == null ? "auto" : setting.trim().toLowerCase(Locale.ROOT);
        switch (s) {
            case "cpu":
                return new Backend(Kind.CPU, PROPERTY + "=cpu");
            case "cuda": {
                CudaProbe p = probe.get();
                if (!p.available()) {
                    throw new IllegalStateException(PROPERTY + "=cuda but " + p);
                }
                if (!CUDA_BACKEND_BUILT) {
                    throw new IllegalStateException(PROPERTY + "=cuda but this build has no CUDA attention backend yet "
                            + "(the driver works: " + p.reason() + ")");
                }
                return new Backend(Kind.CUDA, p.reason());
            }
            case "auto": {
                CudaProbe p = probe.get();
                if (!p.available()) {
                    return new Backend(Kind.CPU, p.toString());
                }
                if (!CUDA_BACKEND_BUILT) {
                    String why = "a GPU is present (" + p.reason() + ") but this build has no CUDA attention backend yet";
                    LOG.warn("falling back to the CPU: {}", why);
                    return new Backend(Kind.CPU, why);
                }
                return new Backend(Kind.CUDA, p.reason());
            }
            default:
                throw new IllegalArgumentException(PROPERTY + " must be cpu, cuda or auto, got '" + setting + "'");
        }
    }
}
