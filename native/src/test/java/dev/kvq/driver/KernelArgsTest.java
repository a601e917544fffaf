package dev.kvq.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The kernelParams layout cuLaunchKernel expects: void*[n], each pointing at one value. */
@SuppressWarnings("restricted") // FFM: this class is where kvq talks to native code
class KernelArgsTest {

    @Test
    void marshalsEachArgumentIntoItsOwnSlot() {
        KernelArgs args = KernelArgs.of().ptr(0x7f00_1234_5678L).i32(-7).f32(1.5f).i64(1L << 40);
        assertEquals(List.of("u64", "u32", "f32", "u64"), args.ptxTypes());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment params = args.marshal(arena);
            assertEquals(4 * ValueLayout.ADDRESS.byteSize(), params.byteSize());
            assertEquals(0x7f00_1234_5678L, slot(params, 0, 8).get(ValueLayout.JAVA_LONG, 0));
            assertEquals(-7, slot(params, 1, 4).get(ValueLayout.JAVA_INT, 0));
            assertEquals(1.5f, slot(params, 2, 4).get(ValueLayout.JAVA_FLOAT, 0));
            assertEquals(1L << 40, slot(params, 3, 8).get(ValueLayout.JAVA_LONG, 0));
        }
    }

    @Test
    void emptyArgumentsStillGiveAValidArray() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment params = KernelArgs.of().marshal(arena);
            assertEquals(false, params.equals(MemorySegment.NULL));
        }
    }

    private static MemorySegment slot(MemorySegment params, int i, long size) {
        return params.getAtIndex(ValueLayout.ADDRESS, i).reinterpret(size);
    }
}
