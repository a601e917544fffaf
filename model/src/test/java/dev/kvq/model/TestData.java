package dev.kvq.model;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/** Access to the real data for tests; a test that needs it skips (visibly) when no data root is set. */
public final class TestData {
    private static Llama model;
    private static Tokenizer tokenizer;

    private TestData() {}

    /** The data root, or a skipped test when neither KVQ_DATA nor -Dkvq.data is set. */
    public static DataRoot root() {
        var p = DataRoot.configured();
        assumeTrue(p.isPresent(), "no data: set " + DataRoot.ENV + " or -D" + DataRoot.PROPERTY);
        try {
            return DataRoot.open(p.get());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static Path modelDir() {
        try {
            DataRoot r = root();
            r.file(DataRoot.STORIES_MODEL + "/" + ModelFiles.CHECKPOINT);
            r.file(DataRoot.STORIES_MODEL + "/" + ModelFiles.TOKENIZER);
            return r.root().resolve(DataRoot.STORIES_MODEL);
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
            return root().file(relative);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
