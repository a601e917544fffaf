package dev.kvq.cache;

import static dev.kvq.cache.CacheFixtures.calibration;
import static dev.kvq.cache.CacheFixtures.randomQuery;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.kvq.engine.cpu.OffHeapGauge;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.layout.PageLayout;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.QuantSpec;
import dev.kvq.quant.SyntheticActivations;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Closing under use, two threads on one cache, a pool closed while its sequences append, a contended budget. */
class CloseAndContentionTest {
    private static final AttentionShape SHAPE = new AttentionShape(1, 8, 4, 16);
    private static final QuantSpec SPEC = QuantSpec.parse("nuq3-1%");
    private static final Calibration CAL = calibration(SHAPE, SPEC, 700);
    private static final int D = SHAPE.kvChannels();

    /** Starts the threads, waits for them (fails with a thread dump after 60 s), and rethrows failures. */
    private static void runAll(List<Thread> threads, Queue<Throwable> failures) throws InterruptedException {
        threads.forEach(Thread::start);
        for (Thread t : threads) {
            t.join(TimeUnit.SECONDS.toMillis(60));
            if (t.isAlive()) {
                fail(t.getName() + " still running after 60 s (deadlock?)\n" + ConcurrencyStressTest.threadDump());
            }
        }
        if (!failures.isEmpty()) {
            AssertionError e = new AssertionError(failures.size() + " unexpected failures");
            failures.forEach(e::addSuppressed);
            throw e;
        }
    }

    @Test
    void closingWhileAnotherThreadAttendsEndsItsCallsWithIllegalStateOnly() throws Exception {
        long arenas = OffHeapGauge.liveArenas();
        long bytes = OffHeapGauge.liveBytes();
        for (int round = 0; round < 20; round++) {
            KvCache cache = KvCache.open(SHAPE, SPEC, CAL, Backend.cpu(), 64);
            cache.append(0, SyntheticActivations.keys(round, 3000, D), SyntheticActivations.values(round, 3000, D));
            Queue<Throwable> failures = new ConcurrentLinkedQueue<>();
            AtomicInteger completed = new AtomicInteger();
            CountDownLatch started = new CountDownLatch(1);
            Thread user = new Thread(() -> {
                float[] q = randomQuery(SHAPE, 1);
                float[] out = new float[q.length];
                try {
                    while (true) {
                        cache.attend(0, q, out);
                        cache.append(0, SyntheticActivations.keys(7, 1, D), SyntheticActivations.values(8, 1, D));
                        completed.incrementAndGet();
                        started.countDown();
                    }
                } catch (IllegalStateException e) {
                    if (!e.getMessage().equals("the KV cache is closed")) {
                        failures.add(e);
                    }
                } catch (Throwable e) {
                    failures.add(e);
                }
            }, "user-" + round);
            Thread closer = new Thread(() -> {
                try {
                    started.await();
                    cache.close();
                } catch (Throwable e) {
                    failures.add(e);
                }
            }, "closer-" + round);
            runAll(List.of(user, closer), failures);
            assertTrue(cache.isClosed());
            assertTrue(completed.get() > 0);
        }
        assertEquals(arenas, OffHeapGauge.liveArenas());
        assertEquals(bytes, OffHeapGauge.liveBytes());
    }

    @Test
    void twoThreadsOnOneCacheAreSerializedNotInterleaved() throws Exception {
        try (KvCache cache = KvCache.open(SHAPE, SPEC, CAL, Backend.cpu(), 32)) {
            Queue<Throwable> failures = new ConcurrentLinkedQueue<>();
            List<Thread> threads = new ArrayList<>();
            for (int w = 0; w < 4; w++) {
                int seed = w;
                threads.add(new Thread(() -> {
                    try {
                        float[] q = randomQuery(SHAPE, seed);
                        float[] out = new float[q.length];
                        for (int i = 0; i < 150; i++) {
                            cache.append(0, SyntheticActivations.keys(seed, 1, D), SyntheticActivations.values(seed, 1, D));
                            cache.attend(0, q, out);
                            for (float x : out) {
                                if (!Float.isFinite(x)) {
                                    throw new AssertionError("non-finite output " + x);
                                }
                            }
                        }
                    } catch (Throwable e) {
                        failures.add(e);
                    }
                }));
            }
            runAll(threads, failures);
            assertEquals(600, cache.length(0));
            // every stored token is exactly one worker's token (values are quantized per token, so the
            // packed form does not depend on the position): the concurrent appends never mixed writes
            float[][] packed = new float[4][];
            for (int w = 0; w < 4; w++) {
                try (KvCache probe = KvCache.open(SHAPE, SPEC, CAL, Backend.cpu(), 32)) {
                    probe.append(0, new float[D], new float[D]);   // position 0 is the fp16 sink
                    probe.append(0, SyntheticActivations.keys(w, 1, D), SyntheticActivations.values(w, 1, D));
                    packed[w] = java.util.Arrays.copyOfRange(probe.decodeValues(0), D, 2 * D);
                }
            }
            float[] decoded = cache.decodeValues(0);
            int[] perWorker = new int[4];
            for (int t = 1; t < 600; t++) {
                float[] token = java.util.Arrays.copyOfRange(decoded, t * D, (t + 1) * D);
                int owner = -1;
                for (int w = 0; w < 4; w++) {
                    if (java.util.Arrays.equals(token, packed[w])) {
                        owner = w;
                    }
                }
                assertTrue(owner >= 0, "token " + t + " is no worker's token");
                perWorker[owner]++;
            }
            assertEquals(599, java.util.Arrays.stream(perWorker).sum());
            for (int w = 0; w < 4; w++) {
                assertTrue(perWorker[w] >= 149, "worker " + w + " has " + perWorker[w] + " packed tokens");
            }
        }
    }

    @Test
    void closingThePoolWhileSequencesAppendLeavesNothingBehind() throws Exception {
        long arenas = OffHeapGauge.liveArenas();
        long bytes = OffHeapGauge.liveBytes();
        KvCachePool pool = KvCachePool.open(SHAPE, SPEC, CAL, Backend.cpu(), 1L << 30, 32);
        Queue<Throwable> failures = new ConcurrentLinkedQueue<>();
        CountDownLatch going = new CountDownLatch(4);
        List<Thread> threads = new ArrayList<>();
        for (int w = 0; w < 4; w++) {
            int seed = w;
            threads.add(new Thread(() -> {
                try {
                    while (true) {
                        KvCache c = pool.newSequence();
                        for (int i = 0; i < 100; i++) {
                            c.append(0, SyntheticActivations.keys(seed, 7, D), SyntheticActivations.values(seed, 7, D));
                            if (i == 50) {
                                going.countDown();
                            }
                        }
                        if (seed % 2 == 0) {
                            c.close();   // half the workers close their sequences, half leave them to the pool
                        }
                    }
                } catch (IllegalStateException e) {
                    if (!e.getMessage().contains("is closed")) {
                        failures.add(e);
                    }
                } catch (Throwable e) {
                    failures.add(e);
                }
            }));
        }
        threads.add(new Thread(() -> {
            try {
                going.await();
                pool.close();
            } catch (Throwable e) {
                failures.add(e);
            }
        }));
        runAll(threads, failures);
        assertEquals(0, pool.openSequences());
        assertEquals(0, pool.reservedBytes());
        assertEquals(arenas, OffHeapGauge.liveArenas(), "arenas left open");
        assertEquals(bytes, OffHeapGauge.liveBytes(), "bytes left allocated");
    }

    @Test
    void aContendedBudgetIsNeverOverdrawnAndReturnsToZero() throws Exception {
        long page = new PageLayout(SHAPE, SPEC, 32).pageBytes();
        long budget = 50 * page;
        try (KvCachePool pool = KvCachePool.open(SHAPE, SPEC, CAL, Backend.cpu(), budget, 32)) {
            Queue<Throwable> failures = new ConcurrentLinkedQueue<>();
            List<KvCache> caches = new ArrayList<>();
            List<Thread> threads = new ArrayList<>();
            AtomicInteger rejected = new AtomicInteger();
            for (int w = 0; w < 8; w++) {
                KvCache c = pool.newSequence();
                caches.add(c);
                int seed = w;
                threads.add(new Thread(() -> {
                    try {
                        while (true) {
                            int before = c.length(0);
                            try {
                                c.append(0, SyntheticActivations.keys(seed, 13, D), SyntheticActivations.values(seed, 13, D));
                            } catch (CacheBudgetExceededException e) {
                                assertEquals(before, c.length(0), "a rejected append changed the length");
                                rejected.incrementAndGet();
                                return;
                            }
                            assertTrue(pool.reservedBytes() <= budget, "budget overdrawn");
                        }
                    } catch (Throwable e) {
                        failures.add(e);
                    }
                }));
            }
            runAll(threads, failures);
            assertEquals(8, rejected.get());
            long sum = 0;
            for (KvCache c : caches) {
                sum += c.reservedBytes();
                // the reservation covers exactly what is allocated (pages, sinks, sparse chunks)
                assertEquals(c.allocatedBytes(), c.reservedBytes());
            }
            assertEquals(sum, pool.reservedBytes());
            assertTrue(sum <= budget && sum > budget - 8 * page, "used " + sum + " of " + budget);
            caches.forEach(KvCache::close);
            assertEquals(0, pool.reservedBytes());
        }
    }
}
