package dev.kvq.cache;

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
        Backend withGpu = Backend.select("auto", () -> GPU, () -> { });
        assertEquals(Backend.Kind.CUDA, withGpu.kind());
        assertEquals(GPU.reason(), withGpu.reason());
    }

    @Test
    void aStartUpFailureUnderAutoWarnsAndFallsBackToTheCpu() {
        try (LogCapture log = LogCapture.of(Backend.class)) {
            Backend b = Backend.select("auto", () -> GPU,
                    () -> { throw new IllegalStateException("cuModuleLoadDataEx failed: CUDA_ERROR_INVALID_PTX (218)"); });
            assertEquals(Backend.Kind.CPU, b.kind());
            assertTrue(b.reason().contains(GPU.reason()) && b.reason().contains("CUDA_ERROR_INVALID_PTX"), b.reason());
            assertEquals(1, log.warnings().size(), log.warnings().toString());
            assertTrue(log.warnings().get(0).contains("falling back to the CPU")
                    && log.warnings().get(0).contains("CUDA_ERROR_INVALID_PTX"), log.warnings().get(0));
        }
        // a missing class (e.g. no kernels jar) is a start-up failure too, not a crash
        Backend b = Backend.select(null, () -> GPU, () -> { throw new NoClassDefFoundError("dev/kvq/kernels/KernelCatalog"); });
        assertEquals(Backend.Kind.CPU, b.kind());
        assertTrue(b.reason().contains("NoClassDefFoundError: dev/kvq/kernels/KernelCatalog"), b.reason());
    }

    @Test
    void aStartUpFailureUnderForcedCudaIsAnError() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Backend.select("cuda", () -> GPU,
                () -> { throw new IllegalStateException("cuDevicePrimaryCtxRetain failed: CUDA_ERROR_OUT_OF_MEMORY (2)"); }));
        assertTrue(e.getMessage().startsWith("kvq.backend=cuda but the CUDA backend did not start")
                && e.getMessage().contains("CUDA_ERROR_OUT_OF_MEMORY"), e.getMessage());
        assertEquals(Backend.Kind.CUDA, Backend.select(" cuda ", () -> GPU, () -> { }).kind());
    }

    @Test
    void theRealStartUpWithoutAGpuGivesTheProbeReason() {
        // on a machine without CUDA the real probe says why; with a GPU the backend starts or says why not
        dev.kvq.driver.CudaProbe real = dev.kvq.driver.CudaDriver.probe();
        Backend b = Backend.select("auto", dev.kvq.driver.CudaDriver::probe);
        if (!real.available()) {
            assertEquals(Backend.Kind.CPU, b.kind());
            assertEquals(real.toString(), b.reason());
            IllegalStateException e = assertThrows(IllegalStateException.class, Backend::cuda);
            assertTrue(e.getMessage().contains(real.reason()), e.getMessage());
        }
    }

    @Test
    void forcedChoices() {
        assertEquals(Backend.Kind.CPU, Backend.select("CPU", () -> { throw new AssertionError("no probe for cpu"); },
                () -> { throw new AssertionError("no start for cpu"); }).kind());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Backend.select("cuda", () -> NONE));
        assertTrue(e.getMessage().contains("cannot open libcuda.so.1"), e.getMessage());
        assertEquals("kvq.backend must be cpu, cuda or auto, got 'tpu'",
                assertThrows(IllegalArgumentException.class, () -> Backend.select("tpu", () -> NONE)).getMessage());
    }
}
