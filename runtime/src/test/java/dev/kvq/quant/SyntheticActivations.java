package dev.kvq.quant;

import java.util.SplittableRandom;

/** Deterministic LLaMA-like activations for quantizer tests: per-channel offsets and a few outlier channels. */
public final class SyntheticActivations {
    private SyntheticActivations() {}

    /**
     * [tokens][channels] keys: channel-wise scale/offset (some channels large), rare spikes. The channel
     * statistics are those of one fixed "model" (they depend only on the channel count), the draws on
     * {@code seed}, so a calibration on one seed is representative of another, as for a real model.
     */
    public static float[] keys(long seed, int tokens, int channels) {
        SplittableRandom model = new SplittableRandom(0x5eed + channels);
        float[] offset = new float[channels];
        float[] scale = new float[channels];
        for (int c = 0; c < channels; c++) {
            offset[c] = (float) model.nextGaussian() * 0.5f;
            scale[c] = (float) (0.2 + model.nextDouble() * (c % 7 == 3 ? 4.0 : 1.0));
        }
        SplittableRandom random = new SplittableRandom(seed);
        float[] x = new float[tokens * channels];
        for (int t = 0; t < tokens; t++) {
            for (int c = 0; c < channels; c++) {
                double v = offset[c] + scale[c] * random.nextGaussian();
                if (random.nextInt(200) == 0) {
                    v *= 6;  // rare spikes: the per-vector outliers
                }
                x[t * channels + c] = (float) v;
            }
        }
        return x;
    }

    /** [tokens][channels] values: per-token magnitude varies a lot (some tokens are outliers). */
    public static float[] values(long seed, int tokens, int channels) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] x = new float[tokens * channels];
        for (int t = 0; t < tokens; t++) {
            double tokenScale = 0.1 + random.nextDouble() * (t % 13 == 0 ? 8 : 1);
            for (int c = 0; c < channels; c++) {
                double v = tokenScale * random.nextGaussian();
                if (random.nextInt(150) == 0) {
                    v *= 8;
                }
                x[t * channels + c] = (float) v;
            }
        }
        return x;
    }

    /**
     * Keys and values of {@code layers} layers with Fisher weights, {@code {keys[layers], values[layers]}}, in
     * sequences of 64 tokens.
     */
    public static Activations[][] perLayer(int layers, int tokens, int channels, long seed) {
        Activations[][] a = new Activations[2][layers];
        for (int l = 0; l < layers; l++) {
            a[0][l] = new Activations(keys(seed + l, tokens, channels), fisher(seed + 100 + l, tokens * channels), tokens,
                    channels, 64);
            a[1][l] = new Activations(values(seed + 200 + l, tokens, channels), fisher(seed + 300 + l, tokens * channels),
                    tokens, channels, 64);
        }
        return a;
    }

    public static float[] fisher(long seed, int n) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] f = new float[n];
        for (int i = 0; i < n; i++) {
            double g = random.nextGaussian() * 1e-3;
            f[i] = (float) (g * g);
        }
        return f;
    }
}
