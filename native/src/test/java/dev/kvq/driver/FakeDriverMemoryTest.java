package dev.kvq.driver;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * DeviceMemory and PinnedHostMemory against the fake driver, whose "device memory" is malloc'ed
 * host memory: copies are real, and its call counter shows that misuse never reaches the driver.
 */
class FakeDriverMemoryTest {

    @TempDir
    static Path dir;
    static FakeCuda fake;
    static Context context;

    @BeforeAll
    static void build() throws Exception {
        fake = FakeCuda.build(dir);
        if (fake.skipReason() == null) {
            CudaProbe p = CudaDriver.probe(fake.library());
            if (!p.available()) {
                throw new IllegalStateException("fake driver should be available: " + p.reason());
            }
            context = Device.get(0).primaryContext();
        }
    }

    @AfterAll
    static void release() {
        if (context != null) {
            context.close();
        }
    }

    @BeforeEach
    void requireFake() {
        assumeTrue(fake.skipReason() == null, () -> fake.skipReason());
    }

    /** Runs {@code misuse}, expects {@code type}, and checks that no driver call was made. */
    private static <T extends Throwable> T throwsBeforeNativeCall(Class<T> type, Executable misuse) {
        long before = fake.nativeCalls();
        T t = assertThrows(type, misuse);
        assertEquals(before, fake.nativeCalls(), "the driver was called despite the misuse");
        return t;
    }

    @Test
    void roundTripWithOffsetsCopiesTheRightBytes() {
        try (Arena arena = Arena.ofConfined(); DeviceMemory a = DeviceMemory.allocate(64);
             DeviceMemory b = DeviceMemory.allocate(64)) {
            MemorySegment src = arena.allocate(32);
            for (int i = 0; i < 32; i++) {
                src.set(ValueLayout.JAVA_BYTE, i, (byte) (i + 1));
            }
            a.fill((byte) 0x55);
            a.copyFromHost(src, 8, 16, 16);      // a[16..32) = src[8..24)
            b.fill((byte) 0);
            b.copyFrom(a, 16, 4, 16);            // b[4..20) = a[16..32)
            MemorySegment out = arena.allocate(24);
            b.copyToHost(out, 0, 0, 24);         // out = b[0..24)
            byte[] expected = new byte[24];
            for (int i = 0; i < 16; i++) {
                expected[4 + i] = (byte) (9 + i);
            }
            assertArrayEquals(expected, out.toArray(ValueLayout.JAVA_BYTE));

            MemorySegment whole = arena.allocate(64);
            a.copyToHost(whole);
            assertEquals(0x55, whole.get(ValueLayout.JAVA_BYTE, 0));
            assertEquals(9, whole.get(ValueLayout.JAVA_BYTE, 16));
        }
    }

    @Test
    void outOfBoundsCopiesThrowBeforeAnyNativeCall() {
        try (Arena arena = Arena.ofConfined(); DeviceMemory mem = DeviceMemory.allocate(64);
             DeviceMemory other = DeviceMemory.allocate(16)) {
            MemorySegment host = arena.allocate(128);
            throwsBeforeNativeCall(IndexOutOfBoundsException.class, () -> mem.copyFromHost(host)); // 128 > 64
            throwsBeforeNativeCall(IndexOutOfBoundsException.class, () -> mem.copyFromHost(host, 0, 60, 8));
            throwsBeforeNativeCall(IndexOutOfBoundsException.class, () -> mem.copyFromHost(host, 124, 0, 8));
            throwsBeforeNativeCall(IndexOutOfBoundsException.class, () -> mem.copyToHost(host, -1, 0, 8));
            throwsBeforeNativeCall(IndexOutOfBoundsException.class, () -> mem.copyToHost(host, 0, 0, 65));
            throwsBeforeNativeCall(IndexOutOfBoundsException.class, () -> mem.copyFrom(other, 8, 0, 16));
            throwsBeforeNativeCall(IndexOutOfBoundsException.class, () -> mem.fill((byte) 1, 32, 33));
            throwsBeforeNativeCall(IndexOutOfBoundsException.class,
                    () -> mem.copyFromHostAsync(host, 0, 1, 64, Stream.defaultStream()));
            throwsBeforeNativeCall(IllegalArgumentException.class,
                    () -> mem.copyFromHost(MemorySegment.ofArray(new byte[8]))); // heap segment
            throwsBeforeNativeCall(IllegalArgumentException.class,
                    () -> mem.copyToHost(host.asReadOnly(), 0, 0, 8));
            throwsBeforeNativeCall(IndexOutOfBoundsException.class, () -> KernelArgs.of().ptr(mem, 64));
        }
    }

    @Test
    void closedMemoryThrowsIllegalStateBeforeAnyNativeCall() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(16);
            DeviceMemory mem = DeviceMemory.allocate(16);
            DeviceMemory live = DeviceMemory.allocate(16);
            long freesBefore = fake.frees();
            mem.close();
            mem.close(); // idempotent: freed once
            assertEquals(freesBefore + 1, fake.frees());
            assertTrue(mem.isClosed());
            var e = throwsBeforeNativeCall(IllegalStateException.class, () -> mem.copyFromHost(host));
            assertTrue(e.getMessage().contains("closed"), e.getMessage());
            throwsBeforeNativeCall(IllegalStateException.class, () -> mem.copyToHost(host));
            throwsBeforeNativeCall(IllegalStateException.class, mem::address);
            throwsBeforeNativeCall(IllegalStateException.class, () -> mem.fill((byte) 0));
            throwsBeforeNativeCall(IllegalStateException.class, () -> live.copyFrom(mem, 0, 0, 16));
            throwsBeforeNativeCall(IllegalStateException.class, () -> mem.copyFrom(live, 0, 0, 16));
            // a kernel argument that points at freed memory is refused when it is marshalled
            KernelArgs args = KernelArgs.of().ptr(mem).i32(16);
            throwsBeforeNativeCall(IllegalStateException.class, () -> {
                try (Arena a = Arena.ofConfined()) {
                    args.marshal(a);
                }
            });
            live.close();
        }
    }

    @Test
    void pinnedHostMemoryIsUsableUntilClosedAndClosesOnce() {
        PinnedHostMemory pinned = PinnedHostMemory.allocate(256);
        MemorySegment seg = pinned.segment();
        assertEquals(256, seg.byteSize());
        seg.set(ValueLayout.JAVA_INT, 0, 42);
        try (DeviceMemory mem = DeviceMemory.allocate(256)) {
            mem.copyFromHost(seg);
            seg.set(ValueLayout.JAVA_INT, 0, 0);
            mem.copyToHost(seg);
            assertEquals(42, seg.get(ValueLayout.JAVA_INT, 0));
        }
        long freesBefore = fake.frees();
        pinned.close();
        pinned.close();
        assertEquals(freesBefore + 1, fake.frees());
        throwsBeforeNativeCall(IllegalStateException.class, pinned::segment);
        // the old segment is revoked too, so a stale reference cannot touch freed memory
        throwsBeforeNativeCall(IllegalStateException.class, () -> seg.get(ValueLayout.JAVA_INT, 0));
    }

    @Test
    void invalidSizesAndLaunchShapesAreRejected() {
        throwsBeforeNativeCall(IllegalArgumentException.class, () -> DeviceMemory.allocate(0));
        throwsBeforeNativeCall(IllegalArgumentException.class, () -> PinnedHostMemory.allocate(-1));
        throwsBeforeNativeCall(IllegalArgumentException.class, () -> Dim3.of(0));
        assertEquals(4, Dim3.blocksFor(1000, 256));
        assertEquals(1, Dim3.blocksFor(0, 256));
    }
}
