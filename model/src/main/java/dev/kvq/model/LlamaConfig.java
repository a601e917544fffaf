package dev.kvq.model;

/**
 * The llama2.c checkpoint header: seven int32 values. A negative vocabulary size in the file means the
 * classifier is stored separately (unshared); here {@code vocabSize} is always positive and
 * {@code sharedClassifier} carries that bit.
 *
 * @param dim model width
 * @param hiddenDim feed-forward width
 * @param layers transformer layers
 * @param heads query heads
 * @param kvHeads key/value heads
 * @param vocabSize vocabulary size
 * @param seqLen the longest context
 * @param sharedClassifier whether the classifier shares the token embedding
 */
public record LlamaConfig(int dim, int hiddenDim, int layers, int heads, int kvHeads, int vocabSize, int seqLen,
                          boolean sharedClassifier) {
    /** Checks that the fields are positive and that heads divide evenly into pairs of channels. */
    public LlamaConfig {
        if (dim <= 0 || hiddenDim <= 0 || layers <= 0 || heads <= 0 || kvHeads <= 0 || vocabSize <= 0 || seqLen <= 0) {
            throw new IllegalArgumentException("llama2.c header has a non-positive field: " + describe(dim, hiddenDim,
                    layers, heads, kvHeads, vocabSize, seqLen));
        }
        if (dim % heads != 0) {
            throw new IllegalArgumentException("dim " + dim + " is not a multiple of heads " + heads);
        }
        if (heads % kvHeads != 0) {
            throw new IllegalArgumentException("heads " + heads + " is not a multiple of kv_heads " + kvHeads);
        }
        if ((dim / heads) % 2 != 0) {
            throw new IllegalArgumentException("head size " + dim / heads + " is odd; RoPE needs pairs");
        }
    }

    /**
     * Channels per head.
     *
     * @return {@code dim / heads}
     */
    public int headSize() {
        return dim / heads;
    }

    /**
     * Width of one token's key (or value) vector: {@code kvHeads·headSize}.
     *
     * @return the KV width
     */
    public int kvDim() {
        return kvHeads * headSize();
    }

    /**
     * Query heads sharing one KV head.
     *
     * @return {@code heads / kvHeads}
     */
    public int groupSize() {
        return heads / kvHeads;
    }

    /** Number of float weights the checkpoint holds after the header, legacy RoPE tables included. */
    long weightFloats() {
        long d = dim;
        long l = layers;
        long hs = headSize();
        long n = (long) vocabSize * d          // token embedding
                + l * d                        // rms_att
                + l * d * d                    // wq
                + 2 * l * kvDim() * d          // wk, wv
                + l * d * d                    // wo
                + l * d                        // rms_ffn
                + 3 * l * hiddenDim * d        // w1, w2, w3
                + d                            // rms_final
                + (long) seqLen * hs;          // freq_cis_real + freq_cis_imag, each seqLen·hs/2
        return sharedClassifier ? n : n + (long) vocabSize * d;
    }

    private static String describe(int dim, int hidden, int layers, int heads, int kv, int vocab, int seq) {
        return "dim " + dim + ", hidden " + hidden + ", layers " + layers + ", heads " + heads + ", kv_heads " + kv
                + ", vocab " + vocab + ", seq_len " + seq;
    }

    @Override
    public String toString() {
        return describe(dim, hiddenDim, layers, heads, kvHeads, vocabSize, seqLen)
                + (sharedClassifier ? ", shared classifier" : ", separate classifier");
    }
}
