package dev.kvq.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A driver that initializes but whose cuMemAlloc_v2 returns CUDA_ERROR_OUT_OF_MEMORY (2). */
class FakeDriverOutOfMemoryTest {

    @TempDir
    static Path dir;
    static FakeCuda fake;

    @BeforeAll
    static void build() throws Exception {
        fake = FakeCuda.build(dir, "FAKE_CUINIT_RESULT=0", "FAKE_MEMALLOC_RESULT=2");
    }

    @Test
    void probeReportsTheFakeDevice() {
        assumeTrue(fake.skipReason() == null, () -> fake.skipReason());
        CudaProbe p = CudaDriver.probe(fake.library());
        assertTrue(p.available(), p.reason());
        assertEquals(13000, p.driverVersion());
        assertEquals("13.0", p.driverVersionString());
        assertEquals(List.of(new DeviceInfo(0, "kvq fake GPU", 9, 0, 132, 141L << 30)), p.devices());
        assertEquals("#0 kvq fake GPU (compute capability 9.0, 132 SMs, 141.0 GiB)", p.devices().get(0).toString());
        assertTrue(p.reason().startsWith("CUDA driver 13.0 ("), p.reason());
    }

    @SuppressWarnings("try") // the resource exists for its close()
    @Test
    void allocationFailureIsACudaExceptionWithNameAndCall() {
        assumeTrue(fake.skipReason() == null, () -> fake.skipReason());
        assertTrue(CudaDriver.probe(fake.library()).available());
        try (Context ctx = Device.get(0).primaryContext()) {
            CudaException e = assertThrows(CudaException.class, () -> DeviceMemory.allocate(1L << 30));
            assertEquals(2, e.code());
            assertEquals("CUDA_ERROR_OUT_OF_MEMORY", e.errorName());
            assertEquals("cuMemAlloc_v2", e.call());
            assertEquals("out of memory", e.description());
            assertEquals("cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (2): out of memory", e.getMessage());
        }
    }

    @Test
    void unknownCodesStillGetAReadableName() {
        assumeTrue(fake.skipReason() == null, () -> fake.skipReason());
        assertTrue(CudaDriver.probe(fake.library()).available());
        CudaException e = CudaException.of(999, "cuSomething", "extra detail");
        assertEquals("CUresult(999)", e.errorName());
        assertEquals("cuSomething failed: CUresult(999) (999)\nextra detail", e.getMessage());
    }
}
