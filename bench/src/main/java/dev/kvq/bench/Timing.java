package dev.kvq.bench;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Arrays;

/**
 * The benchmarks' one timing helper: wall times of repeated runs after warm-up, and their median; also
 * the CPU time of each run summed over the JVM's threads, which time slices lost to other processes on
 * a shared machine do not inflate (it still counts stalls on memory that neighbours share).
 */
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
     * Medians of one measurement.
     *
     * @param wallMs median wall time, ms
     * @param cpuMs  median CPU time of a run summed over the JVM's live threads, ms (a run on several
     *               threads has a CPU time above its wall time)
     */
    public record Medians(double wallMs, double cpuMs) {}

    /** CPU time of every live thread of the JVM, in ns (per-thread clocks: no tick granularity). */
    private static long threadsCpuNanos() {
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        long sum = 0;
        for (long id : threads.getAllThreadIds()) {
            sum += Math.max(0, threads.getThreadCpuTime(id));   // −1 for a thread that ended meanwhile
        }
        return sum;
    }

    /**
     * The median wall and CPU times of {@code repeat} runs of {@code body} after {@code warmup}
     * untimed ones.
     *
     * @param body   what is timed
     * @param warmup untimed runs
     * @param repeat timed runs, at least 1
     * @return the medians
     */
    public static Medians medians(Runnable body, int warmup, int repeat) {
        for (int i = 0; i < warmup; i++) {
            body.run();
        }
        double[] wall = new double[repeat];
        double[] cpu = new double[repeat];
        for (int i = 0; i < repeat; i++) {
            long c0 = threadsCpuNanos();
            long t0 = System.nanoTime();
            body.run();
            wall[i] = (System.nanoTime() - t0) / 1e6;
            cpu[i] = (threadsCpuNanos() - c0) / 1e6;
        }
        return new Medians(median(wall), median(cpu));
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
