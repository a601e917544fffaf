package dev.kvq.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import dev.kvq.bindings.cuda.CudaLibrary;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The probe on a machine without a usable driver (this class runs in its own JVM). */
class CudaDriverNoGpuTest {

    @Test
    void probeOfAMissingLibraryIsUnavailableWithAReason(@TempDir Path dir) {
        Path missing = dir.resolve("no-such-dir/libcuda.so.1");
        CudaProbe p = CudaDriver.probe(missing);
        assertFalse(p.available());
        assertTrue(p.reason().contains("cannot open the CUDA driver library"), p.reason());
        assertTrue(p.reason().contains(missing.toString()), p.reason());
        assertEquals(0, p.driverVersion());
        assertTrue(p.devices().isEmpty());
        assertTrue(p.toString().startsWith("CUDA unavailable: "), p.toString());
        // the bindings class was never touched, so a later probe of a real driver could still work
        assertNull(CudaLibrary.boundLibrary());
    }

    @Test
    void probeOfSomethingThatIsNotADriverIsUnavailable() {
        // libc opens fine but exports no cuInit
        CudaProbe p = CudaDriver.probe(Path.of("/lib/x86_64-linux-gnu/libc.so.6"));
        assumeFalse(p.reason().contains("cannot open"), "no libc.so.6 at the Debian path on this machine");
        assertFalse(p.available());
        assertTrue(p.reason().contains("does not export cuInit"), p.reason());
        assertNull(CudaLibrary.boundLibrary());
    }

    @Test
    void defaultProbeIsCachedAndNeverThrows() {
        CudaProbe first = CudaDriver.probe();
        assertSame(first, CudaDriver.probe(), "probe() must cache its answer");
        assertFalse(first.reason().isBlank());
        if (!first.available()) {
            // the handle classes refuse with the probe's reason instead of a linkage error
            var e = assertThrows(IllegalStateException.class, () -> Device.get(0));
            assertTrue(e.getMessage().contains(first.reason()), e.getMessage());
            assertThrows(IllegalStateException.class, () -> DeviceMemory.allocate(16));
        }
    }

    @Test
    void noLibcudaOnThisMachineMeansUnavailable() {
        assumeFalse(System.getenv(CudaLibrary.ENV) != null || System.getProperty(CudaLibrary.PROPERTY) != null,
                "a driver override is set");
        assumeFalse(GpuCondition.available(), "this machine has a working CUDA driver");
        CudaProbe p = CudaDriver.probe();
        assertFalse(p.available());
        assertEquals(CudaLibrary.DEFAULT_NAME, p.library());
    }
}
