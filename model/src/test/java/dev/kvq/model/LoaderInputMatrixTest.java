package dev.kvq.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * The input matrix of the model loaders (docs/RELIABILITY.md): foreign, truncated, empty and
 * corrupted checkpoints, tokenizers and data folders end in an {@link IOException} that names the file
 * and the problem, never in another exception.
 */
class LoaderInputMatrixTest {
    private static final LlamaConfig CONFIG = new LlamaConfig(16, 24, 1, 2, 1, 10, 8, true);

    /** A valid llama2.c checkpoint of {@link #CONFIG} with small finite weights. */
    private static byte[] checkpoint() {
        ByteBuffer b = ByteBuffer.allocate((int) (28 + 4 * CONFIG.weightFloats())).order(ByteOrder.LITTLE_ENDIAN);
        for (int v : new int[] {16, 24, 1, 2, 1, 10, 8}) {
            b.putInt(v);
        }
        int i = 0;
        while (b.hasRemaining()) {
            b.putFloat(((i++ % 11) - 5) * 0.01f);
        }
        return b.array();
    }

    /** A tokenizer file: max length, then per piece its score, byte length and bytes. */
    private static byte[] tokenizer(String... pieces) {
        ByteBuffer b = ByteBuffer.allocate(4 + pieces.length * 8 + Arrays.stream(pieces).mapToInt(String::length).sum())
                .order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(8);
        for (int i = 0; i < pieces.length; i++) {
            b.putFloat(-i);
            b.putInt(pieces[i].length());
            b.put(pieces[i].getBytes(StandardCharsets.ISO_8859_1));
        }
        return b.array();
    }

    private static IOException fails(String excerpt, Executable call) {
        IOException e = assertThrows(IOException.class, call);
        assertTrue(e.getMessage() != null && e.getMessage().contains(excerpt),
                "message '" + e.getMessage() + "' lacks '" + excerpt + "'");
        return e;
    }

    @Test
    void checkpointsThatAreEmptyForeignTruncatedOrCorrupted(@TempDir Path dir) throws IOException {
        byte[] good = checkpoint();
        Llama.load(Files.write(dir.resolve("good.bin"), good));
        Path empty = Files.write(dir.resolve("empty.bin"), new byte[0]);
        fails(empty + " is 0 bytes, too short for a llama2.c header", () -> Llama.load(empty));
        Path text = Files.writeString(dir.resolve("text.bin"), "Once upon a time there was no checkpoint here.");
        fails(text.toString(), () -> Llama.load(text));
        Path cut = Files.write(dir.resolve("cut.bin"), Arrays.copyOf(good, good.length - 4));
        fails("is " + (good.length - 4) + " bytes; a llama2.c checkpoint with header (dim 16", () -> Llama.load(cut));
        Path longer = Files.write(dir.resolve("long.bin"), Arrays.copyOf(good, good.length + 4));
        fails("long.bin is " + (good.length + 4) + " bytes; a llama2.c checkpoint with header (dim 16, hidden 24, layers 1, "
                + "heads 2, kv_heads 1, vocab 10, seq_len 8, shared classifier) has " + good.length, () -> Llama.load(longer));
        byte[] odd = good.clone();
        ByteBuffer.wrap(odd).order(ByteOrder.LITTLE_ENDIAN).putInt(12, 3);   // 3 heads do not divide dim 16
        Path badHeader = Files.write(dir.resolve("heads.bin"), odd);
        fails("dim 16 is not a multiple of heads 3", () -> Llama.load(badHeader));
        byte[] nan = good.clone();
        ByteBuffer.wrap(nan).order(ByteOrder.LITTLE_ENDIAN).putFloat(28 + 4 * 77, Float.NaN);
        Path corrupt = Files.write(dir.resolve("nan.bin"), nan);
        fails(corrupt + " holds NaN at weight 77", () -> Llama.load(corrupt));
        fails(dir + " is a directory", () -> Llama.load(dir));
        fails("missing.bin", () -> Llama.load(dir.resolve("missing.bin")));
    }

    @Test
    void randomHeadersAndTruncationsNeverEscapeAsAnotherException(@TempDir Path dir) throws IOException {
        byte[] good = checkpoint();
        SplittableRandom random = new SplittableRandom(42);
        Path f = dir.resolve("fuzz.bin");
        for (int i = 0; i < 300; i++) {
            byte[] bytes = i % 2 == 0 ? Arrays.copyOf(good, random.nextInt(good.length)) : good.clone();
            if (i % 2 == 1) {
                ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putInt(4 * random.nextInt(7),
                        i % 4 == 1 ? random.nextInt() : random.nextInt(-2, 40));
            }
            Files.write(f, bytes);
            try {
                Llama m = Llama.load(f);
                assertEquals(good.length, bytes.length, "only a complete file can load");
                assertTrue(m.config().dim() > 0);
            } catch (IOException expected) {
                assertTrue(expected.getMessage().contains(f.toString()), expected.getMessage());
            }
        }
    }

    @Test
    void tokenizersThatAreEmptyForeignTruncatedOrForAnotherVocabulary(@TempDir Path dir) throws IOException {
        String[] pieces = {"<unk>", "<s>", "</s>", " ", "a", "b", "ab", " a", "ba", "c"};
        byte[] good = tokenizer(pieces);
        Path ok = Files.write(dir.resolve("tok10.bin"), good);
        assertEquals(10, Tokenizer.load(ok, 10).vocabSize());
        Path empty = Files.write(dir.resolve("tok-empty.bin"), new byte[0]);
        fails(empty + " ends before its 10 pieces", () -> Tokenizer.load(empty, 10));
        Path cut = Files.write(dir.resolve("tok-cut.bin"), Arrays.copyOf(good, good.length - 1));
        fails("tok-cut.bin: piece 9 has length 1 (max_token_length 8, 0 bytes left)", () -> Tokenizer.load(cut, 10));
        Path cutHeader = Files.write(dir.resolve("tok-cut2.bin"), Arrays.copyOf(good, 10));
        fails("ends before its 10 pieces", () -> Tokenizer.load(cutHeader, 10));
        Path text = Files.writeString(dir.resolve("tok-text.bin"), "just some words, not a tokenizer at all");
        fails("tok-text.bin", () -> Tokenizer.load(text, 10));
        fails("bytes after 9 pieces: it belongs to a model with a different vocabulary", () -> Tokenizer.load(ok, 9));
        fails("ends before its 11 pieces", () -> Tokenizer.load(ok, 11));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(ok, 0));
        assertTrue(e.getMessage().contains("vocabulary size must be positive, got 0"), e.getMessage());
    }

    @Test
    void dataFoldersWithoutOrWithABrokenManifest(@TempDir Path dir) throws IOException {
        fails("data folder " + dir + " has no " + DataRoot.MANIFEST, () -> DataRoot.open(dir));
        Files.writeString(dir.resolve(DataRoot.MANIFEST), "abc  models/x.bin\n");
        fails("line 1 is not '<sha256>  <path>': abc  models/x.bin", () -> DataRoot.open(dir));
    }
}
