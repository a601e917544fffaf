package dev.kvq.model;

/**
 * RoPE exactly as llama2.c computes it: interleaved pairs {@code (x[2i], x[2i+1])} of every head,
 * {@code freq = 1.0f / powf(10000, 2i/headSize)}, the angle {@code pos·freq} formed in fp32 and its
 * cosine and sine rounded to fp32. Tables cover positions {@code [0, maxPositions)}.
 */
public final class LlamaRope {
    private final int headSize;
    private final int kvHeads;
    private final int positions;
    private final float[] cos;  // [positions][headSize/2]
    private final float[] sin;

    /**
     * Tables for {@code positions} positions of heads of {@code headSize} channels.
     *
     * @param headSize channels per head (even)
     * @param kvHeads KV heads, for rotating whole key vectors
     * @param positions positions covered, from 0
     */
    public LlamaRope(int headSize, int kvHeads, int positions) {
        this.headSize = headSize;
        this.kvHeads = kvHeads;
        this.positions = positions;
        int half = headSize / 2;
        cos = new float[positions * half];
        sin = new float[positions * half];
        for (int p = 0; p < positions; p++) {
            for (int i = 0; i < half; i++) {
                float freq = 1.0f / (float) Math.pow(10000.0f, (2 * i) / (float) headSize);
                float val = p * freq;  // fp32 product, as in the C code
                cos[p * half + i] = (float) Math.cos(val);
                sin[p * half + i] = (float) Math.sin(val);
            }
        }
    }

    /**
     * Channels per head.
     *
     * @return the head size
     */
    public int headSize() {
        return headSize;
    }

    /**
     * KV heads per key vector.
     *
     * @return the KV head count
     */
    public int kvHeads() {
        return kvHeads;
    }

    /**
     * Positions covered by the tables.
     *
     * @return the position count
     */
    public int positions() {
        return positions;
    }

    /**
     * Rotates {@code heads} heads of {@code x[offset, offset + heads·headSize)} to {@code position}.
     *
     * @param x the vectors
     * @param offset first element of the first head
     * @param heads heads to rotate
     * @param position the position
     */
    public void rotate(float[] x, int offset, int heads, int position) {
        rotate(x, offset, heads, position, false);
    }

    /**
     * Rotation by the negative angle: the transpose, which carries gradients back through RoPE.
     *
     * @param x the vectors
     * @param offset first element of the first head
     * @param heads heads to rotate
     * @param position the position
     */
    public void rotateBack(float[] x, int offset, int heads, int position) {
        rotate(x, offset, heads, position, true);
    }

    /**
     * Rotates row {@code t} of {@code x [tokens][heads·headSize]} to position {@code t}.
     *
     * @param x the vectors
     * @param tokens rows of {@code x}
     * @param heads heads per row
     */
    public void rotate(float[] x, int tokens, int heads) {
        int w = heads * headSize;
        for (int t = 0; t < tokens; t++) {
            rotate(x, t * w, heads, t, false);
        }
    }

    private void rotate(float[] x, int offset, int heads, int position, boolean back) {
        if (position < 0 || position >= positions) {
            throw new IllegalArgumentException("position " + position + " is outside the RoPE table [0, " + positions + ")");
        }
        int half = headSize / 2;
        int base = position * half;
        for (int h = 0; h < heads; h++) {
            int o = offset + h * headSize;
            for (int i = 0; i < half; i++) {
                float c = cos[base + i];
                float s = back ? -sin[base + i] : sin[base + i];
                float v0 = x[o + 2 * i];
                float v1 = x[o + 2 * i + 1];
                x[o + 2 * i] = v0 * c - v1 * s;
                x[o + 2 * i + 1] = v0 * s + v1 * c;
            }
        }
    }
}
