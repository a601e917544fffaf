package dev.kvq.cli;

import dev.kvq.eval.CalibrationData;
import dev.kvq.eval.Corpus;
import dev.kvq.model.DataRoot;
import dev.kvq.model.Llama;
import dev.kvq.model.ModelFiles;
import dev.kvq.model.Tokenizer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Shared loading for the model commands: model + tokenizer, text files, the calibration windows. */
final class ModelInputs {
    final Path modelDir;
    final Llama model;
    final Tokenizer tokenizer;

    private ModelInputs(Path modelDir, Llama model, Tokenizer tokenizer) {
        this.modelDir = modelDir;
        this.model = model;
        this.tokenizer = tokenizer;
    }

    static ModelInputs load(Path modelDir) throws IOException {
        if (!Files.exists(modelDir)) {
            throw new IOException("model " + modelDir + " does not exist");
        }
        Llama m = Llama.loadFrom(modelDir);
        Path tokDir = Files.isDirectory(modelDir) ? modelDir : modelDir.getParent();
        return new ModelInputs(modelDir, m, Tokenizer.load(tokDir, m.config().vocabSize()));
    }

    /** Reads a text file, verified against the manifest when it lies in a data root. */
    static String text(Path file) throws IOException {
        return Corpus.read(ModelFiles.verified(file));
    }

    /** The TinyStories slice (data NOTICE split) is recognized by name; other files are used whole. */
    static boolean isTinyStoriesSlice(Path file) {
        return file.getFileName().toString().equals(Path.of(DataRoot.TINYSTORIES).getFileName().toString());
    }

    /**
     * Calibration windows: from the calibration part (last 100,000 characters) of {@code text}, or of
     * the TinyStories slice of the data root when the given text is another corpus.
     */
    CalibrationData calibrationData(Path textFile, int windows, int length) {
        try {
            Path source = textFile;
            if (!isTinyStoriesSlice(textFile)) {
                var root = DataRoot.containing(textFile).or(() -> {
                    try {
                        return DataRoot.configured().isPresent() ? java.util.Optional.of(DataRoot.open()) : java.util.Optional.empty();
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                });
                if (root.isPresent()) {
                    source = root.get().file(DataRoot.TINYSTORIES);
                }
            }
            int[] tokens = tokenizer.encode(Corpus.calibrationPart(text(source)));
            return CalibrationData.collect(model, tokens, windows, length, modelDir.getFileName().toString(),
                    source.getFileName() + " (last " + Corpus.CALIBRATION_CHARS + " chars)");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
