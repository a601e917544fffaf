package dev.kvq.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A driver whose cuInit says CUDA_ERROR_NO_DEVICE (100): unavailable, not a crash. */
class FakeDriverNoDeviceTest {

    @TempDir
    static Path dir;
    static FakeCuda fake;

    @BeforeAll
    static void build() throws Exception {
        fake = FakeCuda.build(dir, "FAKE_CUINIT_RESULT=100");
    }

    @Test
    void cuInitNoDeviceMeansUnavailable() {
        assumeTrue(fake.skipReason() == null, () -> fake.skipReason());
        CudaProbe p = CudaDriver.probe(fake.library());
        assertFalse(p.available());
        assertTrue(p.reason().contains("no CUDA-capable device"), p.reason());
        assertTrue(p.reason().contains("CUDA_ERROR_NO_DEVICE"), p.reason());
        assertTrue(p.devices().isEmpty());
        assertEquals(fake.library().toString(), p.library());
        // probing again asks the driver again (no cache) and answers the same
        assertEquals(p, CudaDriver.probe(fake.library()));
    }

    @Test
    void aSecondDriverLibraryIsRefusedOnceOneIsBound(@TempDir Path other) {
        assumeTrue(fake.skipReason() == null, () -> fake.skipReason());
        CudaDriver.probe(fake.library()); // binds this JVM to the fake
        CudaProbe p = CudaDriver.probe(other.resolve("libcuda.so.1"));
        assertFalse(p.available());
        // either it cannot be opened, or it is refused as a second driver: never a crash
        assertTrue(p.reason().contains("cannot") || p.reason().contains("already uses"), p.reason());
    }
}
