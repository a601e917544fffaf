package dev.kvq.quant;

import java.io.IOException;
import java.nio.file.Path;

/** A calibration file that cannot be used, with the kind of problem and where it was found. */
public final class CalibrationFormatException extends IOException {
    private static final long serialVersionUID = 1L;

    /** What is wrong with the file. */
    public enum Problem {
        /** Not a kvq calibration file at all (wrong magic). */
        FOREIGN,
        /** A kvq calibration file of a format version this build does not read. */
        UNSUPPORTED_VERSION,
        /** The file ends before its declared content. */
        TRUNCATED,
        /** A checksum does not match, or the structure is inconsistent. */
        CORRUPTED,
        /** Well-formed but with values no calibration can have (unsorted codebook, NaN threshold, ...). */
        INVALID,
        /** Made for another attention shape or quantization spec than the one asked for. */
        SHAPE_MISMATCH
    }

    /** The kind of problem. */
    private final Problem problem;

    /**
     * An exception whose message names the file, the kind of problem and the detail.
     *
     * @param file the calibration file, or null when the bytes did not come from a file
     * @param problem what is wrong
     * @param detail where and how, in words
     */
    public CalibrationFormatException(Path file, Problem problem, String detail) {
        super((file == null ? "calibration" : "calibration file " + file) + ": " + describe(problem) + ": " + detail);
        this.problem = problem;
    }

    private static String describe(Problem p) {
        return switch (p) {
            case FOREIGN -> "not a kvq calibration file";
            case UNSUPPORTED_VERSION -> "unsupported format version";
            case TRUNCATED -> "truncated";
            case CORRUPTED -> "corrupted";
            case INVALID -> "invalid content";
            case SHAPE_MISMATCH -> "does not match the cache";
        };
    }

    /**
     * The kind of problem, for callers that react differently (e.g. re-calibrate on a mismatch).
     *
     * @return the problem
     */
    public Problem problem() {
        return problem;
    }
}
