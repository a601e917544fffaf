package dev.kvq.engine.cuda;

import dev.kvq.driver.KernelArgs;
import dev.kvq.kernels.KernelSignatures.Kind;
import dev.kvq.kernels.KernelSignatures.Param;
import dev.kvq.kernels.KernelSignatures;
import java.util.List;

/**
 * The arguments of one launch, checked parameter by parameter against the kernel's declared
 * signature ({@link KernelSignatures}, the mirror of kvq_kernels.cuh): every value is added under
 * the parameter's name and kind, so an argument in the wrong place fails here, in Java, with the
 * kernel and parameter named, instead of as a wrong answer or an illegal address on the device.
 */
public final class LaunchArgs {
    private final KernelSignatures.Signature signature;
    private final List<Param> params;
    private final KernelArgs args = KernelArgs.of();
    private int next;

    private LaunchArgs(KernelSignatures.Signature signature) {
        this.signature = signature;
        this.params = signature.params();
    }

    /** Starts the arguments of kernel {@code name}. */
    public static LaunchArgs of(String name) {
        return new LaunchArgs(KernelSignatures.of(name));
    }

    private void expect(String name, Kind kind) {
        if (next >= params.size()) {
            throw new IllegalStateException(signature.name() + " takes " + params.size() + " parameters; '" + name
                    + "' would be number " + (next + 1));
        }
        Param p = params.get(next);
        if (!p.name().equals(name) || p.kind() != kind) {
            throw new IllegalStateException(signature.name() + " parameter " + (next + 1) + " is " + p.name() + " ("
                    + p.kind() + "), not " + name + " (" + kind + ")");
        }
        next++;
    }

    /** A device address ({@code 0} for a null pointer). */
    public LaunchArgs ptr(String name, long address) {
        expect(name, Kind.POINTER);
        args.ptr(address);
        return this;
    }

    /** An {@code int}. */
    public LaunchArgs i32(String name, int value) {
        expect(name, Kind.I32);
        args.i32(value);
        return this;
    }

    /** A {@code long long}. */
    public LaunchArgs i64(String name, long value) {
        expect(name, Kind.I64);
        args.i64(value);
        return this;
    }

    /** A {@code float}. */
    public LaunchArgs f32(String name, float value) {
        expect(name, Kind.F32);
        args.f32(value);
        return this;
    }

    /** The kernel these arguments are for. */
    public String kernel() {
        return signature.name();
    }

    /** The finished arguments; throws when parameters are missing. */
    public KernelArgs done() {
        if (next != params.size()) {
            throw new IllegalStateException(signature.name() + " takes " + params.size() + " parameters, got " + next
                    + " (next missing: " + params.get(next).name() + ")");
        }
        return args;
    }
}
