package dev.kvq.engine.cuda;

import dev.kvq.driver.DeviceMemory;
import dev.kvq.driver.Stream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The device pages of one layer of one sequence, as the kernels address them (kvq_kernels.cuh): a
 * page pool, one allocation in which page {@code p} occupies bytes {@code [p·pageBytes, (p+1)·pageBytes)},
 * and an int32 page table mapping logical page {@code k} to pool page {@code pageTable[k]} (here the
 * identity: the pool belongs to one sequence, so its pages are already in order).
 *
 * <p>The pool grows geometrically (by half, at least one page; the pool's capacity is what the budget
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
    private DeviceMemory pool;       // [capacity][pageBytes]
    private DeviceMemory table;      // int32 [capacity], the identity
    private int capacity;
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
    }

    /** Pages in use. */
    public int size() {
        return used;
    }

    /** Pages the pool holds (in use or not). */
    public int capacity() {
        return capacity;
    }

    /** Bytes of one page. */
    public long pageBytes() {
        return pageBytes;
    }

    /** Bytes allocated: the pool and the page table. */
    public long allocatedBytes() {
        return (long) capacity * pageBytes + (long) capacity * Integer.BYTES;
    }

    /** Device address of the pool; 0 while nothing is allocated. */
    public long poolAddress() {
        requireOpen();
        return pool == null ? 0 : pool.address();
    }

    /** Device address of the int32 page table; 0 while nothing is allocated. */
    public long tableAddress() {
        requireOpen();
        return table == null ? 0 : table.address();
    }

    /** The pool (for copies of whole pages). */
    public DeviceMemory pool() {
        requireOpen();
        if (pool == null) {
            throw new IllegalStateException("no device pages are allocated yet");
        }
        return pool;
    }

    /** Byte offset of page {@code i} in the pool. */
    public long pageOffset(int i) {
        if (i < 0 || i >= used) {
            throw new IndexOutOfBoundsException("page " + i + " of " + used);
        }
        return (long) i * pageBytes;
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

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("the device pages are freed");
        }
    }

    /** Frees the pool and the table; idempotent. The caller has synchronized the stream. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
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
