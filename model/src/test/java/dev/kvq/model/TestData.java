package dev.kvq.model;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/**
 * The real model and corpora for tests. The model is always there (the configured data folder's, else
 * the one vendored in the repository); a test that scores a corpus skips, saying so, without KVQ_DATA.
 */
public final class TestData {
    private static Llama model;
    private static Tokenizer tokenizer;

    private TestData() {}

    /** The skip message of every corpus-scoring test on a clone without the corpora. */
    public static final String NO_CORPUS = "corpus-scoring test: set " + DataRoot.ENV
            + " to a data folder with the corpora (they are not in the repository)";

    /** The configured data root with the corpora, or a skipped test when neither KVQ_DATA nor -Dkvq.data is set. */
    public static DataRoot corpora() {
        var p = DataRoot.configured();
        assumeTrue(p.isPresent(), NO_CORPUS);
        try {
            return DataRoot.open(p.get());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The stories260K folder: the configured data root's, else the repository's; never a skip. */
    public static Path modelDir() {
        try {
            return DataRoot.forModels().storiesModel();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static synchronized Llama model() {
        Path dir = modelDir();
        if (model == null) {
            try {
                model = Llama.loadFrom(dir);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return model;
    }

    public static synchronized Tokenizer tokenizer() {
        Path dir = modelDir();
        if (tokenizer == null) {
            try {
                tokenizer = Tokenizer.load(dir, model().config().vocabSize());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return tokenizer;
    }

    public static Path corpus(String relative) {
        try {
            return corpora().file(relative);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
