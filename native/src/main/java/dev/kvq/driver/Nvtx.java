package dev.kvq.driver;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

/**
 * NVTX ranges, so Nsight timelines show kvq's phases by name. Uses {@code libnvToolsExt.so.1}
 * (NVTX v2's library) when the dynamic loader finds it; otherwise every call is a cheap no-op.
 * CUDA 12+ ships NVTX v3 as headers only, so on many machines this library is absent.
 *
 * <pre>{@code try (var r = Nvtx.range("attend layer 3")) { ... } }</pre>
 */
@SuppressWarnings("restricted") // FFM: this class is where kvq talks to native code
public final class Nvtx {

    private static final Logger LOG = LogManager.getLogger(Nvtx.class);
    static final String LIBRARY = "libnvToolsExt.so.1";

    /** A pushed range; {@link #close()} pops it. */
    public interface Range extends AutoCloseable {
        @Override
        void close();
    }

    private static final Range NO_OP = () -> { };

    private static final MethodHandle PUSH; // int nvtxRangePushA(const char*)
    private static final MethodHandle POP;  // int nvtxRangePop(void)

    static {
        MethodHandle push = null;
        MethodHandle pop = null;
        try {
            // global arena: the library stays loaded for the JVM's life, as the handles need it
            SymbolLookup lib = SymbolLookup.libraryLookup(LIBRARY, Arena.global());
            Linker linker = Linker.nativeLinker();
            push = linker.downcallHandle(lib.findOrThrow("nvtxRangePushA"),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
            pop = linker.downcallHandle(lib.findOrThrow("nvtxRangePop"), FunctionDescriptor.of(ValueLayout.JAVA_INT));
        } catch (IllegalArgumentException | java.util.NoSuchElementException e) {
            LOG.debug("NVTX disabled: {} not usable ({})", LIBRARY, e.getMessage());
            push = null;
            pop = null;
        }
        PUSH = push;
        POP = pop;
    }

    private Nvtx() {
    }

    /**
     * True when ranges reach NVTX (the library was found).
     *
     * @return whether {@code libnvToolsExt} was loaded
     */
    public static boolean available() {
        return PUSH != null;
    }

    /**
     * Pushes a named range on the calling thread; close the result to pop it.
     *
     * @param name the range's label in the profiler timeline
     * @return the open range; does nothing when NVTX is unavailable
     */
    public static Range range(String name) {
        if (PUSH == null) {
            return NO_OP;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cName = arena.allocateFrom(name); // NVTX copies the string
            int unused = (int) PUSH.invokeExact(cName);
        } catch (Throwable t) {
            throw new IllegalStateException("nvtxRangePushA failed", t);
        }
        return Nvtx::pop;
    }

    private static void pop() {
        try {
            int unused = (int) POP.invokeExact();
        } catch (Throwable t) {
            throw new IllegalStateException("nvtxRangePop failed", t);
        }
    }
}
