package dev.kvq.engine.cpu;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinWorkerThread;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The threads one CPU engine runs its decode work on: the calling thread plus {@code threads − 1}
 * helpers of a {@link ForkJoinPool} (none for one thread). Work comes as numbered tasks whose results
 * do not depend on which thread ran them, so the caller decides the split points and the merge order
 * and the thread count never changes a result.
 */
public final class CpuThreads implements AutoCloseable {
    /** The system property that sets the default thread count ({@link #resolve}). */
    public static final String PROPERTY = "kvq.threads";
    /** Upper bound of a thread count (a typo such as 1000 fails instead of starting 999 threads). */
    public static final int MAX_THREADS = 256;

    /** One task: {@code runner} (0 = the caller, below {@link #threads()}) picks the scratch it may use. */
    @FunctionalInterface
    interface Task {
        void run(int task, int runner);
    }

    private final int threads;
    private final ForkJoinPool helpers;   // threads − 1 workers; null for one thread

    /**
     * Threads for an engine.
     *
     * @param requested the caller's count, or 0 for the default ({@link #resolve})
     */
    CpuThreads(int requested) {
        this.threads = resolve(requested);
        AtomicInteger named = new AtomicInteger();
        this.helpers = threads == 1 ? null : new ForkJoinPool(threads - 1, pool -> {
            ForkJoinWorkerThread t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(pool);
            t.setName("kvq-decode-" + named.incrementAndGet());
            return t;
        }, null, false);
    }

    /**
     * The thread count: {@code requested} when positive, else {@code setting} (the value of {@value
     * #PROPERTY}) when given, else the available processors.
     */
    static int resolve(int requested, String setting) {
        requireValid(requested);
        if (requested > 0) {
            return requested;
        }
        if (setting == null || setting.isBlank()) {
            return Math.max(1, Runtime.getRuntime().availableProcessors());
        }
        int n;
        try {
            n = Integer.parseInt(setting.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(PROPERTY + " must be a thread count, got '" + setting + "'");
        }
        if (n < 1 || n > MAX_THREADS) {
            throw new IllegalArgumentException(PROPERTY + " must be in [1, " + MAX_THREADS + "], got " + n);
        }
        return n;
    }

    /**
     * Checks a requested thread count.
     *
     * @param requested 1 to {@value #MAX_THREADS}, or 0 for the default
     * @throws IllegalArgumentException otherwise, naming the range
     */
    public static void requireValid(int requested) {
        if (requested < 0 || requested > MAX_THREADS) {
            throw new IllegalArgumentException("CPU threads must be in [1, " + MAX_THREADS + "] (0 = default), got "
                    + requested);
        }
    }

    /**
     * The thread count a request resolves to: {@code requested} when positive, else the value of
     * {@value #PROPERTY} when set, else the available processors.
     *
     * @param requested 1 to {@value #MAX_THREADS}, or 0 for the default
     * @return at least 1
     * @throws IllegalArgumentException for a count out of range or a bad {@value #PROPERTY}
     */
    public static int resolve(int requested) {
        return resolve(requested, System.getProperty(PROPERTY));
    }

    /** Runners a {@link #run} may use: the caller and the helpers. */
    int threads() {
        return threads;
    }

    /**
     * Runs tasks {@code [0, tasks)}, each exactly once, on the caller and up to {@code threads − 1}
     * helpers, and returns when all are done. Runners pull task numbers in order from one counter, so
     * a helper that starts late finds nothing left and touches nothing. The first exception a task
     * throws is rethrown here (the remaining tasks are skipped).
     */
    void run(int tasks, Task task) {
        int extra = helpers == null ? 0 : Math.min(threads - 1, tasks - 1);
        if (extra <= 0) {
            for (int t = 0; t < tasks; t++) {
                task.run(t, 0);
            }
            return;
        }
        AtomicInteger next = new AtomicInteger();
        AtomicInteger runners = new AtomicInteger(1);
        CountDownLatch done = new CountDownLatch(tasks);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        for (int i = 0; i < extra; i++) {
            helpers.execute(() -> drain(tasks, task, next, runners.getAndIncrement(), done, failure));
        }
        drain(tasks, task, next, 0, done, failure);
        boolean interrupted = false;
        while (true) {
            try {
                done.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;   // the helpers still write into the caller's buffers: wait for them
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        Throwable f = failure.get();
        if (f instanceof RuntimeException r) {
            throw r;
        }
        if (f instanceof Error e) {
            throw e;
        }
        if (f != null) {
            throw new IllegalStateException(f);
        }
    }

    private static void drain(int tasks, Task task, AtomicInteger next, int runner, CountDownLatch done,
                              AtomicReference<Throwable> failure) {
        for (int t; (t = next.getAndIncrement()) < tasks; ) {
            try {
                if (failure.get() == null) {
                    task.run(t, runner);
                }
            } catch (Throwable e) {
                failure.compareAndSet(null, e);
            } finally {
                done.countDown();
            }
        }
    }

    @Override
    public void close() {
        if (helpers != null) {
            helpers.shutdown();
        }
    }
}
