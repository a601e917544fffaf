package dev.kvq.driver;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Builds the fake libcuda.so.1 (test resource fake_cuda.c) with gcc, and reads its counters. */
@SuppressWarnings("restricted") // FFM: this class is where kvq talks to native code
final class FakeCuda {

    /** Why there is no fake library, or null when {@link #build} succeeded. */
    private String skipReason;
    private final Path library;

    private FakeCuda(Path library, String skipReason) {
        this.library = library;
        this.skipReason = skipReason;
    }

    /** Compiles the fake driver into {@code dir}/libcuda.so.1 with the given -D defines. */
    static FakeCuda build(Path dir, String... defines) throws IOException, InterruptedException {
        Path src = dir.resolve("fake_cuda.c");
        try (InputStream in = FakeCuda.class.getResourceAsStream("fake_cuda.c")) {
            if (in == null) {
                throw new IOException("test resource dev/kvq/driver/fake_cuda.c is missing");
            }
            Files.write(src, in.readAllBytes());
        }
        Path lib = dir.resolve("libcuda.so.1");
        List<String> cmd = new ArrayList<>(List.of("gcc", "-shared", "-fPIC", "-O1", "-o", lib.toString()));
        for (String d : defines) {
            cmd.add("-D" + d);
        }
        cmd.add(src.toString());
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        } catch (IOException e) {
            return new FakeCuda(null, "gcc not found (" + e.getMessage() + "); cannot build the fake libcuda.so.1");
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException("gcc failed to build the fake libcuda.so.1:\n" + out);
        }
        return new FakeCuda(lib, null);
    }

    /** Null when the library exists, else the reason to skip. */
    String skipReason() {
        return skipReason;
    }

    Path library() {
        return library;
    }

    /** Driver memory calls made so far (allocs, frees, copies, memsets). */
    long nativeCalls() {
        return counter("fake_native_calls");
    }

    long frees() {
        return counter("fake_frees");
    }

    private long counter(String name) {
        // dlopen of the same path returns the already-loaded library, so this reads its globals
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment sym = SymbolLookup.libraryLookup(library, arena).findOrThrow(name);
            return sym.reinterpret(8).get(ValueLayout.JAVA_LONG, 0);
        }
    }
}
