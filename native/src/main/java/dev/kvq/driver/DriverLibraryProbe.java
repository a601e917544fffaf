package dev.kvq.driver;

import dev.kvq.bindings.cuda.CudaLibrary;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;

/**
 * Opens the driver library once, on its own, before anything touches {@code cuda_h}: the header
 * class's static initializer cannot report a missing library gracefully (it would throw
 * ExceptionInInitializerError once and NoClassDefFoundError for the rest of the JVM's life).
 * Deliberately references nothing in {@code cuda_h}.
 */
@SuppressWarnings("restricted") // FFM: this class is where kvq talks to native code
final class DriverLibraryProbe {

    private DriverLibraryProbe() {
    }

    /** Null when {@code library} opens and exports {@code cuInit}; otherwise why not. */
    static String check(String library) {
        try (Arena arena = Arena.ofConfined()) {
            SymbolLookup lookup = CudaLibrary.open(library, arena);
            if (lookup.find("cuInit").isEmpty()) {
                return library + " does not export cuInit (not a CUDA driver library)";
            }
            return null;
        } catch (IllegalArgumentException e) {
            // libraryLookup's way of saying dlopen failed
            return "cannot open the CUDA driver library " + library + " (" + e.getMessage()
                    + "); is the NVIDIA driver installed? (override: -D" + CudaLibrary.PROPERTY + "=PATH or "
                    + CudaLibrary.ENV + "=PATH)";
        } catch (RuntimeException | LinkageError e) {
            return "cannot open the CUDA driver library " + library + ": " + e;
        }
    }
}
