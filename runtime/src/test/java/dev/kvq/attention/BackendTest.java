package dev.kvq.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.driver.CudaProbe;
import dev.kvq.driver.DeviceInfo;
import java.util.List;
import org.junit.jupiter.api.Test;

class BackendTest {
    private static final CudaProbe NONE = new CudaProbe(false, "cannot open libcuda.so.1", 0, List.of(), "libcuda.so.1");
    private static final CudaProbe GPU = new CudaProbe(true, "CUDA driver 13.0, 1 device", 13000,
            List.of(new DeviceInfo(0, "NVIDIA H200", 9, 0, 132, 141L << 30)), "libcuda.so.1");

    @Test
    void autoFallsBackToTheCpuWithTheProbeReason() {
        Backend b = Backend.select(null, () -> NONE);
        assertEquals(Backend.Kind.CPU, b.kind());
        assertEquals("CUDA unavailable: cannot open libcuda.so.1", b.reason());
        Backend withGpu = Backend.select("auto", () -> GPU);
        assertEquals(Backend.CUDA_BACKEND_BUILT ? Backend.Kind.CUDA : Backend.Kind.CPU, withGpu.kind());
    }

    @Test
    void forcedChoices() {
        assertEquals(Backend.Kind.CPU, Backend.select("CPU", () -> { throw new AssertionError("no probe for cpu"); }).kind());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Backend.select("cuda", () -> NONE));
        assertTrue(e.getMessage().contains("cannot open libcuda.so.1"), e.getMessage());
        assertEquals("kvq.backend must be cpu, cuda or auto, got 'tpu'",
                assertThrows(IllegalArgumentException.class, () -> Backend.select("tpu", () -> NONE)).getMessage());
    }
}
