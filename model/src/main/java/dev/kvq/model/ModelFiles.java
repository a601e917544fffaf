package dev.kvq.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * Finds the checkpoint and tokenizer of a model folder and verifies them against the data root's
 * {@code MANIFEST.sha256} when the folder lies inside one.
 */
public final class ModelFiles {
    /** The checkpoint file name in a model folder. */
    public static final String CHECKPOINT = "stories260K.bin";
    /** The tokenizer file name in a model folder. */
    public static final String TOKENIZER = "tok512.bin";

    private ModelFiles() {}

    static Path checkpoint(Path dirOrFile) throws IOException {
        return verified(Files.isDirectory(dirOrFile) ? pick(dirOrFile, CHECKPOINT, "checkpoint") : dirOrFile);
    }

    static Path tokenizer(Path dirOrFile) throws IOException {
        return verified(Files.isDirectory(dirOrFile) ? pick(dirOrFile, TOKENIZER, "tokenizer") : dirOrFile);
    }

    /**
     * Verifies {@code file} against the manifest of the data root that holds it, if any.
     *
     * @param file the file
     * @return {@code file}
     * @throws java.io.IOException when the file is missing or its hash differs from the manifest
     */
    public static Path verified(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new IOException(file + " does not exist");
        }
        var root = DataRoot.containing(file);
        if (root.isPresent()) {
            root.get().verifyIfListed(file);
        }
        return file;
    }

    /** The preferred name, else the only {@code .bin} that is not a tokenizer (or the only tok*.bin). */
    private static Path pick(Path dir, String preferred, String what) throws IOException {
        Path p = dir.resolve(preferred);
        if (Files.isRegularFile(p)) {
            return p;
        }
        boolean tok = what.equals("tokenizer");
        try (Stream<Path> s = Files.list(dir)) {
            List<Path> bins = s.filter(f -> f.getFileName().toString().endsWith(".bin"))
                    .filter(f -> f.getFileName().toString().startsWith("tok") == tok).toList();
            if (bins.size() != 1) {
                throw new IOException(dir + " has no " + preferred + " and " + bins.size() + " candidate " + what
                        + " files (expected exactly one .bin)");
            }
            return bins.get(0);
        }
    }
}
