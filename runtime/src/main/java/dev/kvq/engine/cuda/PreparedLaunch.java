package dev.kvq.engine.cuda;

import dev.kvq.driver.Dim3;
import dev.kvq.driver.Kernel;
import dev.kvq.driver.KernelArgs;
import dev.kvq.driver.Stream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * One launch whose argument block ({@code void** kernelParams}) is built once, checked against the kernel's
 * signature ({@link LaunchArgs}), and kept in the owner's arena: launching it allocates nothing and costs one
 * driver call. An int argument that changes from step to step (a split count) is rewritten in place.
 */
final class PreparedLaunch {
    private final Kernel kernel;
    private final Dim3 block;
    private final int shared;
    private final MemorySegment params;

    /**
     * Prepares {@code args} for {@code kernel}.
     *
     * @param kernel the loaded kernel (named as {@code args} are)
     * @param args   the checked arguments
     * @param block  threads per block
     * @param shared dynamic shared memory per block
     * @param arena  where the argument block lives (as long as the launch may run)
     */
    PreparedLaunch(Kernel kernel, LaunchArgs args, Dim3 block, int shared, Arena arena) {
        this.kernel = kernel;
        this.block = block;
        this.shared = shared;
        this.params = args.done().marshal(arena);
    }

    /** Rewrites the int argument at position {@code index}. */
    void setInt(int index, int value) {
        KernelArgs.slot(params, index, Integer.BYTES).set(ValueLayout.JAVA_INT, 0, value);
    }

    /** Queues the launch on {@code stream} over {@code grid}. */
    void launch(Dim3 grid, Stream stream) {
        kernel.launch(grid, block, shared, stream, params);
    }
}
