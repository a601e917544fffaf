package dev.kvq.engine.cuda;

import dev.kvq.driver.Context;
import dev.kvq.driver.CudaDriver;
import dev.kvq.driver.CudaProbe;
import dev.kvq.driver.Device;
import dev.kvq.driver.DeviceInfo;
import dev.kvq.driver.Kernel;
import dev.kvq.driver.Module;
import dev.kvq.kernels.KernelCatalog;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

/**
 * The started CUDA backend of this JVM: device 0's primary context and the cache kernels' modules,
 * JIT-compiled once from the PTX that ships in kvq-kernels-cu. Started on first use and kept for the
 * JVM's life (the primary context is shared and cheap to keep). A start-up failure is remembered, so
 * every later caller gets the same reason without retrying the driver.
 *
 * <p>CUDA binds contexts to threads: every entry point that talks to the device calls {@link #bind()}
 * first, so caches may be used from any thread (one at a time per cache).
 */
public final class CudaRuntime {
    private static final Logger LOG = LogManager.getLogger(CudaRuntime.class);

    private static CudaRuntime shared;           // guarded by CudaRuntime.class
    private static String failure;              // guarded by CudaRuntime.class

    private final DeviceInfo device;
    private final Context context;
    private final int arch;
    private final List<Module> modules = new ArrayList<>();
    private final Map<String, Kernel> kernels = new HashMap<>();
    private final int sharedOptin;               // CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN
    private final Map<String, Integer> sharedRaised = new HashMap<>();  // guarded by this

    private CudaRuntime(DeviceInfo device, Context context, int arch, int sharedOptin) {
        this.device = device;
        this.context = context;
        this.arch = arch;
        this.sharedOptin = sharedOptin;
    }

    /**
     * The JVM's engine, started on the first call.
     *
     * @throws IllegalStateException with the reason when CUDA is unavailable or the kernels do not load
     */
    public static synchronized CudaRuntime shared() {
        if (shared != null) {
            return shared;
        }
        if (failure != null) {
            throw new IllegalStateException(failure);
        }
        try {
            shared = start(CudaDriver.probe());
            return shared;
        } catch (RuntimeException | LinkageError e) {
            failure = "CUDA backend start-up failed: " + e.getMessage();
            throw new IllegalStateException(failure, e);
        }
    }

    /** Whether {@link #shared()} has started successfully in this JVM (never starts anything). */
    public static synchronized boolean started() {
        return shared != null;
    }

    private static CudaRuntime start(CudaProbe probe) {
        if (!probe.available()) {
            throw new IllegalStateException(probe.toString());
        }
        Device d = Device.get(0);
        DeviceInfo info = d.info();
        // a driver that reports no opt-in maximum gets the 48 KiB every device allows
        int optin = Math.max(KvKernels.SHARED_LIMIT, d.maxSharedMemoryPerBlockOptin());
        Context ctx = Context.primary(d);
        KernelCatalog catalog = KernelCatalog.get();
        int arch = -1;
        CudaRuntime engine = null;
        try {
            for (String source : KvKernels.SOURCES) {
                int a = catalog.bestArchitecture(source, info.computeCapabilityMajor(), info.computeCapabilityMinor());
                arch = Math.max(arch, a);
                if (engine == null) {
                    engine = new CudaRuntime(info, ctx, a, optin);
                }
                Module m = Module.loadPtx(KernelCatalog.fileName(source, a), catalog.ptxBytes(source, a));
                engine.modules.add(m);
                for (KernelCatalog.Entry e : catalog.entries(source, a)) {
                    engine.kernels.put(e.name(), m.kernel(e.name()));
                }
            }
            if (engine == null) {
                throw new IllegalStateException("no kernel sources are listed for the CUDA backend");
            }
            for (String name : KvKernels.REQUIRED) {
                if (!engine.kernels.containsKey(name)) {
                    throw new IllegalStateException("the shipped PTX has no kernel '" + name + "' (have "
                            + engine.kernels.keySet() + ")");
                }
            }
        } catch (RuntimeException | LinkageError e) {
            if (engine != null) {
                for (Module m : engine.modules) {
                    closeQuietly(m);
                }
            }
            ctx.close();
            throw e;
        }
        LOG.info("CUDA backend started on {} with sm_{} PTX ({} kernels)", info, arch, engine.kernels.size());
        return engine;
    }

    private static void closeQuietly(Module m) {
        try {
            m.close();
        } catch (RuntimeException e) {
            LOG.debug("unloading {} failed: {}", m.name(), e.getMessage());
        }
    }

    /** Makes the engine's context current on the calling thread (cheap; call before any device work). */
    public void bind() {
        context.makeCurrent();
    }

    /** The device the engine runs on. */
    public DeviceInfo device() {
        return device;
    }

    /** The context of the engine (device 0's primary context). */
    public Context context() {
        return context;
    }

    /** The device's shared memory per block with opt-in ({@code CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN}). */
    public int sharedMemoryOptin() {
        return sharedOptin;
    }

    /**
     * The most dynamic shared memory per block kernel {@code name} can be launched with here: the
     * opt-in maximum less the kernel's static shared memory.
     */
    public int maxDynamicSharedBytes(String name) {
        bind();
        return sharedOptin - kernel(name).staticSharedBytes();
    }

    /**
     * Lets kernel {@code name} be launched with {@code bytes} of dynamic shared memory: above 48 KiB
     * raises {@code CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES} (per function, for the whole
     * context), never lowering what another cache raised it to.
     *
     * @throws dev.kvq.driver.CudaException when the device refuses (above {@link #maxDynamicSharedBytes})
     */
    public synchronized void allowDynamicShared(String name, int bytes) {
        if (bytes <= KvKernels.SHARED_LIMIT || bytes <= sharedRaised.getOrDefault(name, 0)) {
            return;
        }
        bind();
        kernel(name).setMaxDynamicSharedMemory(bytes);
        sharedRaised.put(name, bytes);
        LOG.debug("raised the dynamic shared memory of {} to {} bytes", name, bytes);
    }

    /** The {@code sm_XX} of the PTX that was loaded. */
    public int architecture() {
        return arch;
    }

    /**
     * A loaded kernel by its {@code extern "C"} name.
     *
     * @throws IllegalArgumentException when no shipped module has it
     */
    public Kernel kernel(String name) {
        Kernel k = kernels.get(name);
        if (k == null) {
            throw new IllegalArgumentException("no CUDA kernel '" + name + "' is loaded (have " + kernels.keySet() + ")");
        }
        return k;
    }

    @Override
    public String toString() {
        return "CudaRuntime[" + device + ", sm_" + arch + ", " + kernels.size() + " kernels]";
    }
}
