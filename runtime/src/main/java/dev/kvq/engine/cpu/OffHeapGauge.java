package dev.kvq.engine.cpu;

import java.util.concurrent.atomic.AtomicLong;

/**
 * JVM-wide count of the cache layer's live off-heap memory: arenas opened and not yet closed, and the
 * bytes allocated from them. Tests read it to prove that closing caches and pools frees everything;
 * the counters are only touched when an arena opens or closes and when a page is allocated, never on
 * the attention path.
 */
public final class OffHeapGauge {
    private static final AtomicLong ARENAS = new AtomicLong();
    private static final AtomicLong BYTES = new AtomicLong();

    private OffHeapGauge() {}

    static void arenaOpened() {
        ARENAS.incrementAndGet();
    }

    static void allocated(long bytes) {
        BYTES.addAndGet(bytes);
    }

    /** An arena closed, and with it the {@code bytes} allocated from it. */
    static void arenaClosed(long bytes) {
        ARENAS.decrementAndGet();
        BYTES.addAndGet(-bytes);
    }

    /** Arenas currently open in this JVM. */
    public static long liveArenas() {
        return ARENAS.get();
    }

    /** Bytes currently allocated from open arenas. */
    public static long liveBytes() {
        return BYTES.get();
    }
}
