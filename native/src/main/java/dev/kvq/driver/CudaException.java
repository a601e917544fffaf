package dev.kvq.driver;

import dev.kvq.bindings.cuda.cuda_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A CUDA driver call that returned something other than {@code CUDA_SUCCESS}: carries the
 * CUresult code, its name from {@code cuGetErrorName} (e.g. {@code CUDA_ERROR_OUT_OF_MEMORY}),
 * the driver's description from {@code cuGetErrorString}, and the name of the failed call.
 */
@SuppressWarnings("restricted") // FFM: this class is where kvq talks to native code
public class CudaException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /** The {@code CUresult} value. */
    private final int code;
    /** The code's name from {@code cuGetErrorName}. */
    private final String errorName;
    /** The code's description from {@code cuGetErrorString}. */
    private final String description;
    /** The driver function that returned the code. */
    private final String call;

    CudaException(int code, String errorName, String description, String call, String detail) {
        super(message(code, errorName, description, call, detail));
        this.code = code;
        this.errorName = errorName;
        this.description = description;
        this.call = call;
    }

    /**
     * The one checked-call helper (ggml-cuda's CUDA_CHECK, in Java): returns quietly on
     * {@code CUDA_SUCCESS}, otherwise throws with the call's name and the error's name.
     */
    static void check(int result, String call) {
        if (result != 0) {
            throw of(result, call, null);
        }
    }

    /** Like {@link #check(int, String)}, with extra text (e.g. a JIT error log) in the message. */
    static void check(int result, String call, String detail) {
        if (result != 0) {
            throw of(result, call, detail);
        }
    }

    static CudaException of(int result, String call, String detail) {
        return new CudaException(result, errorName(result), errorString(result), call, detail);
    }

    /**
     * The CUresult code, e.g. 2.
     *
     * @return the numeric error code
     */
    public int code() {
        return code;
    }

    /**
     * The code's name as the driver spells it, e.g. {@code CUDA_ERROR_OUT_OF_MEMORY}.
     *
     * @return the error name; a generic name when the driver does not know the code
     */
    public String errorName() {
        return errorName;
    }

    /**
     * The driver's one-line description of the code, e.g. "out of memory" (may be empty).
     *
     * @return the description, or an empty string
     */
    public String description() {
        return description;
    }

    /**
     * The driver function that failed, e.g. {@code cuMemAlloc_v2}.
     *
     * @return the function name
     */
    public String call() {
        return call;
    }

    private static String message(int code, String name, String description, String call, String detail) {
        StringBuilder sb = new StringBuilder(call).append(" failed: ").append(name).append(" (").append(code).append(')');
        if (description != null && !description.isEmpty()) {
            sb.append(": ").append(description);
        }
        if (detail != null && !detail.isBlank()) {
            sb.append('\n').append(detail.strip());
        }
        return sb.toString();
    }

    /** {@code cuGetErrorName}, or a made-up "CUresult(n)" when the driver does not know the code. */
    static String errorName(int code) {
        String s = lookup(code, true);
        return s != null ? s : "CUresult(" + code + ")";
    }

    static String errorString(int code) {
        String s = lookup(code, false);
        return s != null ? s : "";
    }

    private static String lookup(int code, boolean name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            int rc = name ? cuda_h.cuGetErrorName(code, out) : cuda_h.cuGetErrorString(code, out);
            MemorySegment str = out.get(ValueLayout.ADDRESS, 0);
            if (rc != 0 || str.equals(MemorySegment.NULL)) {
                return null;
            }
            return str.reinterpret(4096).getString(0);
        } catch (LinkageError e) {
            // a driver without cuGetErrorName must not hide the original error
            return null;
        }
    }
}
