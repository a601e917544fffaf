package dev.kvq.cache;

import static dev.kvq.cache.CacheFixtures.calibration;
import static dev.kvq.cache.CacheFixtures.randomQuery;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.kvq.engine.cpu.OffHeapGauge;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.QuantSpec;
import dev.kvq.quant.SyntheticActivations;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.CRC32;
import org.junit.jupiter.api.Test;

/**
 * 8 threads drive 64 sequences of one pool in a random interleaving (open, append, attend, close);
 * every sequence's attention outputs must equal, bit for bit, a run of the same scripts one after
 * the other on one thread, and afterwards no arena, byte or reservation may be left.
 */
class ConcurrencyStressTest {
    // stories260K-like heads at D = 64 channels; 64-token pages, so 2K tokens span 32 pages per layer
    private static final AttentionShape SHAPE = new AttentionShape(2, 8, 4, 16);
    private static final QuantSpec SPEC = QuantSpec.parse("nuq3-1%");
    private static final int PAGE = 64;
    private static final int SEQUENCES = 64;
    private static final int THREADS = 8;
    private static final int TOKENS = 2048;
    private static final long BUDGET = 1L << 30;

    private sealed interface Step permits Open, Append, Attend, Close {}

    private record Open() implements Step {}

    private record Append(int layer, long seed, int tokens) implements Step {}

    private record Attend(int layer, long seed) implements Step {}

    private record Close() implements Step {}

    /**
     * The script of one sequence, fixed by its index: a prefill, then decode steps and short chunks,
     * an attend on every layer after each chunk; every eighth sequence is abandoned half-way.
     */
    private static List<Step> script(int sequence) {
        SplittableRandom random = new SplittableRandom(1000 + sequence);
        List<Step> steps = new ArrayList<>();
        steps.add(new Open());
        int length = sequence % 8 == 5 ? TOKENS / 2 : TOKENS;
        int stored = 0;
        int chunk = 0;
        while (stored < length) {
            int n = chunk == 0 ? 1 + random.nextInt(300) : random.nextInt(3) == 0 ? 1 + random.nextInt(64) : 1;
            n = Math.min(n, length - stored);
            for (int layer = 0; layer < SHAPE.layers(); layer++) {
                steps.add(new Append(layer, (long) sequence << 32 | (long) chunk << 4 | layer, n));
            }
            stored += n;
            chunk++;
            // attending after every decode token would make the test attention-bound; every few is enough
            if (n > 1 || chunk % 8 == 0 || stored == length) {
                for (int layer = 0; layer < SHAPE.layers(); layer++) {
                    steps.add(new Attend(layer, (long) sequence << 32 | (long) chunk << 4 | layer));
                }
            }
        }
        steps.add(new Close());
        return steps;
    }

    /** One sequence's progress: its cache, the next step, and a CRC over the bits of every output. */
    private static final class Run {
        final int index;
        final List<Step> steps;
        final AtomicBoolean busy = new AtomicBoolean();
        int next;
        KvCache cache;
        final CRC32 outputs = new CRC32();
        int attends;
        int finalLength;

        Run(int index) {
            this.index = index;
            this.steps = script(index);
        }

        boolean done() {
            return next == steps.size();
        }

        void step(KvCachePool pool) {
            Step s = steps.get(next++);
            int d = SHAPE.kvChannels();
            switch (s) {
                case Open o -> cache = pool.newSequence();
                case Append a -> cache.append(a.layer(), SyntheticActivations.keys(a.seed(), a.tokens(), d),
                        SyntheticActivations.values(a.seed() ^ 0x55, a.tokens(), d));
                case Attend a -> {
                    float[] q = randomQuery(SHAPE, a.seed());
                    float[] out = new float[q.length];
                    cache.attend(a.layer(), q, out);
                    for (float x : out) {
                        int bits = Float.floatToRawIntBits(x);
                        outputs.update(bits);
                        outputs.update(bits >>> 8);
                        outputs.update(bits >>> 16);
                        outputs.update(bits >>> 24);
                    }
                    attends++;
                }
                case Close c -> {
                    finalLength = cache.length(0);
                    cache.close();
                    cache = null;
                }
            }
        }
    }

    @Test
    void eightThreadsOnSixtyFourSequencesEqualTheSequentialRunBitForBit() throws Exception {
        Calibration cal = calibration(SHAPE, SPEC, 500);
        long arenasBefore = OffHeapGauge.liveArenas();
        long bytesBefore = OffHeapGauge.liveBytes();

        long t0 = System.nanoTime();
        Run[] sequential = new Run[SEQUENCES];
        try (KvCachePool pool = KvCachePool.open(SHAPE, SPEC, cal, Backend.cpu(), BUDGET, PAGE)) {
            for (int i = 0; i < SEQUENCES; i++) {
                sequential[i] = new Run(i);
                while (!sequential[i].done()) {
                    sequential[i].step(pool);
                }
            }
            assertEquals(0, pool.reservedBytes());
        }
        long t1 = System.nanoTime();

        Run[] concurrent = new Run[SEQUENCES];
        for (int i = 0; i < SEQUENCES; i++) {
            concurrent[i] = new Run(i);
        }
        Queue<Throwable> failures = new ConcurrentLinkedQueue<>();
        AtomicInteger finished = new AtomicInteger();
        AtomicInteger maxOpen = new AtomicInteger();
        AtomicBoolean stop = new AtomicBoolean();
        try (KvCachePool pool = KvCachePool.open(SHAPE, SPEC, cal, Backend.cpu(), BUDGET, PAGE)) {
            ExecutorService workers = Executors.newFixedThreadPool(THREADS + 1);
            for (int w = 0; w < THREADS; w++) {
                long seed = 77 + w;
                workers.submit(() -> drive(pool, concurrent, finished, failures, new SplittableRandom(seed)));
            }
            // pool-wide reads from a ninth thread while the sequences change
            workers.submit(() -> {
                try {
                    while (!stop.get()) {
                        long reserved = pool.reservedBytes();
                        assertTrue(reserved >= 0 && reserved <= BUDGET, "reserved " + reserved);
                        assertTrue(pool.memory().totalBytes() >= 0);
                        maxOpen.accumulateAndGet(pool.openSequences(), Math::max);
                        Thread.sleep(1);
                    }
                } catch (Throwable e) {
                    failures.add(e);
                }
            });
            workers.shutdown();
            while (finished.get() < SEQUENCES && failures.isEmpty()) {
                if (System.nanoTime() - t1 > TimeUnit.SECONDS.toNanos(240)) {
                    fail("no progress in 240 s (deadlock?): " + finished.get() + " sequences finished\n" + threadDump());
                }
                Thread.sleep(20);
            }
            stop.set(true);
            if (!workers.awaitTermination(60, TimeUnit.SECONDS)) {
                fail("workers did not stop (deadlock?)\n" + threadDump());
            }
            if (!failures.isEmpty()) {
                AssertionError e = new AssertionError(failures.size() + " failures in the workers");
                failures.forEach(e::addSuppressed);
                throw e;
            }
            assertEquals(0, pool.openSequences(), "every sequence closed itself");
            assertEquals(0, pool.reservedBytes(), "reservations returned");
        }
        long t2 = System.nanoTime();

        int attends = 0;
        for (int i = 0; i < SEQUENCES; i++) {
            assertTrue(concurrent[i].done());
            assertEquals(sequential[i].attends, concurrent[i].attends, "sequence " + i);
            assertEquals(sequential[i].finalLength, concurrent[i].finalLength, "sequence " + i);
            assertEquals(sequential[i].outputs.getValue(), concurrent[i].outputs.getValue(),
                    "attention outputs of sequence " + i + " differ from the sequential run");
            attends += sequential[i].attends;
        }
        assertTrue(maxOpen.get() > 1, "the sequences overlapped in time (at most " + maxOpen.get() + " open)");
        assertEquals(arenasBefore, OffHeapGauge.liveArenas(), "arenas left open");
        assertEquals(bytesBefore, OffHeapGauge.liveBytes(), "off-heap bytes left allocated");
        System.out.printf("stress: %d sequences, %d attends; sequential %.1f s, %d threads %.1f s, up to %d open%n",
                SEQUENCES, attends, (t1 - t0) / 1e9, THREADS, (t2 - t1) / 1e9, maxOpen.get());
    }

    /** A worker: claims a random unfinished sequence, runs a few of its steps, lets it go. */
    private static void drive(KvCachePool pool, Run[] runs, AtomicInteger finished, Queue<Throwable> failures,
                              SplittableRandom random) {
        try {
            while (finished.get() < runs.length && failures.isEmpty()) {
                Run r = runs[random.nextInt(runs.length)];
                if (!r.busy.compareAndSet(false, true)) {
                    Thread.onSpinWait();
                    continue;
                }
                try {
                    // the busy flag's CAS and reset order each sequence's steps across threads
                    for (int k = 1 + random.nextInt(4); k > 0 && !r.done(); k--) {
                        r.step(pool);
                        if (r.done()) {
                            finished.incrementAndGet();
                        }
                    }
                } finally {
                    r.busy.set(false);
                }
                if (finished.get() > runs.length - THREADS) {
                    Thread.yield();  // few sequences left: do not spin the shared cores
                }
            }
        } catch (Throwable e) {
            failures.add(e);
        }
    }

    static String threadDump() {
        StringBuilder b = new StringBuilder();
        for (ThreadInfo info : ManagementFactory.getThreadMXBean().dumpAllThreads(true, true)) {
            b.append(info);
        }
        return b.toString();
    }
}
