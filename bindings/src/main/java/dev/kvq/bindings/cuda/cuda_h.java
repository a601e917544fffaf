// FFM bindings to the CUDA driver API (libcuda.so.1), written by hand in jextract's layout.
// See bindings/jextract/PROVENANCE.md: jextract was not obtainable when these were written;
// bindings/jextract/regenerate.sh produces the real thing where jextract is installed.
// CudaHeaderTest checks every symbol name and parameter count against cuda.h.

package dev.kvq.bindings.cuda;

import java.lang.foreign.AddressLayout;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * Header class for {@code cuda.h} and {@code cudaProfiler.h} (the subset kvq uses).
 *
 * <p>Its static initializer opens the driver library chosen by {@link CudaLibrary}; when that
 * fails the first touch throws {@link ExceptionInInitializerError} and every later one
 * {@link NoClassDefFoundError}, so callers probe the library first (see {@code dev.kvq.driver}).
 * Each function's address and downcall handle resolve lazily, on first use, in a holder class.
 */
@SuppressWarnings({"unused", "restricted"})
public class cuda_h {

    cuda_h() {
        // Should not be called directly
    }

    static final Arena LIBRARY_ARENA = Arena.ofAuto();
    static final boolean TRACE_DOWNCALLS = Boolean.getBoolean("jextract.trace.downcalls");

    static void traceDowncall(String name, Object... args) {
        String traceArgs = Arrays.stream(args)
                .map(Object::toString)
                .collect(Collectors.joining(", "));
        System.out.printf("%s(%s)\n", name, traceArgs);
    }

    static MemorySegment findOrThrow(String symbol) {
        return SYMBOL_LOOKUP.find(symbol)
                .orElseThrow(() -> new UnsatisfiedLinkError("unresolved symbol: " + symbol + " in " + CudaLibrary.boundLibrary()));
    }

    static final SymbolLookup SYMBOL_LOOKUP = CudaLibrary.open(CudaLibrary.bind(), LIBRARY_ARENA);

    public static final ValueLayout.OfBoolean C_BOOL = ValueLayout.JAVA_BOOLEAN;
    public static final ValueLayout.OfByte C_CHAR = ValueLayout.JAVA_BYTE;
    public static final ValueLayout.OfShort C_SHORT = ValueLayout.JAVA_SHORT;
    public static final ValueLayout.OfInt C_INT = ValueLayout.JAVA_INT;
    public static final ValueLayout.OfLong C_LONG_LONG = ValueLayout.JAVA_LONG;
    public static final ValueLayout.OfFloat C_FLOAT = ValueLayout.JAVA_FLOAT;
    public static final ValueLayout.OfDouble C_DOUBLE = ValueLayout.JAVA_DOUBLE;
    public static final AddressLayout C_POINTER = ValueLayout.ADDRESS
            .withTargetLayout(java.lang.foreign.MemoryLayout.sequenceLayout(java.lang.Long.MAX_VALUE, ValueLayout.JAVA_BYTE));
    public static final ValueLayout.OfLong C_LONG = ValueLayout.JAVA_LONG;


    private static class cuInit {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_INT
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuInit");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuInit(int Flags)
     * }
     */
    public static FunctionDescriptor cuInit$descriptor() {
        return cuInit.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuInit(int Flags)
     * }
     */
    public static MethodHandle cuInit$handle() {
        return cuInit.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuInit(int Flags)
     * }
     */
    public static MemorySegment cuInit$address() {
        return cuInit.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuInit(int Flags)
     * }
     */
    public static int cuInit(int Flags) {
        var mh$ = cuInit.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuInit", Flags);
            }
            return (int) mh$.invokeExact(Flags);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuDriverGetVersion {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuDriverGetVersion");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuDriverGetVersion(MemorySegment driverVersion)
     * }
     */
    public static FunctionDescriptor cuDriverGetVersion$descriptor() {
        return cuDriverGetVersion.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuDriverGetVersion(MemorySegment driverVersion)
     * }
     */
    public static MethodHandle cuDriverGetVersion$handle() {
        return cuDriverGetVersion.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuDriverGetVersion(MemorySegment driverVersion)
     * }
     */
    public static MemorySegment cuDriverGetVersion$address() {
        return cuDriverGetVersion.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuDriverGetVersion(MemorySegment driverVersion)
     * }
     */
    public static int cuDriverGetVersion(MemorySegment driverVersion) {
        var mh$ = cuDriverGetVersion.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuDriverGetVersion", driverVersion);
            }
            return (int) mh$.invokeExact(driverVersion);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuDeviceGetCount {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuDeviceGetCount");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuDeviceGetCount(MemorySegment count)
     * }
     */
    public static FunctionDescriptor cuDeviceGetCount$descriptor() {
        return cuDeviceGetCount.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuDeviceGetCount(MemorySegment count)
     * }
     */
    public static MethodHandle cuDeviceGetCount$handle() {
        return cuDeviceGetCount.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuDeviceGetCount(MemorySegment count)
     * }
     */
    public static MemorySegment cuDeviceGetCount$address() {
        return cuDeviceGetCount.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuDeviceGetCount(MemorySegment count)
     * }
     */
    public static int cuDeviceGetCount(MemorySegment count) {
        var mh$ = cuDeviceGetCount.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuDeviceGetCount", count);
            }
            return (int) mh$.invokeExact(count);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuDeviceGet {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER, cuda_h.C_INT
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuDeviceGet");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuDeviceGet(MemorySegment device, int ordinal)
     * }
     */
    public static FunctionDescriptor cuDeviceGet$descriptor() {
        return cuDeviceGet.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuDeviceGet(MemorySegment device, int ordinal)
     * }
     */
    public static MethodHandle cuDeviceGet$handle() {
        return cuDeviceGet.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuDeviceGet(MemorySegment device, int ordinal)
     * }
     */
    public static MemorySegment cuDeviceGet$address() {
        return cuDeviceGet.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuDeviceGet(MemorySegment device, int ordinal)
     * }
     */
    public static int cuDeviceGet(MemorySegment device, int ordinal) {
        var mh$ = cuDeviceGet.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuDeviceGet", device, ordinal);
            }
            return (int) mh$.invokeExact(device, ordinal);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuDeviceGetName {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER, cuda_h.C_INT, cuda_h.C_INT
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuDeviceGetName");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuDeviceGetName(MemorySegment name, int len, int dev)
     * }
     */
    public static FunctionDescriptor cuDeviceGetName$descriptor() {
        return cuDeviceGetName.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuDeviceGetName(MemorySegment name, int len, int dev)
     * }
     */
    public static MethodHandle cuDeviceGetName$handle() {
        return cuDeviceGetName.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuDeviceGetName(MemorySegment name, int len, int dev)
     * }
     */
    public static MemorySegment cuDeviceGetName$address() {
        return cuDeviceGetName.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuDeviceGetName(MemorySegment name, int len, int dev)
     * }
     */
    public static int cuDeviceGetName(MemorySegment name, int len, int dev) {
        var mh$ = cuDeviceGetName.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuDeviceGetName", name, len, dev);
            }
            return (int) mh$.invokeExact(name, len, dev);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuDeviceGetAttribute {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER, cuda_h.C_INT, cuda_h.C_INT
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuDeviceGetAttribute");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuDeviceGetAttribute(MemorySegment pi, int attrib, int dev)
     * }
     */
    public static FunctionDescriptor cuDeviceGetAttribute$descriptor() {
        return cuDeviceGetAttribute.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuDeviceGetAttribute(MemorySegment pi, int attrib, int dev)
     * }
     */
    public static MethodHandle cuDeviceGetAttribute$handle() {
        return cuDeviceGetAttribute.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuDeviceGetAttribute(MemorySegment pi, int attrib, int dev)
     * }
     */
    public static MemorySegment cuDeviceGetAttribute$address() {
        return cuDeviceGetAttribute.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuDeviceGetAttribute(MemorySegment pi, int attrib, int dev)
     * }
     */
    public static int cuDeviceGetAttribute(MemorySegment pi, int attrib, int dev) {
        var mh$ = cuDeviceGetAttribute.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuDeviceGetAttribute", pi, attrib, dev);
            }
            return (int) mh$.invokeExact(pi, attrib, dev);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuDeviceTotalMem_v2 {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER, cuda_h.C_INT
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuDeviceTotalMem_v2");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuDeviceTotalMem_v2(MemorySegment bytes, int dev)
     * }
     */
    public static FunctionDescriptor cuDeviceTotalMem_v2$descriptor() {
        return cuDeviceTotalMem_v2.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuDeviceTotalMem_v2(MemorySegment bytes, int dev)
     * }
     */
    public static MethodHandle cuDeviceTotalMem_v2$handle() {
        return cuDeviceTotalMem_v2.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuDeviceTotalMem_v2(MemorySegment bytes, int dev)
     * }
     */
    public static MemorySegment cuDeviceTotalMem_v2$address() {
        return cuDeviceTotalMem_v2.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuDeviceTotalMem_v2(MemorySegment bytes, int dev)
     * }
     */
    public static int cuDeviceTotalMem_v2(MemorySegment bytes, int dev) {
        var mh$ = cuDeviceTotalMem_v2.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuDeviceTotalMem_v2", bytes, dev);
            }
            return (int) mh$.invokeExact(bytes, dev);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuDevicePrimaryCtxRetain {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER, cuda_h.C_INT
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuDevicePrimaryCtxRetain");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuDevicePrimaryCtxRetain(MemorySegment pctx, int dev)
     * }
     */
    public static FunctionDescriptor cuDevicePrimaryCtxRetain$descriptor() {
        return cuDevicePrimaryCtxRetain.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuDevicePrimaryCtxRetain(MemorySegment pctx, int dev)
     * }
     */
    public static MethodHandle cuDevicePrimaryCtxRetain$handle() {
        return cuDevicePrimaryCtxRetain.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuDevicePrimaryCtxRetain(MemorySegment pctx, int dev)
     * }
     */
    public static MemorySegment cuDevicePrimaryCtxRetain$address() {
        return cuDevicePrimaryCtxRetain.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuDevicePrimaryCtxRetain(MemorySegment pctx, int dev)
     * }
     */
    public static int cuDevicePrimaryCtxRetain(MemorySegment pctx, int dev) {
        var mh$ = cuDevicePrimaryCtxRetain.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuDevicePrimaryCtxRetain", pctx, dev);
            }
            return (int) mh$.invokeExact(pctx, dev);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuDevicePrimaryCtxRelease_v2 {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_INT
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuDevicePrimaryCtxRelease_v2");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuDevicePrimaryCtxRelease_v2(int dev)
     * }
     */
    public static FunctionDescriptor cuDevicePrimaryCtxRelease_v2$descriptor() {
        return cuDevicePrimaryCtxRelease_v2.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuDevicePrimaryCtxRelease_v2(int dev)
     * }
     */
    public static MethodHandle cuDevicePrimaryCtxRelease_v2$handle() {
        return cuDevicePrimaryCtxRelease_v2.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuDevicePrimaryCtxRelease_v2(int dev)
     * }
     */
    public static MemorySegment cuDevicePrimaryCtxRelease_v2$address() {
        return cuDevicePrimaryCtxRelease_v2.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuDevicePrimaryCtxRelease_v2(int dev)
     * }
     */
    public static int cuDevicePrimaryCtxRelease_v2(int dev) {
        var mh$ = cuDevicePrimaryCtxRelease_v2.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuDevicePrimaryCtxRelease_v2", dev);
            }
            return (int) mh$.invokeExact(dev);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuCtxSetCurrent {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuCtxSetCurrent");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuCtxSetCurrent(MemorySegment ctx)
     * }
     */
    public static FunctionDescriptor cuCtxSetCurrent$descriptor() {
        return cuCtxSetCurrent.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuCtxSetCurrent(MemorySegment ctx)
     * }
     */
    public static MethodHandle cuCtxSetCurrent$handle() {
        return cuCtxSetCurrent.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuCtxSetCurrent(MemorySegment ctx)
     * }
     */
    public static MemorySegment cuCtxSetCurrent$address() {
        return cuCtxSetCurrent.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuCtxSetCurrent(MemorySegment ctx)
     * }
     */
    public static int cuCtxSetCurrent(MemorySegment ctx) {
        var mh$ = cuCtxSetCurrent.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuCtxSetCurrent", ctx);
            }
            return (int) mh$.invokeExact(ctx);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuCtxSynchronize {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuCtxSynchronize");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuCtxSynchronize(void)
     * }
     */
    public static FunctionDescriptor cuCtxSynchronize$descriptor() {
        return cuCtxSynchronize.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuCtxSynchronize(void)
     * }
     */
    public static MethodHandle cuCtxSynchronize$handle() {
        return cuCtxSynchronize.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuCtxSynchronize(void)
     * }
     */
    public static MemorySegment cuCtxSynchronize$address() {
        return cuCtxSynchronize.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuCtxSynchronize(void)
     * }
     */
    public static int cuCtxSynchronize() {
        var mh$ = cuCtxSynchronize.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuCtxSynchronize");
            }
            return (int) mh$.invokeExact();
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuMemGetInfo_v2 {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER, cuda_h.C_POINTER
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuMemGetInfo_v2");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuMemGetInfo_v2(MemorySegment free, MemorySegment total)
     * }
     */
    public static FunctionDescriptor cuMemGetInfo_v2$descriptor() {
        return cuMemGetInfo_v2.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuMemGetInfo_v2(MemorySegment free, MemorySegment total)
     * }
     */
    public static MethodHandle cuMemGetInfo_v2$handle() {
        return cuMemGetInfo_v2.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuMemGetInfo_v2(MemorySegment free, MemorySegment total)
     * }
     */
    public static MemorySegment cuMemGetInfo_v2$address() {
        return cuMemGetInfo_v2.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuMemGetInfo_v2(MemorySegment free, MemorySegment total)
     * }
     */
    public static int cuMemGetInfo_v2(MemorySegment free, MemorySegment total) {
        var mh$ = cuMemGetInfo_v2.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuMemGetInfo_v2", free, total);
            }
            return (int) mh$.invokeExact(free, total);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuModuleLoadDataEx {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER, cuda_h.C_POINTER, cuda_h.C_INT, cuda_h.C_POINTER, cuda_h.C_POINTER
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuModuleLoadDataEx");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuModuleLoadDataEx(MemorySegment module, MemorySegment image, int numOptions, MemorySegment options, MemorySegment optionValues)
     * }
     */
    public static FunctionDescriptor cuModuleLoadDataEx$descriptor() {
        return cuModuleLoadDataEx.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuModuleLoadDataEx(MemorySegment module, MemorySegment image, int numOptions, MemorySegment options, MemorySegment optionValues)
     * }
     */
    public static MethodHandle cuModuleLoadDataEx$handle() {
        return cuModuleLoadDataEx.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuModuleLoadDataEx(MemorySegment module, MemorySegment image, int numOptions, MemorySegment options, MemorySegment optionValues)
     * }
     */
    public static MemorySegment cuModuleLoadDataEx$address() {
        return cuModuleLoadDataEx.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuModuleLoadDataEx(MemorySegment module, MemorySegment image, int numOptions, MemorySegment options, MemorySegment optionValues)
     * }
     */
    public static int cuModuleLoadDataEx(MemorySegment module, MemorySegment image, int numOptions, MemorySegment options, MemorySegment optionValues) {
        var mh$ = cuModuleLoadDataEx.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuModuleLoadDataEx", module, image, numOptions, options, optionValues);
            }
            return (int) mh$.invokeExact(module, image, numOptions, options, optionValues);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuModuleUnload {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuModuleUnload");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuModuleUnload(MemorySegment hmod)
     * }
     */
    public static FunctionDescriptor cuModuleUnload$descriptor() {
        return cuModuleUnload.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuModuleUnload(MemorySegment hmod)
     * }
     */
    public static MethodHandle cuModuleUnload$handle() {
        return cuModuleUnload.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuModuleUnload(MemorySegment hmod)
     * }
     */
    public static MemorySegment cuModuleUnload$address() {
        return cuModuleUnload.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuModuleUnload(MemorySegment hmod)
     * }
     */
    public static int cuModuleUnload(MemorySegment hmod) {
        var mh$ = cuModuleUnload.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuModuleUnload", hmod);
            }
            return (int) mh$.invokeExact(hmod);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuModuleGetFunction {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER, cuda_h.C_POINTER, cuda_h.C_POINTER
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuModuleGetFunction");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuModuleGetFunction(MemorySegment hfunc, MemorySegment hmod, MemorySegment name)
     * }
     */
    public static FunctionDescriptor cuModuleGetFunction$descriptor() {
        return cuModuleGetFunction.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuModuleGetFunction(MemorySegment hfunc, MemorySegment hmod, MemorySegment name)
     * }
     */
    public static MethodHandle cuModuleGetFunction$handle() {
        return cuModuleGetFunction.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuModuleGetFunction(MemorySegment hfunc, MemorySegment hmod, MemorySegment name)
     * }
     */
    public static MemorySegment cuModuleGetFunction$address() {
        return cuModuleGetFunction.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuModuleGetFunction(MemorySegment hfunc, MemorySegment hmod, MemorySegment name)
     * }
     */
    public static int cuModuleGetFunction(MemorySegment hfunc, MemorySegment hmod, MemorySegment name) {
        var mh$ = cuModuleGetFunction.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuModuleGetFunction", hfunc, hmod, name);
            }
            return (int) mh$.invokeExact(hfunc, hmod, name);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuFuncGetAttribute {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER, cuda_h.C_INT, cuda_h.C_POINTER
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuFuncGetAttribute");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuFuncGetAttribute(MemorySegment pi, int attrib, MemorySegment hfunc)
     * }
     */
    public static FunctionDescriptor cuFuncGetAttribute$descriptor() {
        return cuFuncGetAttribute.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuFuncGetAttribute(MemorySegment pi, int attrib, MemorySegment hfunc)
     * }
     */
    public static MethodHandle cuFuncGetAttribute$handle() {
        return cuFuncGetAttribute.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuFuncGetAttribute(MemorySegment pi, int attrib, MemorySegment hfunc)
     * }
     */
    public static MemorySegment cuFuncGetAttribute$address() {
        return cuFuncGetAttribute.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuFuncGetAttribute(MemorySegment pi, int attrib, MemorySegment hfunc)
     * }
     */
    public static int cuFuncGetAttribute(MemorySegment pi, int attrib, MemorySegment hfunc) {
        var mh$ = cuFuncGetAttribute.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuFuncGetAttribute", pi, attrib, hfunc);
            }
            return (int) mh$.invokeExact(pi, attrib, hfunc);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuFuncSetAttribute {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER, cuda_h.C_INT, cuda_h.C_INT
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuFuncSetAttribute");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuFuncSetAttribute(MemorySegment hfunc, int attrib, int value)
     * }
     */
    public static FunctionDescriptor cuFuncSetAttribute$descriptor() {
        return cuFuncSetAttribute.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuFuncSetAttribute(MemorySegment hfunc, int attrib, int value)
     * }
     */
    public static MethodHandle cuFuncSetAttribute$handle() {
        return cuFuncSetAttribute.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuFuncSetAttribute(MemorySegment hfunc, int attrib, int value)
     * }
     */
    public static MemorySegment cuFuncSetAttribute$address() {
        return cuFuncSetAttribute.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuFuncSetAttribute(MemorySegment hfunc, int attrib, int value)
     * }
     */
    public static int cuFuncSetAttribute(MemorySegment hfunc, int attrib, int value) {
        var mh$ = cuFuncSetAttribute.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuFuncSetAttribute", hfunc, attrib, value);
            }
            return (int) mh$.invokeExact(hfunc, attrib, value);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuMemAlloc_v2 {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER, cuda_h.C_LONG
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuMemAlloc_v2");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuMemAlloc_v2(MemorySegment dptr, long bytesize)
     * }
     */
    public static FunctionDescriptor cuMemAlloc_v2$descriptor() {
        return cuMemAlloc_v2.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuMemAlloc_v2(MemorySegment dptr, long bytesize)
     * }
     */
    public static MethodHandle cuMemAlloc_v2$handle() {
        return cuMemAlloc_v2.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuMemAlloc_v2(MemorySegment dptr, long bytesize)
     * }
     */
    public static MemorySegment cuMemAlloc_v2$address() {
        return cuMemAlloc_v2.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuMemAlloc_v2(MemorySegment dptr, long bytesize)
     * }
     */
    public static int cuMemAlloc_v2(MemorySegment dptr, long bytesize) {
        var mh$ = cuMemAlloc_v2.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuMemAlloc_v2", dptr, bytesize);
            }
            return (int) mh$.invokeExact(dptr, bytesize);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuMemFree_v2 {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_LONG
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuMemFree_v2");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuMemFree_v2(long dptr)
     * }
     */
    public static FunctionDescriptor cuMemFree_v2$descriptor() {
        return cuMemFree_v2.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuMemFree_v2(long dptr)
     * }
     */
    public static MethodHandle cuMemFree_v2$handle() {
        return cuMemFree_v2.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuMemFree_v2(long dptr)
     * }
     */
    public static MemorySegment cuMemFree_v2$address() {
        return cuMemFree_v2.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuMemFree_v2(long dptr)
     * }
     */
    public static int cuMemFree_v2(long dptr) {
        var mh$ = cuMemFree_v2.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuMemFree_v2", dptr);
            }
            return (int) mh$.invokeExact(dptr);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuMemAllocHost_v2 {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER, cuda_h.C_LONG
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuMemAllocHost_v2");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuMemAllocHost_v2(MemorySegment pp, long bytesize)
     * }
     */
    public static FunctionDescriptor cuMemAllocHost_v2$descriptor() {
        return cuMemAllocHost_v2.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuMemAllocHost_v2(MemorySegment pp, long bytesize)
     * }
     */
    public static MethodHandle cuMemAllocHost_v2$handle() {
        return cuMemAllocHost_v2.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuMemAllocHost_v2(MemorySegment pp, long bytesize)
     * }
     */
    public static MemorySegment cuMemAllocHost_v2$address() {
        return cuMemAllocHost_v2.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuMemAllocHost_v2(MemorySegment pp, long bytesize)
     * }
     */
    public static int cuMemAllocHost_v2(MemorySegment pp, long bytesize) {
        var mh$ = cuMemAllocHost_v2.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuMemAllocHost_v2", pp, bytesize);
            }
            return (int) mh$.invokeExact(pp, bytesize);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuMemFreeHost {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuMemFreeHost");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuMemFreeHost(MemorySegment p)
     * }
     */
    public static FunctionDescriptor cuMemFreeHost$descriptor() {
        return cuMemFreeHost.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuMemFreeHost(MemorySegment p)
     * }
     */
    public static MethodHandle cuMemFreeHost$handle() {
        return cuMemFreeHost.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuMemFreeHost(MemorySegment p)
     * }
     */
    public static MemorySegment cuMemFreeHost$address() {
        return cuMemFreeHost.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuMemFreeHost(MemorySegment p)
     * }
     */
    public static int cuMemFreeHost(MemorySegment p) {
        var mh$ = cuMemFreeHost.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuMemFreeHost", p);
            }
            return (int) mh$.invokeExact(p);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuMemcpyHtoD_v2 {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_LONG, cuda_h.C_POINTER, cuda_h.C_LONG
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuMemcpyHtoD_v2");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuMemcpyHtoD_v2(long dstDevice, MemorySegment srcHost, long ByteCount)
     * }
     */
    public static FunctionDescriptor cuMemcpyHtoD_v2$descriptor() {
        return cuMemcpyHtoD_v2.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuMemcpyHtoD_v2(long dstDevice, MemorySegment srcHost, long ByteCount)
     * }
     */
    public static MethodHandle cuMemcpyHtoD_v2$handle() {
        return cuMemcpyHtoD_v2.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuMemcpyHtoD_v2(long dstDevice, MemorySegment srcHost, long ByteCount)
     * }
     */
    public static MemorySegment cuMemcpyHtoD_v2$address() {
        return cuMemcpyHtoD_v2.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuMemcpyHtoD_v2(long dstDevice, MemorySegment srcHost, long ByteCount)
     * }
     */
    public static int cuMemcpyHtoD_v2(long dstDevice, MemorySegment srcHost, long ByteCount) {
        var mh$ = cuMemcpyHtoD_v2.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuMemcpyHtoD_v2", dstDevice, srcHost, ByteCount);
            }
            return (int) mh$.invokeExact(dstDevice, srcHost, ByteCount);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuMemcpyDtoH_v2 {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER, cuda_h.C_LONG, cuda_h.C_LONG
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuMemcpyDtoH_v2");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuMemcpyDtoH_v2(MemorySegment dstHost, long srcDevice, long ByteCount)
     * }
     */
    public static FunctionDescriptor cuMemcpyDtoH_v2$descriptor() {
        return cuMemcpyDtoH_v2.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuMemcpyDtoH_v2(MemorySegment dstHost, long srcDevice, long ByteCount)
     * }
     */
    public static MethodHandle cuMemcpyDtoH_v2$handle() {
        return cuMemcpyDtoH_v2.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuMemcpyDtoH_v2(MemorySegment dstHost, long srcDevice, long ByteCount)
     * }
     */
    public static MemorySegment cuMemcpyDtoH_v2$address() {
        return cuMemcpyDtoH_v2.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuMemcpyDtoH_v2(MemorySegment dstHost, long srcDevice, long ByteCount)
     * }
     */
    public static int cuMemcpyDtoH_v2(MemorySegment dstHost, long srcDevice, long ByteCount) {
        var mh$ = cuMemcpyDtoH_v2.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuMemcpyDtoH_v2", dstHost, srcDevice, ByteCount);
            }
            return (int) mh$.invokeExact(dstHost, srcDevice, ByteCount);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuMemcpyDtoD_v2 {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_LONG, cuda_h.C_LONG, cuda_h.C_LONG
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuMemcpyDtoD_v2");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuMemcpyDtoD_v2(long dstDevice, long srcDevice, long ByteCount)
     * }
     */
    public static FunctionDescriptor cuMemcpyDtoD_v2$descriptor() {
        return cuMemcpyDtoD_v2.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuMemcpyDtoD_v2(long dstDevice, long srcDevice, long ByteCount)
     * }
     */
    public static MethodHandle cuMemcpyDtoD_v2$handle() {
        return cuMemcpyDtoD_v2.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuMemcpyDtoD_v2(long dstDevice, long srcDevice, long ByteCount)
     * }
     */
    public static MemorySegment cuMemcpyDtoD_v2$address() {
        return cuMemcpyDtoD_v2.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuMemcpyDtoD_v2(long dstDevice, long srcDevice, long ByteCount)
     * }
     */
    public static int cuMemcpyDtoD_v2(long dstDevice, long srcDevice, long ByteCount) {
        var mh$ = cuMemcpyDtoD_v2.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuMemcpyDtoD_v2", dstDevice, srcDevice, ByteCount);
            }
            return (int) mh$.invokeExact(dstDevice, srcDevice, ByteCount);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuMemcpyHtoDAsync_v2 {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_LONG, cuda_h.C_POINTER, cuda_h.C_LONG, cuda_h.C_POINTER
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuMemcpyHtoDAsync_v2");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuMemcpyHtoDAsync_v2(long dstDevice, MemorySegment srcHost, long ByteCount, MemorySegment hStream)
     * }
     */
    public static FunctionDescriptor cuMemcpyHtoDAsync_v2$descriptor() {
        return cuMemcpyHtoDAsync_v2.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuMemcpyHtoDAsync_v2(long dstDevice, MemorySegment srcHost, long ByteCount, MemorySegment hStream)
     * }
     */
    public static MethodHandle cuMemcpyHtoDAsync_v2$handle() {
        return cuMemcpyHtoDAsync_v2.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuMemcpyHtoDAsync_v2(long dstDevice, MemorySegment srcHost, long ByteCount, MemorySegment hStream)
     * }
     */
    public static MemorySegment cuMemcpyHtoDAsync_v2$address() {
        return cuMemcpyHtoDAsync_v2.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuMemcpyHtoDAsync_v2(long dstDevice, MemorySegment srcHost, long ByteCount, MemorySegment hStream)
     * }
     */
    public static int cuMemcpyHtoDAsync_v2(long dstDevice, MemorySegment srcHost, long ByteCount, MemorySegment hStream) {
        var mh$ = cuMemcpyHtoDAsync_v2.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuMemcpyHtoDAsync_v2", dstDevice, srcHost, ByteCount, hStream);
            }
            return (int) mh$.invokeExact(dstDevice, srcHost, ByteCount, hStream);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuMemcpyDtoHAsync_v2 {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER, cuda_h.C_LONG, cuda_h.C_LONG, cuda_h.C_POINTER
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuMemcpyDtoHAsync_v2");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuMemcpyDtoHAsync_v2(MemorySegment dstHost, long srcDevice, long ByteCount, MemorySegment hStream)
     * }
     */
    public static FunctionDescriptor cuMemcpyDtoHAsync_v2$descriptor() {
        return cuMemcpyDtoHAsync_v2.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuMemcpyDtoHAsync_v2(MemorySegment dstHost, long srcDevice, long ByteCount, MemorySegment hStream)
     * }
     */
    public static MethodHandle cuMemcpyDtoHAsync_v2$handle() {
        return cuMemcpyDtoHAsync_v2.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuMemcpyDtoHAsync_v2(MemorySegment dstHost, long srcDevice, long ByteCount, MemorySegment hStream)
     * }
     */
    public static MemorySegment cuMemcpyDtoHAsync_v2$address() {
        return cuMemcpyDtoHAsync_v2.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuMemcpyDtoHAsync_v2(MemorySegment dstHost, long srcDevice, long ByteCount, MemorySegment hStream)
     * }
     */
    public static int cuMemcpyDtoHAsync_v2(MemorySegment dstHost, long srcDevice, long ByteCount, MemorySegment hStream) {
        var mh$ = cuMemcpyDtoHAsync_v2.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuMemcpyDtoHAsync_v2", dstHost, srcDevice, ByteCount, hStream);
            }
            return (int) mh$.invokeExact(dstHost, srcDevice, ByteCount, hStream);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuMemcpyDtoDAsync_v2 {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_LONG, cuda_h.C_LONG, cuda_h.C_LONG, cuda_h.C_POINTER
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuMemcpyDtoDAsync_v2");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuMemcpyDtoDAsync_v2(long dstDevice, long srcDevice, long ByteCount, MemorySegment hStream)
     * }
     */
    public static FunctionDescriptor cuMemcpyDtoDAsync_v2$descriptor() {
        return cuMemcpyDtoDAsync_v2.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuMemcpyDtoDAsync_v2(long dstDevice, long srcDevice, long ByteCount, MemorySegment hStream)
     * }
     */
    public static MethodHandle cuMemcpyDtoDAsync_v2$handle() {
        return cuMemcpyDtoDAsync_v2.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuMemcpyDtoDAsync_v2(long dstDevice, long srcDevice, long ByteCount, MemorySegment hStream)
     * }
     */
    public static MemorySegment cuMemcpyDtoDAsync_v2$address() {
        return cuMemcpyDtoDAsync_v2.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuMemcpyDtoDAsync_v2(long dstDevice, long srcDevice, long ByteCount, MemorySegment hStream)
     * }
     */
    public static int cuMemcpyDtoDAsync_v2(long dstDevice, long srcDevice, long ByteCount, MemorySegment hStream) {
        var mh$ = cuMemcpyDtoDAsync_v2.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuMemcpyDtoDAsync_v2", dstDevice, srcDevice, ByteCount, hStream);
            }
            return (int) mh$.invokeExact(dstDevice, srcDevice, ByteCount, hStream);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuMemsetD8_v2 {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_LONG, cuda_h.C_CHAR, cuda_h.C_LONG
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuMemsetD8_v2");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuMemsetD8_v2(long dstDevice, byte uc, long N)
     * }
     */
    public static FunctionDescriptor cuMemsetD8_v2$descriptor() {
        return cuMemsetD8_v2.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuMemsetD8_v2(long dstDevice, byte uc, long N)
     * }
     */
    public static MethodHandle cuMemsetD8_v2$handle() {
        return cuMemsetD8_v2.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuMemsetD8_v2(long dstDevice, byte uc, long N)
     * }
     */
    public static MemorySegment cuMemsetD8_v2$address() {
        return cuMemsetD8_v2.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuMemsetD8_v2(long dstDevice, byte uc, long N)
     * }
     */
    public static int cuMemsetD8_v2(long dstDevice, byte uc, long N) {
        var mh$ = cuMemsetD8_v2.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuMemsetD8_v2", dstDevice, uc, N);
            }
            return (int) mh$.invokeExact(dstDevice, uc, N);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuStreamCreate {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER, cuda_h.C_INT
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuStreamCreate");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuStreamCreate(MemorySegment phStream, int Flags)
     * }
     */
    public static FunctionDescriptor cuStreamCreate$descriptor() {
        return cuStreamCreate.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuStreamCreate(MemorySegment phStream, int Flags)
     * }
     */
    public static MethodHandle cuStreamCreate$handle() {
        return cuStreamCreate.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuStreamCreate(MemorySegment phStream, int Flags)
     * }
     */
    public static MemorySegment cuStreamCreate$address() {
        return cuStreamCreate.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuStreamCreate(MemorySegment phStream, int Flags)
     * }
     */
    public static int cuStreamCreate(MemorySegment phStream, int Flags) {
        var mh$ = cuStreamCreate.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuStreamCreate", phStream, Flags);
            }
            return (int) mh$.invokeExact(phStream, Flags);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuStreamSynchronize {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuStreamSynchronize");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuStreamSynchronize(MemorySegment hStream)
     * }
     */
    public static FunctionDescriptor cuStreamSynchronize$descriptor() {
        return cuStreamSynchronize.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuStreamSynchronize(MemorySegment hStream)
     * }
     */
    public static MethodHandle cuStreamSynchronize$handle() {
        return cuStreamSynchronize.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuStreamSynchronize(MemorySegment hStream)
     * }
     */
    public static MemorySegment cuStreamSynchronize$address() {
        return cuStreamSynchronize.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuStreamSynchronize(MemorySegment hStream)
     * }
     */
    public static int cuStreamSynchronize(MemorySegment hStream) {
        var mh$ = cuStreamSynchronize.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuStreamSynchronize", hStream);
            }
            return (int) mh$.invokeExact(hStream);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuStreamBeginCapture_v2 {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER, cuda_h.C_INT
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuStreamBeginCapture_v2");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuStreamBeginCapture_v2(MemorySegment hStream, int mode)
     * }
     */
    public static FunctionDescriptor cuStreamBeginCapture_v2$descriptor() {
        return cuStreamBeginCapture_v2.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuStreamBeginCapture_v2(MemorySegment hStream, int mode)
     * }
     */
    public static MethodHandle cuStreamBeginCapture_v2$handle() {
        return cuStreamBeginCapture_v2.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuStreamBeginCapture_v2(MemorySegment hStream, int mode)
     * }
     */
    public static MemorySegment cuStreamBeginCapture_v2$address() {
        return cuStreamBeginCapture_v2.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuStreamBeginCapture_v2(MemorySegment hStream, int mode)
     * }
     */
    public static int cuStreamBeginCapture_v2(MemorySegment hStream, int mode) {
        var mh$ = cuStreamBeginCapture_v2.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuStreamBeginCapture_v2", hStream, mode);
            }
            return (int) mh$.invokeExact(hStream, mode);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuStreamEndCapture {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER, cuda_h.C_POINTER
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuStreamEndCapture");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuStreamEndCapture(MemorySegment hStream, MemorySegment phGraph)
     * }
     */
    public static FunctionDescriptor cuStreamEndCapture$descriptor() {
        return cuStreamEndCapture.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuStreamEndCapture(MemorySegment hStream, MemorySegment phGraph)
     * }
     */
    public static MethodHandle cuStreamEndCapture$handle() {
        return cuStreamEndCapture.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuStreamEndCapture(MemorySegment hStream, MemorySegment phGraph)
     * }
     */
    public static MemorySegment cuStreamEndCapture$address() {
        return cuStreamEndCapture.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuStreamEndCapture(MemorySegment hStream, MemorySegment phGraph)
     * }
     */
    public static int cuStreamEndCapture(MemorySegment hStream, MemorySegment phGraph) {
        var mh$ = cuStreamEndCapture.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuStreamEndCapture", hStream, phGraph);
            }
            return (int) mh$.invokeExact(hStream, phGraph);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuGraphInstantiateWithFlags {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER, cuda_h.C_POINTER, cuda_h.C_LONG_LONG
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuGraphInstantiateWithFlags");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuGraphInstantiateWithFlags(MemorySegment phGraphExec, MemorySegment hGraph, long flags)
     * }
     */
    public static FunctionDescriptor cuGraphInstantiateWithFlags$descriptor() {
        return cuGraphInstantiateWithFlags.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuGraphInstantiateWithFlags(MemorySegment phGraphExec, MemorySegment hGraph, long flags)
     * }
     */
    public static MethodHandle cuGraphInstantiateWithFlags$handle() {
        return cuGraphInstantiateWithFlags.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuGraphInstantiateWithFlags(MemorySegment phGraphExec, MemorySegment hGraph, long flags)
     * }
     */
    public static MemorySegment cuGraphInstantiateWithFlags$address() {
        return cuGraphInstantiateWithFlags.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuGraphInstantiateWithFlags(MemorySegment phGraphExec, MemorySegment hGraph, long flags)
     * }
     */
    public static int cuGraphInstantiateWithFlags(MemorySegment phGraphExec, MemorySegment hGraph, long flags) {
        var mh$ = cuGraphInstantiateWithFlags.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuGraphInstantiateWithFlags", phGraphExec, hGraph, flags);
            }
            return (int) mh$.invokeExact(phGraphExec, hGraph, flags);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuGraphLaunch {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER, cuda_h.C_POINTER
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuGraphLaunch");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuGraphLaunch(MemorySegment hGraphExec, MemorySegment hStream)
     * }
     */
    public static FunctionDescriptor cuGraphLaunch$descriptor() {
        return cuGraphLaunch.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuGraphLaunch(MemorySegment hGraphExec, MemorySegment hStream)
     * }
     */
    public static MethodHandle cuGraphLaunch$handle() {
        return cuGraphLaunch.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuGraphLaunch(MemorySegment hGraphExec, MemorySegment hStream)
     * }
     */
    public static MemorySegment cuGraphLaunch$address() {
        return cuGraphLaunch.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuGraphLaunch(MemorySegment hGraphExec, MemorySegment hStream)
     * }
     */
    public static int cuGraphLaunch(MemorySegment hGraphExec, MemorySegment hStream) {
        var mh$ = cuGraphLaunch.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuGraphLaunch", hGraphExec, hStream);
            }
            return (int) mh$.invokeExact(hGraphExec, hStream);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuGraphExecDestroy {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuGraphExecDestroy");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuGraphExecDestroy(MemorySegment hGraphExec)
     * }
     */
    public static FunctionDescriptor cuGraphExecDestroy$descriptor() {
        return cuGraphExecDestroy.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuGraphExecDestroy(MemorySegment hGraphExec)
     * }
     */
    public static MethodHandle cuGraphExecDestroy$handle() {
        return cuGraphExecDestroy.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuGraphExecDestroy(MemorySegment hGraphExec)
     * }
     */
    public static MemorySegment cuGraphExecDestroy$address() {
        return cuGraphExecDestroy.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuGraphExecDestroy(MemorySegment hGraphExec)
     * }
     */
    public static int cuGraphExecDestroy(MemorySegment hGraphExec) {
        var mh$ = cuGraphExecDestroy.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuGraphExecDestroy", hGraphExec);
            }
            return (int) mh$.invokeExact(hGraphExec);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuGraphDestroy {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuGraphDestroy");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuGraphDestroy(MemorySegment hGraph)
     * }
     */
    public static FunctionDescriptor cuGraphDestroy$descriptor() {
        return cuGraphDestroy.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuGraphDestroy(MemorySegment hGraph)
     * }
     */
    public static MethodHandle cuGraphDestroy$handle() {
        return cuGraphDestroy.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuGraphDestroy(MemorySegment hGraph)
     * }
     */
    public static MemorySegment cuGraphDestroy$address() {
        return cuGraphDestroy.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuGraphDestroy(MemorySegment hGraph)
     * }
     */
    public static int cuGraphDestroy(MemorySegment hGraph) {
        var mh$ = cuGraphDestroy.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuGraphDestroy", hGraph);
            }
            return (int) mh$.invokeExact(hGraph);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuStreamDestroy_v2 {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuStreamDestroy_v2");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuStreamDestroy_v2(MemorySegment hStream)
     * }
     */
    public static FunctionDescriptor cuStreamDestroy_v2$descriptor() {
        return cuStreamDestroy_v2.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuStreamDestroy_v2(MemorySegment hStream)
     * }
     */
    public static MethodHandle cuStreamDestroy_v2$handle() {
        return cuStreamDestroy_v2.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuStreamDestroy_v2(MemorySegment hStream)
     * }
     */
    public static MemorySegment cuStreamDestroy_v2$address() {
        return cuStreamDestroy_v2.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuStreamDestroy_v2(MemorySegment hStream)
     * }
     */
    public static int cuStreamDestroy_v2(MemorySegment hStream) {
        var mh$ = cuStreamDestroy_v2.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuStreamDestroy_v2", hStream);
            }
            return (int) mh$.invokeExact(hStream);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuEventCreate {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER, cuda_h.C_INT
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuEventCreate");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuEventCreate(MemorySegment phEvent, int Flags)
     * }
     */
    public static FunctionDescriptor cuEventCreate$descriptor() {
        return cuEventCreate.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuEventCreate(MemorySegment phEvent, int Flags)
     * }
     */
    public static MethodHandle cuEventCreate$handle() {
        return cuEventCreate.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuEventCreate(MemorySegment phEvent, int Flags)
     * }
     */
    public static MemorySegment cuEventCreate$address() {
        return cuEventCreate.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuEventCreate(MemorySegment phEvent, int Flags)
     * }
     */
    public static int cuEventCreate(MemorySegment phEvent, int Flags) {
        var mh$ = cuEventCreate.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuEventCreate", phEvent, Flags);
            }
            return (int) mh$.invokeExact(phEvent, Flags);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuEventRecord {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER, cuda_h.C_POINTER
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuEventRecord");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuEventRecord(MemorySegment hEvent, MemorySegment hStream)
     * }
     */
    public static FunctionDescriptor cuEventRecord$descriptor() {
        return cuEventRecord.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuEventRecord(MemorySegment hEvent, MemorySegment hStream)
     * }
     */
    public static MethodHandle cuEventRecord$handle() {
        return cuEventRecord.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuEventRecord(MemorySegment hEvent, MemorySegment hStream)
     * }
     */
    public static MemorySegment cuEventRecord$address() {
        return cuEventRecord.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuEventRecord(MemorySegment hEvent, MemorySegment hStream)
     * }
     */
    public static int cuEventRecord(MemorySegment hEvent, MemorySegment hStream) {
        var mh$ = cuEventRecord.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuEventRecord", hEvent, hStream);
            }
            return (int) mh$.invokeExact(hEvent, hStream);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuEventSynchronize {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuEventSynchronize");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuEventSynchronize(MemorySegment hEvent)
     * }
     */
    public static FunctionDescriptor cuEventSynchronize$descriptor() {
        return cuEventSynchronize.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuEventSynchronize(MemorySegment hEvent)
     * }
     */
    public static MethodHandle cuEventSynchronize$handle() {
        return cuEventSynchronize.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuEventSynchronize(MemorySegment hEvent)
     * }
     */
    public static MemorySegment cuEventSynchronize$address() {
        return cuEventSynchronize.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuEventSynchronize(MemorySegment hEvent)
     * }
     */
    public static int cuEventSynchronize(MemorySegment hEvent) {
        var mh$ = cuEventSynchronize.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuEventSynchronize", hEvent);
            }
            return (int) mh$.invokeExact(hEvent);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuEventElapsedTime_v2 {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER, cuda_h.C_POINTER, cuda_h.C_POINTER
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuEventElapsedTime_v2");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuEventElapsedTime_v2(MemorySegment pMilliseconds, MemorySegment hStart, MemorySegment hEnd)
     * }
     */
    public static FunctionDescriptor cuEventElapsedTime_v2$descriptor() {
        return cuEventElapsedTime_v2.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuEventElapsedTime_v2(MemorySegment pMilliseconds, MemorySegment hStart, MemorySegment hEnd)
     * }
     */
    public static MethodHandle cuEventElapsedTime_v2$handle() {
        return cuEventElapsedTime_v2.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuEventElapsedTime_v2(MemorySegment pMilliseconds, MemorySegment hStart, MemorySegment hEnd)
     * }
     */
    public static MemorySegment cuEventElapsedTime_v2$address() {
        return cuEventElapsedTime_v2.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuEventElapsedTime_v2(MemorySegment pMilliseconds, MemorySegment hStart, MemorySegment hEnd)
     * }
     */
    public static int cuEventElapsedTime_v2(MemorySegment pMilliseconds, MemorySegment hStart, MemorySegment hEnd) {
        var mh$ = cuEventElapsedTime_v2.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuEventElapsedTime_v2", pMilliseconds, hStart, hEnd);
            }
            return (int) mh$.invokeExact(pMilliseconds, hStart, hEnd);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuEventDestroy_v2 {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuEventDestroy_v2");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuEventDestroy_v2(MemorySegment hEvent)
     * }
     */
    public static FunctionDescriptor cuEventDestroy_v2$descriptor() {
        return cuEventDestroy_v2.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuEventDestroy_v2(MemorySegment hEvent)
     * }
     */
    public static MethodHandle cuEventDestroy_v2$handle() {
        return cuEventDestroy_v2.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuEventDestroy_v2(MemorySegment hEvent)
     * }
     */
    public static MemorySegment cuEventDestroy_v2$address() {
        return cuEventDestroy_v2.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuEventDestroy_v2(MemorySegment hEvent)
     * }
     */
    public static int cuEventDestroy_v2(MemorySegment hEvent) {
        var mh$ = cuEventDestroy_v2.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuEventDestroy_v2", hEvent);
            }
            return (int) mh$.invokeExact(hEvent);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuLaunchKernel {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_POINTER, cuda_h.C_INT, cuda_h.C_INT, cuda_h.C_INT, cuda_h.C_INT, cuda_h.C_INT, cuda_h.C_INT, cuda_h.C_INT, cuda_h.C_POINTER, cuda_h.C_POINTER, cuda_h.C_POINTER
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuLaunchKernel");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuLaunchKernel(MemorySegment f, int gridDimX, int gridDimY, int gridDimZ, int blockDimX, int blockDimY, int blockDimZ, int sharedMemBytes, MemorySegment hStream, MemorySegment kernelParams, MemorySegment extra)
     * }
     */
    public static FunctionDescriptor cuLaunchKernel$descriptor() {
        return cuLaunchKernel.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuLaunchKernel(MemorySegment f, int gridDimX, int gridDimY, int gridDimZ, int blockDimX, int blockDimY, int blockDimZ, int sharedMemBytes, MemorySegment hStream, MemorySegment kernelParams, MemorySegment extra)
     * }
     */
    public static MethodHandle cuLaunchKernel$handle() {
        return cuLaunchKernel.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuLaunchKernel(MemorySegment f, int gridDimX, int gridDimY, int gridDimZ, int blockDimX, int blockDimY, int blockDimZ, int sharedMemBytes, MemorySegment hStream, MemorySegment kernelParams, MemorySegment extra)
     * }
     */
    public static MemorySegment cuLaunchKernel$address() {
        return cuLaunchKernel.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuLaunchKernel(MemorySegment f, int gridDimX, int gridDimY, int gridDimZ, int blockDimX, int blockDimY, int blockDimZ, int sharedMemBytes, MemorySegment hStream, MemorySegment kernelParams, MemorySegment extra)
     * }
     */
    public static int cuLaunchKernel(MemorySegment f, int gridDimX, int gridDimY, int gridDimZ, int blockDimX, int blockDimY, int blockDimZ, int sharedMemBytes, MemorySegment hStream, MemorySegment kernelParams, MemorySegment extra) {
        var mh$ = cuLaunchKernel.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuLaunchKernel", f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, sharedMemBytes, hStream, kernelParams, extra);
            }
            return (int) mh$.invokeExact(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, sharedMemBytes, hStream, kernelParams, extra);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuGetErrorName {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_INT, cuda_h.C_POINTER
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuGetErrorName");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuGetErrorName(int error, MemorySegment pStr)
     * }
     */
    public static FunctionDescriptor cuGetErrorName$descriptor() {
        return cuGetErrorName.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuGetErrorName(int error, MemorySegment pStr)
     * }
     */
    public static MethodHandle cuGetErrorName$handle() {
        return cuGetErrorName.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuGetErrorName(int error, MemorySegment pStr)
     * }
     */
    public static MemorySegment cuGetErrorName$address() {
        return cuGetErrorName.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuGetErrorName(int error, MemorySegment pStr)
     * }
     */
    public static int cuGetErrorName(int error, MemorySegment pStr) {
        var mh$ = cuGetErrorName.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuGetErrorName", error, pStr);
            }
            return (int) mh$.invokeExact(error, pStr);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuGetErrorString {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT, cuda_h.C_INT, cuda_h.C_POINTER
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuGetErrorString");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuGetErrorString(int error, MemorySegment pStr)
     * }
     */
    public static FunctionDescriptor cuGetErrorString$descriptor() {
        return cuGetErrorString.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuGetErrorString(int error, MemorySegment pStr)
     * }
     */
    public static MethodHandle cuGetErrorString$handle() {
        return cuGetErrorString.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuGetErrorString(int error, MemorySegment pStr)
     * }
     */
    public static MemorySegment cuGetErrorString$address() {
        return cuGetErrorString.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuGetErrorString(int error, MemorySegment pStr)
     * }
     */
    public static int cuGetErrorString(int error, MemorySegment pStr) {
        var mh$ = cuGetErrorString.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuGetErrorString", error, pStr);
            }
            return (int) mh$.invokeExact(error, pStr);
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuProfilerStart {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuProfilerStart");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuProfilerStart(void)
     * }
     */
    public static FunctionDescriptor cuProfilerStart$descriptor() {
        return cuProfilerStart.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuProfilerStart(void)
     * }
     */
    public static MethodHandle cuProfilerStart$handle() {
        return cuProfilerStart.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuProfilerStart(void)
     * }
     */
    public static MemorySegment cuProfilerStart$address() {
        return cuProfilerStart.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuProfilerStart(void)
     * }
     */
    public static int cuProfilerStart() {
        var mh$ = cuProfilerStart.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuProfilerStart");
            }
            return (int) mh$.invokeExact();
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class cuProfilerStop {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            cuda_h.C_INT
        );

        public static final MemorySegment ADDR = cuda_h.findOrThrow("cuProfilerStop");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * CUresult cuProfilerStop(void)
     * }
     */
    public static FunctionDescriptor cuProfilerStop$descriptor() {
        return cuProfilerStop.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * CUresult cuProfilerStop(void)
     * }
     */
    public static MethodHandle cuProfilerStop$handle() {
        return cuProfilerStop.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * CUresult cuProfilerStop(void)
     * }
     */
    public static MemorySegment cuProfilerStop$address() {
        return cuProfilerStop.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuProfilerStop(void)
     * }
     */
    public static int cuProfilerStop() {
        var mh$ = cuProfilerStop.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("cuProfilerStop");
            }
            return (int) mh$.invokeExact();
        } catch (Error | RuntimeException ex) {
            throw ex;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final int CUDA_SUCCESS = (int) 0L;

    /**
     * {@snippet lang=c :
     * CUDA_SUCCESS = 0
     * }
     */
    public static int CUDA_SUCCESS() {
        return CUDA_SUCCESS;
    }

    private static final int CUDA_ERROR_INVALID_VALUE = (int) 1L;

    /**
     * {@snippet lang=c :
     * CUDA_ERROR_INVALID_VALUE = 1
     * }
     */
    public static int CUDA_ERROR_INVALID_VALUE() {
        return CUDA_ERROR_INVALID_VALUE;
    }

    private static final int CUDA_ERROR_OUT_OF_MEMORY = (int) 2L;

    /**
     * {@snippet lang=c :
     * CUDA_ERROR_OUT_OF_MEMORY = 2
     * }
     */
    public static int CUDA_ERROR_OUT_OF_MEMORY() {
        return CUDA_ERROR_OUT_OF_MEMORY;
    }

    private static final int CUDA_ERROR_NOT_INITIALIZED = (int) 3L;

    /**
     * {@snippet lang=c :
     * CUDA_ERROR_NOT_INITIALIZED = 3
     * }
     */
    public static int CUDA_ERROR_NOT_INITIALIZED() {
        return CUDA_ERROR_NOT_INITIALIZED;
    }

    private static final int CUDA_ERROR_DEINITIALIZED = (int) 4L;

    /**
     * {@snippet lang=c :
     * CUDA_ERROR_DEINITIALIZED = 4
     * }
     */
    public static int CUDA_ERROR_DEINITIALIZED() {
        return CUDA_ERROR_DEINITIALIZED;
    }

    private static final int CUDA_ERROR_STUB_LIBRARY = (int) 34L;

    /**
     * {@snippet lang=c :
     * CUDA_ERROR_STUB_LIBRARY = 34
     * }
     */
    public static int CUDA_ERROR_STUB_LIBRARY() {
        return CUDA_ERROR_STUB_LIBRARY;
    }

    private static final int CUDA_ERROR_NO_DEVICE = (int) 100L;

    /**
     * {@snippet lang=c :
     * CUDA_ERROR_NO_DEVICE = 100
     * }
     */
    public static int CUDA_ERROR_NO_DEVICE() {
        return CUDA_ERROR_NO_DEVICE;
    }

    private static final int CUDA_ERROR_INVALID_DEVICE = (int) 101L;

    /**
     * {@snippet lang=c :
     * CUDA_ERROR_INVALID_DEVICE = 101
     * }
     */
    public static int CUDA_ERROR_INVALID_DEVICE() {
        return CUDA_ERROR_INVALID_DEVICE;
    }

    private static final int CUDA_ERROR_INVALID_IMAGE = (int) 200L;

    /**
     * {@snippet lang=c :
     * CUDA_ERROR_INVALID_IMAGE = 200
     * }
     */
    public static int CUDA_ERROR_INVALID_IMAGE() {
        return CUDA_ERROR_INVALID_IMAGE;
    }

    private static final int CUDA_ERROR_INVALID_CONTEXT = (int) 201L;

    /**
     * {@snippet lang=c :
     * CUDA_ERROR_INVALID_CONTEXT = 201
     * }
     */
    public static int CUDA_ERROR_INVALID_CONTEXT() {
        return CUDA_ERROR_INVALID_CONTEXT;
    }

    private static final int CUDA_ERROR_NO_BINARY_FOR_GPU = (int) 209L;

    /**
     * {@snippet lang=c :
     * CUDA_ERROR_NO_BINARY_FOR_GPU = 209
     * }
     */
    public static int CUDA_ERROR_NO_BINARY_FOR_GPU() {
        return CUDA_ERROR_NO_BINARY_FOR_GPU;
    }

    private static final int CUDA_ERROR_INVALID_PTX = (int) 218L;

    /**
     * {@snippet lang=c :
     * CUDA_ERROR_INVALID_PTX = 218
     * }
     */
    public static int CUDA_ERROR_INVALID_PTX() {
        return CUDA_ERROR_INVALID_PTX;
    }

    private static final int CUDA_ERROR_UNSUPPORTED_PTX_VERSION = (int) 222L;

    /**
     * {@snippet lang=c :
     * CUDA_ERROR_UNSUPPORTED_PTX_VERSION = 222
     * }
     */
    public static int CUDA_ERROR_UNSUPPORTED_PTX_VERSION() {
        return CUDA_ERROR_UNSUPPORTED_PTX_VERSION;
    }

    private static final int CUDA_ERROR_INVALID_HANDLE = (int) 400L;

    /**
     * {@snippet lang=c :
     * CUDA_ERROR_INVALID_HANDLE = 400
     * }
     */
    public static int CUDA_ERROR_INVALID_HANDLE() {
        return CUDA_ERROR_INVALID_HANDLE;
    }

    private static final int CUDA_ERROR_NOT_FOUND = (int) 500L;

    /**
     * {@snippet lang=c :
     * CUDA_ERROR_NOT_FOUND = 500
     * }
     */
    public static int CUDA_ERROR_NOT_FOUND() {
        return CUDA_ERROR_NOT_FOUND;
    }

    private static final int CUDA_ERROR_ILLEGAL_ADDRESS = (int) 700L;

    /**
     * {@snippet lang=c :
     * CUDA_ERROR_ILLEGAL_ADDRESS = 700
     * }
     */
    public static int CUDA_ERROR_ILLEGAL_ADDRESS() {
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    }

    private static final int CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES = (int) 701L;

    /**
     * {@snippet lang=c :
     * CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES = 701
     * }
     */
    public static int CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES() {
        return CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES;
    }

    private static final int CUDA_ERROR_LAUNCH_FAILED = (int) 719L;

    /**
     * {@snippet lang=c :
     * CUDA_ERROR_LAUNCH_FAILED = 719
     * }
     */
    public static int CUDA_ERROR_LAUNCH_FAILED() {
        return CUDA_ERROR_LAUNCH_FAILED;
    }

    private static final int CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK = (int) 1L;

    /**
     * {@snippet lang=c :
     * CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 1
     * }
     */
    public static int CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK() {
        return CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK;
    }

    private static final int CU_DEVICE_ATTRIBUTE_WARP_SIZE = (int) 10L;

    /**
     * {@snippet lang=c :
     * CU_DEVICE_ATTRIBUTE_WARP_SIZE = 10
     * }
     */
    public static int CU_DEVICE_ATTRIBUTE_WARP_SIZE() {
        return CU_DEVICE_ATTRIBUTE_WARP_SIZE;
    }

    private static final int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = (int) 16L;

    /**
     * {@snippet lang=c :
     * CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16
     * }
     */
    public static int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT() {
        return CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT;
    }

    private static final int CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH = (int) 37L;

    /**
     * {@snippet lang=c :
     * CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH = 37
     * }
     */
    public static int CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH() {
        return CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH;
    }

    private static final int CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE = (int) 38L;

    /**
     * {@snippet lang=c :
     * CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE = 38
     * }
     */
    public static int CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE() {
        return CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE;
    }

    private static final int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = (int) 75L;

    /**
     * {@snippet lang=c :
     * CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
     * }
     */
    public static int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR() {
        return CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR;
    }

    private static final int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = (int) 76L;

    /**
     * {@snippet lang=c :
     * CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76
     * }
     */
    public static int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR() {
        return CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR;
    }

    private static final int CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = (int) 97L;

    /**
     * {@snippet lang=c :
     * CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97
     * }
     */
    public static int CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN() {
        return CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN;
    }

    private static final int CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK = (int) 0L;

    /**
     * {@snippet lang=c :
     * CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 0
     * }
     */
    public static int CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK() {
        return CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK;
    }

    private static final int CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES = (int) 1L;

    /**
     * {@snippet lang=c :
     * CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES = 1
     * }
     */
    public static int CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES() {
        return CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES;
    }

    private static final int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = (int) 8L;

    /**
     * {@snippet lang=c :
     * CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8
     * }
     */
    public static int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES() {
        return CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES;
    }

    private static final int CU_FUNC_ATTRIBUTE_CONST_SIZE_BYTES = (int) 2L;

    /**
     * {@snippet lang=c :
     * CU_FUNC_ATTRIBUTE_CONST_SIZE_BYTES = 2
     * }
     */
    public static int CU_FUNC_ATTRIBUTE_CONST_SIZE_BYTES() {
        return CU_FUNC_ATTRIBUTE_CONST_SIZE_BYTES;
    }

    private static final int CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES = (int) 3L;

    /**
     * {@snippet lang=c :
     * CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES = 3
     * }
     */
    public static int CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES() {
        return CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES;
    }

    private static final int CU_FUNC_ATTRIBUTE_NUM_REGS = (int) 4L;

    /**
     * {@snippet lang=c :
     * CU_FUNC_ATTRIBUTE_NUM_REGS = 4
     * }
     */
    public static int CU_FUNC_ATTRIBUTE_NUM_REGS() {
        return CU_FUNC_ATTRIBUTE_NUM_REGS;
    }

    private static final int CU_FUNC_ATTRIBUTE_PTX_VERSION = (int) 5L;

    /**
     * {@snippet lang=c :
     * CU_FUNC_ATTRIBUTE_PTX_VERSION = 5
     * }
     */
    public static int CU_FUNC_ATTRIBUTE_PTX_VERSION() {
        return CU_FUNC_ATTRIBUTE_PTX_VERSION;
    }

    private static final int CU_FUNC_ATTRIBUTE_BINARY_VERSION = (int) 6L;

    /**
     * {@snippet lang=c :
     * CU_FUNC_ATTRIBUTE_BINARY_VERSION = 6
     * }
     */
    public static int CU_FUNC_ATTRIBUTE_BINARY_VERSION() {
        return CU_FUNC_ATTRIBUTE_BINARY_VERSION;
    }

    private static final int CU_JIT_MAX_REGISTERS = (int) 0L;

    /**
     * {@snippet lang=c :
     * CU_JIT_MAX_REGISTERS = 0
     * }
     */
    public static int CU_JIT_MAX_REGISTERS() {
        return CU_JIT_MAX_REGISTERS;
    }

    private static final int CU_JIT_WALL_TIME = (int) 2L;

    /**
     * {@snippet lang=c :
     * CU_JIT_WALL_TIME = 2
     * }
     */
    public static int CU_JIT_WALL_TIME() {
        return CU_JIT_WALL_TIME;
    }

    private static final int CU_JIT_INFO_LOG_BUFFER = (int) 3L;

    /**
     * {@snippet lang=c :
     * CU_JIT_INFO_LOG_BUFFER = 3
     * }
     */
    public static int CU_JIT_INFO_LOG_BUFFER() {
        return CU_JIT_INFO_LOG_BUFFER;
    }

    private static final int CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES = (int) 4L;

    /**
     * {@snippet lang=c :
     * CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4
     * }
     */
    public static int CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES() {
        return CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES;
    }

    private static final int CU_JIT_ERROR_LOG_BUFFER = (int) 5L;

    /**
     * {@snippet lang=c :
     * CU_JIT_ERROR_LOG_BUFFER = 5
     * }
     */
    public static int CU_JIT_ERROR_LOG_BUFFER() {
        return CU_JIT_ERROR_LOG_BUFFER;
    }

    private static final int CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = (int) 6L;

    /**
     * {@snippet lang=c :
     * CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6
     * }
     */
    public static int CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES() {
        return CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES;
    }

    private static final int CU_JIT_OPTIMIZATION_LEVEL = (int) 7L;

    /**
     * {@snippet lang=c :
     * CU_JIT_OPTIMIZATION_LEVEL = 7
     * }
     */
    public static int CU_JIT_OPTIMIZATION_LEVEL() {
        return CU_JIT_OPTIMIZATION_LEVEL;
    }

    private static final int CU_JIT_LOG_VERBOSE = (int) 12L;

    /**
     * {@snippet lang=c :
     * CU_JIT_LOG_VERBOSE = 12
     * }
     */
    public static int CU_JIT_LOG_VERBOSE() {
        return CU_JIT_LOG_VERBOSE;
    }

    private static final int CU_STREAM_DEFAULT = (int) 0L;

    /**
     * {@snippet lang=c :
     * CU_STREAM_DEFAULT = 0
     * }
     */
    public static int CU_STREAM_DEFAULT() {
        return CU_STREAM_DEFAULT;
    }

    private static final int CU_STREAM_NON_BLOCKING = (int) 1L;

    /**
     * {@snippet lang=c :
     * CU_STREAM_NON_BLOCKING = 1
     * }
     */
    public static int CU_STREAM_NON_BLOCKING() {
        return CU_STREAM_NON_BLOCKING;
    }

    private static final int CU_EVENT_DEFAULT = (int) 0L;

    /**
     * {@snippet lang=c :
     * CU_EVENT_DEFAULT = 0
     * }
     */
    public static int CU_EVENT_DEFAULT() {
        return CU_EVENT_DEFAULT;
    }

    private static final int CU_EVENT_BLOCKING_SYNC = (int) 1L;

    /**
     * {@snippet lang=c :
     * CU_EVENT_BLOCKING_SYNC = 1
     * }
     */
    public static int CU_EVENT_BLOCKING_SYNC() {
        return CU_EVENT_BLOCKING_SYNC;
    }

    private static final int CU_EVENT_DISABLE_TIMING = (int) 2L;

    /**
     * {@snippet lang=c :
     * CU_EVENT_DISABLE_TIMING = 2
     * }
     */
    public static int CU_EVENT_DISABLE_TIMING() {
        return CU_EVENT_DISABLE_TIMING;
    }
}
