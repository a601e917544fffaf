package dev.kvq.driver;

import dev.kvq.bindings.cuda.cuda_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

/**
 * A module loaded from PTX with {@code cuModuleLoadDataEx}; the driver JIT-compiles it for the
 * current context's device. The JIT's info log is kept ({@link #jitInfoLog()}), and its error log
 * goes into the {@link CudaException} when loading fails (e.g. CUDA_ERROR_INVALID_PTX, 218).
 */
@SuppressWarnings("restricted") // FFM: this class is where kvq talks to native code
public final class Module implements AutoCloseable {

    private static final Logger LOG = LogManager.getLogger(Module.class);

    /** Size of each JIT log buffer; ptxas messages for one module fit easily. */
    static final int LOG_BYTES = 64 * 1024;

    private final MemorySegment handle;
    private final String name;
    private final String jitInfoLog;
    private final AtomicBoolean closed = new AtomicBoolean();

    private Module(MemorySegment handle, String name, String jitInfoLog) {
        this.handle = handle;
        this.name = name;
        this.jitInfoLog = jitInfoLog;
    }

    /**
     * Loads PTX text into the current context; {@code name} only labels logs and errors.
     *
     * @param name a label for logs and errors, e.g. the source file
     * @param ptx the PTX text
     * @return the loaded module; close it to unload
     * @throws CudaException when the JIT rejects the PTX (the message carries the JIT's error log)
     */
    public static Module loadPtx(String name, String ptx) {
        return loadPtx(name, ptx.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * Loads PTX bytes (UTF-8/ASCII, NUL terminator optional) into the current context.
     *
     * @param name a label for logs and errors, e.g. the source file
     * @param ptx the PTX bytes
     * @return the loaded module; close it to unload
     * @throws CudaException when the JIT rejects the PTX (the message carries the JIT's error log)
     */
    public static Module loadPtx(String name, byte[] ptx) {
        if (ptx.length == 0) {
            throw new IllegalArgumentException("PTX of " + name + " is empty");
        }
        CudaDriver.requireInitialized();
        try (Arena arena = Arena.ofConfined()) {
            // the driver reads the image up to its NUL terminator
            MemorySegment image = arena.allocate(ptx.length + 1L);
            MemorySegment.copy(ptx, 0, image, ValueLayout.JAVA_BYTE, 0, ptx.length);
            MemorySegment infoLog = arena.allocate(LOG_BYTES);
            MemorySegment errorLog = arena.allocate(LOG_BYTES);

            int[] keys = {
                cuda_h.CU_JIT_INFO_LOG_BUFFER(), cuda_h.CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES(),
                cuda_h.CU_JIT_ERROR_LOG_BUFFER(), cuda_h.CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES(),
                cuda_h.CU_JIT_LOG_VERBOSE(),
            };
            // option values are void*; sizes and flags travel as the pointer's value
            MemorySegment[] values = {
                infoLog, MemorySegment.ofAddress(LOG_BYTES),
                errorLog, MemorySegment.ofAddress(LOG_BYTES),
                MemorySegment.ofAddress(1),
            };
            MemorySegment options = arena.allocateFrom(ValueLayout.JAVA_INT, keys);
            MemorySegment optionValues = arena.allocate(ValueLayout.ADDRESS, values.length);
            for (int i = 0; i < values.length; i++) {
                optionValues.setAtIndex(ValueLayout.ADDRESS, i, values[i]);
            }
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);

            int rc = cuda_h.cuModuleLoadDataEx(out, image, keys.length, options, optionValues);
            String info = infoLog.getString(0).strip();
            if (rc != 0) {
                String err = errorLog.getString(0).strip();
                throw CudaException.of(rc, "cuModuleLoadDataEx",
                        "module " + name + (err.isEmpty() ? ": the JIT error log is empty" : ", JIT error log:\n" + err)
                                + (info.isEmpty() ? "" : "\nJIT info log:\n" + info));
            }
            if (!info.isEmpty()) {
                LOG.debug("JIT info log for {}: {}", name, info);
            }
            return new Module(out.get(ValueLayout.ADDRESS, 0), name, info);
        }
    }

    /**
     * The entry point {@code kernelName} (an {@code extern "C"} name: unmangled).
     *
     * @param kernelName the name of a {@code .entry} in the PTX
     * @return the kernel, valid while this module stays loaded
     */
    public Kernel kernel(String kernelName) {
        ensureOpen();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            int rc = cuda_h.cuModuleGetFunction(out, handle, arena.allocateFrom(kernelName));
            CudaException.check(rc, "cuModuleGetFunction", rc == cuda_h.CUDA_ERROR_NOT_FOUND()
                    ? "no entry point '" + kernelName + "' in module " + name + " (is it extern \"C\"?)" : null);
            return new Kernel(this, kernelName, out.get(ValueLayout.ADDRESS, 0));
        }
    }

    /**
     * The label given at load time.
     *
     * @return the module's name
     */
    public String name() {
        return name;
    }

    /**
     * What the JIT said on success (registers, spills with verbose logging); may be empty.
     *
     * @return the JIT's info log
     */
    public String jitInfoLog() {
        return jitInfoLog;
    }

    /**
     * Whether {@link #close()} has run.
     *
     * @return true once the module is unloaded
     */
    public boolean isClosed() {
        return closed.get();
    }

    void ensureOpen() {
        if (closed.get()) {
            throw new IllegalStateException("module " + name + " is unloaded");
        }
    }

    /** Unloads the module; its kernels become unusable. Idempotent. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            CudaException.check(cuda_h.cuModuleUnload(handle), "cuModuleUnload");
        }
    }
}
