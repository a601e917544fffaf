package dev.kvq.model;

/**
 * What attention reads for one layer of a teacher-forced window: keys after RoPE and values, both
 * {@code [tokens][kvDim]}, possibly quantized and dequantized. A store with a full-precision window
 * (KIVI) also passes {@code recentKeys}/{@code recentValues}: for query {@code t}, key {@code j} comes
 * from the recent arrays when {@code j > t − recentWindow}.
 */
public record KvView(float[] keys, float[] values, float[] recentKeys, float[] recentValues, int recentWindow) {
    public static KvView of(float[] keys, float[] values) {
        return new KvView(keys, values, null, null, 0);
    }

    /** Whether query {@code t} reads key/value {@code j} from the full-precision window. */
    public boolean recent(int t, int j) {
        return recentWindow > 0 && j > t - recentWindow;
    }
}
