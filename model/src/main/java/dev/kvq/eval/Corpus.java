package dev.kvq.eval;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Corpus text and the project's TinyStories split (data NOTICE): calibration windows come from the
 * last 100,000 characters of {@code val_slice.txt}, evaluation uses everything before them.
 * "Characters" are Unicode code points, as Python counts them.
 */
public final class Corpus {
    /** Code points at the end of the TinyStories slice reserved for calibration. */
    public static final int CALIBRATION_CHARS = 100_000;

    private Corpus() {}

    /**
     * Reads a whole corpus file as UTF-8.
     *
     * @param file the file
     * @return its text
     * @throws java.io.IOException when the file cannot be read or is not UTF-8
     */
    public static String read(Path file) throws IOException {
        return Files.readString(file, StandardCharsets.UTF_8);
    }

    /**
     * The first {@code n} code points (the whole text when shorter).
     *
     * @param text the text
     * @param n code points to keep
     * @return the prefix
     */
    public static String head(String text, int n) {
        int cps = text.codePointCount(0, text.length());
        return cps <= n ? text : text.substring(0, text.offsetByCodePoints(0, n));
    }

    /**
     * The last {@code n} code points.
     *
     * @param text the text
     * @param n code points to keep
     * @return the suffix
     */
    public static String tail(String text, int n) {
        int cps = text.codePointCount(0, text.length());
        return cps <= n ? text : text.substring(text.offsetByCodePoints(0, cps - n));
    }

    /**
     * Everything before the last {@code n} code points.
     *
     * @param text the text
     * @param n code points to drop at the end
     * @return the rest
     */
    public static String withoutTail(String text, int n) {
        int cps = text.codePointCount(0, text.length());
        return cps <= n ? "" : text.substring(0, text.offsetByCodePoints(0, cps - n));
    }

    /**
     * The calibration part of the TinyStories slice.
     *
     * @param text the TinyStories slice
     * @return its last {@value #CALIBRATION_CHARS} code points
     */
    public static String calibrationPart(String text) {
        return tail(text, CALIBRATION_CHARS);
    }

    /**
     * The evaluation part of the TinyStories slice.
     *
     * @param text the TinyStories slice
     * @return all but its last {@value #CALIBRATION_CHARS} code points
     */
    public static String evaluationPart(String text) {
        return withoutTail(text, CALIBRATION_CHARS);
    }
}
