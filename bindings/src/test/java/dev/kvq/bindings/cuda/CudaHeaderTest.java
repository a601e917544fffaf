package dev.kvq.bindings.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.InputStream;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassModel;
import java.lang.classfile.FieldModel;
import java.lang.classfile.attribute.ConstantValueAttribute;
import java.lang.classfile.constantpool.IntegerEntry;
import java.lang.foreign.MemorySegment;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Checks the hand-written bindings against the CUDA headers on this machine: every bound symbol
 * is the one cuda.h's {@code #define} selects, with the prototype's parameter count and carriers,
 * and every constant has the header's value. Reads {@code cuda_h} by reflection and from its class
 * file only, so {@code cuda_h} is never initialized (there is no libcuda here).
 */
class CudaHeaderTest {

    private static Path includeDir; // null when no CUDA headers were found
    private static String headers;  // cuda.h + cudaProfiler.h, comments removed

    @BeforeAll
    static void readHeaders() throws IOException {
        includeDir = CudaHeaders.findIncludeDir().orElse(null);
        if (includeDir == null) {
            return;
        }
        String text = Files.readString(includeDir.resolve("cuda.h"));
        Path profiler = includeDir.resolve("cudaProfiler.h");
        if (Files.isRegularFile(profiler)) {
            text += "\n" + Files.readString(profiler);
        }
        headers = stripComments(text);
    }

    private static void requireHeaders() {
        // method-level assumption: the tests show as skipped (with this reason) where CUDA is absent
        assumeTrue(includeDir != null, "no CUDA headers found (looked in $CUDA_HOME, $CUDA_PATH, nvcc's "
                + "installation and /usr/local/cuda); install the CUDA toolkit to check the bindings");
    }

    @Test
    void everyBoundSymbolIsTheOneCudaHDefines() {
        requireHeaders();
        Map<String, String> defines = versionDefines(headers);
        List<String> problems = new ArrayList<>();
        for (String symbol : boundFunctions().keySet()) {
            String api = symbol.replaceFirst("_v\\d+$", "");
            String expected = defines.getOrDefault(api, api);
            if (!expected.equals(symbol)) {
                problems.add(symbol + ": cuda.h maps " + api + " to " + expected);
            }
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    @Test
    void parameterCountsAndCarriersMatchThePrototypes() {
        requireHeaders();
        List<String> problems = new ArrayList<>();
        for (var e : boundFunctions().entrySet()) {
            String symbol = e.getKey();
            Method m = e.getValue();
            String api = symbol.replaceFirst("_v\\d+$", "");
            Optional<List<String>> params = prototype(headers, api).or(() -> prototype(headers, symbol))
                    .or(() -> definedAs(headers, symbol).flatMap(name -> prototype(headers, name)));
            if (params.isEmpty()) {
                problems.add(symbol + ": no prototype for " + api + " in the headers");
                continue;
            }
            List<String> cParams = params.get();
            Class<?>[] javaParams = m.getParameterTypes();
            if (cParams.size() != javaParams.length) {
                problems.add(symbol + ": " + javaParams.length + " parameters bound, prototype has " + cParams.size()
                        + " " + cParams);
                continue;
            }
            for (int i = 0; i < cParams.size(); i++) {
                Class<?> want = carrier(cParams.get(i));
                if (want != javaParams[i]) {
                    problems.add(symbol + ": parameter " + i + " '" + cParams.get(i) + "' bound as "
                            + javaParams[i].getSimpleName() + ", expected " + want.getSimpleName());
                }
            }
            if (m.getReturnType() != int.class) {
                problems.add(symbol + ": CUresult must be bound as int");
            }
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    @Test
    void constantsHaveTheHeaderValues() throws IOException {
        requireHeaders();
        Map<String, Integer> constants = constantFields();
        assertFalse(constants.isEmpty(), "no int constants found in cuda_h's class file");
        List<String> problems = new ArrayList<>();
        for (var e : constants.entrySet()) {
            Matcher m = Pattern.compile("\\b" + e.getKey() + "\\s*=\\s*(0x[0-9A-Fa-f]+|\\d+)").matcher(headers);
            if (!m.find()) {
                problems.add(e.getKey() + ": not an enumerator in the headers");
                continue;
            }
            int value = Integer.decode(m.group(1));
            if (value != e.getValue()) {
                problems.add(e.getKey() + " = " + e.getValue() + ", header says " + value);
            }
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    @Test
    void theRequiredFunctionsAreAllBound() {
        // no headers needed, but kept with the header checks: the list the issue asked for
        List<String> required = List.of("cuInit", "cuDriverGetVersion", "cuDeviceGetCount", "cuDeviceGet",
                "cuDeviceGetName", "cuDeviceGetAttribute", "cuDeviceTotalMem_v2", "cuDevicePrimaryCtxRetain",
                "cuDevicePrimaryCtxRelease_v2", "cuCtxSetCurrent", "cuCtxSynchronize", "cuMemGetInfo_v2",
                "cuModuleLoadDataEx", "cuModuleUnload", "cuModuleGetFunction", "cuFuncGetAttribute", "cuFuncSetAttribute", "cuMemAlloc_v2",
                "cuMemFree_v2", "cuMemAllocHost_v2", "cuMemFreeHost", "cuMemcpyHtoD_v2", "cuMemcpyDtoH_v2",
                "cuMemcpyDtoD_v2", "cuMemcpyHtoDAsync_v2", "cuMemcpyDtoHAsync_v2", "cuMemcpyDtoDAsync_v2",
                "cuMemsetD8_v2", "cuStreamCreate", "cuStreamSynchronize", "cuStreamDestroy_v2", "cuEventCreate",
                "cuEventRecord", "cuEventSynchronize", "cuEventElapsedTime_v2", "cuEventDestroy_v2", "cuLaunchKernel",
                "cuGetErrorName", "cuGetErrorString", "cuProfilerStart", "cuProfilerStop",
                // CUDA graphs of a whole decode step (issue 15)
                "cuStreamBeginCapture_v2", "cuStreamEndCapture", "cuGraphInstantiateWithFlags", "cuGraphLaunch",
                "cuGraphExecDestroy", "cuGraphDestroy");
        Map<String, Method> bound = boundFunctions();
        for (String name : required) {
            assertNotNull(bound.get(name), name + " is not bound");
        }
        assertEquals(required.size(), bound.size(), "bound: " + bound.keySet());
    }

    // ---- reading the bindings without initializing cuda_h ----

    /** symbol → invoker method, for every function that has an x$handle() accessor */
    static Map<String, Method> boundFunctions() {
        Class<?> h = headerClass();
        Map<String, Method> handles = new TreeMap<>();
        for (Method m : h.getDeclaredMethods()) {
            if (m.getName().endsWith("$handle") && Modifier.isStatic(m.getModifiers())) {
                handles.put(m.getName().substring(0, m.getName().length() - "$handle".length()), null);
            }
        }
        for (Method m : h.getDeclaredMethods()) {
            if (handles.containsKey(m.getName()) && Modifier.isPublic(m.getModifiers())) {
                handles.put(m.getName(), m);
            }
        }
        handles.forEach((k, v) -> assertNotNull(v, k + "$handle() has no invoker method " + k + "(...)"));
        return handles;
    }

    private static Class<?> headerClass() {
        try {
            // initialize=false: reflection on members does not run the static initializer
            return Class.forName("dev.kvq.bindings.cuda.cuda_h", false, CudaHeaderTest.class.getClassLoader());
        } catch (ClassNotFoundException e) {
            throw new AssertionError(e);
        }
    }

    /** The compile-time int constants (CUDA_*, CU_*) of cuda_h, read from its class file. */
    static Map<String, Integer> constantFields() throws IOException {
        Map<String, Integer> out = new TreeMap<>();
        try (InputStream in = CudaHeaderTest.class.getResourceAsStream("/dev/kvq/bindings/cuda/cuda_h.class")) {
            assertNotNull(in, "cuda_h.class not on the class path");
            ClassModel model = ClassFile.of().parse(in.readAllBytes());
            for (FieldModel f : model.fields()) {
                String name = f.fieldName().stringValue();
                if (!name.startsWith("CU")) {
                    continue;
                }
                f.findAttribute(java.lang.classfile.Attributes.constantValue())
                        .map(ConstantValueAttribute::constant)
                        .filter(c -> c instanceof IntegerEntry)
                        .ifPresent(c -> out.put(name, ((IntegerEntry) c).intValue()));
            }
        }
        return out;
    }

    // ---- reading the headers ----

    static String stripComments(String c) {
        return c.replaceAll("(?s)/\\*.*?\\*/", " ").replaceAll("//[^\\n]*", "");
    }

    /** api name → versioned symbol, from lines like {@code #define cuMemAlloc cuMemAlloc_v2} */
    static Map<String, String> versionDefines(String h) {
        Map<String, String> out = new TreeMap<>();
        // __CUDA_API_PTDS/PTSZ(x) expand to x unless per-thread default streams are asked for
        Matcher m = Pattern.compile("#\\s*define\\s+(cu\\w+)\\s+(?:__CUDA_API_PT(?:DS|SZ)\\(\\s*)?(cu\\w+)").matcher(h);
        while (m.find()) {
            if (!m.group(2).endsWith("_ptds") && !m.group(2).endsWith("_ptsz")) {
                // the first #define wins: later ones are the internal/legacy re-definitions
                out.putIfAbsent(m.group(1), m.group(2));
            }
        }
        return out;
    }

    /** The parameter declarations of the first prototype of {@code name}, or empty. */
    static Optional<List<String>> prototype(String h, String name) {
        Matcher m = Pattern.compile("CUresult\\s+CUDAAPI\\s+" + Pattern.quote(name) + "\\s*\\(([^)]*)\\)").matcher(h);
        if (!m.find()) {
            return Optional.empty();
        }
        String list = m.group(1).replaceAll("\\s+", " ").strip();
        if (list.isEmpty() || list.equals("void")) {
            return Optional.of(List.of());
        }
        List<String> out = new ArrayList<>();
        for (String p : list.split(",")) {
            out.add(p.strip());
        }
        return Optional.of(out);
    }

    /**
     * The API name cuda.h {@code #define}s to {@code symbol} without a version suffix ({@code #define
     * cuGraphInstantiate cuGraphInstantiateWithFlags}), whose prototype is declared under that name.
     */
    static Optional<String> definedAs(String h, String symbol) {
        Matcher m = Pattern.compile("#define\\s+(\\w+)\\s+" + Pattern.quote(symbol) + "\\s*$", Pattern.MULTILINE)
                .matcher(h);
        return m.find() ? Optional.of(m.group(1)) : Optional.empty();
    }

    /** The Java carrier TOOLCHAIN.md prescribes for a C parameter declaration. */
    static Class<?> carrier(String decl) {
        if (decl.contains("*")) {
            return MemorySegment.class;
        }
        String type = decl.replaceAll("\\bconst\\b", "").strip().replaceFirst("\\s+\\w+$", "").strip();
        return switch (type) {
            case "CUdeviceptr", "size_t", "unsigned long long" -> long.class;
            case "unsigned char" -> byte.class;
            case "int", "unsigned int", "CUdevice", "CUresult", "CUstreamCaptureMode" -> int.class;
            case "CUcontext", "CUmodule", "CUfunction", "CUstream", "CUevent", "CUgraph", "CUgraphExec" ->
                    MemorySegment.class;
            default -> type.endsWith("_attribute") || type.startsWith("CUjit") ? int.class : Object.class;
        };
    }

    @Test
    void headerParsingHelpersWork() {
        // guards the parser itself, so a header change cannot make the checks above vacuous
        String h = stripComments("""
                #define cuFoo  cuFoo_v2 /* c */
                #define cuBar  __CUDA_API_PTSZ(cuBar_v3)
                CUresult CUDAAPI cuFoo(CUdeviceptr *dptr, // out
                                       size_t bytes);
                CUresult CUDAAPI cuNone(void);
                """);
        assertEquals(Map.of("cuFoo", "cuFoo_v2", "cuBar", "cuBar_v3"), versionDefines(h));
        assertEquals(Optional.of("cuGraphInstantiate"), definedAs(
                "#define cuGraphInstantiate      cuGraphInstantiateWithFlags\n", "cuGraphInstantiateWithFlags"));
        assertEquals(Optional.empty(), definedAs(h, "cuGraphInstantiateWithFlags"));
        assertEquals(List.of("CUdeviceptr *dptr", "size_t bytes"), prototype(h, "cuFoo").orElseThrow());
        assertEquals(List.of(), prototype(h, "cuNone").orElseThrow());
        assertEquals(long.class, carrier("size_t bytes"));
        assertEquals(MemorySegment.class, carrier("const void *srcHost"));
        assertEquals(byte.class, carrier("unsigned char uc"));
        assertEquals(int.class, carrier("CUdevice_attribute attrib"));
    }
}
