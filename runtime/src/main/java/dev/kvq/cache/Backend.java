package dev.kvq.cache;

import dev.kvq.driver.CudaDriver;
import dev.kvq.driver.CudaProbe;
import dev.kvq.engine.cpu.CpuThreads;
import dev.kvq.engine.cpu.Simd;
import dev.kvq.engine.cuda.CudaRuntime;
import java.util.Locale;
import java.util.function.Supplier;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

/**
 * Where attention runs. {@link #auto()} chooses once per JVM: CUDA when the driver probe finds a
 * device and the CUDA backend starts (context, kernels loaded), else the CPU;
 * {@code -Dkvq.backend=cpu|cuda|auto} forces the choice. Under {@code auto} a CUDA start-up failure
 * logs a WARN with the reason and falls back to the CPU; under {@code cuda} it is an error, because
 * the user asked for the GPU explicitly.
 *
 * <p>The CPU backend splits each decode step across threads (the caller's and a pool's shared by the
 * sequences of a cache or pool): {@link #withThreads} sets their number, the system property
 * {@value #THREADS_PROPERTY} its default, else the available processors. Results are the same bits for
 * any thread count.
 *
 * @param kind    the backend chosen
 * @param reason  why, in one line (shown by {@code kvq info})
 * @param threads threads a CPU decode step runs on, the caller included; 0 = the default
 *                ({@value #THREADS_PROPERTY}, else the available processors). Used by the CPU
 *                backend and by a CUDA cache that falls back to it.
 */
public record Backend(Kind kind, String reason, int threads) {
    private static final Logger LOG = LogManager.getLogger(Backend.class);

    /** The system property that forces the backend: {@code cpu}, {@code cuda} or {@code auto}. */
    public static final String PROPERTY = "kvq.backend";

    /**
     * The system property that sets the CPU backend's SIMD width: unset for the machine's preferred
     * width, {@code 0} for the scalar kernels, or 4, 8 or 16 float lanes.
     */
    public static final String SIMD_PROPERTY = Simd.PROPERTY;

    /**
     * The system property that sets the CPU backend's default thread count (a positive number; unset
     * = the available processors). {@link #withThreads} overrides it per cache or pool.
     */
    public static final String THREADS_PROPERTY = CpuThreads.PROPERTY;

    /** The most threads a backend may ask for. */
    public static final int MAX_THREADS = CpuThreads.MAX_THREADS;

    /** The two backends. */
    public enum Kind {
        /** The Vector API kernels on the CPU. */
        CPU,
        /** The CUDA kernels on a GPU. */
        CUDA
    }

    /** Starts the CUDA backend or throws with the reason (injected so the fallback is testable without a GPU). */
    @FunctionalInterface
    interface Starter {
        /** Starts the backend; any {@link RuntimeException} or {@link LinkageError} means it cannot run. */
        void start();
    }

    private static volatile Backend auto;

    /** Rejects a null kind or reason and a thread count outside [0, {@value #MAX_THREADS}]. */
    public Backend {
        if (kind == null || reason == null) {
            throw new IllegalArgumentException("backend kind and reason must not be null");
        }
        CpuThreads.requireValid(threads);
    }

    /**
     * A backend with the default thread count.
     *
     * @param kind   the backend chosen
     * @param reason why, in one line
     */
    public Backend(Kind kind, String reason) {
        this(kind, reason, 0);
    }

    /**
     * This backend with CPU decode steps split across {@code threads} threads (the caller included).
     *
     * @param threads 1 to {@value #MAX_THREADS}, or 0 for the default
     * @return a copy with that thread count
     * @throws IllegalArgumentException for a count outside [0, {@value #MAX_THREADS}]
     */
    public Backend withThreads(int threads) {
        return new Backend(kind, reason, threads);
    }

    /**
     * The threads a CPU decode step of this backend runs on: {@link #threads} when set, else the
     * default ({@value #THREADS_PROPERTY}, else the available processors).
     *
     * @return at least 1
     * @throws IllegalArgumentException when {@value #THREADS_PROPERTY} is not a thread count in range
     */
    public int cpuThreads() {
        return CpuThreads.resolve(threads);
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
     * The CUDA backend, started now (device 0's primary context and the kernels).
     *
     * @return the CUDA backend
     * @throws IllegalStateException with the reason when CUDA is unavailable or does not start
     */
    public static Backend cuda() {
        return select("cuda", CudaDriver::probe, () -> CudaRuntime.shared());
    }

    /**
     * The backend chosen for this JVM; the first call probes, starts CUDA if it can, and logs the choice.
     *
     * @return the backend every {@code KvCache.open(..., Backend.auto())} of this JVM gets
     */
    public static Backend auto() {
        Backend b = auto;
        if (b == null) {
            synchronized (Backend.class) {
                b = auto;
                if (b == null) {
                    b = select(System.getProperty(PROPERTY), CudaDriver::probe, () -> CudaRuntime.shared());
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

    /**
     * The float lanes the CPU backend's kernels use in this JVM, from {@value #SIMD_PROPERTY}.
     *
     * @return 4, 8 or 16, or 0 for the scalar kernels
     * @throws IllegalArgumentException when the property asks for a width this CPU does not have
     */
    public static int simdLanes() {
        return Simd.lanes();
    }

    /**
     * The float lanes of this CPU's preferred vector width (what {@link #simdLanes()} uses by default).
     *
     * @return the preferred lane count
     */
    public static int preferredSimdLanes() {
        return Simd.preferredLanes();
    }

    /** The selection rule with the real start-up, separate from the JVM-wide cache so it can be tested. */
    static Backend select(String setting, Supplier<CudaProbe> probe) {
        return select(setting, probe, () -> CudaRuntime.shared());
    }

    /** The selection rule: {@code setting} is the property's value (null = auto). */
    static Backend select(String setting, Supplier<CudaProbe> probe, Starter starter) {
        String s = setting == null ? "auto" : setting.trim().toLowerCase(Locale.ROOT);
        switch (s) {
            case "cpu":
                return new Backend(Kind.CPU, PROPERTY + "=cpu");
            case "cuda": {
                CudaProbe p = probe.get();
                if (!p.available()) {
                    throw new IllegalStateException(PROPERTY + "=cuda but " + p);
                }
                String failure = tryStart(starter);
                if (failure != null) {
                    throw new IllegalStateException(PROPERTY + "=cuda but the CUDA backend did not start: " + failure);
                }
                return new Backend(Kind.CUDA, p.reason());
            }
            case "auto": {
                CudaProbe p = probe.get();
                if (!p.available()) {
                    return new Backend(Kind.CPU, p.toString());
                }
                String failure = tryStart(starter);
                if (failure != null) {
                    String why = "a GPU is present (" + p.reason() + ") but the CUDA backend did not start: " + failure;
                    LOG.warn("falling back to the CPU: {}", why);
                    return new Backend(Kind.CPU, why);
                }
                return new Backend(Kind.CUDA, p.reason());
            }
            default:
                throw new IllegalArgumentException(PROPERTY + " must be cpu, cuda or auto, got '" + setting + "'");
        }
    }

    /** Null when the backend started, else the failure in one line. */
    private static String tryStart(Starter starter) {
        try {
            starter.start();
            return null;
        } catch (RuntimeException | LinkageError e) {
            // LinkageError: a missing kernels jar or bindings class must not take the JVM down with it
            String m = e.getMessage();
            return e.getClass().getSimpleName() + (m == null || m.isBlank() ? "" : ": " + m.strip());
        }
    }
}
