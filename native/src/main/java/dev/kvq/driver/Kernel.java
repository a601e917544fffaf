package dev.kvq.driver;

import dev.kvq.bindings.cuda.cuda_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;

/** One entry point of a loaded {@link Module}, launched with typed {@link KernelArgs}. */
public final class Kernel {

    private final Module module;
    private final String name;
    private final MemorySegment handle;

    Kernel(Module module, String name, MemorySegment handle) {
        this.module = module;
        this.name = name;
        this.handle = handle;
    }

    /**
     * The entry point's name, as given to {@link Module#kernel(String)}.
     *
     * @return the kernel name
     */
    public String name() {
        return name;
    }

    /**
     * The module this kernel was taken from; it must stay loaded while the kernel is used.
     *
     * @return the owning module
     */
    public Module module() {
        return module;
    }

    /**
     * {@code cuFuncGetAttribute} for one {@code CU_FUNC_ATTRIBUTE_*} value.
     *
     * @param attribute a {@code CUfunction_attribute} constant from the CUDA headers
     * @return the attribute's value for this kernel on this device
     */
    public int attribute(int attribute) {
        module.ensureOpen();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(ValueLayout.JAVA_INT);
            CudaException.check(cuda_h.cuFuncGetAttribute(v, attribute, handle), "cuFuncGetAttribute");
            return v.get(ValueLayout.JAVA_INT, 0);
        }
    }

    /**
     * {@code cuFuncSetAttribute} for one settable {@code CU_FUNC_ATTRIBUTE_*} value.
     *
     * @param attribute a {@code CUfunction_attribute} constant from the CUDA headers
     * @param value the new value
     * @throws CudaException when the driver refuses the value (e.g. above the device's limit)
     */
    public void setAttribute(int attribute, int value) {
        module.ensureOpen();
        CudaException.check(cuda_h.cuFuncSetAttribute(handle, attribute, value), "cuFuncSetAttribute",
                "kernel " + name + " attribute " + attribute + " = " + value);
    }

    /**
     * Allows launches of this kernel with up to {@code bytes} of dynamic shared memory
     * ({@code CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES}). Needed above 48 KiB; the device's
     * ceiling is {@link Device#maxSharedMemoryPerBlockOptin()} less the kernel's static shared memory.
     *
     * @param bytes the dynamic shared memory limit per block
     * @throws IllegalArgumentException for a negative size
     * @throws CudaException when the device does not allow that much
     */
    public void setMaxDynamicSharedMemory(int bytes) {
        if (bytes < 0) {
            throw new IllegalArgumentException("dynamic shared memory must be >= 0 bytes, got " + bytes);
        }
        setAttribute(cuda_h.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES(), bytes);
    }

    /**
     * Static shared memory per block, as compiled ({@code CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES}).
     *
     * @return bytes of statically allocated shared memory per block
     */
    public int staticSharedBytes() {
        return attribute(cuda_h.CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES());
    }

    /**
     * Registers per thread, as compiled for this device.
     *
     * @return the register count per thread
     */
    public int registersPerThread() {
        return attribute(cuda_h.CU_FUNC_ATTRIBUTE_NUM_REGS());
    }

    /**
     * The largest block this kernel can be launched with on this device.
     *
     * @return the thread limit per block, from registers and shared memory use
     */
    public int maxThreadsPerBlock() {
        return attribute(cuda_h.CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK());
    }

    /**
     * Queues the kernel on {@code stream}. The arguments are copied into a confined arena that
     * lives for the duration of the call: {@code cuLaunchKernel} copies the values before it
     * returns, so nothing needs to outlive it.
     *
     * @param grid blocks in the grid
     * @param block threads per block
     * @param sharedMemBytes dynamic shared memory per block in bytes (0 when the kernel uses none)
     * @param stream the stream to queue the launch on
     * @param args the kernel's arguments, in declaration order
     */
    public void launch(Dim3 grid, Dim3 block, int sharedMemBytes, Stream stream, KernelArgs args) {
        Objects.requireNonNull(grid, "grid");
        Objects.requireNonNull(block, "block");
        Objects.requireNonNull(stream, "stream");
        Objects.requireNonNull(args, "args");
        if (sharedMemBytes < 0) {
            throw new IllegalArgumentException("dynamic shared memory must be >= 0 bytes, got " + sharedMemBytes);
        }
        if (block.threads() > 1024) {
            throw new IllegalArgumentException("a block holds at most 1024 threads, got " + block);
        }
        module.ensureOpen();
        MemorySegment s = stream.handle();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment params = args.marshal(arena);
            int rc = cuda_h.cuLaunchKernel(handle, grid.x(), grid.y(), grid.z(), block.x(), block.y(), block.z(),
                    sharedMemBytes, s, params, MemorySegment.NULL);
            CudaException.check(rc, "cuLaunchKernel", rc == 0 ? null
                    : "kernel " + name + " grid " + grid + " block " + block + " shared " + sharedMemBytes + " B");
        }
    }

    /**
     * Queues the kernel on {@code stream} with an argument block made beforehand ({@link KernelArgs#marshal}):
     * nothing is allocated here, so a decode step's launches cost one driver call each.
     *
     * @param grid blocks in the grid
     * @param block threads per block
     * @param sharedMemBytes dynamic shared memory per block in bytes (0 when the kernel uses none)
     * @param stream the stream to queue the launch on
     * @param params the {@code void**} argument block, alive for the call
     */
    public void launch(Dim3 grid, Dim3 block, int sharedMemBytes, Stream stream, MemorySegment params) {
        Objects.requireNonNull(params, "params");
        if (sharedMemBytes < 0 || block.threads() > 1024) {
            throw new IllegalArgumentException("bad launch of " + name + ": block " + block + ", shared "
                    + sharedMemBytes + " B");
        }
        module.ensureOpen();
        int rc = cuda_h.cuLaunchKernel(handle, grid.x(), grid.y(), grid.z(), block.x(), block.y(), block.z(),
                sharedMemBytes, stream.handle(), params, MemorySegment.NULL);
        CudaException.check(rc, "cuLaunchKernel", rc == 0 ? null
                : "kernel " + name + " grid " + grid + " block " + block + " shared " + sharedMemBytes + " B");
    }

    /**
     * A 1-D launch on the default stream without dynamic shared memory.
     *
     * @param gridX blocks in the grid
     * @param blockX threads per block
     * @param args the kernel's arguments, in declaration order
     */
    public void launch(int gridX, int blockX, KernelArgs args) {
        launch(Dim3.of(gridX), Dim3.of(blockX), 0, Stream.defaultStream(), args);
    }

    @Override
    public String toString() {
        return "Kernel[" + name + " in " + module.name() + "]";
    }
}
