package dev.kvq.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataRootTest {
    /** Runs {@code body} with the system property set, restoring it afterwards. */
    private static void withProperty(String key, String value, org.junit.jupiter.api.function.Executable body)
            throws Throwable {
        String old = System.getProperty(key);
        System.setProperty(key, value);
        try {
            body.execute();
        } finally {
            if (old == null) {
                System.clearProperty(key);
            } else {
                System.setProperty(key, old);
            }
        }
    }

    @Test
    void theRepositoryModelIsFoundAndVerified() throws IOException {
        Path vendored = DataRoot.vendored().orElseThrow(() -> new AssertionError("data/ of the repository not found"));
        assertEquals(DataRoot.VENDORED, vendored.getFileName().toString());
        assertTrue(Files.isRegularFile(vendored.getParent().resolve("kvq")), "beside the launcher: " + vendored);
        Path model = DataRoot.open(vendored).storiesModel();
        assertTrue(Files.isRegularFile(model.resolve(ModelFiles.CHECKPOINT)));
        assertTrue(Files.isRegularFile(model.resolve(ModelFiles.TOKENIZER)));
    }

    @Test
    void aConfiguredFolderThatIsMissingIsAnErrorNotAFallback(@TempDir Path dir) throws Throwable {
        withProperty(DataRoot.PROPERTY, dir.resolve("nowhere").toString(), () -> {
            IOException e = assertThrows(IOException.class, DataRoot::forModels);
            assertTrue(e.getMessage().contains("nowhere") && e.getMessage().contains("not a folder"), e.getMessage());
        });
    }

    @Test
    void kvqHomeComesFirstAndOnlyAManifestListingTheModelCounts(@TempDir Path home) throws Throwable {
        Path data = Files.createDirectories(home.resolve(DataRoot.VENDORED));
        Files.writeString(data.resolve(DataRoot.MANIFEST), "0".repeat(64) + "  corpus/x.txt\n");
        withProperty(DataRoot.HOME_PROPERTY, home.toString(),
                () -> assertTrue(DataRoot.vendored().map(p -> !p.startsWith(home)).orElse(true), "an unrelated data/ folder"));
        Files.writeString(data.resolve(DataRoot.MANIFEST), "0".repeat(64) + "  " + DataRoot.STORIES_MODEL + "/"
                + ModelFiles.CHECKPOINT + "\n");
        withProperty(DataRoot.HOME_PROPERTY, home.toString(), () -> {
            assertEquals(data.toAbsolutePath().normalize(), DataRoot.vendored().orElseThrow());
            // listed but absent: loading names the file instead of falling back to another copy
            IOException e = assertThrows(IOException.class, () -> DataRoot.open(data).storiesModel());
            assertTrue(e.getMessage().contains(ModelFiles.CHECKPOINT) && e.getMessage().contains("missing"), e.getMessage());
        });
    }

    @Test
    void verifiesFilesAndNamesTheOneThatDiffers(@TempDir Path dir) throws IOException {
        Files.createDirectories(dir.resolve("models/m"));
        Path f = Files.writeString(dir.resolve("models/m/a.bin"), "hello");
        String good = DataRoot.sha256(f);
        Files.writeString(dir.resolve(DataRoot.MANIFEST), good + "  models/m/a.bin\n" + "0".repeat(64) + "  corpus/x.txt\n");
        DataRoot root = DataRoot.open(dir);
        assertEquals(f, root.file("models/m/a.bin"));
        IOException missing = assertThrows(IOException.class, () -> root.file("corpus/x.txt"));
        assertTrue(missing.getMessage().contains("x.txt") && missing.getMessage().contains("missing"), missing.getMessage());
        Files.writeString(f, "hellO");
        Files.setLastModifiedTime(f, java.nio.file.attribute.FileTime.fromMillis(1_000_000L));
        DataRoot fresh = DataRoot.open(dir);
        IOException changed = assertThrows(IOException.class, () -> ModelFiles.verified(dir.resolve("models/m/a.bin")));
        assertTrue(changed.getMessage().contains("a.bin") && changed.getMessage().contains("SHA-256"), changed.getMessage());
        assertThrows(IOException.class, () -> fresh.file("models/m/unlisted.bin"));
    }

    @Test
    void rejectsTruncatedCheckpointsWithTheExpectedSize(@TempDir Path dir) throws IOException {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(28 + 40).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (int v : new int[] {64, 172, 5, 8, 4, 512, 512}) {
            b.putInt(v);
        }
        Path f = Files.write(dir.resolve("tiny.bin"), b.array());
        IOException e = assertThrows(IOException.class, () -> Llama.load(f));
        assertTrue(e.getMessage().contains("tiny.bin") && e.getMessage().contains("bytes"), e.getMessage());
    }

    @Test
    void negativeVocabularyMeansASeparateClassifier(@TempDir Path dir) throws IOException {
        LlamaConfig c = new LlamaConfig(16, 24, 1, 2, 1, 10, 8, false);
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate((int) (28 + 4 * c.weightFloats()))
                .order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (int v : new int[] {16, 24, 1, 2, 1, -10, 8}) {
            b.putInt(v);
        }
        int i = 0;
        while (b.hasRemaining()) {
            b.putFloat((i++ % 7) * 0.01f);
        }
        Llama m = Llama.load(Files.write(dir.resolve("sep.bin"), b.array()));
        assertEquals(c, m.config());
        assertTrue(m.classifier != m.embedding);
        // the classifier is the last vocab·dim floats of the file
        assertEquals(((int) (c.weightFloats() - 1) % 7) * 0.01f, m.classifier[m.classifier.length - 1], 1e-7f);
    }
}
