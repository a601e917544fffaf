package dev.kvq.cache;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A KV-cache snapshot file that cannot be opened, with the kind of problem and where it was found.
 * Opening checks everything before it hands out a cache, so this exception always means that
 * nothing was loaded.
 */
public final class SnapshotFormatException extends IOException {
    /** Serialization version. */
    private static final long serialVersionUID = 1L;

    /** What is wrong with the file. */
    public enum Problem {
        /** Not a kvq snapshot at all (wrong magic). */
        FOREIGN,
        /** A kvq snapshot of a format version this build does not read. */
        UNSUPPORTED_VERSION,
        /** The file ends before its declared content. */
        TRUNCATED,
        /** A checksum does not match, or the structure is inconsistent. */
        CORRUPTED,
        /** Well-formed but with values no cache can have (bad shape, impossible token counts, ...). */
        INVALID,
        /** The snapshot was made with another calibration than the one given (or with none). */
        CALIBRATION_MISMATCH,
        /** A pool snapshot opened as a single cache, or the other way round. */
        WRONG_KIND
    }

    /** What is wrong with the file. */
    private final Problem problem;

    /**
     * An exception whose message names the file, the kind of problem and the detail.
     *
     * @param file    the snapshot (may be null when unknown)
     * @param problem the kind of problem
     * @param detail  what exactly was found, and where
     */
    public SnapshotFormatException(Path file, Problem problem, String detail) {
        super((file == null ? "snapshot" : "snapshot " + file) + ": " + describe(problem) + ": " + detail);
        this.problem = problem;
    }

    private static String describe(Problem p) {
        return switch (p) {
            case FOREIGN -> "not a kvq snapshot";
            case UNSUPPORTED_VERSION -> "unsupported format version";
            case TRUNCATED -> "truncated";
            case CORRUPTED -> "corrupted";
            case INVALID -> "invalid content";
            case CALIBRATION_MISMATCH -> "calibration mismatch";
            case WRONG_KIND -> "wrong kind of snapshot";
        };
    }

    /**
     * The kind of problem.
     *
     * @return what is wrong with the file
     */
    public Problem problem() {
        return problem;
    }
}
