package dev.kvq.driver;

import dev.kvq.bindings.cuda.CudaLibrary;
import dev.kvq.bindings.cuda.cuda_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

/**
 * Entry point of the driver layer: finds out whether CUDA is usable here, without ever throwing
 * or crashing the JVM on a machine that has no GPU or no driver.
 *
 * <p>The library is {@code libcuda.so.1} (the driver's soname, found by the dynamic loader) unless
 * {@code -Dkvq.cuda.driver=PATH} or {@code KVQ_CUDA_DRIVER=PATH} names another. A JVM binds one
 * driver library for good (see {@link CudaLibrary}).
 */
public final class CudaDriver {

    private static final Logger LOG = LogManager.getLogger(CudaDriver.class);

    /** CUresult of a stub libcuda (the toolkit's link-time stub, no real driver behind it). */
    static final int CUDA_ERROR_STUB_LIBRARY = 34;
    /** CUresult when the driver is there but sees no device. */
    static final int CUDA_ERROR_NO_DEVICE = 100;

    private static CudaProbe cached;       // guarded by CudaDriver.class
    private static volatile boolean initialized; // cuInit succeeded in this JVM

    private CudaDriver() {
    }

    /**
     * Probes the configured driver library once per JVM and caches the answer. Never throws.
     *
     * @return the cached probe result; {@code available()} says whether CUDA can be used
     */
    public static synchronized CudaProbe probe() {
        if (cached == null) {
            String library = CudaLibrary.configured();
            if (library.contains("/")) {
                library = Path.of(library).toAbsolutePath().normalize().toString(); // as CudaLibrary binds it
            }
            cached = probeLibrary(library, null);
            LOG.debug("CUDA probe: {}", cached);
        }
        return cached;
    }

    /**
     * Probes a specific driver library, bypassing the cache (tests, diagnostics). Never throws.
     * The first probe that gets past opening the library binds the JVM to it; probing a different
     * library afterwards reports "unavailable" with that reason.
     *
     * @param library path of the {@code libcuda.so.1} (or a stand-in) to open
     * @return what the probe found in that library
     */
    public static synchronized CudaProbe probe(Path library) {
        if (library == null) {
            return CudaProbe.unavailable("no driver library path given", 0, "");
        }
        String path = library.toAbsolutePath().normalize().toString();
        CudaProbe p = probeLibrary(path, library);
        LOG.debug("CUDA probe of {}: {}", path, p);
        return p;
    }

    /**
     * Throws unless {@link #probe()} found CUDA usable; the handle classes call this first so
     * that using them without a GPU fails with the probe's reason, not a linkage error.
     */
    static void requireInitialized() {
        if (initialized) {
            return;
        }
        CudaProbe p = probe();
        if (!p.available() && !initialized) {
            throw new IllegalStateException("CUDA is unavailable: " + p.reason());
        }
    }

    private static CudaProbe probeLibrary(String library, Path explicit) {
        try {
            String bound = CudaLibrary.boundLibrary();
            if (bound == null) {
                // open the library on its own first: cuda_h must not be touched if this fails
                String problem = DriverLibraryProbe.check(library);
                if (problem != null) {
                    return CudaProbe.unavailable(problem, 0, library);
                }
                if (explicit != null) {
                    CudaLibrary.select(explicit);
                }
            } else if (!bound.equals(library)) {
                return CudaProbe.unavailable("this JVM already uses the CUDA driver library " + bound
                        + "; cannot switch to " + library, 0, library);
            }
            return initializeAndQuery(library);
        } catch (ExceptionInInitializerError | NoClassDefFoundError e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            return CudaProbe.unavailable("cannot load the CUDA driver bindings for " + library + ": " + cause, 0, library);
        } catch (CudaException e) {
            return CudaProbe.unavailable(e.getMessage(), 0, library);
        } catch (Throwable t) {
            // the probe's contract is to answer, whatever went wrong
            return CudaProbe.unavailable("CUDA probe failed: " + t, 0, library);
        }
    }

    private static CudaProbe initializeAndQuery(String library) {
        int rc = cuda_h.cuInit(0); // first touch of cuda_h: its static initializer opens the library
        if (rc == CUDA_ERROR_STUB_LIBRARY) {
            return CudaProbe.unavailable(library + " is a stub driver library (cuInit: CUDA_ERROR_STUB_LIBRARY, 34);"
                    + " install the NVIDIA driver", 0, library);
        }
        if (rc == CUDA_ERROR_NO_DEVICE) {
            return CudaProbe.unavailable("no CUDA-capable device (cuInit: CUDA_ERROR_NO_DEVICE, 100)", 0, library);
        }
        if (rc != 0) {
            return CudaProbe.unavailable("CUDA driver did not initialize: " + CudaException.of(rc, "cuInit", null).getMessage(),
                    0, library);
        }
        initialized = true;
        int version = driverVersion();
        int count = Device.count();
        if (count == 0) {
            return CudaProbe.unavailable("no CUDA-capable device (cuDeviceGetCount returned 0)", version, library);
        }
        List<DeviceInfo> devices = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            devices.add(Device.get(i).info());
        }
        return CudaProbe.available(version, devices, library);
    }

    /**
     * Prints the probe's answer, one line per device (diagnostics on machines without a JDK:
     * {@code java -cp kvq-native.jar:kvq-bindings.jar:log4j-api.jar dev.kvq.driver.CudaDriver}).
     * Exit status 0 when CUDA is available, 3 when not.
     *
     * @param args ignored
     */
    public static void main(String[] args) {
        CudaProbe p = probe();
        System.out.println(p.available() ? "CUDA available: " + p.reason() : p.toString());
        System.out.println("driver library: " + p.library() + ", driver version: " + p.driverVersionString());
        for (DeviceInfo d : p.devices()) {
            System.out.println("device " + d);
        }
        System.exit(p.available() ? 0 : 3);
    }

    /** {@code cuDriverGetVersion}: 1000·major + 10·minor. */
    static int driverVersion() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(ValueLayout.JAVA_INT);
            CudaException.check(cuda_h.cuDriverGetVersion(v), "cuDriverGetVersion");
            return v.get(ValueLayout.JAVA_INT, 0);
        }
    }
}
