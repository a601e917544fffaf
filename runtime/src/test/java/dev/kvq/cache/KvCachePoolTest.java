package dev.kvq.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.layout.PageLayout;
import dev.kvq.quant.QuantSpec;
import org.junit.jupiter.api.Test;

class KvCachePoolTest {
    private static final AttentionShape SHAPE = new AttentionShape(1, 4, 2, 32);

    @Test
    void budgetIsSharedAndAnAppendBeyondItIsRejectedWhole() {
        long page = new PageLayout(SHAPE, QuantSpec.fp16(), 32).pageBytes();
        try (KvCachePool pool = KvCachePool.open(SHAPE, QuantSpec.fp16(), null, Backend.cpu(), 3 * page, 32)) {
            KvCache a = pool.newSequence();
            KvCache b = pool.newSequence();
            int d = SHAPE.kvChannels();
            a.append(0, new float[64 * d], new float[64 * d]);     // two pages
            b.append(0, new float[32 * d], new float[32 * d]);     // one page: budget used up
            assertEquals(3 * page, pool.reservedBytes());
            CacheBudgetExceededException e = assertThrows(CacheBudgetExceededException.class,
                    () -> b.append(0, new float[d], new float[d]));
            assertTrue(e.getMessage().contains("pool budget"), e.getMessage());
            assertEquals(32, b.length(0));
            a.close();
            assertEquals(page, pool.reservedBytes());
            b.append(0, new float[d], new float[d]);
            assertEquals(33, b.length(0));
            assertEquals(1, pool.openSequences());
        }
    }

    @Test
    void closingThePoolClosesItsSequences() {
        KvCachePool pool = KvCachePool.open(SHAPE, QuantSpec.fp32(), null, Backend.cpu(), 1 << 20);
        KvCache a = pool.newSequence();
        pool.close();
        pool.close();
        assertTrue(a.isClosed());
        assertThrows(IllegalStateException.class, pool::newSequence);
        assertThrows(IllegalArgumentException.class,
                () -> KvCachePool.open(SHAPE, QuantSpec.fp32(), null, Backend.cpu(), 0));
    }
}
