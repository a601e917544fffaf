package dev.kvq.eval;

import dev.kvq.model.KvStore;
import dev.kvq.model.Llama;
import java.util.function.IntFunction;
import java.util.stream.IntStream;

/**
 * Teacher-forced perplexity on non-overlapping windows of one token stream (the GPTQ/KVQuant
 * protocol): window {@code w} is tokens {@code [w·L, (w+1)·L)} run as its own sequence from position 0,
 * scored on its {@code L−1} next-token predictions; perplexity is {@code exp} of the mean NLL over all of
 * them. Windows run in parallel; their sums are added in window order, so results are deterministic.
 */
public final class Perplexity {
    private Perplexity() {}

    /**
     * Mean NLL and perplexity over {@code windows} windows.
     *
     * @param meanNll mean negative log-likelihood per prediction
     * @param predictions tokens predicted
     * @param windows windows evaluated
     */
    public record Result(double meanNll, long predictions, int windows) {
        /**
         * The perplexity, {@code exp(meanNll)}.
         *
         * @return the perplexity
         */
        public double perplexity() {
            return Math.exp(meanNll);
        }
    }

    /**
     * Windows available in {@code tokens} at length {@code windowLength}.
     *
     * @param tokens the token stream
     * @param windowLength tokens per window
     * @return {@code tokens.length / windowLength}
     */
    public static int windows(int[] tokens, int windowLength) {
        return tokens.length / windowLength;
    }

    /**
     * Evaluates the first {@code windows} windows; {@code stores} gives the KV store of a window index
     * (stores may hold per-window state, so each window gets its own).
     *
     * @param model the model
     * @param tokens the token stream
     * @param windowLength tokens per window
     * @param windows windows to evaluate
     * @param stores the KV store of each window index
     * @return mean NLL over all predictions
     */
    public static Result evaluate(Llama model, int[] tokens, int windowLength, int windows, IntFunction<KvStore> stores) {
        int available = windows(tokens, windowLength);
        if (windows <= 0 || windows > available) {
            throw new IllegalArgumentException(windows + " windows of " + windowLength + " tokens requested; the text has "
                    + available + " (" + tokens.length + " tokens)");
        }
        double[] nll = new double[windows];
        IntStream.range(0, windows).parallel().forEach(w ->
                nll[w] = windowNll(model, tokens, w * windowLength, windowLength, stores.apply(w)));
        double sum = 0;
        for (double v : nll) {
            sum += v;
        }
        long predictions = (long) windows * (windowLength - 1);
        return new Result(sum / predictions, predictions, windows);
    }

    /**
     * Summed NLL of the {@code length − 1} predictions of one window.
     *
     * @param model the model
     * @param tokens the token stream
     * @param from first token of the window
     * @param length tokens in the window
     * @param store the KV store the forward pass uses
     * @return the summed NLL in nats
     */
    public static double windowNll(Llama model, int[] tokens, int from, int length, KvStore store) {
        float[] logits = model.forward(tokens, from, length, store);
        int v = model.config().vocabSize();
        double sum = 0;
        for (int t = 0; t + 1 < length; t++) {
            sum -= logSoftmax(logits, t * v, v, tokens[from + t + 1]);
        }
        return sum;
    }

    /**
     * {@code log softmax(logits[offset, offset+n))[target]}, computed stably in double.
     *
     * @param logits the logits
     * @param offset first logit of the row
     * @param n vocabulary size
     * @param target the true token
     * @return the log-probability of {@code target}
     */
    public static double logSoftmax(float[] logits, int offset, int n, int target) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, logits[offset + i]);
        }
        double sum = 0;
        for (int i = 0; i < n; i++) {
            sum += Math.exp(logits[offset + i] - max);
        }
        return logits[offset + target] - max - Math.log(sum);
    }
}
