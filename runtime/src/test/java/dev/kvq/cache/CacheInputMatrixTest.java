package dev.kvq.cache;

import static dev.kvq.cache.CacheFixtures.calibration;
import static dev.kvq.cache.CacheFixtures.randomQuery;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.engine.cpu.OffHeapGauge;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.layout.PageLayout;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.QuantSpec;
import dev.kvq.quant.SyntheticActivations;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * The input matrix of {@link KvCache} and {@link KvCachePool} (docs/RELIABILITY.md): every bad input
 * gets an exception whose message names the problem, and leaves every cache exactly as it was.
 */
class CacheInputMatrixTest {
    private static final AttentionShape SHAPE = new AttentionShape(2, 4, 2, 16);
    private static final QuantSpec SPEC = QuantSpec.parse("nuq3-1%");
    private static final Calibration CAL = calibration(SHAPE, SPEC, 900);
    private static final int D = SHAPE.kvChannels();
    private static final int Q = SHAPE.queryHeads() * SHAPE.headDim();

    /** Everything observable about a cache: lengths, memory, every page's bytes, decoded K/V, attention. */
    private record State(List<Object> parts) {
        static State of(KvCache c) {
            List<Object> p = new ArrayList<>();
            p.add(c.memory());
            for (int l = 0; l < c.shape().layers(); l++) {
                int n = c.length(l);
                p.add(n);
                p.add(floatList(c.decodeKeys(l)));
                p.add(floatList(c.decodeValues(l)));
                for (int pg = 0; ; pg++) {
                    try {
                        p.add(byteList(c.pageBytes(l, pg).toArray(ValueLayout.JAVA_BYTE)));
                    } catch (IllegalArgumentException end) {
                        break;
                    }
                }
                if (n > 0) {
                    float[] out = new float[Q];
                    c.attend(l, randomQuery(c.shape(), 5), out);
                    p.add(floatList(out));
                }
            }
            return new State(p);
        }

        private static List<Integer> floatList(float[] a) {
            List<Integer> l = new ArrayList<>(a.length);
            for (float x : a) {
                l.add(Float.floatToRawIntBits(x));
            }
            return l;
        }

        private static List<Byte> byteList(byte[] a) {
            List<Byte> l = new ArrayList<>(a.length);
            for (byte x : a) {
                l.add(x);
            }
            return l;
        }
    }

    /** A cache holding 40 tokens in layer 0 (1 sink, 39 packed: two 32-token pages) and none in layer 1. */
    private static KvCache filled() {
        KvCache c = KvCache.open(SHAPE, SPEC, CAL, Backend.cpu(), 32);
        c.append(0, SyntheticActivations.keys(1, 40, D), SyntheticActivations.values(2, 40, D));
        return c;
    }

    /** Runs {@code call}, expects {@code type} with {@code excerpt} in the message, and no change to {@code cache}. */
    private static <T extends Throwable> T rejects(KvCache cache, Class<T> type, String excerpt, Executable call) {
        State before = State.of(cache);
        T e = assertThrows(type, call);
        assertTrue(e.getMessage() != null && e.getMessage().contains(excerpt),
                "message '" + e.getMessage() + "' lacks '" + excerpt + "'");
        assertEquals(before, State.of(cache), "the rejected call changed the cache");
        return e;
    }

    private static float[] withAt(float[] a, int i, float x) {
        float[] b = a.clone();
        b[i] = x;
        return b;
    }

    @Test
    void appendRejectsBadShapesLayersAndNumbers() {
        try (KvCache c = filled()) {
            float[] k = SyntheticActivations.keys(3, 5, D);
            float[] v = SyntheticActivations.values(4, 5, D);
            rejects(c, IllegalArgumentException.class, "layer 2 is out of range [0, 2)", () -> c.append(2, k, v));
            rejects(c, IllegalArgumentException.class, "layer -1 is out of range", () -> c.append(-1, k, v));
            rejects(c, IllegalArgumentException.class, "must not be null", () -> c.append(0, null, v));
            rejects(c, IllegalArgumentException.class, "must not be null", () -> c.append(0, k, null));
            rejects(c, IllegalArgumentException.class, "keys have 0 elements, expected a positive multiple of 32",
                    () -> c.append(0, new float[0], new float[0]));
            rejects(c, IllegalArgumentException.class, "keys have 33 elements",
                    () -> c.append(0, new float[D + 1], new float[D + 1]));
            rejects(c, IllegalArgumentException.class, "values have 64 elements, keys 32",
                    () -> c.append(0, new float[D], new float[2 * D]));
            rejects(c, IllegalArgumentException.class, "keys holds NaN at index " + (4 * D + 1),
                    () -> c.append(0, withAt(k, 4 * D + 1, Float.NaN), v));
            rejects(c, IllegalArgumentException.class, "values holds Infinity at index 0",
                    () -> c.append(0, k, withAt(v, 0, Float.POSITIVE_INFINITY)));
            rejects(c, IllegalArgumentException.class, "keys holds -Infinity at index 7",
                    () -> c.append(0, withAt(k, 7, Float.NEGATIVE_INFINITY), v));
            rejects(c, IllegalArgumentException.class, "outside the fp16 range",
                    () -> c.append(1, withAt(k, 3, 1e6f), v));
            rejects(c, IllegalArgumentException.class, "outside the fp16 range",
                    () -> c.append(1, k, withAt(v, 3, -65520f)));
        }
    }

    @Test
    void appendFromSegmentsRejectsBadSegments() {
        try (KvCache c = filled(); Arena arena = Arena.ofConfined()) {
            MemorySegment k = arena.allocate(4L * D * 3);
            MemorySegment v = arena.allocate(4L * D * 3);
            rejects(c, IllegalArgumentException.class, "must not be null", () -> c.append(0, null, v, 1));
            rejects(c, IllegalArgumentException.class, "cannot hold 0 tokens", () -> c.append(0, k, v, 0));
            rejects(c, IllegalArgumentException.class, "cannot hold 4 tokens", () -> c.append(0, k, v, 4));
            rejects(c, IllegalArgumentException.class, "exceed the largest Java array",
                    () -> c.append(0, k, v, Integer.MAX_VALUE / 8));
            rejects(c, IllegalArgumentException.class, "layer 5 is out of range", () -> c.append(5, k, v, 1));
            k.set(ValueLayout.JAVA_FLOAT, 8, Float.NaN);
            rejects(c, IllegalArgumentException.class, "keys holds NaN at index 2", () -> c.append(0, k, v, 3));
        }
    }

    @Test
    void appendBeyondTheLongestSequenceIsRejected() {
        try (KvCache c = KvCache.open(SHAPE, SPEC, CAL, Backend.cpu(), 32, KvCache.MAX_POSITION - 20)) {
            c.append(0, SyntheticActivations.keys(5, 10, D), SyntheticActivations.values(6, 10, D));
            rejects(c, IllegalArgumentException.class, "would exceed the longest supported sequence (10 + 11 tokens",
                    () -> c.append(0, SyntheticActivations.keys(7, 11, D), SyntheticActivations.values(8, 11, D)));
            c.append(0, SyntheticActivations.keys(7, 10, D), SyntheticActivations.values(8, 10, D));
            assertEquals(20, c.length(0));
        }
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> KvCache.open(SHAPE, SPEC, CAL, Backend.cpu(), 32, KvCache.MAX_POSITION + 1))
                .getMessage().contains("first position must be in [0, 536870911]"));
        assertThrows(IllegalArgumentException.class, () -> KvCache.open(SHAPE, SPEC, CAL, Backend.cpu(), 32, -1));
    }

    @Test
    void attentionCallsRejectBadQueriesOutputsAndLayers() {
        try (KvCache c = filled()) {
            float[] q = randomQuery(SHAPE, 9);
            float[] out = new float[Q];
            rejects(c, IllegalArgumentException.class, "query has 3 elements, expected 64 (queryHeads × headDim)",
                    () -> c.attend(0, new float[3], out));
            rejects(c, IllegalArgumentException.class, "query has no elements", () -> c.attend(0, null, out));
            rejects(c, IllegalArgumentException.class, "query holds NaN at index 5",
                    () -> c.attend(0, withAt(q, 5, Float.NaN), out));
            rejects(c, IllegalArgumentException.class, "query holds -Infinity at index 0",
                    () -> c.attend(0, withAt(q, 0, Float.NEGATIVE_INFINITY), out));
            rejects(c, IllegalArgumentException.class, "output has 63 elements", () -> c.attend(0, q, new float[Q - 1]));
            rejects(c, IllegalArgumentException.class, "layer 7 is out of range", () -> c.attend(7, q, out));
            rejects(c, IllegalStateException.class, "layer 1 is empty", () -> c.attend(1, q, out));
            float[] huge = new float[Q];
            java.util.Arrays.fill(huge, 3e38f);
            float[] untouched = new float[Q];
            rejects(c, IllegalArgumentException.class, "attention scores overflow fp32",
                    () -> c.attend(0, huge, untouched));
            assertArrayEquals(new float[Q], untouched, "no partial output");

            rejects(c, IllegalArgumentException.class, "scores need 160 elements (queryHeads × length), got 10",
                    () -> c.keyScores(0, q, new float[10]));
            rejects(c, IllegalArgumentException.class, "scores need", () -> c.keyScores(0, q, null));
            rejects(c, IllegalStateException.class, "layer 1 is empty", () -> c.keyScores(1, q, new float[4]));
            float[] weights = new float[4 * 40];
            rejects(c, IllegalArgumentException.class, "weights need 160 elements", () -> c.valueMatvec(0, new float[159], out));
            rejects(c, IllegalArgumentException.class, "weights holds NaN at index 17",
                    () -> c.valueMatvec(0, withAt(weights, 17, Float.NaN), out));
            rejects(c, IllegalArgumentException.class, "output has no elements", () -> c.valueMatvec(0, weights, null));
            rejects(c, IllegalStateException.class, "layer 1 is empty", () -> c.valueMatvec(1, weights, out));
        }
    }

    @Test
    void inspectionRejectsBadLayersAndPages() {
        try (KvCache c = filled()) {
            rejects(c, IllegalArgumentException.class, "layer 2 is out of range", () -> c.length(2));
            rejects(c, IllegalArgumentException.class, "layer -3 is out of range", () -> c.decodeKeys(-3));
            rejects(c, IllegalArgumentException.class, "layer 2 is out of range", () -> c.decodeValues(2));
            rejects(c, IllegalArgumentException.class, "layer 0 has 2 pages, no page 2", () -> c.pageBytes(0, 2));
            rejects(c, IllegalArgumentException.class, "no page -1", () -> c.pageBytes(0, -1));
        }
    }

    @Test
    void openRejectsBadSetupsAndAllocatesNothing() {
        long arenas = OffHeapGauge.liveArenas();
        assertMessage("shape, spec and backend must not be null", () -> KvCache.open(null, SPEC, CAL, Backend.cpu()));
        assertMessage("shape, spec and backend must not be null", () -> KvCache.open(SHAPE, null, CAL, Backend.cpu()));
        assertMessage("shape, spec and backend must not be null", () -> KvCache.open(SHAPE, SPEC, CAL, null));
        assertMessage("nuq3-1% needs a calibration", () -> KvCache.open(SHAPE, SPEC, null, Backend.cpu()));
        assertMessage("3-bit codebooks", () -> KvCache.open(SHAPE, QuantSpec.parse("nuq4-1%"), CAL, Backend.cpu()));
        assertMessage("calibration is for 2 layers", () -> KvCache.open(new AttentionShape(3, 4, 2, 16), SPEC, CAL,
                Backend.cpu()));
        assertMessage("page size must be a positive multiple of 32 tokens, got 48",
                () -> KvCache.open(SHAPE, SPEC, CAL, Backend.cpu(), 48));
        assertMessage("page size must be a positive multiple of 32 tokens, got 0",
                () -> KvCache.open(SHAPE, SPEC, CAL, Backend.cpu(), 0));
        assertMessage("page size 131072 exceeds 65536 tokens", () -> KvCache.open(SHAPE, SPEC, CAL, Backend.cpu(), 1 << 17));
        assertMessage("calibration thresholds are for 1.0% outliers, the cache asks for nuq3-45%", () -> KvCache.open(SHAPE, QuantSpec.nuq(3).outliers(0.45), CAL,
                Backend.cpu()));
        assertEquals(arenas, OffHeapGauge.liveArenas(), "a rejected open allocated an arena");
    }

    private static void assertMessage(String excerpt, Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(excerpt), "message '" + e.getMessage() + "' lacks '" + excerpt + "'");
    }

    @Test
    void everyCallOnAClosedCacheThrowsIllegalStateAndCloseIsIdempotent() {
        long arenas = OffHeapGauge.liveArenas();
        long bytes = OffHeapGauge.liveBytes();
        KvCache c = filled();
        assertEquals(arenas + 1, OffHeapGauge.liveArenas());
        assertTrue(c.allocatedBytes() > 0);
        assertEquals(bytes + c.allocatedBytes(), OffHeapGauge.liveBytes());
        MemorySegment page = c.pageBytes(0, 0);
        c.close();
        c.close();
        assertTrue(c.isClosed());
        assertEquals(arenas, OffHeapGauge.liveArenas(), "the arena was closed");
        assertEquals(bytes, OffHeapGauge.liveBytes(), "every page was freed");
        assertEquals(0, c.allocatedBytes());
        float[] q = new float[Q];
        List<Executable> calls = List.of(
                () -> c.length(0),
                () -> c.append(0, new float[D], new float[D]),
                () -> c.append(0, MemorySegment.ofArray(new float[D]), MemorySegment.ofArray(new float[D]), 1),
                () -> c.attend(0, q, new float[Q]),
                () -> c.keyScores(0, q, new float[Q * 40]),
                () -> c.valueMatvec(0, new float[4 * 40], new float[Q]),
                c::memory,
                () -> c.decodeKeys(0),
                () -> c.decodeValues(0),
                () -> c.pageBytes(0, 0));
        for (Executable call : calls) {
            assertEquals("the KV cache is closed", assertThrows(IllegalStateException.class, call).getMessage());
        }
        // a page handed out before the close is no dangling pointer: reading it throws, never crashes
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> page.get(ValueLayout.JAVA_INT, 0));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        assertEquals(SHAPE, c.shape(), "the description stays readable");
    }

    @Test
    void poolRejectsBadSetupsClosedUseAndOverBudgetAppendsLeavingEverySequenceAsItWas() {
        long page = new PageLayout(SHAPE, SPEC, 32).pageBytes();
        assertMessage("pool budget must be positive, got 0 bytes",
                () -> KvCachePool.open(SHAPE, SPEC, CAL, Backend.cpu(), 0));
        assertMessage("pool budget must be positive, got -5 bytes",
                () -> KvCachePool.open(SHAPE, SPEC, CAL, Backend.cpu(), -5, 32));
        assertMessage("page size must be a positive multiple of 32 tokens, got 33",
                () -> KvCachePool.open(SHAPE, SPEC, CAL, Backend.cpu(), 1 << 20, 33));
        assertMessage("needs a calibration", () -> KvCachePool.open(SHAPE, SPEC, null, Backend.cpu(), 1 << 20));

        long arenas = OffHeapGauge.liveArenas();
        long bytes = OffHeapGauge.liveBytes();
        KvCachePool pool = KvCachePool.open(SHAPE, SPEC, CAL, Backend.cpu(), 4 * page, 32);
        KvCache a = pool.newSequence();
        KvCache b = pool.newSequence();
        a.append(0, SyntheticActivations.keys(1, 40, D), SyntheticActivations.values(2, 40, D));
        b.append(0, SyntheticActivations.keys(3, 20, D), SyntheticActivations.values(4, 20, D));
        long reserved = pool.reservedBytes();
        State stateA = State.of(a);
        // 5 more pages than the budget has: rejected whole, neither sequence nor the pool changes
        CacheBudgetExceededException e = rejects(b, CacheBudgetExceededException.class, "the pool budget of " + 4 * page,
                () -> b.append(0, SyntheticActivations.keys(5, 200, D), SyntheticActivations.values(6, 200, D)));
        assertTrue(e.getMessage().contains("appending 200 tokens to layer 0 needs"), e.getMessage());
        assertEquals(reserved, pool.reservedBytes());
        assertEquals(stateA, State.of(a));

        pool.close();
        pool.close();
        assertTrue(pool.isClosed() && a.isClosed() && b.isClosed());
        assertEquals(0, pool.reservedBytes(), "reservations returned");
        assertEquals(0, pool.openSequences());
        assertEquals(arenas, OffHeapGauge.liveArenas());
        assertEquals(bytes, OffHeapGauge.liveBytes());
        assertEquals("the KV cache pool is closed", assertThrows(IllegalStateException.class, pool::newSequence)
                .getMessage());
        assertEquals("the KV cache pool is closed", assertThrows(IllegalStateException.class, pool::memory)
                .getMessage());
        assertEquals("the KV cache is closed", assertThrows(IllegalStateException.class,
                () -> a.append(0, new float[D], new float[D])).getMessage());
        assertFalse(pool.budgetBytes() <= 0);
    }
}
