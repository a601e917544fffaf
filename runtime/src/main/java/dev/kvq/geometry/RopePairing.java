package dev.kvq.geometry;

/** Which channels RoPE rotates together (spec §2.3, §15.12); a property of the checkpoint's layout. */
public enum RopePairing {
    /** Meta/llama2.c layout: channels (2i, 2i+1) with frequency i. */
    INTERLEAVED,
    /** Hugging Face layout: channels j and j + d/2 with frequency j mod d/2. */
    ROTATE_HALF;

    /**
     * The channel rotated together with in-head channel {@code j}.
     *
     * @param j channel within the head, {@code [0, headDim)}
     * @param headDim channels per head
     * @return the partner channel
     */
    public int partner(int j, int headDim) {
        return switch (this) {
            case INTERLEAVED -> j ^ 1;
            case ROTATE_HALF -> j < headDim / 2 ? j + headDim / 2 : j - headDim / 2;
        };
    }

    /**
     * Index into the inverse-frequency table for in-head channel {@code j}.
     *
     * @param j channel within the head, {@code [0, headDim)}
     * @param headDim channels per head
     * @return the frequency index, {@code [0, headDim/2)}
     */
    public int frequencyIndex(int j, int headDim) {
        return switch (this) {
            case INTERLEAVED -> j >> 1;
            case ROTATE_HALF -> j % (headDim / 2);
        };
    }

    /**
     * +1 when channel {@code j} is the first of its pair (its rotated value subtracts the partner's sine term).
     *
     * @param j channel within the head, {@code [0, headDim)}
     * @param headDim channels per head
     * @return true for the first channel of the pair
     */
    public boolean isFirstOfPair(int j, int headDim) {
        return switch (this) {
            case INTERLEAVED -> (j & 1) == 0;
            case ROTATE_HALF -> j < headDim / 2;
        };
    }
}
