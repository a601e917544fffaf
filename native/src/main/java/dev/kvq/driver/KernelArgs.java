package dev.kvq.driver;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The arguments of one kernel launch, in the order the kernel declares its parameters:
 * device pointers (u64), 32-bit ints, 64-bit ints and floats. Built once, reusable.
 */
@SuppressWarnings("restricted") // FFM: this class is where kvq talks to native code
public final class KernelArgs {

    /** One argument: its value and how it is laid out for the driver. */
    private sealed interface Arg permits Ptr, I32, I64, F32 {
    }

    private record Ptr(DeviceMemory memory, long offset, long raw) implements Arg {
    }

    private record I32(int value) implements Arg {
    }

    private record I64(long value) implements Arg {
    }

    private record F32(float value) implements Arg {
    }

    private final List<Arg> args = new ArrayList<>();

    /** An empty argument list, the same as {@link #of()}. */
    public KernelArgs() {
    }

    /**
     * An empty argument list, to be filled in parameter order.
     *
     * @return a new, empty list
     */
    public static KernelArgs of() {
        return new KernelArgs();
    }

    /**
     * The start of {@code memory} as a device pointer (checked to be open at launch).
     *
     * @param memory device memory that must still be open at launch
     * @return this list, for chaining
     */
    public KernelArgs ptr(DeviceMemory memory) {
        return ptr(memory, 0);
    }

    /**
     * {@code memory + offsetBytes} as a device pointer.
     *
     * @param memory device memory that must still be open at launch
     * @param offsetBytes byte offset into {@code memory}, within its size
     * @return this list, for chaining
     */
    public KernelArgs ptr(DeviceMemory memory, long offsetBytes) {
        Objects.requireNonNull(memory, "memory");
        Objects.checkIndex(offsetBytes, memory.byteSize());
        args.add(new Ptr(memory, offsetBytes, 0));
        return this;
    }

    /**
     * A raw device address (from memory kvq does not own).
     *
     * @param deviceAddress a device pointer obtained elsewhere
     * @return this list, for chaining
     */
    public KernelArgs ptr(long deviceAddress) {
        args.add(new Ptr(null, 0, deviceAddress));
        return this;
    }

    /**
     * Appends a 32-bit integer ({@code int}/{@code unsigned} in CUDA C).
     *
     * @param value the value
     * @return this list, for chaining
     */
    public KernelArgs i32(int value) {
        args.add(new I32(value));
        return this;
    }

    /**
     * Appends a 64-bit integer ({@code long long}/{@code size_t} in CUDA C).
     *
     * @param value the value
     * @return this list, for chaining
     */
    public KernelArgs i64(long value) {
        args.add(new I64(value));
        return this;
    }

    /**
     * Appends a 32-bit float.
     *
     * @param value the value
     * @return this list, for chaining
     */
    public KernelArgs f32(float value) {
        args.add(new F32(value));
        return this;
    }

    /**
     * The number of arguments added so far.
     *
     * @return the argument count
     */
    public int size() {
        return args.size();
    }

    /**
     * Lays the arguments out as {@code cuLaunchKernel}'s {@code void** kernelParams}: an array of
     * pointers, each to a slot holding one argument's value; all allocated in {@code arena}.
     * Throws {@link IllegalStateException} if a pointer argument's memory was closed. A block made once in a
     * long-lived arena can be launched many times ({@link Kernel#launch(Dim3, Dim3, int, Stream, MemorySegment)})
     * and its slots rewritten in place ({@link #slot}), so a launch allocates nothing.
     *
     * @param arena where the pointer array and the slots live
     * @return the {@code void*} array
     */
    public MemorySegment marshal(Arena arena) {
        MemorySegment params = arena.allocate(ValueLayout.ADDRESS, Math.max(1, args.size()));
        for (int i = 0; i < args.size(); i++) {
            MemorySegment slot = switch (args.get(i)) {
                case Ptr p -> arena.allocateFrom(ValueLayout.JAVA_LONG,
                        p.memory() == null ? p.raw() : p.memory().address() + p.offset());
                case I32 v -> arena.allocateFrom(ValueLayout.JAVA_INT, v.value());
                case I64 v -> arena.allocateFrom(ValueLayout.JAVA_LONG, v.value());
                case F32 v -> arena.allocateFrom(ValueLayout.JAVA_FLOAT, v.value());
            };
            params.setAtIndex(ValueLayout.ADDRESS, i, slot);
        }
        return params;
    }

    /**
     * PTX-style type names of the arguments (u64, u32, s64, f32), to compare with a kernel's declaration.
     *
     * @return one type name per argument, in order
     */
    public List<String> ptxTypes() {
        List<String> out = new ArrayList<>(args.size());
        for (Arg a : args) {
            out.add(switch (a) {
                case Ptr p -> "u64";
                case I32 v -> "u32";
                case I64 v -> "u64";
                case F32 v -> "f32";
            });
        }
        return out;
    }

    /**
     * The value slot of argument {@code index} in a block made by {@link #marshal}, to rewrite it in place.
     *
     * @param params the block {@link #marshal} returned
     * @param index  the argument's position
     * @param bytes  the slot's size (4 for int/float, 8 for pointers and longs)
     * @return the slot
     */
    public static MemorySegment slot(MemorySegment params, int index, long bytes) {
        return params.getAtIndex(ValueLayout.ADDRESS, index).reinterpret(bytes);
    }
}
