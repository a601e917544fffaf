package dev.kvq.cli;

import dev.kvq.cache.Backend;
import dev.kvq.driver.CudaDriver;
import dev.kvq.driver.CudaProbe;
import dev.kvq.driver.DeviceInfo;
import java.util.Map;

/** The CUDA and backend lines of {@code kvq info}. */
final class BackendReport {
    private BackendReport() {}

    static void describe(Map<String, String> rows) {
        CudaProbe probe = CudaDriver.probe();
        rows.put("cuda", probe.toString());
        int i = 0;
        for (DeviceInfo d : probe.devices()) {
            rows.put("gpu " + i++, d.toString());
        }
        Backend b = Backend.auto();
        // on the CPU the reason is the probe's own line, already shown above; say it briefly
        String why = b.kind() == Backend.Kind.CPU && b.reason().equals(probe.toString()) ? "no usable CUDA device"
                : b.reason();
        rows.put("backend", b.kind().name().toLowerCase(java.util.Locale.ROOT) + " (" + why + ")");
    }
}
