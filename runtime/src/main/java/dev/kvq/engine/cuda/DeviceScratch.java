package dev.kvq.engine.cuda;

import dev.kvq.driver.DeviceMemory;
import dev.kvq.driver.Stream;

/**
 * A device buffer that grows on demand (by at least half again, so a decode loop that adds one token
 * at a time reallocates O(log n) times). Before the old buffer is freed the stream is synchronized,
 * because kernels queued earlier may still use it. One owner; {@link #close()} frees it once.
 */
public final class DeviceScratch implements AutoCloseable {
    private final String what;
    private final Stream stream;
    private DeviceMemory memory;
    private boolean closed;

    /** An empty buffer; {@code what} names it in errors. */
    public DeviceScratch(String what, Stream stream) {
        this.what = what;
        this.stream = stream;
    }

    /** The buffer, at least {@code bytes} long (contents are not kept when it grows). */
    public DeviceMemory atLeast(long bytes) {
        if (closed) {
            throw new IllegalStateException("device buffer '" + what + "' is freed");
        }
        if (bytes <= 0) {
            throw new IllegalArgumentException("device buffer '" + what + "' needs a positive size, got " + bytes);
        }
        if (memory != null && memory.byteSize() >= bytes) {
            return memory;
        }
        long size = memory == null ? bytes : Math.max(bytes, memory.byteSize() + memory.byteSize() / 2);
        size = (size + 255) & ~255L;
        if (memory != null) {
            stream.synchronize();
            memory.close();
            memory = null;
        }
        memory = DeviceMemory.allocate(size);
        return memory;
    }

    /**
     * Frees the buffer when it is larger than {@code bytes}, so a one-off large use (a long prefill)
     * does not keep its memory for the life of the cache; the next {@link #atLeast} allocates anew.
     */
    public void trimTo(long bytes) {
        if (!closed && memory != null && memory.byteSize() > bytes) {
            stream.synchronize();
            memory.close();
            memory = null;
        }
    }

    /** Bytes allocated now. */
    public long byteSize() {
        return memory == null ? 0 : memory.byteSize();
    }

    /** Frees the buffer; idempotent. The caller has synchronized the stream. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            if (memory != null) {
                memory.close();
                memory = null;
            }
        }
    }
}
