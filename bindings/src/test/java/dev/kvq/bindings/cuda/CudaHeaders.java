package dev.kvq.bindings.cuda;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Finds the CUDA toolkit's include folder (the one holding cuda.h) on this machine. */
final class CudaHeaders {

    private CudaHeaders() {
    }

    static Optional<Path> findIncludeDir() {
        List<Path> candidates = new ArrayList<>();
        for (String env : List.of("CUDA_HOME", "CUDA_PATH")) {
            String v = System.getenv(env);
            if (v != null && !v.isBlank()) {
                candidates.add(Path.of(v, "include"));
            }
        }
        nvccTop().ifPresent(top -> {
            candidates.add(top.resolve("include"));
            candidates.add(top.resolve("targets/x86_64-linux/include"));
        });
        candidates.add(Path.of("/usr/local/cuda/include"));
        return candidates.stream().filter(d -> Files.isRegularFile(d.resolve("cuda.h"))).findFirst();
    }

    /**
     * The toolkit root as nvcc itself reports it ({@code TOP=} in its dry-run output). Resolving
     * the nvcc on PATH is not enough: it may be a wrapper script outside the toolkit.
     */
    private static Optional<Path> nvccTop() {
        Path tmp = null;
        try {
            tmp = Files.createTempFile("kvq-nvcc", ".cu");
            Process p = new ProcessBuilder("nvcc", "--dryrun", "-E", tmp.toString())
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return Optional.empty();
            }
            Matcher m = Pattern.compile("(?m)^#\\$ TOP=(.+)$").matcher(out);
            return m.find() ? Optional.of(Path.of(m.group(1).strip()).normalize()) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty(); // no nvcc on PATH
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // a leftover empty temp file is harmless
                }
            }
        }
    }
}
