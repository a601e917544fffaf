package dev.kvq.cache;

/** An append needed more memory than the cache's (or its pool's) budget allows; nothing was changed. */
public final class CacheBudgetExceededException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public CacheBudgetExceededException(String message) {
        super(message);
    }
}
