package dev.kvq.attention.cuda;

import dev.kvq.driver.CudaException;
import dev.kvq.driver.DeviceMemory;
import dev.kvq.driver.Stream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * The device pages of one layer of one sequence and their page table: a device array of u64 page
 * addresses that the kernels index by {@code slot / pageTokens}. Pages are separate allocations of
 * exactly one page each (so the budget counts what is allocated); pages that were allocated by a
 * failed append stay here as spares for the next one. The table grows by doubling.
 *
 * <p>One owner: the pages and the table are freed by {@link #close()} only, once. Not thread-safe
 * (a cache is used by one thread at a time).
 */
public final class DevicePages implements AutoCloseable {
    private final long pageBytes;
    private final Stream stream;
    private final List<DeviceMemory> pages = new ArrayList<>();
    private final ArrayDeque<DeviceMemory> spare = new ArrayDeque<>();
    private DeviceMemory table;            // u64 [tableCapacity]
    private int tableCapacity;
    private boolean closed;

    /**
     * An empty layer whose pages are {@code pageBytes} long; {@code stream} is the stream the cache's
     * kernels run on (synchronized before anything they may read is freed).
     */
    public DevicePages(long pageBytes, Stream stream) {
        if (pageBytes <= 0) {
            throw new IllegalArgumentException("page size must be positive, got " + pageBytes + " bytes");
        }
        this.pageBytes = pageBytes;
        this.stream = stream;
    }

    /** Pages in use. */
    public int size() {
        return pages.size();
    }

    /** Pages allocated but not in use (left by an append that failed). */
    public int spares() {
        return spare.size();
    }

    /** Bytes of one page. */
    public long pageBytes() {
        return pageBytes;
    }

    /** Bytes of the page table. */
    public long tableBytes() {
        return table == null ? 0 : table.byteSize();
    }

    /** The device page {@code i} (in use). */
    public DeviceMemory page(int i) {
        requireOpen();
        return pages.get(i);
    }

    /** Device address of the page table ({@code const uint64_t*}); 0 while there are no pages. */
    public long tableAddress() {
        requireOpen();
        return table == null ? 0 : table.address();
    }

    /** Bytes that {@link #grow} to {@code count} pages would allocate (spares are reused first). */
    public long bytesToGrow(int count) {
        int more = Math.max(0, count - pages.size());
        return (long) Math.max(0, more - spare.size()) * pageBytes;
    }

    /**
     * Brings the pages in use to {@code count}: reuses spares, allocates the rest, zeroes them (the
     * append kernels OR codes into zeroed slots) and writes their addresses into the table.
     * All or nothing: if an allocation fails, the pages allocated so far become spares and the
     * {@link CudaException} (e.g. {@code cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY}) propagates.
     *
     * @return bytes newly allocated
     */
    public long grow(int count) {
        requireOpen();
        int more = count - pages.size();
        if (more <= 0) {
            return 0;
        }
        int fresh = Math.max(0, more - spare.size());
        List<DeviceMemory> made = new ArrayList<>(fresh);
        try {
            for (int i = 0; i < fresh; i++) {
                made.add(DeviceMemory.allocate(pageBytes));
            }
            ensureTable(count);
        } catch (RuntimeException e) {
            spare.addAll(made);
            throw e;
        }
        spare.addAll(made);
        int first = pages.size();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment addresses = arena.allocate(ValueLayout.JAVA_LONG, more);
            for (int i = 0; i < more; i++) {
                DeviceMemory p = spare.poll();
                p.fill((byte) 0);
                pages.add(p);
                addresses.setAtIndex(ValueLayout.JAVA_LONG, i, p.address());
            }
            table.copyFromHost(addresses, 0, (long) first * Long.BYTES, (long) more * Long.BYTES);
        }
        return (long) fresh * pageBytes;
    }

    private void ensureTable(int count) {
        if (count <= tableCapacity) {
            return;
        }
        int capacity = Math.max(64, tableCapacity);
        while (capacity < count) {
            capacity = capacity > Integer.MAX_VALUE / 2 ? Integer.MAX_VALUE : capacity * 2;
        }
        DeviceMemory bigger = DeviceMemory.allocate((long) capacity * Long.BYTES);
        if (table != null) {
            stream.synchronize();   // queued kernels may still read the old table
            bigger.copyFrom(table, 0, 0, (long) pages.size() * Long.BYTES);
            table.close();
        }
        table = bigger;
        tableCapacity = capacity;
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("the device pages are freed");
        }
    }

    /** Frees every page, spare and the table; idempotent. The caller has synchronized the stream. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        RuntimeException first = null;
        List<DeviceMemory> all = new ArrayList<>(pages);
        all.addAll(spare);
        if (table != null) {
            all.add(table);
        }
        for (DeviceMemory m : all) {
            try {
                m.close();
            } catch (RuntimeException e) {
                // keep freeing the rest; report the first failure
                if (first == null) {
                    first = e;
                }
            }
        }
        pages.clear();
        spare.clear();
        table = null;
        if (first != null) {
            throw first;
        }
    }
}
