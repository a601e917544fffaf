package dev.kvq.engine.cuda;

import dev.kvq.driver.DeviceMemory;
import dev.kvq.driver.Stream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The device pages of one layer of one sequence, as the kernels address them (kvq_kernels.cuh): a
 * page pool, one allocation in which page {@code p} occupies bytes {@code [p·pageBytes, (p+1)·pageBytes)},
 * and an int32 page table mapping logical page {@code k} to pool page {@code pageTable[k]}.
 *
 * <p>Two modes. <b>Shared</b> (the sequences of a {@code KvCachePool}): the pool is the layer's
 * {@link SharedPagePool}, fixed and shared by every sequence; growing takes free pages from it (zeroed) and
 * writes their indices into this sequence's table, and closing gives them back. No page is ever copied. The
 * table itself (4 bytes a page) grows geometrically by copy. <b>Private</b> (a standalone cache): the pool
 * belongs to this sequence and its table is the identity.
 *
 * <p>A private pool grows geometrically (by half, at least one page; the pool's capacity is what the budget
 * is charged, so a pool of many short sequences must not pay megabytes per layer up front): a bigger
 * pool is allocated, the used
 * pages are copied over on the device, the rest is zeroed (the value kernels OR codes into zeroed
 * words), and the old pool is freed. A failed growth changes nothing. One owner: {@link #close()}
 * frees the pool and the table once. Not thread-safe (a cache is used by one thread at a time).
 */
public final class DevicePages implements AutoCloseable {
    private final long pageBytes;
    private final long minGrowBytes;
    private final Stream stream;
    private final SharedPagePool shared;   // null: a private pool
    private DeviceMemory pool;       // private: [capacity][pageBytes]; shared: null (the shared pool's)
    private DeviceMemory table;      // int32 [capacity]: private, the identity; shared, pages[0, used)
    private int[] pages;             // shared: pool page of each logical page (the table's host mirror)
    private int capacity;            // private: pool pages; shared: table entries
    private int used;
    private boolean closed;

    /**
     * An empty layer whose pages are {@code pageBytes} long; {@code stream} is the stream the cache's
     * kernels run on (synchronized before memory they may read is freed).
     */
    public DevicePages(long pageBytes, Stream stream) {
        this(pageBytes, stream, 0);
    }

    /**
     * An empty pool whose growth steps are at least {@code minGrowBytes} (at least one page): the
     * sparse entry chunks of a layer use a smaller step than its pages, as a cache may hold few entries.
     */
    public DevicePages(long pageBytes, Stream stream, long minGrowBytes) {
        if (pageBytes <= 0) {
            throw new IllegalArgumentException("page size must be positive, got " + pageBytes + " bytes");
        }
        this.pageBytes = pageBytes;
        this.minGrowBytes = minGrowBytes;
        this.stream = stream;
        this.shared = null;
    }

    /**
     * An empty layer whose pages come from {@code shared} (the layer's pool of a {@code KvCachePool});
     * {@code stream} is the cache's stream (synchronized before pages go back to the pool).
     */
    public DevicePages(SharedPagePool shared, Stream stream) {
        this.pageBytes = shared.pageBytes();
        this.minGrowBytes = 0;
        this.stream = stream;
        this.shared = shared;
        this.pages = new int[0];
    }

    /** Whether the pages come from a pool shared by several sequences. */
    public boolean shared() {
        return shared != null;
    }

    /** Pages the kernels may address through the table: the bounds check of every table entry. */
    public int poolPages() {
        return shared != null ? shared.capacity() : capacity;
    }

    /** Pages in use. */
    public int size() {
        return used;
    }

    /** Entries of the page table (private: the pages the pool holds, in use or not). */
    public int capacity() {
        return capacity;
    }

    /** Pages allocated to this sequence: private, the pool's capacity; shared, the pages in use. */
    public int allocatedPages() {
        return shared != null ? used : capacity;
    }

    /** Bytes of one page. */
    public long pageBytes() {
        return pageBytes;
    }

    /** Bytes allocated for this sequence: its pages and its page table. */
    public long allocatedBytes() {
        return (long) allocatedPages() * pageBytes + (long) capacity * Integer.BYTES;
    }

    /** Device address of the pool; 0 while nothing is allocated. */
    public long poolAddress() {
        requireOpen();
        if (shared != null) {
            return table == null ? 0 : shared.memory().address();
        }
        return pool == null ? 0 : pool.address();
    }

    /** Device address of the int32 page table; 0 while nothing is allocated. */
    public long tableAddress() {
        requireOpen();
        return table == null ? 0 : table.address();
    }

    /** The pool (for copies of whole pages, at {@link #pageOffset}). */
    public DeviceMemory pool() {
        requireOpen();
        if (used == 0 && pool == null) {
            throw new IllegalStateException("no device pages are allocated yet");
        }
        return shared != null ? shared.memory() : pool;
    }

    /** The pool page that holds logical page {@code i} (its page table entry). */
    public int poolPage(int i) {
        if (i < 0 || i >= used) {
            throw new IndexOutOfBoundsException("page " + i + " of " + used);
        }
        return shared != null ? pages[i] : i;
    }

    /** Byte offset of logical page {@code i} in the pool. */
    public long pageOffset(int i) {
        if (i < 0 || i >= used) {
            throw new IndexOutOfBoundsException("page " + i + " of " + used);
        }
        return (shared != null ? pages[i] : (long) i) * pageBytes;
    }

    /** The pool capacity that holding {@code count} pages leads to. */
    int capacityFor(int count) {
        if (count <= capacity) {
            return capacity;
        }
        // by half again, and by at least minGrowBytes worth of pages (one page when pages are larger)
        long step = Math.max(capacity / 2, Math.max(1, minGrowBytes / pageBytes));
        long grown = Math.max((long) capacity + step, count);
        return (int) Math.min(grown, Integer.MAX_VALUE - 8);
    }

    /** Bytes that {@link #grow} to {@code count} pages would allocate in addition to what is held now. */
    public long bytesToGrow(int count) {
        int c = capacityFor(count);
        if (shared != null) {
            return (long) Math.max(0, count - used) * pageBytes + (long) (c - capacity) * Integer.BYTES;
        }
        return (long) (c - capacity) * (pageBytes + Integer.BYTES);
    }

    /**
     * Brings the pages in use to {@code count} (never fewer). All or nothing: when an allocation fails
     * the {@link dev.kvq.driver.CudaException} (e.g. {@code cuMemAlloc_v2 failed:
     * CUDA_ERROR_OUT_OF_MEMORY}) propagates and the pool is as it was.
     */
    public void grow(int count) {
        requireOpen();
        if (count <= used) {
            return;
        }
        if (shared != null) {
            growShared(count);
            return;
        }
        if (count <= capacity) {
            used = count;
            return;
        }
        int c = capacityFor(count);
        DeviceMemory newPool = DeviceMemory.allocate((long) c * pageBytes);
        DeviceMemory newTable;
        try {
            newTable = DeviceMemory.allocate((long) c * Integer.BYTES);
        } catch (RuntimeException e) {
            newPool.close();
            throw e;
        }
        try {
            long keep = (long) used * pageBytes;
            if (pool != null) {
                stream.synchronize();   // queued kernels may still use the old pool
                newPool.copyFrom(pool, 0, 0, keep);
            }
            newPool.fill((byte) 0, keep, newPool.byteSize() - keep);
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment ids = arena.allocate(ValueLayout.JAVA_INT, c);
                for (int i = 0; i < c; i++) {
                    ids.setAtIndex(ValueLayout.JAVA_INT, i, i);
                }
                newTable.copyFromHost(ids);
            }
        } catch (RuntimeException e) {
            newPool.close();
            newTable.close();
            throw e;
        }
        if (pool != null) {
            pool.close();
            table.close();
        }
        pool = newPool;
        table = newTable;
        capacity = c;
        used = count;
    }

    /**
     * Shared mode: takes {@code count − used} pages from the shared pool and writes them into the table (grown
     * first, by copy, when it is full). All or nothing: on any failure the pages go back and the table is as it was.
     */
    private void growShared(int count) {
        int c = capacityFor(count);
        DeviceMemory newTable = c > capacity ? DeviceMemory.allocate((long) c * Integer.BYTES) : table;
        int[] ids = pages.length >= c ? pages : java.util.Arrays.copyOf(pages, c);
        int n = count - used;
        try {
            shared.take(ids, used, n);
            try (Arena arena = Arena.ofConfined()) {
                if (newTable != table) {
                    stream.synchronize();   // queued kernels may still read the old table
                }
                MemorySegment host = arena.allocateFrom(ValueLayout.JAVA_INT, java.util.Arrays.copyOf(ids, count));
                long from = newTable == table ? used : 0;
                newTable.copyFromHost(host, from * Integer.BYTES, from * Integer.BYTES, (count - from) * Integer.BYTES);
            } catch (RuntimeException e) {
                shared.give(ids, used, n);
                throw e;
            }
        } catch (RuntimeException e) {
            if (newTable != table) {
                newTable.close();
            }
            throw e;
        }
        if (newTable != table) {
            if (table != null) {
                table.close();
            }
            table = newTable;
            capacity = c;
        }
        pages = ids;
        used = count;
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("the device pages are freed");
        }
    }

    /** Frees the pool (shared: gives the pages back) and the table; idempotent. The caller has synchronized the stream. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (shared != null) {
            shared.give(pages, 0, used);
            used = 0;
        }
        DeviceMemory p = pool;
        DeviceMemory t = table;
        pool = null;
        table = null;
        try {
            if (p != null) {
                p.close();
            }
        } finally {
            if (t != null) {
                t.close();
            }
        }
    }
}
