package dev.kvq.model;

import static dev.kvq.model.Llama.matmulTransposedAdd;

/**
 * Reverse mode through the whole fp32 model for one window: the gradient of the mean next-token
 * cross-entropy (over the window's {@code n − 1} predictions) with respect to every layer's pre-RoPE
 * keys and values, i.e. the {@code k_proj}/{@code v_proj} outputs (spec §1 step 1). Only activation
 * gradients are formed; no weight gradients are needed for Fisher information {@code F = g²}.
 */
public final class FisherGradients {
    private FisherGradients() {}

    /**
     * Per layer {@code [n][kvDim]} gradients, and the loss they belong to.
     *
     * @param keys per layer the loss gradient of every pre-RoPE key element
     * @param values per layer the loss gradient of every value element
     * @param loss the window's mean NLL
     * @param keyActivations per layer the pre-RoPE keys
     * @param valueActivations per layer the values
     */
    public record Result(float[][] keys, float[][] values, double loss, float[][] keyActivations,
                         float[][] valueActivations) {}

    /**
     * Gradients for the window {@code tokens[from, from+n)}; also returns the pre-RoPE keys and values
     * the forward pass produced (the calibration activations of the same window).
     *
     * @param m the model
     * @param tokens the token stream
     * @param from first token of the window
     * @param n tokens in the window
     * @return gradients, activations and loss
     */
    public static Result compute(Llama m, int[] tokens, int from, int n) {
        LlamaConfig c = m.config();
        int layers = c.layers();
        float[][] keyActs = new float[layers][];
        float[][] valueActs = new float[layers][];
        KvStore capture = (layer, k, v, t, rope) -> {
            keyActs[layer] = k.clone();
            valueActs[layer] = v.clone();
            return KvStore.FP32.view(layer, k, v, t, rope);
        };
        Llama.Tape tape = new Llama.Tape(layers);
        float[] logits = m.forward(tokens, from, n, capture, tape);

        int d = c.dim();
        int kvDim = c.kvDim();
        int hid = c.hiddenDim();
        int vocab = c.vocabSize();
        int predictions = n - 1;
        if (predictions <= 0) {
            throw new IllegalArgumentException("a window needs at least 2 tokens for a next-token loss, got " + n);
        }
        // dL/dlogits = (softmax − onehot)/predictions; the last position predicts nothing
        float[] dLogits = new float[n * vocab];
        double loss = 0;
        for (int t = 0; t < predictions; t++) {
            int o = t * vocab;
            double max = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < vocab; i++) {
                max = Math.max(max, logits[o + i]);
            }
            double sum = 0;
            for (int i = 0; i < vocab; i++) {
                sum += Math.exp(logits[o + i] - max);
            }
            int target = tokens[from + t + 1];
            loss -= logits[o + target] - max - Math.log(sum);
            for (int i = 0; i < vocab; i++) {
                dLogits[o + i] = (float) (Math.exp(logits[o + i] - max) / sum / predictions);
            }
            dLogits[o + target] -= 1f / predictions;
        }
        loss /= predictions;

        float[] dNormed = new float[n * d];
        matmulTransposedAdd(dNormed, dLogits, m.classifier, n, vocab, d);
        float[] dx = new float[n * d];
        rmsnormBackward(dx, dNormed, tape.finalInput, m.rmsFinal, n, d);

        float[][] gK = new float[layers][];
        float[][] gV = new float[layers][];
        for (int l = layers - 1; l >= 0; l--) {
            // FFN: x += w2(silu(h1)·h3), the residual passes dx through unchanged
            float[] h1 = tape.h1[l];
            float[] h3 = tape.h3[l];
            float[] dg = new float[n * hid];
            matmulTransposedAdd(dg, dx, m.w2[l], n, d, hid);
            float[] dh1 = new float[n * hid];
            float[] dh3 = new float[n * hid];
            for (int i = 0; i < dg.length; i++) {
                double sig = 1.0 / (1.0 + Math.exp(-h1[i]));
                double silu = h1[i] * sig;
                dh3[i] = (float) (dg[i] * silu);
                dh1[i] = (float) (dg[i] * h3[i] * sig * (1 + h1[i] * (1 - sig)));
            }
            float[] dXb = new float[n * d];
            matmulTransposedAdd(dXb, dh1, m.w1[l], n, hid, d);
            matmulTransposedAdd(dXb, dh3, m.w3[l], n, hid, d);
            rmsnormBackward(dx, dXb, tape.ffnInput[l], m.rmsFfn[l], n, d);

            // attention: x += wo·attn(q, k, v)
            float[] dAtt = new float[n * d];
            matmulTransposedAdd(dAtt, dx, m.wo[l], n, d, d);
            float[] dq = new float[n * d];
            float[] dk = new float[n * kvDim];
            float[] dv = new float[n * kvDim];
            attentionBackward(c, tape.queries[l], tape.views[l], tape.probs[l], dAtt, dq, dk, dv, n);
            // back through RoPE: the transpose of a rotation is the rotation by the negative angle
            for (int t = 0; t < n; t++) {
                m.rope.rotateBack(dq, t * d, c.heads(), t);
                m.rope.rotateBack(dk, t * kvDim, c.kvHeads(), t);
            }
            gK[l] = dk;
            gV[l] = dv;
            java.util.Arrays.fill(dXb, 0f);
            matmulTransposedAdd(dXb, dq, m.wq[l], n, d, d);
            matmulTransposedAdd(dXb, dk, m.wk[l], n, kvDim, d);
            matmulTransposedAdd(dXb, dv, m.wv[l], n, kvDim, d);
            rmsnormBackward(dx, dXb, tape.layerInput[l], m.rmsAtt[l], n, d);
        }
        return new Result(gK, gV, loss, keyActs, valueActs);
    }

    /**
     * Adds to {@code dx} the gradient through {@code y = w ⊙ x·r}, {@code r = (mean(x²) + eps)^−½}:
     * {@code dx = r·(w⊙dy) − r³/d · x · Σ_j w_j dy_j x_j}.
     */
    static void rmsnormBackward(float[] dx, float[] dy, float[] x, float[] w, int n, int d) {
        for (int t = 0; t < n; t++) {
            int o = t * d;
            double ss = 0;
            double dot = 0;
            for (int i = 0; i < d; i++) {
                ss += (double) x[o + i] * x[o + i];
                dot += (double) w[i] * dy[o + i] * x[o + i];
            }
            double r = 1.0 / Math.sqrt(ss / d + Llama.EPS);
            double k = r * r * r * dot / d;
            for (int i = 0; i < d; i++) {
                dx[o + i] += (float) (r * w[i] * dy[o + i] - k * x[o + i]);
            }
        }
    }

    /** Backward of causal softmax attention with GQA; gradients of post-RoPE q and k, and of v. */
    private static void attentionBackward(LlamaConfig c, float[] q, KvView view, float[] probs, float[] dOut,
                                          float[] dq, float[] dk, float[] dv, int n) {
        int hs = c.headSize();
        int d = c.dim();
        int kvDim = c.kvDim();
        float[] keys = view.keys();
        float[] values = view.values();
        float scale = (float) (1.0 / Math.sqrt(hs));
        float[] dp = new float[n];
        for (int h = 0; h < c.heads(); h++) {
            int ko = (h / c.groupSize()) * hs;
            for (int t = 0; t < n; t++) {
                int qo = t * d + h * hs;
                int po = (h * n + t) * n;
                double weighted = 0;
                for (int j = 0; j <= t; j++) {
                    float s = 0;
                    for (int i = 0; i < hs; i++) {
                        s += dOut[qo + i] * values[j * kvDim + ko + i];
                    }
                    dp[j] = s;
                    weighted += probs[po + j] * s;
                    float p = probs[po + j];
                    for (int i = 0; i < hs; i++) {
                        dv[j * kvDim + ko + i] += p * dOut[qo + i];
                    }
                }
                for (int j = 0; j <= t; j++) {
                    float ds = (float) (probs[po + j] * (dp[j] - weighted)) * scale;
                    if (ds == 0) {
                        continue;
                    }
                    for (int i = 0; i < hs; i++) {
                        dq[qo + i] += ds * keys[j * kvDim + ko + i];
                        dk[j * kvDim + ko + i] += ds * q[qo + i];
                    }
                }
            }
        }
    }
}
