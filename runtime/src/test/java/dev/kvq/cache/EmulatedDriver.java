package dev.kvq.cache;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * With {@code -Dkvq.gpu.emulate=true} (the runtime's "emulated-gpu" test execution), builds the
 * emulated CUDA driver of {@code src/test/emulator} with nvcc and points this JVM's driver library at
 * it before anything probes, so the GPU cache tests run the Java backend end to end against the
 * kernels' bodies executed on the host. Without nvcc nothing is installed and the tests skip.
 */
final class EmulatedDriver {
    private EmulatedDriver() {}

    private static boolean done;

    /** Installs the emulated driver once per JVM when asked to; a failed build is an error. */
    static synchronized void installIfRequested() {
        if (done || !Boolean.getBoolean("kvq.gpu.emulate")) {
            return;
        }
        done = true;
        Path script = Path.of("src/test/emulator/build.sh").toAbsolutePath();
        Path out = Path.of("target/emulated-cuda").toAbsolutePath();
        try {
            Process p = new ProcessBuilder("bash", script.toString(), out.toString()).redirectErrorStream(true).start();
            String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(600, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException("building the emulated CUDA driver took over 600 s");
            }
            if (p.exitValue() != 0) {
                throw new IllegalStateException("building the emulated CUDA driver failed:\n" + log);
            }
            Path lib = out.resolve("libcuda.so.1");
            if (Files.isRegularFile(lib)) {
                System.setProperty("kvq.cuda.driver", lib.toString());   // CudaLibrary.PROPERTY
            } else {
                System.out.println("gpu: " + log.strip());
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot run " + script + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while building the emulated CUDA driver", e);
        }
    }
}
