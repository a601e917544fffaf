package dev.kvq.model;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A data folder: models, corpora and a {@code MANIFEST.sha256} ({@code <hex>  <relative path>} per line).
 * Two exist: the one configured with {@code KVQ_DATA} or {@code -Dkvq.data} (models and the text corpora),
 * and the one vendored in the repository ({@value #VENDORED}/, the stories260K model only). Every file
 * handed out is checked against the manifest first, so a truncated download or a stale model fails
 * loudly instead of producing slightly wrong perplexities.
 */
public final class DataRoot {
    /** The environment variable that names the data folder. */
    public static final String ENV = "KVQ_DATA";
    /** The system property that names the data folder; it wins over {@link #ENV}. */
    public static final String PROPERTY = "kvq.data";
    /** The manifest file at the root of the data folder. */
    public static final String MANIFEST = "MANIFEST.sha256";

    /** The repository folder that holds the vendored model, relative to the repository root. */
    public static final String VENDORED = "data";
    /** The system property the {@code kvq} launcher sets to the repository root. */
    public static final String HOME_PROPERTY = "kvq.home";

    /** The stories260K model folder, relative to the root. */
    public static final String STORIES_MODEL = "models/stories260K";
    /** The TinyStories validation slice, relative to the root. */
    public static final String TINYSTORIES = "corpus/tinystories/val_slice.txt";
    /** The WikiText-2 test set, relative to the root. */
    public static final String WIKITEXT2 = "corpus/wikitext-2/test.txt";

    private final Path root;
    private final Map<String, String> manifest;
    // Hashing a megabyte per file is cheap, but tests open the same files many times.
    private static final Map<Path, String> VERIFIED = new ConcurrentHashMap<>();

    private DataRoot(Path root, Map<String, String> manifest) {
        this.root = root;
        this.manifest = manifest;
    }

    /**
     * The configured data root ({@code -Dkvq.data} wins over {@code KVQ_DATA}), if any is set and exists.
     *
     * @return the folder, or empty when none is configured
     */
    public static Optional<Path> configured() {
        String p = setting();
        if (p == null) {
            return Optional.empty();
        }
        Path path = Path.of(p);
        return Files.isDirectory(path) ? Optional.of(path) : Optional.empty();
    }

    /** {@code -Dkvq.data}, else {@code KVQ_DATA}; null when neither is set. */
    private static String setting() {
        String p = System.getProperty(PROPERTY);
        if (p == null || p.isBlank()) {
            p = System.getenv(ENV);
        }
        return p == null || p.isBlank() ? null : p;
    }

    /**
     * The data root to load models from: the configured one ({@code -Dkvq.data} or {@code KVQ_DATA})
     * when set, else the copy vendored in the repository (see {@link #vendored()}).
     *
     * @return the data root
     * @throws java.io.IOException when a configured folder does not exist, when neither is found, or when
     *         the manifest is unreadable
     */
    public static DataRoot forModels() throws IOException {
        String setting = setting();
        if (setting != null) {
            Path p = Path.of(setting);
            if (!Files.isDirectory(p)) {
                throw new IOException(ENV + " / -D" + PROPERTY + " names " + p + ", which is not a folder");
            }
            return open(p);
        }
        Path v = vendored().orElseThrow(() -> new IOException("the model folder " + VENDORED + "/" + STORIES_MODEL
                + " of the kvq repository was not found from -D" + HOME_PROPERTY + ", the kvq jar or the working"
                + " directory; set " + ENV + " to a data folder"));
        return open(v);
    }

    /**
     * The repository's vendored data folder, looked for in {@code -Dkvq.home} (set by the launcher), then
     * above the location of this class (its jar or classes folder, inside the repository when built there)
     * and above the working directory (tests run in a module folder). A folder counts only when its
     * manifest lists the stories260K checkpoint, so an unrelated {@code data/} folder is never picked.
     *
     * @return the folder, or empty when none is found
     */
    public static Optional<Path> vendored() {
        List<Path> starts = new ArrayList<>();
        String home = System.getProperty(HOME_PROPERTY);
        if (home != null && !home.isBlank()) {
            starts.add(Path.of(home));
        }
        try {
            var source = DataRoot.class.getProtectionDomain().getCodeSource();
            if (source != null && source.getLocation() != null && "file".equals(source.getLocation().getProtocol())) {
                starts.add(Path.of(source.getLocation().toURI()));
            }
        } catch (java.net.URISyntaxException | SecurityException | IllegalArgumentException e) {
            // no usable class location (a custom class loader): the other starting points remain
        }
        starts.add(Path.of("").toAbsolutePath());
        for (Path start : starts) {
            for (Path p = start.toAbsolutePath().normalize(); p != null; p = p.getParent()) {
                Path candidate = p.resolve(VENDORED);
                if (listsStoriesModel(candidate.resolve(MANIFEST))) {
                    return Optional.of(candidate);
                }
            }
        }
        return Optional.empty();
    }

    private static boolean listsStoriesModel(Path manifest) {
        if (!Files.isRegularFile(manifest)) {
            return false;
        }
        try {
            return readManifest(manifest).containsKey(STORIES_MODEL + "/" + ModelFiles.CHECKPOINT);
        } catch (IOException e) {
            return false;   // not ours, or broken: opening it by name reports the problem
        }
    }

    /**
     * The stories260K model folder of this root, its checkpoint and tokenizer verified against the manifest.
     *
     * @return the folder
     * @throws java.io.IOException when a file is missing, unlisted or altered
     */
    public Path storiesModel() throws IOException {
        file(STORIES_MODEL + "/" + ModelFiles.CHECKPOINT);
        file(STORIES_MODEL + "/" + ModelFiles.TOKENIZER);
        return root.resolve(STORIES_MODEL);
    }

    /**
     * Whether this root holds {@code relative} (listed in its manifest), e.g. a corpus, which only a
     * configured data folder has.
     *
     * @param relative a path as listed in a manifest
     * @return true when listed
     */
    public boolean lists(String relative) {
        return manifest.containsKey(relative);
    }

    /**
     * Opens the configured root or explains how to configure one.
     *
     * @return the data root
     * @throws java.io.IOException when none is configured or its manifest is missing or unreadable
     */
    public static DataRoot open() throws IOException {
        Path p = configured().orElseThrow(() -> new IOException("no data folder: set " + ENV
                + " or -D" + PROPERTY + " to a folder with " + MANIFEST + ", models/ and corpus/"));
        return open(p);
    }

    /**
     * Opens {@code root}, reading its manifest.
     *
     * @param root a folder with a {@value #MANIFEST}
     * @return the data root
     * @throws java.io.IOException when the manifest is missing or malformed
     */
    public static DataRoot open(Path root) throws IOException {
        Path m = root.resolve(MANIFEST);
        if (!Files.isRegularFile(m)) {
            throw new IOException("data folder " + root + " has no " + MANIFEST);
        }
        return new DataRoot(root, readManifest(m));
    }

    /**
     * Finds the data root that holds {@code file} by walking up to the first folder with a manifest.
     *
     * @param file a file that may lie in a data folder
     * @return the data root, or empty when no folder above has a manifest
     * @throws java.io.IOException when a manifest exists but cannot be read
     */
    public static Optional<DataRoot> containing(Path file) throws IOException {
        for (Path p = file.toAbsolutePath().normalize().getParent(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve(MANIFEST))) {
                return Optional.of(open(p));
            }
        }
        return Optional.empty();
    }

    static Map<String, String> readManifest(Path file) throws IOException {
        Map<String, String> entries = new LinkedHashMap<>();
        int lineNo = 0;
        for (String line : Files.readAllLines(file)) {
            lineNo++;
            String s = line.strip();
            if (s.isEmpty() || s.startsWith("#")) {
                continue;
            }
            String[] parts = s.split("\\s+", 2);
            if (parts.length != 2 || parts[0].length() != 64) {
                throw new IOException(file + " line " + lineNo + " is not '<sha256>  <path>': " + s);
            }
            entries.put(parts[1].replaceFirst("^\\*", ""), parts[0].toLowerCase(java.util.Locale.ROOT));
        }
        return entries;
    }

    /**
     * The data folder.
     *
     * @return its path
     */
    public Path root() {
        return root;
    }

    /**
     * The verified path of {@code relative}; fails naming the file when it is missing, unlisted or altered.
     *
     * @param relative a path as listed in the manifest
     * @return the path under the root
     * @throws java.io.IOException when the file is unlisted, missing or its hash differs
     */
    public Path file(String relative) throws IOException {
        Path p = root.resolve(relative);
        String expected = manifest.get(relative);
        if (expected == null) {
            throw new IOException(relative + " is not listed in " + root.resolve(MANIFEST));
        }
        verify(p, expected);
        return p;
    }

    /**
     * Verifies {@code file} if it lies under this root and is listed; other files pass unchecked.
     *
     * @param file a file
     * @throws java.io.IOException when the file is listed but its hash differs
     */
    public void verifyIfListed(Path file) throws IOException {
        Path rel;
        try {
            rel = root.toAbsolutePath().normalize().relativize(file.toAbsolutePath().normalize());
        } catch (IllegalArgumentException e) {
            return;
        }
        String expected = manifest.get(rel.toString().replace('\\', '/'));
        if (expected != null) {
            verify(file, expected);
        }
    }

    static void verify(Path file, String expectedHex) throws IOException {
        Path key = file.toAbsolutePath().normalize();
        String stamp = Files.exists(key) ? expectedHex + ":" + Files.size(key) + ":" + Files.getLastModifiedTime(key) : "";
        if (stamp.equals(VERIFIED.get(key))) {
            return;  // same expected hash, size and modification time as a file already verified
        }
        String actual;
        try {
            actual = sha256(file);
        } catch (NoSuchFileException e) {
            throw new IOException(file + " is missing (listed in " + MANIFEST + ")", e);
        }
        if (!actual.equals(expectedHex)) {
            throw new IOException(file + " does not match " + MANIFEST + ": SHA-256 is " + actual + ", expected "
                    + expectedHex);
        }
        VERIFIED.put(key, stamp);
    }

    static String sha256(Path file) throws IOException {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buf = new byte[1 << 16];
            int n;
            while ((n = in.read(buf)) > 0) {
                md.update(buf, 0, n);
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }
}
