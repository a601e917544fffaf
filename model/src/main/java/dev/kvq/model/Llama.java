package dev.kvq.model;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

/**
 * A LLaMA in fp32 with llama2.c semantics: RMSNorm (eps 1e-5), interleaved RoPE, grouped-query
 * attention, SwiGLU FFN {@code w2(silu(w1 x) · w3 x)}. Matrices are row-major {@code [out][in]}, as in
 * the checkpoint. Two ways to run it: {@link #forward} processes a whole window at once through a
 * pluggable {@link KvStore} (teacher forcing: perplexity, calibration), {@link #step} one token
 * against a {@link DecodeCache} (generation).
 */
public final class Llama {
    static final float EPS = 1e-5f;

    final LlamaConfig config;
    final float[] embedding;  // [vocab][dim]
    final float[][] rmsAtt;   // [layer][dim]
    final float[][] wq;       // [layer][dim][dim]
    final float[][] wk;       // [layer][kvDim][dim]
    final float[][] wv;       // [layer][kvDim][dim]
    final float[][] wo;       // [layer][dim][dim]
    final float[][] rmsFfn;   // [layer][dim]
    final float[][] w1;       // [layer][hidden][dim]
    final float[][] w2;       // [layer][dim][hidden]
    final float[][] w3;       // [layer][hidden][dim]
    final float[] rmsFinal;   // [dim]
    final float[] classifier; // [vocab][dim], the embedding itself when shared
    final LlamaRope rope;

    Llama(LlamaConfig config, float[] embedding, float[][] rmsAtt, float[][] wq, float[][] wk, float[][] wv,
          float[][] wo, float[][] rmsFfn, float[][] w1, float[][] w2, float[][] w3, float[] rmsFinal,
          float[] classifier) {
        this.config = config;
        this.embedding = embedding;
        this.rmsAtt = rmsAtt;
        this.wq = wq;
        this.wk = wk;
        this.wv = wv;
        this.wo = wo;
        this.rmsFfn = rmsFfn;
        this.w1 = w1;
        this.w2 = w2;
        this.w3 = w3;
        this.rmsFinal = rmsFinal;
        this.classifier = classifier;
        this.rope = new LlamaRope(config.headSize(), config.kvHeads(), config.seqLen());
    }

    /**
     * The checkpoint header.
     *
     * @return the configuration
     */
    public LlamaConfig config() {
        return config;
    }

    /**
     * The RoPE tables of the model.
     *
     * @return the llama2.c RoPE
     */
    public LlamaRope rope() {
        return rope;
    }

    /**
     * Loads a llama2.c checkpoint: a header of 7 little-endian int32 ({@code dim, hidden_dim, n_layers,
     * n_heads, n_kv_heads, vocab_size, seq_len}; negative vocab = separate classifier), then the fp32
     * weights in the llama2.c order. The file size must match the header exactly.
     *
     * @param file the checkpoint
     * @return the model
     * @throws java.io.IOException when the file cannot be read, is truncated or has an invalid header
     */
    public static Llama load(Path file) throws IOException {
        if (Files.isDirectory(file)) {
            // readAllBytes would say only "Is a directory"; loadFrom picks the checkpoint of a folder
            throw new IOException(file + " is a directory, not a llama2.c checkpoint (use Llama.loadFrom)");
        }
        byte[] bytes = Files.readAllBytes(file);
        if (bytes.length < 28) {
            throw new IOException(file + " is " + bytes.length + " bytes, too short for a llama2.c header");
        }
        ByteBuffer buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        int[] h = new int[7];
        for (int i = 0; i < 7; i++) {
            h[i] = buf.getInt();
        }
        LlamaConfig c;
        try {
            c = new LlamaConfig(h[0], h[1], h[2], h[3], h[4], Math.abs(h[5]), h[6], h[5] > 0);
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage(), e);
        }
        long expected = 28 + 4 * c.weightFloats();
        if (bytes.length != expected) {
            throw new IOException(file + " is " + bytes.length + " bytes; a llama2.c checkpoint with header (" + c
                    + ") has " + expected);
        }
        FloatBuffer f = buf.asFloatBuffer();
        for (int i = 0; i < f.limit(); i++) {
            // a NaN or infinite weight would turn every logit into NaN without any error
            float w = f.get(i);
            if (!Float.isFinite(w)) {
                throw new IOException(file + " holds " + w + " at weight " + i + ": the checkpoint is corrupted");
            }
        }
        int d = c.dim();
        int kv = c.kvDim();
        int hid = c.hiddenDim();
        int l = c.layers();
        float[] emb = take(f, c.vocabSize() * d);
        float[][] rmsAtt = takeLayers(f, l, d);
        float[][] wq = takeLayers(f, l, d * d);
        float[][] wk = takeLayers(f, l, kv * d);
        float[][] wv = takeLayers(f, l, kv * d);
        float[][] wo = takeLayers(f, l, d * d);
        float[][] rmsFfn = takeLayers(f, l, d);
        float[][] w1 = takeLayers(f, l, hid * d);
        float[][] w2 = takeLayers(f, l, d * hid);
        float[][] w3 = takeLayers(f, l, hid * d);
        float[] rmsFinal = take(f, d);
        f.position(f.position() + c.seqLen() * c.headSize());  // legacy freq_cis tables: recomputed instead
        float[] cls = c.sharedClassifier() ? emb : take(f, c.vocabSize() * d);
        return new Llama(c, emb, rmsAtt, wq, wk, wv, wo, rmsFfn, w1, w2, w3, rmsFinal, cls);
    }

    /**
     * Loads {@code stories260K.bin} (or the only {@code .bin} file) from a model folder, or a file directly.
     *
     * @param modelDirOrFile a model folder or a checkpoint file
     * @return the model
     * @throws java.io.IOException when no checkpoint is found or it cannot be loaded
     */
    public static Llama loadFrom(Path modelDirOrFile) throws IOException {
        return load(ModelFiles.checkpoint(modelDirOrFile));
    }

    private static float[] take(FloatBuffer f, int n) {
        float[] a = new float[n];
        f.get(a);
        return a;
    }

    private static float[][] takeLayers(FloatBuffer f, int layers, int n) {
        float[][] a = new float[layers][];
        for (int i = 0; i < layers; i++) {
            a[i] = take(f, n);
        }
        return a;
    }

    /**
     * A model with Gaussian weights of standard deviation {@code std} (norm weights around 1): for tests.
     *
     * @param c the configuration
     * @param seed the random seed
     * @param std the standard deviation of the weights
     * @return the model
     */
    public static Llama random(LlamaConfig c, long seed, float std) {
        Random r = new Random(seed);
        int d = c.dim();
        int kv = c.kvDim();
        int hid = c.hiddenDim();
        int l = c.layers();
        float[] emb = gauss(r, c.vocabSize() * d, std * 4);
        float[][] rmsAtt = new float[l][];
        float[][] wq = new float[l][];
        float[][] wk = new float[l][];
        float[][] wv = new float[l][];
        float[][] wo = new float[l][];
        float[][] rmsFfn = new float[l][];
        float[][] w1 = new float[l][];
        float[][] w2 = new float[l][];
        float[][] w3 = new float[l][];
        for (int i = 0; i < l; i++) {
            rmsAtt[i] = norms(r, d);
            wq[i] = gauss(r, d * d, std);
            wk[i] = gauss(r, kv * d, std);
            wv[i] = gauss(r, kv * d, std);
            wo[i] = gauss(r, d * d, std);
            rmsFfn[i] = norms(r, d);
            w1[i] = gauss(r, hid * d, std);
            w2[i] = gauss(r, d * hid, std);
            w3[i] = gauss(r, hid * d, std);
        }
        float[] rmsFinal = norms(r, d);
        float[] cls = c.sharedClassifier() ? emb : gauss(r, c.vocabSize() * d, std * 4);
        return new Llama(c, emb, rmsAtt, wq, wk, wv, wo, rmsFfn, w1, w2, w3, rmsFinal, cls);
    }

    private static float[] gauss(Random r, int n, float std) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (r.nextGaussian() * std);
        }
        return a;
    }

    private static float[] norms(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (1 + 0.2 * r.nextGaussian());
        }
        return a;
    }

    // ---------------------------------------------------------------- window forward (teacher forcing)

    /**
     * Runs {@code tokens[from, from+n)} as one sequence at positions 0…n−1 and returns the logits
     * {@code [n][vocab]}; every layer's KV goes through {@code store}.
     *
     * @param tokens the token stream
     * @param from first token of the sequence
     * @param n tokens in the sequence
     * @param store the KV store
     * @return the logits
     */
    public float[] forward(int[] tokens, int from, int n, KvStore store) {
        return forward(tokens, from, n, store, null);
    }

    /** As {@link #forward(int[], int, int, KvStore)}, also recording activations for the backward pass. */
    float[] forward(int[] tokens, int from, int n, KvStore store, Tape tape) {
        LlamaConfig c = config;
        if (n <= 0 || n > c.seqLen()) {
            throw new IllegalArgumentException("window of " + n + " tokens; the model handles 1…" + c.seqLen());
        }
        int d = c.dim();
        int kvDim = c.kvDim();
        int hid = c.hiddenDim();
        float[] x = new float[n * d];
        for (int t = 0; t < n; t++) {
            int tok = tokens[from + t];
            if (tok < 0 || tok >= c.vocabSize()) {
                throw new IllegalArgumentException("token " + tok + " at " + (from + t) + " is outside the vocabulary of "
                        + c.vocabSize());
            }
            System.arraycopy(embedding, tok * d, x, t * d, d);
        }
        float[] xb = new float[n * d];
        float[] q = new float[n * d];
        float[] att = new float[n * d];
        float[] proj = new float[n * d];
        float[] h1 = new float[n * hid];
        float[] h3 = new float[n * hid];
        float[] scores = new float[n];
        for (int l = 0; l < c.layers(); l++) {
            if (tape != null) {
                tape.layerInput[l] = x.clone();
            }
            rmsnorm(xb, x, rmsAtt[l], n, d);
            matmul(q, xb, wq[l], n, d, d);
            // fresh per layer: stores may keep (views of) them, e.g. the backward pass's tape
            float[] k = new float[n * kvDim];
            float[] v = new float[n * kvDim];
            matmul(k, xb, wk[l], n, kvDim, d);
            matmul(v, xb, wv[l], n, kvDim, d);
            rope.rotate(q, n, c.heads());
            KvView view = store.view(l, k, v, n, rope);
            if (tape != null) {
                tape.attnNormed[l] = xb.clone();
                tape.queries[l] = q.clone();
                tape.views[l] = view;
                tape.probs[l] = new float[c.heads() * n * n];
            }
            attend(q, view, att, n, scores, tape == null ? null : tape.probs[l]);
            if (tape != null) {
                tape.attnOut[l] = att.clone();
            }
            matmul(proj, att, wo[l], n, d, d);
            add(x, proj);
            if (tape != null) {
                tape.ffnInput[l] = x.clone();
            }
            rmsnorm(xb, x, rmsFfn[l], n, d);
            matmul(h1, xb, w1[l], n, hid, d);
            matmul(h3, xb, w3[l], n, hid, d);
            if (tape != null) {
                tape.ffnNormed[l] = xb.clone();
                tape.h1[l] = h1.clone();
                tape.h3[l] = h3.clone();
            }
            for (int i = 0; i < h1.length; i++) {
                h1[i] = silu(h1[i]) * h3[i];
            }
            matmul(proj, h1, w2[l], n, d, hid);
            add(x, proj);
        }
        if (tape != null) {
            tape.finalInput = x.clone();
        }
        rmsnorm(xb, x, rmsFinal, n, d);
        if (tape != null) {
            tape.finalNormed = xb.clone();
        }
        float[] logits = new float[n * c.vocabSize()];
        matmul(logits, xb, classifier, n, c.vocabSize(), d);
        return logits;
    }

    /** Causal GQA attention over a window; {@code probs} ([heads][n][n]) receives the softmax if not null. */
    private void attend(float[] q, KvView view, float[] out, int n, float[] scores, float[] probs) {
        LlamaConfig c = config;
        int hs = c.headSize();
        int d = c.dim();
        int kvDim = c.kvDim();
        float scale = (float) (1.0 / Math.sqrt(hs));
        for (int t = 0; t < n; t++) {
            for (int h = 0; h < c.heads(); h++) {
                int qo = t * d + h * hs;
                int ko = (h / c.groupSize()) * hs;
                float max = Float.NEGATIVE_INFINITY;
                for (int j = 0; j <= t; j++) {
                    float[] keys = view.recent(t, j) ? view.recentKeys() : view.keys();
                    float s = 0;
                    for (int i = 0; i < hs; i++) {
                        s += q[qo + i] * keys[j * kvDim + ko + i];
                    }
                    s *= scale;
                    scores[j] = s;
                    max = Math.max(max, s);
                }
                float sum = 0;
                for (int j = 0; j <= t; j++) {
                    float e = (float) Math.exp(scores[j] - max);
                    scores[j] = e;
                    sum += e;
                }
                float inv = 1f / sum;
                java.util.Arrays.fill(out, qo, qo + hs, 0f);
                for (int j = 0; j <= t; j++) {
                    float p = scores[j] * inv;
                    if (probs != null) {
                        probs[(h * n + t) * n + j] = p;
                    }
                    float[] values = view.recent(t, j) ? view.recentValues() : view.values();
                    int vo = j * kvDim + ko;
                    for (int i = 0; i < hs; i++) {
                        out[qo + i] += p * values[vo + i];
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------- single-token decode

    /**
     * One decode step: token {@code token} at position {@code pos}; its keys and values are appended
     * to {@code cache} before attending (so it sees itself). Returns the logits.
     *
     * @param token the token id
     * @param pos its position
     * @param cache the decode cache
     * @return the logits {@code [vocab]}
     */
    public float[] step(int token, int pos, DecodeCache cache) {
        LlamaConfig c = config;
        if (token < 0 || token >= c.vocabSize()) {
            throw new IllegalArgumentException("token " + token + " is outside the vocabulary of " + c.vocabSize());
        }
        if (pos < 0 || pos >= c.seqLen()) {
            throw new IllegalArgumentException("position " + pos + " is beyond the model's context of " + c.seqLen());
        }
        int d = c.dim();
        int kvDim = c.kvDim();
        int hid = c.hiddenDim();
        float[] x = java.util.Arrays.copyOfRange(embedding, token * d, token * d + d);
        float[] xb = new float[d];
        float[] q = new float[d];
        float[] k = new float[kvDim];
        float[] v = new float[kvDim];
        float[] att = new float[d];
        float[] proj = new float[d];
        float[] h1 = new float[hid];
        float[] h3 = new float[hid];
        for (int l = 0; l < c.layers(); l++) {
            rmsnorm(xb, x, rmsAtt[l], 1, d);
            matmul(q, xb, wq[l], 1, d, d);
            matmul(k, xb, wk[l], 1, kvDim, d);
            matmul(v, xb, wv[l], 1, kvDim, d);
            cache.append(l, k, v, pos);
            cache.attend(l, q, pos, att);
            matmul(proj, att, wo[l], 1, d, d);
            add(x, proj);
            rmsnorm(xb, x, rmsFfn[l], 1, d);
            matmul(h1, xb, w1[l], 1, hid, d);
            matmul(h3, xb, w3[l], 1, hid, d);
            for (int i = 0; i < hid; i++) {
                h1[i] = silu(h1[i]) * h3[i];
            }
            matmul(proj, h1, w2[l], 1, d, hid);
            add(x, proj);
        }
        rmsnorm(xb, x, rmsFinal, 1, d);
        float[] logits = new float[c.vocabSize()];
        matmul(logits, xb, classifier, 1, c.vocabSize(), d);
        return logits;
    }

    // ---------------------------------------------------------------- kernels

    static void rmsnorm(float[] out, float[] x, float[] w, int n, int d) {
        for (int t = 0; t < n; t++) {
            int o = t * d;
            float ss = 0;
            for (int i = 0; i < d; i++) {
                ss += x[o + i] * x[o + i];
            }
            float r = (float) (1.0 / Math.sqrt(ss / d + EPS));
            for (int i = 0; i < d; i++) {
                out[o + i] = w[i] * (r * x[o + i]);
            }
        }
    }

    /** {@code out[t][i] = Σ_j w[i][j]·in[t][j]} for {@code n} rows; two rows share each weight load. */
    static void matmul(float[] out, float[] in, float[] w, int n, int rows, int cols) {
        int t = 0;
        for (; t + 1 < n; t += 2) {
            int a = t * cols;
            int b = a + cols;
            for (int i = 0; i < rows; i++) {
                int wo = i * cols;
                float s0 = 0;
                float s1 = 0;
                for (int j = 0; j < cols; j++) {
                    float wij = w[wo + j];
                    s0 += wij * in[a + j];
                    s1 += wij * in[b + j];
                }
                out[t * rows + i] = s0;
                out[(t + 1) * rows + i] = s1;
            }
        }
        for (; t < n; t++) {
            int a = t * cols;
            for (int i = 0; i < rows; i++) {
                int wo = i * cols;
                float s = 0;
                for (int j = 0; j < cols; j++) {
                    s += w[wo + j] * in[a + j];
                }
                out[t * rows + i] = s;
            }
        }
    }

    /** {@code out[t][j] += Σ_i w[i][j]·g[t][i]}: the transpose product, for the backward pass. */
    static void matmulTransposedAdd(float[] out, float[] g, float[] w, int n, int rows, int cols) {
        for (int t = 0; t < n; t++) {
            int go = t * rows;
            int oo = t * cols;
            for (int i = 0; i < rows; i++) {
                float gi = g[go + i];
                if (gi == 0) {
                    continue;
                }
                int wo = i * cols;
                for (int j = 0; j < cols; j++) {
                    out[oo + j] += gi * w[wo + j];
                }
            }
        }
    }

    static void add(float[] x, float[] y) {
        for (int i = 0; i < x.length; i++) {
            x[i] += y[i];
        }
    }

    static float silu(float x) {
        return (float) (x / (1.0 + Math.exp(-x)));
    }

    /** Activations of one window kept for {@link FisherGradients}. */
    static final class Tape {
        final float[][] layerInput;
        final float[][] attnNormed;
        final float[][] queries;   // post-RoPE
        final KvView[] views;
        final float[][] probs;
        final float[][] attnOut;
        final float[][] ffnInput;
        final float[][] ffnNormed;
        final float[][] h1;
        final float[][] h3;
        float[] finalInput;
        float[] finalNormed;

        Tape(int layers) {
            layerInput = new float[layers][];
            attnNormed = new float[layers][];
            queries = new float[layers][];
            views = new KvView[layers];
            probs = new float[layers][];
            attnOut = new float[layers][];
            ffnInput = new float[layers][];
            ffnNormed = new float[layers][];
            h1 = new float[layers][];
            h3 = new float[layers][];
        }
    }
}
