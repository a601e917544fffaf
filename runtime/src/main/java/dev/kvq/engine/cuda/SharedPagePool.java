package dev.kvq.engine.cuda;

import dev.kvq.driver.DeviceMemory;

/**
 * One layer's device pages shared by every sequence of a {@code KvCachePool}: allocated once, at a fixed
 * capacity sized from the pool's budget, and handed out page by page from a free list. A sequence's pages are
 * wherever the free list put them; its page table ({@link DevicePages} in shared mode) maps its logical pages to
 * them, as the kernels expect. Nothing is ever copied to grow, so a cache fits whenever its pages fit, and the
 * pool's address never changes (prepared launches and captured graphs stay valid). Safe from any thread: the
 * sequences of a pool run on different threads.
 */
public final class SharedPagePool implements AutoCloseable {
    private final long pageBytes;
    private final int capacity;
    private final DeviceMemory pool;   // [capacity][pageBytes]
    private final int[] free;          // a stack of free page indices; the lowest on top at first
    private int freeCount;
    private boolean closed;

    /**
     * Allocates {@code capacity} pages of {@code pageBytes} in the current context.
     *
     * @throws IllegalArgumentException for a non-positive size
     * @throws dev.kvq.driver.CudaException when the device cannot hold them
     */
    SharedPagePool(long pageBytes, int capacity) {
        if (pageBytes <= 0 || capacity <= 0) {
            throw new IllegalArgumentException("a shared page pool needs pages and bytes, got " + capacity + " × "
                    + pageBytes + " bytes");
        }
        this.pageBytes = pageBytes;
        this.capacity = capacity;
        this.pool = DeviceMemory.allocate(Math.multiplyExact(pageBytes, (long) capacity));
        this.free = new int[capacity];
        for (int i = 0; i < capacity; i++) {
            free[i] = capacity - 1 - i;
        }
        this.freeCount = capacity;
    }

    /** Bytes of one page. */
    public long pageBytes() {
        return pageBytes;
    }

    /** Pages the pool holds, in use or not. */
    public int capacity() {
        return capacity;
    }

    /** Pages not handed out. */
    public synchronized int freePages() {
        return freeCount;
    }

    /** The pool's memory (for copies of single pages at {@code page·pageBytes}). */
    DeviceMemory memory() {
        return pool;
    }

    /**
     * Takes {@code n} free pages, zeroed (the value kernels OR codes into zeroed words), into {@code into[from, from + n)};
     * all or nothing.
     *
     * @throws IllegalStateException when fewer than {@code n} pages are free, or the pool is closed
     */
    synchronized void take(int[] into, int from, int n) {
        if (closed) {
            throw new IllegalStateException("the shared device page pool is freed");
        }
        if (n > freeCount) {
            throw new IllegalStateException("the shared device page pool of this layer has " + freeCount + " of its "
                    + capacity + " pages free, " + n + " needed (a pool sizes every layer alike: its budget over the "
                    + "bytes of one page of every layer)");
        }
        for (int i = 0; i < n; i++) {
            into[from + i] = free[--freeCount];
        }
        try {
            for (int i = 0; i < n; i++) {
                pool.fill((byte) 0, into[from + i] * pageBytes, pageBytes);
            }
        } catch (RuntimeException e) {
            give(into, from, n);
            throw e;
        }
    }

    /** Returns {@code pages[from, from + n)} to the free list; the caller has synchronized the stream that used them. */
    synchronized void give(int[] pages, int from, int n) {
        if (closed) {
            return;
        }
        for (int i = 0; i < n; i++) {
            free[freeCount++] = pages[from + i];
        }
    }

    /** Frees the pool once; its sequences are closed already. */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            pool.close();
        }
    }
}
