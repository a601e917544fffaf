package dev.kvq.model;

/**
 * What attention reads for one layer of a teacher-forced window: keys after RoPE and values, both
 * {@code [tokens][kvDim]}, possibly quantized and dequantized. A store with a recent-token window (kvq's
 * {@code -rN}, KIVI) also passes {@code recentKeys}/{@code recentValues}, the fp16 form of every token:
 * query {@code t} reads key {@code j} from them while {@code j} is one of the last {@code recentWindow}
 * tokens ({@code j > t − recentWindow}) or, with {@code openGroup > 0}, while {@code j}'s group of
 * {@code openGroup} tokens is not complete yet at {@code t} (KIVI quantizes a group once all its tokens
 * exist), and from the quantized arrays once it has left.
 *
 * @param keys keys after RoPE
 * @param values the values
 * @param recentKeys fp16 keys after RoPE for the recent window, or null
 * @param recentValues fp16 values for the recent window, or null
 * @param recentWindow tokens in the recent window; 0 for none
 * @param openGroup tokens per quantization group that stay recent until the group is complete; 0 for none
 */
public record KvView(float[] keys, float[] values, float[] recentKeys, float[] recentValues, int recentWindow,
                     int openGroup) {
    /**
     * A view without a recent window.
     *
     * @param keys keys after RoPE
     * @param values the values
     * @return the view
     */
    public static KvView of(float[] keys, float[] values) {
        return new KvView(keys, values, null, null, 0, 0);
    }

    /**
     * Whether query {@code t} reads key/value {@code j} from the recent arrays.
     *
     * @param t query index
     * @param j key index, at most {@code t}
     * @return true when {@code j} is inside the window (or in the group still being filled)
     */
    public boolean recent(int t, int j) {
        return recentKeys != null && (j > t - recentWindow || (openGroup > 0 && j / openGroup == t / openGroup));
    }
}
