package dev.kvq.driver;

import java.util.List;
import java.util.Objects;

/**
 * The outcome of {@link CudaDriver#probe()}: either CUDA is usable (driver version and devices),
 * or it is not, with the reason in words.
 *
 * @param available     true when the driver initialized and at least one device is present
 * @param reason        why CUDA is unavailable, or a one-line summary when it is available
 * @param driverVersion the driver's CUDA version as {@code cuDriverGetVersion} reports it
 *                      (1000·major + 10·minor, e.g. 13000); 0 when unknown
 * @param devices       the devices found; empty when unavailable
 * @param library       the driver library that was (or would have been) opened
 */
public record CudaProbe(boolean available, String reason, int driverVersion, List<DeviceInfo> devices,
                        String library) {

    /** Copies the device list and turns a null library into an empty string. */
    public CudaProbe {
        Objects.requireNonNull(reason, "reason");
        devices = List.copyOf(devices);
        library = library == null ? "" : library;
    }

    static CudaProbe unavailable(String reason, int driverVersion, String library) {
        return new CudaProbe(false, reason, driverVersion, List.of(), library);
    }

    static CudaProbe available(int driverVersion, List<DeviceInfo> devices, String library) {
        StringBuilder sb = new StringBuilder("CUDA driver ").append(versionString(driverVersion))
                .append(" (").append(library).append("), ").append(devices.size())
                .append(devices.size() == 1 ? " device: " : " devices: ");
        for (int i = 0; i < devices.size(); i++) {
            sb.append(i == 0 ? "" : "; ").append(devices.get(i));
        }
        return new CudaProbe(true, sb.toString(), driverVersion, devices, library);
    }

    /**
     * The driver version as "major.minor", e.g. "13.0"; "unknown" when 0.
     *
     * @return the version for messages and {@code kvq info}
     */
    public String driverVersionString() {
        return versionString(driverVersion);
    }

    static String versionString(int v) {
        return v <= 0 ? "unknown" : (v / 1000) + "." + (v % 1000) / 10;
    }

    @Override
    public String toString() {
        return available ? reason : "CUDA unavailable: " + reason;
    }
}
