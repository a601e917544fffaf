package dev.kvq.cli;

import dev.kvq.eval.CalibrationData;
import dev.kvq.eval.Corpus;
import dev.kvq.eval.GeneratedText;
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
    /** The {@code --text} value that means text the fp32 model generates itself ({@link GeneratedText}). */
    static final String GENERATED = "generated";
    /** The {@code --model} description shared by the model commands. */
    static final String MODEL_OPTION = "Model folder (stories260K.bin, tok512.bin) or checkpoint (default: stories260K from "
            + DataRoot.ENV + ", else the one in the repository's data/).";

    final Path modelDir;
    final Llama model;
    final Tokenizer tokenizer;

    private ModelInputs(Path modelDir, Llama model, Tokenizer tokenizer) {
        this.modelDir = modelDir;
        this.model = model;
        this.tokenizer = tokenizer;
    }

    /** Loads {@code modelDir}, or the default stories260K model when it is null. */
    static ModelInputs load(Path modelDir) throws IOException {
        if (modelDir == null) {
            modelDir = DataRoot.forModels().storiesModel();
        }
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

    /** Whether {@code --text} asks for generated text rather than a file. */
    static boolean isGenerated(Path text) {
        return text.toString().equals(GENERATED);
    }

    /** Calibration windows from text the fp32 model generates ({@link GeneratedText#CALIBRATION_SEED}). */
    CalibrationData generatedCalibrationData(int windows, int length) {
        return GeneratedText.calibrationData(model, windows, length, modelName());
    }

    /** The model's name for provenance records: its folder's or checkpoint's file name. */
    String modelName() {
        return modelDir.getFileName().toString();
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
            return CalibrationData.collect(model, tokens, windows, length, modelName(),
                    source.getFileName() + " (last " + Corpus.CALIBRATION_CHARS + " chars)");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
