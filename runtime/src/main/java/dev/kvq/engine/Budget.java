package dev.kvq.engine;

/**
 * A cache's memory budget as an engine sees it. Engines reserve every allocation before making it
 * and return what they could not allocate (reserve → allocate → roll back), so a refused or failed
 * append leaves the cache as it was.
 */
public interface Budget {
    /**
     * Reserves {@code bytes} for {@code tokens} tokens of {@code layer}.
     *
     * @param bytes  bytes about to be allocated
     * @param layer  the layer appended to (for the message)
     * @param tokens the tokens appended (for the message)
     * @throws RuntimeException the cache's budget exception when they do not fit
     */
    void reserve(long bytes, int layer, int tokens);

    /**
     * Reserves {@code bytes} that a new sequence allocates once for its own use (device scratch such as the
     * split partials of a decode step), before it holds any token.
     *
     * @param bytes bytes about to be allocated
     * @param what  what they are (for the message)
     * @throws RuntimeException the cache's budget exception when they do not fit
     */
    void reserveScratch(long bytes, String what);

    /**
     * Returns bytes reserved earlier and not allocated.
     *
     * @param bytes the bytes returned
     */
    void unreserve(long bytes);

    /**
     * The cache's budget exception for memory that could not be had after all (an allocation that
     * failed after its reservation, a count beyond what the storage indexes), for the engine to throw.
     *
     * @param message what could not be allocated and why
     * @return the exception to throw
     */
    RuntimeException exceeded(String message);
}
