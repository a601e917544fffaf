package dev.kvq.model;

import java.util.Arrays;

/** The llama2.c decode cache: fp32 keys after RoPE and values, one row per position. */
public final class Fp32DecodeCache implements DecodeCache {
    private final LlamaConfig config;
    private final LlamaRope rope;
    private final float[][] keys;    // [layer][seqLen·kvDim], post-RoPE
    private final float[][] values;  // [layer][seqLen·kvDim]
    private final int[] length;

    /**
     * An empty cache for {@code model}, sized for its full context.
     *
     * @param model the model
     */
    public Fp32DecodeCache(Llama model) {
        this.config = model.config();
        this.rope = model.rope();
        int size = config.seqLen() * config.kvDim();
        keys = new float[config.layers()][size];
        values = new float[config.layers()][size];
        length = new int[config.layers()];
    }

    @Override
    public void append(int layer, float[] keyPreRope, float[] value, int pos) {
        if (pos != length[layer]) {
            throw new IllegalArgumentException("layer " + layer + " holds " + length[layer] + " tokens; cannot append position "
                    + pos);
        }
        int kv = config.kvDim();
        System.arraycopy(keyPreRope, 0, keys[layer], pos * kv, kv);
        rope.rotate(keys[layer], pos * kv, config.kvHeads(), pos);
        System.arraycopy(value, 0, values[layer], pos * kv, kv);
        length[layer]++;
    }

    @Override
    public void appendPrompt(int layer, float[] keysPreRope, float[] values, int tokens) {
        int kv = config.kvDim();
        for (int t = 0; t < tokens; t++) {
            append(layer, Arrays.copyOfRange(keysPreRope, t * kv, t * kv + kv),
                    Arrays.copyOfRange(values, t * kv, t * kv + kv), length[layer]);
        }
    }

    @Override
    public void attend(int layer, float[] query, int pos, float[] out) {
        int hs = config.headSize();
        int kv = config.kvDim();
        int n = length[layer];
        float[] q = query.clone();
        rope.rotate(q, 0, config.heads(), pos);
        float[] s = new float[n];
        float scale = (float) (1.0 / Math.sqrt(hs));
        for (int h = 0; h < config.heads(); h++) {
            int ko = (h / config.groupSize()) * hs;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < n; j++) {
                float dot = 0;
                for (int i = 0; i < hs; i++) {
                    dot += q[h * hs + i] * keys[layer][j * kv + ko + i];
                }
                s[j] = dot * scale;
                max = Math.max(max, s[j]);
            }
            float sum = 0;
            for (int j = 0; j < n; j++) {
                s[j] = (float) Math.exp(s[j] - max);
                sum += s[j];
            }
            Arrays.fill(out, h * hs, h * hs + hs, 0f);
            for (int j = 0; j < n; j++) {
                float p = s[j] / sum;
                for (int i = 0; i < hs; i++) {
                    out[h * hs + i] += p * values[layer][j * kv + ko + i];
                }
            }
        }
    }

    @Override
    public double effectiveBits() {
        return 32;
    }
}
