package dev.kvq.bench;

import java.util.Arrays;

/** The benchmarks' one timing helper: wall times of repeated runs after warm-up, and their median. */
public final class Timing {
    private Timing() {}

    /**
     * The median of {@code values}: the middle one, or the mean of the two middle ones.
     *
     * @param values at least one value (not changed)
     * @return the median
     */
    public static double median(double[] values) {
        if (values.length == 0) {
            throw new IllegalArgumentException("the median of no values");
        }
        double[] s = values.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    /**
     * Runs {@code body} {@code warmup} times, then {@code repeat} times timed.
     *
     * @param body   what is timed
     * @param warmup untimed runs
     * @param repeat timed runs
     * @return the wall time of each timed run, in ms
     */
    public static double[] wallMs(Runnable body, int warmup, int repeat) {
        for (int i = 0; i < warmup; i++) {
            body.run();
        }
        double[] ms = new double[repeat];
        for (int i = 0; i < repeat; i++) {
            long t0 = System.nanoTime();
            body.run();
            ms[i] = (System.nanoTime() - t0) / 1e6;
        }
        return ms;
    }

    /**
     * The median wall time of {@code repeat} runs of {@code body} after {@code warmup} untimed ones.
     *
     * @param body   what is timed
     * @param warmup untimed runs
     * @param repeat timed runs, at least 1
     * @return ms
     */
    public static double medianWallMs(Runnable body, int warmup, int repeat) {
        return median(wallMs(body, warmup, repeat));
    }
}
