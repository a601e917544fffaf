package dev.kvq.model;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * The llama2.c tokenizer ({@code tok512.bin}): {@code max_token_length} (int32), then per piece a float
 * score, an int32 byte length and the bytes. Encoding follows llama2.c: BOS, a dummy-prefix {@code " "},
 * one piece per UTF-8 code point (or byte-fallback pieces {@code 3 + byte}), then repeatedly merge the
 * adjacent pair whose concatenation is the highest-scoring piece (leftmost on ties).
 *
 * <p>Pieces are kept as Latin-1 strings (one char per byte) so that byte concatenation is string
 * concatenation. The merge loop uses a heap instead of llama2.c's rescans (same result: the heap
 * orders by score, then by position, which is exactly the C loop's "first strict maximum"), so whole
 * corpora tokenize in a second rather than hours.
 */
public final class Tokenizer {
    /** The beginning-of-sequence token. */
    public static final int BOS = 1;
    /** The end-of-sequence token. */
    public static final int EOS = 2;
    /** Byte-fallback pieces {@code <0x00>…<0xFF>} start here. */
    public static final int BYTE_OFFSET = 3;

    private final String[] pieces;       // Latin-1 view of each piece's bytes
    private final float[] scores;
    private final Map<String, Integer> ids;
    private final int maxTokenLength;

    Tokenizer(String[] pieces, float[] scores, int maxTokenLength) {
        this.pieces = pieces;
        this.scores = scores;
        this.maxTokenLength = maxTokenLength;
        this.ids = new HashMap<>(pieces.length * 2);
        for (int i = 0; i < pieces.length; i++) {
            ids.putIfAbsent(pieces[i], i);
        }
    }

    /**
     * Loads a tokenizer file, or {@code tok512.bin} from a model folder; {@code vocabSize} pieces are expected.
     *
     * @param dirOrFile a model folder or a tokenizer file
     * @param vocabSize the model's vocabulary size
     * @return the tokenizer
     * @throws java.io.IOException when the file cannot be read or holds fewer pieces
     */
    public static Tokenizer load(Path dirOrFile, int vocabSize) throws IOException {
        if (vocabSize <= 0) {
            throw new IllegalArgumentException("vocabulary size must be positive, got " + vocabSize);
        }
        Path file = ModelFiles.tokenizer(dirOrFile);
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        try {
            int maxLen = b.getInt();
            String[] pieces = new String[vocabSize];
            float[] scores = new float[vocabSize];
            for (int i = 0; i < vocabSize; i++) {
                scores[i] = b.getFloat();
                int len = b.getInt();
                if (len < 0 || len > maxLen || len > b.remaining()) {
                    throw new IOException(file + ": piece " + i + " has length " + len + " (max_token_length " + maxLen
                            + ", " + b.remaining() + " bytes left)");
                }
                byte[] bytes = new byte[len];
                b.get(bytes);
                pieces[i] = new String(bytes, StandardCharsets.ISO_8859_1);
            }
            if (b.hasRemaining()) {
                throw new IOException(file + " has " + b.remaining() + " bytes after " + vocabSize
                        + " pieces: it belongs to a model with a different vocabulary");
            }
            return new Tokenizer(pieces, scores, maxLen);
        } catch (java.nio.BufferUnderflowException e) {
            throw new IOException(file + " ends before its " + vocabSize + " pieces", e);
        }
    }

    /**
     * The number of pieces.
     *
     * @return the vocabulary size
     */
    public int vocabSize() {
        return pieces.length;
    }

    /**
     * The longest piece in bytes.
     *
     * @return the length
     */
    public int maxTokenLength() {
        return maxTokenLength;
    }

    /**
     * The merge score of a piece.
     *
     * @param id token id
     * @return the score; higher merges first
     */
    public float score(int id) {
        return scores[id];
    }

    /**
     * The raw bytes of a piece.
     *
     * @param id token id
     * @return the bytes
     */
    public byte[] pieceBytes(int id) {
        return pieces[id].getBytes(StandardCharsets.ISO_8859_1);
    }

    /**
     * Encodes {@code text} with a leading BOS (and no EOS), as llama2.c's {@code encode(t, text, 1, 0, …)}.
     *
     * @param text the text
     * @return token ids, BOS first
     */
    public int[] encode(String text) {
        return encode(text, true);
    }

    /**
     * Encodes {@code text}, with a leading BOS when {@code bos}.
     *
     * @param text the text
     * @param bos whether to start with BOS
     * @return token ids
     */
    public int[] encode(String text, boolean bos) {
        byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
        int[] id = new int[utf8.length + 2 + (bos ? 1 : 0)];
        int n = 0;
        if (bos) {
            id[n++] = BOS;
        }
        if (utf8.length > 0) {
            Integer space = ids.get(" ");
            if (space == null) {
                throw new IllegalStateException("the vocabulary has no \" \" piece for the dummy prefix");
            }
            id[n++] = space;
        }
        for (int i = 0; i < utf8.length; ) {
            int len = 1;
            // a code point: its lead byte plus continuation bytes (10xxxxxx), at most 4 bytes
            while (i + len < utf8.length && (utf8[i + len] & 0xC0) == 0x80 && len < 4) {
                len++;
            }
            Integer piece = ids.get(new String(utf8, i, len, StandardCharsets.ISO_8859_1));
            if (piece != null) {
                if (n == id.length) {
                    id = Arrays.copyOf(id, id.length * 2);
                }
                id[n++] = piece;
            } else {
                if (n + len > id.length) {
                    id = Arrays.copyOf(id, Math.max(id.length * 2, n + len));
                }
                for (int k = 0; k < len; k++) {
                    id[n++] = (utf8[i + k] & 0xFF) + BYTE_OFFSET;
                }
            }
            i += len;
        }
        return merge(id, n);
    }

    private int[] merge(int[] id, int n) {
        int[] next = new int[n];
        int[] prev = new int[n];
        for (int i = 0; i < n; i++) {
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
        }
        LongHeap heap = new LongHeap(n);
        for (int i = 0; i + 1 < n; i++) {
            offer(heap, id, i, i + 1);
        }
        while (!heap.isEmpty()) {
            long key = heap.poll();
            int i = (int) key;
            int r = next[i];
            if (id[i] < 0 || r < 0) {
                continue;  // i was merged away, or is now the last symbol
            }
            int merged = pairId(id[i], id[r]);
            if (merged < 0 || sortKey(scores[merged], i) != key) {
                continue;  // stale: the pair at i changed since this entry was pushed
            }
            id[i] = merged;
            id[r] = -1;
            next[i] = next[r];
            if (next[r] >= 0) {
                prev[next[r]] = i;
            }
            if (prev[i] >= 0) {
                offer(heap, id, prev[i], i);
            }
            if (next[i] >= 0) {
                offer(heap, id, i, next[i]);
            }
        }
        int m = 0;
        int[] out = new int[n];
        for (int i = 0; i >= 0 && n > 0; i = next[i]) {
            out[m++] = id[i];
        }
        return Arrays.copyOf(out, m);
    }

    private void offer(LongHeap heap, int[] id, int left, int right) {
        int merged = pairId(id[left], id[right]);
        if (merged >= 0) {
            heap.add(sortKey(scores[merged], left));
        }
    }

    private int pairId(int a, int b) {
        Integer m = ids.get(pieces[a].concat(pieces[b]));
        return m == null ? -1 : m;
    }

    /** Ascending keys: higher score first, then lower position (the C loop's first strict maximum). */
    private static long sortKey(float score, int position) {
        int bits = Float.floatToIntBits(score);
        int ordered = bits >= 0 ? bits : bits ^ 0x7fffffff;  // monotone in the float value
        return ((long) ~ordered << 32) | position;
    }

    /**
     * Decodes a token sequence to text (BOS/EOS dropped, byte pieces joined, UTF-8).
     *
     * @param tokens token ids
     * @return the text
     */
    public String decode(int[] tokens) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int prev = -1;
        for (int t : tokens) {
            byte[] b = decodeBytes(prev, t);
            out.write(b, 0, b.length);
            prev = t;
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    /**
     * The bytes token {@code token} contributes after {@code prev}, as llama2.c's {@code decode}: a piece
     * following BOS loses its leading space, {@code <0xNN>} pieces stand for one raw byte, BOS/EOS for nothing.
     *
     * @param prev the previous token
     * @param token the token
     * @return its bytes
     */
    public byte[] decodeBytes(int prev, int token) {
        if (token < 0 || token >= pieces.length) {
            throw new IllegalArgumentException("token " + token + " is outside the vocabulary of " + pieces.length);
        }
        if (token == BOS || token == EOS) {
            return new byte[0];
        }
        String p = pieces[token];
        if (prev == BOS && p.startsWith(" ")) {
            p = p.substring(1);
        }
        if (p.length() == 6 && p.startsWith("<0x") && p.endsWith(">")) {
            try {
                return new byte[] {(byte) Integer.parseInt(p.substring(3, 5), 16)};
            } catch (NumberFormatException e) {
                // not a byte piece after all: emit it literally
            }
        }
        return p.getBytes(StandardCharsets.ISO_8859_1);
    }

    /** A binary min-heap of longs (the merge queue; boxing a million entries would dominate the run time). */
    private static final class LongHeap {
        private long[] a;
        private int size;

        LongHeap(int capacity) {
            a = new long[Math.max(16, capacity)];
        }

        boolean isEmpty() {
            return size == 0;
        }

        void add(long v) {
            if (size == a.length) {
                a = Arrays.copyOf(a, a.length * 2);
            }
            int i = size++;
            while (i > 0) {
                int p = (i - 1) >>> 1;
                if (a[p] <= v) {
                    break;
                }
                a[i] = a[p];
                i = p;
            }
            a[i] = v;
        }

        long poll() {
            long top = a[0];
            long last = a[--size];
            int i = 0;
            while (true) {
                int c = 2 * i + 1;
                if (c >= size) {
                    break;
                }
                if (c + 1 < size && a[c + 1] < a[c]) {
                    c++;
                }
                if (a[c] >= last) {
                    break;
                }
                a[i] = a[c];
                i = c;
            }
            a[i] = last;
            return top;
        }
    }
}
