package dev.kvq.driver;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A driver whose cuInit says CUDA_ERROR_STUB_LIBRARY (34), like the toolkit's link stub. */
class FakeDriverStubLibraryTest {

    @TempDir
    static Path dir;
    static FakeCuda fake;

    @BeforeAll
    static void build() throws Exception {
        fake = FakeCuda.build(dir, "FAKE_CUINIT_RESULT=34");
    }

    @Test
    void stubLibraryMeansUnavailable() {
        assumeTrue(fake.skipReason() == null, () -> fake.skipReason());
        CudaProbe p = CudaDriver.probe(fake.library());
        assertFalse(p.available());
        assertTrue(p.reason().contains("stub driver library"), p.reason());
    }
}
