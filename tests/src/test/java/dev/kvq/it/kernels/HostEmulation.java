package dev.kvq.it.kernels;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Builds and runs the host programs of {@code kernels-cu/src/test/cuda}: the CUDA kernel bodies executed
 * on the host. {@code kvq_host_test.cu} runs the v1 kernels block by block; data goes through files of
 * tagged little-endian arrays (the format is described in that source). Other programs
 * ({@link #program(String)}) take command-line arguments and print their results. Needs {@code nvcc}
 * (for its host compilation driver and headers); when it is missing, {@link #unavailableReason()} and
 * {@link Program#unavailable()} say so and the tests skip.
 */
final class HostEmulation {
    private static final Path ROOT = projectRoot();
    private static final Path SOURCES = ROOT.resolve("kernels-cu/src/test/cuda");
    private static final Path INCLUDE = ROOT.resolve("kernels-cu/src/main/cuda");
    private static final Path WORK = ROOT.resolve("tests/target/kvq-host-test");
    private static final Map<String, Program> PROGRAMS = new LinkedHashMap<>();

    private HostEmulation() {}

    /**
     * A host program built from {@code kernels-cu/src/test/cuda/<name>.cu}, or why it could not be.
     *
     * @param binary      the executable, or null
     * @param unavailable null when built, else why not (nvcc missing, too slow)
     */
    record Program(Path binary, String unavailable) {
        /** What one run printed, and its exit status. */
        record Result(int exit, String output) {}

        /** Runs the program with {@code args}; fails on a timeout, not on a non-zero exit (the caller judges). */
        Result run(String... args) throws IOException, InterruptedException {
            List<String> command = new ArrayList<>(List.of(binary.toString()));
            command.addAll(List.of(args));
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(600, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException(binary.getFileName() + " " + String.join(" ", args) + " timed out");
            }
            return new Result(p.exitValue(), log);
        }
    }

    /** The host program {@code name} (built once per test JVM). */
    static synchronized Program program(String name) {
        return PROGRAMS.computeIfAbsent(name, HostEmulation::build);
    }

    private static Path projectRoot() {
        Path here = Path.of("").toAbsolutePath();
        return Files.isDirectory(here.resolve("kernels-cu")) ? here : here.getParent();
    }

    /** Null when the v1 emulator ({@code kvq_host_test}) is built, else why it cannot be. */
    static String unavailableReason() {
        return program("kvq_host_test").unavailable();
    }

    private static Program build(String name) {
        String nvcc = System.getenv().getOrDefault("NVCC", "nvcc");
        Path source = SOURCES.resolve(name + ".cu");
        try {
            Files.createDirectories(WORK);
            Path exe = WORK.resolve(name);
            // -ffp-contract=off: the host compiler must not fuse a*b+c either, like the device path's __fmul_rn
            Process p = new ProcessBuilder(nvcc, "-O2", "-std=c++17", "-Xcompiler", "-ffp-contract=off",
                    "-I", INCLUDE.toString(), "-o", exe.toString(), source.toString())
                    .redirectErrorStream(true).start();
            String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(600, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return new Program(null, "nvcc did not finish building " + name + " within 600 s");
            }
            if (p.exitValue() != 0) {
                throw new IllegalStateException("nvcc failed to build " + source + ":\n" + log);
            }
            return new Program(exe, null);
        } catch (IOException e) {
            return new Program(null, "nvcc not found (" + nvcc + "): " + e.getMessage()
                    + "; the host emulation of the CUDA kernels needs the CUDA toolkit's nvcc");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Program(null, "interrupted while building " + name);
        }
    }

    /** Runs the v1 emulator on {@code input}, returning its output arrays. */
    static Map<String, ByteBuffer> run(String name, Arrays input) throws IOException, InterruptedException {
        Path in = WORK.resolve(name + ".in");
        Path out = WORK.resolve(name + ".out");
        Files.write(in, input.toBytes());
        Path binary = program("kvq_host_test").binary();
        Process p = new ProcessBuilder(binary.toString(), in.toString(), out.toString()).redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(600, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException("host emulator timed out on " + name);
        }
        if (p.exitValue() != 0) {
            throw new IllegalStateException("host emulator failed on " + name + " (exit " + p.exitValue() + "): " + log);
        }
        return read(Files.readAllBytes(out));
    }

    private static Map<String, ByteBuffer> read(byte[] bytes) {
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        Map<String, ByteBuffer> out = new LinkedHashMap<>();
        while (b.hasRemaining()) {
            byte[] name = new byte[b.get() & 0xff];
            b.get(name);
            int type = b.get();
            long count = b.getLong();
            int size = type == 3 ? 1 : type == 2 ? 8 : 4;
            ByteBuffer slice = b.slice(b.position(), Math.toIntExact(count * size)).order(ByteOrder.LITTLE_ENDIAN);
            b.position(b.position() + (int) (count * size));
            out.put(new String(name, StandardCharsets.US_ASCII), slice);
        }
        return out;
    }

    static float[] floats(ByteBuffer b) {
        float[] f = new float[b.remaining() / 4];
        b.duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(f);
        return f;
    }

    static int[] ints(ByteBuffer b) {
        int[] f = new int[b.remaining() / 4];
        b.duplicate().order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(f);
        return f;
    }

    /** A list of named arrays in the emulator's input format. */
    static final class Arrays {
        private final List<byte[]> parts = new ArrayList<>();

        private Arrays add(String name, int type, long count, ByteBuffer data) {
            ByteBuffer h = ByteBuffer.allocate(1 + name.length() + 1 + 8).order(ByteOrder.LITTLE_ENDIAN);
            h.put((byte) name.length()).put(name.getBytes(StandardCharsets.US_ASCII)).put((byte) type).putLong(count);
            parts.add(h.array());
            byte[] payload = new byte[data.remaining()];
            data.get(payload);
            parts.add(payload);
            return this;
        }

        Arrays i32(String name, int... v) {
            ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            b.asIntBuffer().put(v);
            return add(name, 0, v.length, b);
        }

        Arrays f32(String name, float... v) {
            ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            b.asFloatBuffer().put(v);
            return add(name, 1, v.length, b);
        }

        Arrays i64(String name, long... v) {
            ByteBuffer b = ByteBuffer.allocate(v.length * 8).order(ByteOrder.LITTLE_ENDIAN);
            b.asLongBuffer().put(v);
            return add(name, 2, v.length, b);
        }

        Arrays u8(String name, byte[] v) {
            return add(name, 3, v.length, ByteBuffer.wrap(v));
        }

        byte[] toBytes() {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            for (byte[] p : parts) {
                out.writeBytes(p);
            }
            return out.toByteArray();
        }
    }
}
