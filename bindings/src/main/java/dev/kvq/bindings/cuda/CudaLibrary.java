package dev.kvq.bindings.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Path;
import java.util.Objects;

/**
 * Chooses which driver library {@link cuda_h} opens. Not generated: jextract hard-codes the
 * library name, and kvq needs an override (a specific libcuda.so.1, or a fake one in tests).
 *
 * <p>The choice, in order: {@link #select(Path)} called before {@code cuda_h} is first touched,
 * the system property {@value #PROPERTY}, the environment variable {@value #ENV}, else the
 * driver's soname {@value #DEFAULT_NAME} (found by the dynamic loader). Once {@code cuda_h} has
 * initialized, the choice is frozen for the life of the JVM, as the loaded library is.
 *
 * <p>Touching this class never loads anything native.
 */
@SuppressWarnings("restricted") // FFM: this class is where kvq talks to native code
public final class CudaLibrary {

    /** System property naming a driver library path. */
    public static final String PROPERTY = "kvq.cuda.driver";
    /** Environment variable naming a driver library path. */
    public static final String ENV = "KVQ_CUDA_DRIVER";
    /** The CUDA driver's soname. */
    public static final String DEFAULT_NAME = "libcuda.so.1";

    private static String selected; // set by select(), wins over property and environment
    private static String bound;    // set once cuda_h initializes

    private CudaLibrary() {
    }

    /** The library {@code cuda_h} would open now: a path or a bare soname. */
    public static synchronized String configured() {
        if (bound != null) {
            return bound;
        }
        if (selected != null) {
            return selected;
        }
        String p = System.getProperty(PROPERTY);
        if (p != null && !p.isBlank()) {
            return p.strip();
        }
        String e = System.getenv(ENV);
        if (e != null && !e.isBlank()) {
            return e.strip();
        }
        return DEFAULT_NAME;
    }

    /**
     * Makes {@code cuda_h} open {@code library} instead of the configured one.
     *
     * @throws IllegalStateException when {@code cuda_h} is already bound to a different library
     *                               (a process can hold only one CUDA driver)
     */
    public static synchronized void select(Path library) {
        Objects.requireNonNull(library, "library");
        String wanted = library.toAbsolutePath().normalize().toString();
        if (bound != null) {
            if (!bound.equals(wanted)) {
                throw new IllegalStateException("the CUDA bindings are already bound to " + bound
                        + " in this JVM; cannot switch to " + wanted);
            }
            return;
        }
        selected = wanted;
    }

    /** The library {@code cuda_h} opened, or null when it has not been initialized (yet). */
    public static synchronized String boundLibrary() {
        return bound;
    }

    /** Freezes the choice; called once from {@code cuda_h}'s static initializer. */
    static synchronized String bind() {
        if (bound == null) {
            String c = configured();
            bound = c.contains("/") ? Path.of(c).toAbsolutePath().normalize().toString() : c;
        }
        return bound;
    }

    /**
     * Opens {@code library} (a path when it contains '/', else a name for the dynamic loader).
     *
     * @throws IllegalArgumentException when the library cannot be opened
     */
    public static SymbolLookup open(String library, Arena arena) {
        return library.contains("/")
                ? SymbolLookup.libraryLookup(Path.of(library), arena)
                : SymbolLookup.libraryLookup(library, arena);
    }
}
