package dev.kvq.quant;

/**
 * Sample weights of the codebook k-means (spec §3.3). The paper's objective in normalized space is
 * {@code Σ F·s²·(a − Q(a))²}; the authors' code drops {@code s²}. Both are offered.
 */
public enum FisherWeighting {
    /** Plain k-means: every calibration element counts the same (no Fisher information). */
    UNWEIGHTED,
    /** Weight {@code F = g²}, as the reference implementation does. */
    FISHER,
    /** Weight {@code F·s²}, the exact objective of the paper's Eq. 7 (our default). */
    FISHER_SCALED;

    /**
     * The k-means weight of one element with Fisher value {@code fisher} and vector scale {@code scale}.
     *
     * @param fisher the element's squared gradient
     * @param scale the per-vector scale s of the element
     * @return the element's weight in the k-means objective
     */
    public float weight(float fisher, float scale) {
        return switch (this) {
            case UNWEIGHTED -> 1f;
            case FISHER -> fisher;
            case FISHER_SCALED -> fisher * scale * scale;
        };
    }
}
