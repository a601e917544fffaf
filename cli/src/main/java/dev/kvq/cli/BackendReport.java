package dev.kvq.cli;

import java.util.Map;

/** The CUDA and backend lines of {@code kvq info}. */
final class BackendReport {
    private BackendReport() {}

    static void describe(Map<String, String> rows) {
        rows.put("cuda", "not probed: the CUDA driver layer is not part of this build yet");
        rows.put("backend", "cpu (the only backend in this build)");
    }
}
