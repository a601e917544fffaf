package dev.kvq.eval;

import java.util.concurrent.atomic.LongAdder;

/**
 * Key tokens quantized and key outliers stored during an evaluation (windows run in parallel): the
 * measured outlier rate that the bits of the token-major sparse form are counted with.
 */
public final class OutlierTally {
    private final LongAdder tokens = new LongAdder();
    private final LongAdder outliers = new LongAdder();

    /** An empty tally. */
    public OutlierTally() {}

    /**
     * Records one layer's window.
     *
     * @param quantizedTokens key tokens quantized
     * @param keyOutliers key outliers stored for them
     */
    public void add(long quantizedTokens, long keyOutliers) {
        tokens.add(quantizedTokens);
        outliers.add(keyOutliers);
    }

    /**
     * Key outliers stored per quantized token.
     *
     * @return the mean; 0 when nothing was recorded
     */
    public double keyOutliersPerToken() {
        long t = tokens.sum();
        return t == 0 ? 0 : (double) outliers.sum() / t;
    }
}
