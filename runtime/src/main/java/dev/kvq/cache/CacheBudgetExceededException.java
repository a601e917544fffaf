package dev.kvq.cache;

/** An append needed more memory than the cache's (or its pool's) budget allows; nothing was changed. */
public final class CacheBudgetExceededException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /**
     * An exception with a message that says how many bytes were needed and how many were left.
     *
     * @param message the explanation
     */
    public CacheBudgetExceededException(String message) {
        super(message);
    }
}
