package dev.kvq.model;

/**
 * What attention reads for one layer of a teacher-forced window: keys after RoPE and values, both
 * {@code [tokens][kvDim]}, possibly quantized and dequantized. A store with a full-precision window
 * (KIVI) also passes {@code recentKeys}/{@code recentValues}: for query {@code t}, key {@code j} comes
 * from the recent arrays when {@code j > t − recentWindow}.
 *
 * @param keys keys after RoPE
 * @param values the values
 * @param recentKeys full-precision keys of the recent window, or null
 * @param recentValues full-precision values of the recent window, or null
 * @param recentWindow tokens in the recent window; 0 for none
 */
public record KvView(float[] keys, float[] values, float[] recentKeys, float[] recentValues, int recentWindow) {
    /**
     * A view without a full-precision window.
     *
     * @param keys keys after RoPE
     * @param values the values
     * @return the view
     */
    public static KvView of(float[] keys, float[] values) {
        return new KvView(keys, values, null, null, 0);
    }

    /**
     * Whether query {@code t} reads key/value {@code j} from the full-precision window.
     *
     * @param t query index
     * @param j key index, at most {@code t}
     * @return true when {@code j} is inside the window
     */
    public boolean recent(int t, int j) {
        return recentWindow > 0 && j > t - recentWindow;
    }
}
