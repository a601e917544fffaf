package dev.kvq.kernels;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The PTX that ships in this jar: one resource per kernel source and target architecture,
 * {@code dev/kvq/kernels/<source>.sm_<arch>.ptx}, listed in {@code index.txt} (both written by
 * {@code kernels-cu/gen-ptx.sh}). Entry points and their parameter types are read from the PTX
 * itself, so the catalogue cannot drift from what the driver will actually load.
 */
public final class KernelCatalog {

    /** Resource folder of the PTX files, relative to the class path root. */
    public static final String RESOURCE_DIR = "dev/kvq/kernels/";

    private static final Pattern FILE = Pattern.compile("([A-Za-z0-9_]+)\\.sm_([0-9]+)\\.ptx");
    private static final Pattern ENTRY = Pattern.compile("\\.visible\\s+\\.entry\\s+([A-Za-z_$][\\w$]*)\\s*\\(([^)]*)\\)");
    private static final Pattern TYPE = Pattern.compile("\\.(?:[usbf](?:8|16|32|64)|pred)");
    private static final Pattern ARRAY = Pattern.compile("\\[\\d+]$");

    /**
     * One {@code .entry} of a PTX file: its unmangled name and PTX parameter types in order.
     *
     * @param name the {@code .entry} name, as the driver looks it up
     * @param parameterTypes PTX types such as {@code u64}, {@code f32} or {@code b8[16]}
     */
    public record Entry(String name, List<String> parameterTypes) {
        /** Copies the parameter types, so an entry cannot change after parsing. */
        public Entry {
            Objects.requireNonNull(name, "name");
            parameterTypes = List.copyOf(parameterTypes);
        }

        @Override
        public String toString() {
            return name + parameterTypes;
        }
    }

    private static final KernelCatalog DEFAULT = load(KernelCatalog.class.getClassLoader());

    /** source name → available architectures (ascending) */
    private final Map<String, TreeSet<Integer>> archsBySource;
    private final ClassLoader loader;

    private KernelCatalog(Map<String, TreeSet<Integer>> archsBySource, ClassLoader loader) {
        this.archsBySource = archsBySource;
        this.loader = loader;
    }

    /**
     * The catalogue of the PTX resources in this jar.
     *
     * @return the shared catalogue, read once from this jar's {@code index.txt}
     */
    public static KernelCatalog get() {
        return DEFAULT;
    }

    static KernelCatalog load(ClassLoader loader) {
        String index = readResource(loader, RESOURCE_DIR + "index.txt");
        Map<String, TreeSet<Integer>> map = new TreeMap<>();
        for (String line : index.split("\n")) {
            String file = line.strip();
            if (file.isEmpty()) {
                continue;
            }
            Matcher m = FILE.matcher(file);
            if (!m.matches()) {
                throw new IllegalStateException("malformed line in " + RESOURCE_DIR + "index.txt: '" + file
                        + "' (expected <source>.sm_<arch>.ptx; regenerate with kernels-cu/gen-ptx.sh)");
            }
            map.computeIfAbsent(m.group(1), k -> new TreeSet<>()).add(Integer.parseInt(m.group(2)));
        }
        return new KernelCatalog(map, loader);
    }

    /**
     * Names of the kernel source files (without {@code .cu}), sorted.
     *
     * @return the source names, e.g. {@code vector_add}
     */
    public List<String> sources() {
        return List.copyOf(archsBySource.keySet());
    }

    /**
     * Architectures (e.g. 80, 90) for which PTX of {@code source} ships, ascending.
     *
     * @param source a kernel source name from {@link #sources()}
     * @return the architectures as numbers, e.g. {@code [80, 90]}
     * @throws java.util.NoSuchElementException when no such source ships
     */
    public List<Integer> architectures(String source) {
        return List.copyOf(archsOf(source));
    }

    /**
     * The newest shipped architecture the device can run: the highest {@code sm_XX} not above its
     * compute capability (PTX is JIT-compiled forward, so sm_90 PTX runs on a 10.0 device too).
     *
     * @throws NoSuchElementException when the device is older than every shipped PTX
     * @param source a kernel source name from {@link #sources()}
     * @param ccMajor the device's compute capability, major part (9 for an H100)
     * @param ccMinor the device's compute capability, minor part
     * @return the architecture to pass to {@link #ptx(String, int)}
     */
    public int bestArchitecture(String source, int ccMajor, int ccMinor) {
        int device = ccMajor * 10 + ccMinor;
        Integer arch = archsOf(source).floor(device);
        if (arch == null) {
            throw new NoSuchElementException("no PTX of " + source + " for compute capability " + ccMajor + "." + ccMinor
                    + " (shipped: sm_" + archsOf(source) + ")");
        }
        return arch;
    }

    /**
     * The PTX text of {@code source} for {@code sm_<arch>}.
     *
     * @param source a kernel source name from {@link #sources()}
     * @param arch a shipped architecture, e.g. 90 for {@code sm_90}
     * @return the PTX text, as written by nvcc
     * @throws java.util.NoSuchElementException when that source or architecture does not ship
     */
    public String ptx(String source, int arch) {
        if (!archsOf(source).contains(arch)) {
            throw new NoSuchElementException("no PTX " + fileName(source, arch) + " (shipped for " + source + ": sm_"
                    + archsOf(source) + ")");
        }
        return readResource(loader, RESOURCE_DIR + fileName(source, arch));
    }

    /**
     * The PTX of {@code source} for {@code sm_<arch>} as UTF-8 bytes (no trailing NUL).
     *
     * @param source a kernel source name from {@link #sources()}
     * @param arch a shipped architecture, e.g. 90 for {@code sm_90}
     * @return the PTX bytes; a fresh array on every call
     */
    public byte[] ptxBytes(String source, int arch) {
        return ptx(source, arch).getBytes(StandardCharsets.UTF_8);
    }

    /**
     * The {@code .visible .entry} points of one PTX file, in file order.
     *
     * @param source a kernel source name from {@link #sources()}
     * @param arch a shipped architecture, e.g. 90 for {@code sm_90}
     * @return the entries with their parameter types
     */
    public List<Entry> entries(String source, int arch) {
        return parseEntries(ptx(source, arch));
    }

    /**
     * Every kernel name across all sources (read from each source's newest PTX), sorted.
     *
     * @return the names of all entry points, to check a kernel exists before loading its module
     */
    public List<String> kernelNames() {
        List<String> names = new ArrayList<>();
        for (var e : archsBySource.entrySet()) {
            for (Entry entry : entries(e.getKey(), e.getValue().last())) {
                names.add(entry.name());
            }
        }
        Collections.sort(names);
        return List.copyOf(names);
    }

    static List<Entry> parseEntries(String ptx) {
        List<Entry> out = new ArrayList<>();
        Matcher m = ENTRY.matcher(ptx);
        while (m.find()) {
            List<String> types = new ArrayList<>();
            for (String decl : m.group(2).split(",")) {
                if (!decl.isBlank()) {
                    types.add(parameterType(decl));
                }
            }
            out.add(new Entry(m.group(1), types));
        }
        return out;
    }

    /**
     * The type of one {@code .param} declaration, e.g. {@code .param .u64 .ptr .global .align 4 p}
     * gives {@code u64} and {@code .param .align 8 .b8 p[16]} gives {@code b8[16]}.
     */
    private static String parameterType(String decl) {
        String[] tokens = decl.strip().split("\\s+");
        String type = null;
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i].equals(".align")) {
                i++; // skip the alignment value
            } else if (type == null && TYPE.matcher(tokens[i]).matches()) {
                type = tokens[i].substring(1);
            }
        }
        if (type == null) {
            throw new IllegalStateException("unrecognized PTX parameter declaration: '" + decl.strip() + "'");
        }
        Matcher array = ARRAY.matcher(tokens[tokens.length - 1]);
        return array.find() ? type + array.group() : type;
    }

    /**
     * The resource file name of {@code source}'s PTX for {@code sm_<arch>}.
     *
     * @param source a kernel source name
     * @param arch an architecture number, e.g. 90
     * @return the file name inside {@link #RESOURCE_DIR}, e.g. {@code vector_add.sm_90.ptx}
     */
    public static String fileName(String source, int arch) {
        return source + ".sm_" + arch + ".ptx";
    }

    private TreeSet<Integer> archsOf(String source) {
        TreeSet<Integer> archs = archsBySource.get(source);
        if (archs == null) {
            throw new NoSuchElementException("no kernel source '" + source + "' in the catalogue (have " + sources() + ")");
        }
        return archs;
    }

    private static String readResource(ClassLoader loader, String name) {
        // In the named module dev.kvq.kernels a ClassLoader cannot see resources of the (not opened)
        // package dev/kvq/kernels; Class.getResourceAsStream from inside the module can, and on the
        // class path it simply asks the class's loader.
        try (InputStream in = loader == KernelCatalog.class.getClassLoader()
                ? KernelCatalog.class.getResourceAsStream("/" + name)
                : loader.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException("resource " + name + " is missing from the class path (is kvq-kernels-cu built?)");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read resource " + name, e);
        }
    }
}
