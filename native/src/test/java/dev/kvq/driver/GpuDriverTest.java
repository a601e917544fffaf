package dev.kvq.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.kernels.KernelCatalog;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Locale;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;

/** The driver layer on a real GPU. Skipped, visibly, where {@link CudaDriver#probe()} says no. */
@Tag("gpu")
@EnabledIf("dev.kvq.driver.GpuCondition#available")
class GpuDriverTest {

    private static final long GIB = 1L << 30;
    private static Device device;
    private static Context context;

    @BeforeAll
    static void openContext() {
        System.out.println("gpu: " + CudaDriver.probe());
        device = Device.get(0);
        context = device.primaryContext();
    }

    @AfterAll
    static void closeContext() {
        if (context != null) {
            context.close();
        }
    }

    @Test
    void deviceQueryIsConsistent() {
        DeviceInfo info = device.info();
        CudaProbe probe = CudaDriver.probe();
        assertEquals(info, probe.devices().get(0));
        assertTrue(probe.driverVersion() >= 12000, "driver version " + probe.driverVersion());
        assertFalse(info.name().isBlank());
        assertTrue(info.computeCapabilityMajor() >= 8, "kvq ships PTX for sm_80+, device is " + info.arch());
        assertTrue(info.multiprocessorCount() > 0);
        Context.MemoryInfo mem = context.memoryInfo();
        assertEquals(info.totalMemoryBytes(), mem.totalBytes());
        assertTrue(mem.freeBytes() > 0 && mem.freeBytes() <= mem.totalBytes());
        System.out.printf(Locale.ROOT, "gpu: %s, %d of %d MiB free%n", info, mem.freeBytes() >> 20, mem.totalBytes() >> 20);
    }

    @Test
    void oneGibRoundTripAndCopyBandwidth() {
        try (PinnedHostMemory src = PinnedHostMemory.allocate(GIB);
             PinnedHostMemory dst = PinnedHostMemory.allocate(GIB);
             DeviceMemory a = DeviceMemory.allocate(GIB);
             DeviceMemory b = DeviceMemory.allocate(GIB);
             Stream stream = Stream.create(true);
             Event e0 = Event.create(); Event e1 = Event.create();
             Event e2 = Event.create(); Event e3 = Event.create()) {
            MemorySegment s = src.segment();
            for (long i = 0; i < GIB; i += 8) {
                s.set(ValueLayout.JAVA_LONG, i, i * 0x9E3779B97F4A7C15L); // every word distinct
            }
            dst.segment().fill((byte) 0);
            b.fill((byte) 0xAB);

            // warm-up pass, so the timed pass does not include first-touch costs
            a.copyFromHostAsync(s, 0, 0, GIB, stream);
            stream.synchronize();

            e0.record(stream);
            a.copyFromHostAsync(s, 0, 0, GIB, stream);
            e1.record(stream);
            b.copyFromAsync(a, 0, 0, GIB, stream);
            e2.record(stream);
            b.copyToHostAsync(dst.segment(), 0, 0, GIB, stream);
            e3.record(stream);
            e3.synchronize();

            long mismatch = s.mismatch(dst.segment());
            assertEquals(-1, mismatch, "1 GiB round trip differs at byte " + mismatch);

            float h2d = e1.elapsedMillisSince(e0);
            float d2d = e2.elapsedMillisSince(e1);
            float d2h = e3.elapsedMillisSince(e2);
            // a device-to-device copy reads and writes every byte: count both for bandwidth
            System.out.printf(Locale.ROOT, "gpu: copy 1 GiB  H2D %.2f ms %.1f GB/s | D2D %.2f ms %.1f GB/s (read+write) | D2H %.2f ms %.1f GB/s%n",
                    h2d, gbps(GIB, h2d), d2d, gbps(2 * GIB, d2d), d2h, gbps(GIB, d2h));
            assertTrue(h2d > 0 && d2d > 0 && d2h > 0);
        }
    }

    @Test
    void vectorAddFromTheKernelCatalog() {
        KernelCatalog catalog = KernelCatalog.get();
        DeviceInfo info = device.info();
        int arch = catalog.bestArchitecture("vector_add", info.computeCapabilityMajor(), info.computeCapabilityMinor());
        int n = (1 << 20) + 3; // not a multiple of the block size: the tail must be handled
        long bytes = 4L * n;
        try (Module module = Module.loadPtx("vector_add.sm_" + arch, catalog.ptxBytes("vector_add", arch));
             Arena arena = Arena.ofConfined();
             DeviceMemory a = DeviceMemory.allocate(bytes);
             DeviceMemory b = DeviceMemory.allocate(bytes);
             DeviceMemory out = DeviceMemory.allocate(bytes)) {
            Kernel kernel = module.kernel("vector_add");
            MemorySegment ha = arena.allocate(ValueLayout.JAVA_FLOAT, n);
            MemorySegment hb = arena.allocate(ValueLayout.JAVA_FLOAT, n);
            for (int i = 0; i < n; i++) {
                ha.setAtIndex(ValueLayout.JAVA_FLOAT, i, i * 0.5f);
                hb.setAtIndex(ValueLayout.JAVA_FLOAT, i, 1000f - i);
            }
            a.copyFromHost(ha);
            b.copyFromHost(hb);
            out.fill((byte) 0xFF); // NaN pattern: an element the kernel skipped cannot pass

            KernelArgs args = KernelArgs.of().ptr(a).ptr(b).ptr(out).i32(n);
            assertEquals(catalog.entries("vector_add", arch).get(0).parameterTypes(), args.ptxTypes(),
                    "the launch's argument types must match the PTX entry");
            int block = 256;
            kernel.launch(Dim3.blocksFor(n, block), block, args);
            context.synchronize();

            MemorySegment result = arena.allocate(ValueLayout.JAVA_FLOAT, n);
            out.copyToHost(result);
            for (int i = 0; i < n; i++) {
                float want = i * 0.5f + (1000f - i);
                float got = result.getAtIndex(ValueLayout.JAVA_FLOAT, i);
                if (got != want) {
                    throw new AssertionError("out[" + i + "] = " + got + ", expected " + want);
                }
            }
            System.out.printf(Locale.ROOT, "gpu: vector_add sm_%d ok (%d elements, %d registers/thread)%n",
                    arch, n, kernel.registersPerThread());
        }
    }

    @Test
    void dynamicSharedMemoryCanBeRaisedUpToTheOptInMaximumOnly() {
        KernelCatalog catalog = KernelCatalog.get();
        DeviceInfo info = device.info();
        int arch = catalog.bestArchitecture("vector_add", info.computeCapabilityMajor(), info.computeCapabilityMinor());
        int optin = device.maxSharedMemoryPerBlockOptin();
        assertTrue(optin >= 48 * 1024, "opt-in maximum " + optin);
        try (Module module = Module.loadPtx("vector_add.sm_" + arch, catalog.ptxBytes("vector_add", arch))) {
            Kernel kernel = module.kernel("vector_add");
            int max = optin - kernel.staticSharedBytes();
            kernel.setMaxDynamicSharedMemory(max);
            assertEquals(max, kernel.attribute(8));   // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
            CudaException e = assertThrows(CudaException.class, () -> kernel.setMaxDynamicSharedMemory(optin + 1));
            assertTrue(e.getMessage().contains("cuFuncSetAttribute"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> kernel.setMaxDynamicSharedMemory(-1));
        }
    }

    @Test
    void invalidPtxPutsTheJitErrorLogIntoTheException() {
        String ptx = """
                .version 9.0
                .target sm_80
                .address_size 64
                .visible .entry broken()
                {
                    this_is_not_an_instruction %r1;
                    ret;
                }
                """;
        CudaException e = assertThrows(CudaException.class, () -> Module.loadPtx("broken", ptx));
        assertEquals("cuModuleLoadDataEx", e.call());
        assertEquals(218, e.code(), e.getMessage()); // CUDA_ERROR_INVALID_PTX
        assertEquals("CUDA_ERROR_INVALID_PTX", e.errorName());
        assertTrue(e.getMessage().contains("JIT error log:"), e.getMessage());
        assertTrue(e.getMessage().contains("this_is_not_an_instruction") || e.getMessage().contains("line"),
                "the log should point at the bad line: " + e.getMessage());
        System.out.println("gpu: invalid PTX -> " + e.getMessage().replace('\n', ' '));
    }

    @SuppressWarnings("try") // the resource exists for its close()
    @Test
    void nvtxAndProfilerCallsAreHarmlessWithoutAProfiler() {
        Profiler.start();
        try (var r = Nvtx.range("kvq gpu test")) {
            context.synchronize();
        }
        Profiler.stop();
        System.out.println("gpu: NVTX " + (Nvtx.available() ? "via " + Nvtx.LIBRARY : "not available (no-op)"));
    }

    private static double gbps(long bytes, float ms) {
        return bytes / (ms * 1e-3) / 1e9;
    }
}
