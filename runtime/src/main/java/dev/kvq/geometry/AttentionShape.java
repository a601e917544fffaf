package dev.kvq.geometry;

/**
 * The attention geometry a cache serves: layers, query heads, KV heads (GQA when fewer than query
 * heads), head dim, and the RoPE of the model. A KV vector of one token and layer has
 * {@code kvChannels() = kvHeads·headDim} elements, channel {@code c = h·headDim + j}.
 *
 * @param layers transformer layers, each with its own KV cache
 * @param queryHeads attention heads of the queries
 * @param kvHeads key/value heads; a divisor of {@code queryHeads}
 * @param headDim channels per head: a multiple of 8, at most {@value #MAX_HEAD_DIM}
 * @param rope the model's rotary embedding, for {@code headDim} channels
 */
public record AttentionShape(int layers, int queryHeads, int kvHeads, int headDim, Rope rope) {
    /** The largest head dim the kernels support. */
    public static final int MAX_HEAD_DIM = 256;

    /** Checks the geometry; every violation is an IllegalArgumentException naming the values. */
    public AttentionShape {
        if (layers <= 0 || queryHeads <= 0 || kvHeads <= 0) {
            throw new IllegalArgumentException("layers, query heads and KV heads must be positive, got "
                    + layers + ", " + queryHeads + ", " + kvHeads);
        }
        if (queryHeads % kvHeads != 0) {
            throw new IllegalArgumentException("query heads (" + queryHeads + ") must be a multiple of KV heads ("
                    + kvHeads + ")");
        }
        if (headDim < 8 || headDim > MAX_HEAD_DIM || headDim % 8 != 0) {
            throw new IllegalArgumentException("head dim must be a multiple of 8 in [8, " + MAX_HEAD_DIM + "], got " + headDim);
        }
        if ((long) kvHeads * headDim > 32767) {
            throw new IllegalArgumentException("KV heads × head dim = " + ((long) kvHeads * headDim)
                    + " exceeds 32767, the int16 channel index of the outlier storage");
        }
        if (rope == null) {
            throw new IllegalArgumentException("RoPE must not be null");
        }
        if (rope.headDim() != headDim) {
            throw new IllegalArgumentException("RoPE table is for head dim " + rope.headDim() + ", shape has " + headDim);
        }
    }

    /**
     * A shape with standard rotate-half RoPE at θ = 10000.
     *
     * @param layers transformer layers, each with its own KV cache
     * @param queryHeads attention heads of the queries
     * @param kvHeads key/value heads; a divisor of {@code queryHeads}
     * @param headDim channels per head: a multiple of 8, at most {@value #MAX_HEAD_DIM}
     */
    public AttentionShape(int layers, int queryHeads, int kvHeads, int headDim) {
        this(layers, queryHeads, kvHeads, headDim, Rope.of(10000.0, RopePairing.ROTATE_HALF, checkedDim(headDim)));
    }

    private static int checkedDim(int headDim) {
        if (headDim < 8 || headDim > MAX_HEAD_DIM || headDim % 8 != 0) {
            throw new IllegalArgumentException("head dim must be a multiple of 8 in [8, " + MAX_HEAD_DIM + "], got " + headDim);
        }
        return headDim;
    }

    /**
     * Elements of one token's key (or value) vector in one layer: {@code kvHeads·headDim}.
     *
     * @return {@code kvHeads·headDim}
     */
    public int kvChannels() {
        return kvHeads * headDim;
    }

    /**
     * Query heads per KV head.
     *
     * @return {@code queryHeads / kvHeads}; 1 without GQA
     */
    public int groupSize() {
        return queryHeads / kvHeads;
    }

    /**
     * Whether {@code other} has the same layer/head/dim geometry (RoPE may differ: calibration is pre-RoPE).
     *
     * @param other the shape to compare with
     * @return true when layers, heads and head dim agree
     */
    public boolean sameGeometry(AttentionShape other) {
        return layers == other.layers && queryHeads == other.queryHeads && kvHeads == other.kvHeads
                && headDim == other.headDim;
    }

    /**
     * A one-line description for logs and {@code kvq info}.
     *
     * @return e.g. "2 layers × 8 query heads / 4 KV heads × head dim 64"
     */
    public String describe() {
        return layers + " layers × " + queryHeads + " query heads / " + kvHeads + " KV heads × head dim " + headDim;
    }
}
