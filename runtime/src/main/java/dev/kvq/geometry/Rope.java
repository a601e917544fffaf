package dev.kvq.geometry;

import java.util.Arrays;
import java.util.function.DoubleUnaryOperator;

/**
 * Rotary position embedding given by an inverse-frequency table, so any RoPE scaling (linear, NTK,
 * Llama-3.1) is a different table rather than different kernels (spec §2.3).
 *
 * <p>Angles are exact: {@code φ = p·ω} with {@code ω} the fp32 table entry is formed in double, where the
 * product of a position below 2^29 and a 24-bit mantissa has no rounding, and its sine and cosine are
 * taken in double. Reference models that form {@code p·ω} in fp32 (llama2.c, Hugging Face) are off by
 * up to {@code ulp(p·ω)/2} from this, about 0.3 rad at 10^7 positions for the fastest frequency; every
 * kvq path (sinks, both CPU paths, the kernels) uses the exact angle.
 *
 * @param invFreq [headDim/2] ω_i in fp32
 * @param pairing which channels rotate together
 */
public record Rope(RopePairing pairing, float[] invFreq) {
    /** Checks the table (finite, non-negative) and copies it. */
    public Rope {
        if (pairing == null || invFreq == null || invFreq.length == 0) {
            throw new IllegalArgumentException("RoPE needs a pairing and a non-empty inverse-frequency table");
        }
        for (int i = 0; i < invFreq.length; i++) {
            if (!Float.isFinite(invFreq[i]) || invFreq[i] < 0) {
                throw new IllegalArgumentException("RoPE inverse frequency " + i + " is " + invFreq[i]);
            }
        }
        invFreq = invFreq.clone();
    }

    /**
     * Standard RoPE: {@code ω_i = θ^(−2i/d)}.
     *
     * @param theta the RoPE base θ, e.g. 10000 (LLaMA 2) or 500000 (LLaMA 3)
     * @param pairing which channels rotate together in the checkpoint's layout
     * @param headDim channels per head (even)
     * @return the RoPE with {@code headDim/2} frequencies
     */
    public static Rope of(double theta, RopePairing pairing, int headDim) {
        return of(theta, pairing, headDim, DoubleUnaryOperator.identity());
    }

    /**
     * RoPE with a scaling applied to every inverse frequency (e.g. {@code w -> w / 8} for linear factor 8).
     *
     * @param theta the RoPE base θ
     * @param pairing which channels rotate together in the checkpoint's layout
     * @param headDim channels per head (even)
     * @param invFreqScaling maps each standard ω_i to the scaled one
     * @return the RoPE with the scaled table
     */
    public static Rope of(double theta, RopePairing pairing, int headDim, DoubleUnaryOperator invFreqScaling) {
        if (!(theta > 1) || !Double.isFinite(theta)) {
            throw new IllegalArgumentException("RoPE theta must be finite and > 1, got " + theta);
        }
        if (headDim <= 0 || headDim % 2 != 0) {
            throw new IllegalArgumentException("RoPE needs an even head dim, got " + headDim);
        }
        float[] table = new float[headDim / 2];
        for (int i = 0; i < table.length; i++) {
            table[i] = (float) invFreqScaling.applyAsDouble(Math.pow(theta, -2.0 * i / headDim));
        }
        return new Rope(pairing, table);
    }

    /**
     * The head dim this table serves: twice the number of frequencies.
     *
     * @return channels per head
     */
    public int headDim() {
        return invFreq.length * 2;
    }

    /**
     * ω for in-head channel {@code j}.
     *
     * @param j channel within the head, {@code [0, headDim)}
     * @return the inverse frequency that rotates channel {@code j}
     */
    public float frequency(int j) {
        return invFreq[pairing.frequencyIndex(j, headDim())];
    }

    /**
     * The exact angle {@code φ_j(p) = p·ω_{i(j)}}.
     *
     * @param position the token position
     * @param j channel within the head, {@code [0, headDim)}
     * @return the rotation angle in radians, not reduced modulo 2π
     */
    public double angle(long position, int j) {
        return (double) position * frequency(j);
    }

    /**
     * The exact angle for frequency index {@code i}.
     *
     * @param position the token position
     * @param i frequency index, {@code [0, headDim/2)}
     * @return the rotation angle in radians, not reduced modulo 2π
     */
    public double angleOfFrequency(long position, int i) {
        return (double) position * invFreq[i];
    }

    /**
     * Rotates {@code x[offset, offset+d)} to position {@code position} in place (the reference RoPE).
     *
     * @param x the vectors
     * @param offset first channel of the head to rotate
     * @param position the token position
     */
    public void apply(float[] x, int offset, long position) {
        apply(x, offset, 1, position);
    }

    /**
     * Rotates {@code heads} consecutive heads {@code x[offset, offset + heads·d)} to position {@code position}
     * in place, exactly as {@link #apply(float[], int, long)} head by head: the heads share each pair's
     * cos/sin, so they are computed once (they are most of the cost).
     *
     * @param x the vectors
     * @param offset first channel of the first head
     * @param heads the number of heads
     * @param position the token position
     */
    public void apply(float[] x, int offset, int heads, long position) {
        int d = headDim();
        // a pair shares its angle: one cos/sin per pair, both channels rotated from their old values
        for (int j = 0; j < d; j++) {
            if (!pairing.isFirstOfPair(j, d)) {
                continue;
            }
            int p = pairing.partner(j, d);
            double phi = angle(position, j);
            float cos = (float) Math.cos(phi);
            float sin = (float) Math.sin(phi);
            for (int h = 0, at = offset; h < heads; h++, at += d) {
                float first = x[at + j];
                float second = x[at + p];
                x[at + j] = first * cos - second * sin;
                x[at + p] = second * cos + first * sin;
            }
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Rope r && pairing == r.pairing && Arrays.equals(invFreq, r.invFreq);
    }

    @Override
    public int hashCode() {
        return pairing.hashCode() * 31 + Arrays.hashCode(invFreq);
    }

    @Override
    public String toString() {
        return "Rope(" + pairing + ", d=" + headDim() + ", ω0=" + invFreq[0] + ", ω_last=" + invFreq[invFreq.length - 1] + ")";
    }

    /**
     * Returns a defensive copy of the table.
     *
     * @return a copy of the ω_i, {@code [headDim/2]}
     */
    @Override
    public float[] invFreq() {
        return invFreq.clone();
    }
}
