package dev.kvq.model;

import java.util.Arrays;
import java.util.Random;

/**
 * Text generation: the prompt goes through the window forward pass in full precision (its keys and
 * values captured pre-RoPE and handed to the decode cache), then one {@link Llama#step} per new token.
 * Temperature 0 is greedy (ties to the lower id); otherwise softmax sampling with a seeded RNG.
 */
public final class Generator {
    private final Llama model;

    /**
     * A generator for {@code model}.
     *
     * @param model the model
     */
    public Generator(Llama model) {
        this.model = model;
    }

    /**
     * Result: all tokens (prompt included, BOS first) and the number generated.
     *
     * @param tokens the prompt followed by the generated tokens
     * @param promptTokens the prompt's length
     */
    public record Output(int[] tokens, int promptTokens) {
        /**
         * The tokens after the prompt.
         *
         * @return a copy of the generated tokens
         */
        public int[] generated() {
            return Arrays.copyOfRange(tokens, promptTokens, tokens.length);
        }
    }

    /**
     * Runs the prompt, then samples up to {@code maxNewTokens} tokens (fewer when the model's
     * context ends first).
     *
     * @param prompt the prompt's token ids, BOS first
     * @param maxNewTokens the most tokens to generate
     * @param temperature 0 for greedy decoding, else the softmax temperature
     * @param seed the sampling seed
     * @param cache the decode cache, empty
     * @return prompt and generated tokens
     */
    public Output generate(int[] prompt, int maxNewTokens, float temperature, long seed, DecodeCache cache) {
        if (prompt.length == 0) {
            throw new IllegalArgumentException("the prompt needs at least one token (BOS)");
        }
        if (!(temperature >= 0) || !Float.isFinite(temperature)) {
            throw new IllegalArgumentException("temperature must be finite and >= 0, got " + temperature);
        }
        int seqLen = model.config().seqLen();
        int total = Math.min(seqLen, prompt.length + Math.max(0, maxNewTokens));
        if (prompt.length > seqLen) {
            throw new IllegalArgumentException("prompt of " + prompt.length + " tokens exceeds the context of " + seqLen);
        }
        int kv = model.config().kvDim();
        int p = prompt.length;
        // prefill: full-precision attention over the prompt, then the cache takes its K/V
        KvStore capture = (layer, keys, values, n, rope) -> {
            cache.appendPrompt(layer, Arrays.copyOf(keys, n * kv), Arrays.copyOf(values, n * kv), n);
            return KvStore.FP32.view(layer, keys, values, n, rope);
        };
        float[] all = model.forward(prompt, 0, p, capture);
        float[] logits = Arrays.copyOfRange(all, (p - 1) * model.config().vocabSize(), p * model.config().vocabSize());
        int[] out = Arrays.copyOf(prompt, total);
        Random rng = new Random(seed);
        for (int pos = p; pos < total; pos++) {
            int next = sample(logits, temperature, rng);
            out[pos] = next;
            if (pos + 1 < total) {
                logits = model.step(next, pos, cache);
            }
        }
        return new Output(out, p);
    }

    static int sample(float[] logits, float temperature, Random rng) {
        if (temperature == 0) {
            int best = 0;
            for (int i = 1; i < logits.length; i++) {
                if (logits[i] > logits[best]) {
                    best = i;
                }
            }
            return best;
        }
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) {
            max = Math.max(max, l);
        }
        double[] p = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < logits.length; i++) {
            p[i] = Math.exp((logits[i] - max) / temperature);
            sum += p[i];
        }
        double u = rng.nextDouble() * sum;
        for (int i = 0; i < p.length; i++) {
            u -= p[i];
            if (u < 0) {
                return i;
            }
        }
        return p.length - 1;
    }
}
