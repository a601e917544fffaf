package dev.kvq.cache;

/** An append needed more memory than the cache's (or its pool's) budget allows; nothing was changed. */
public final class CacheBudgetExceededException extends RuntimeException {
    public CacheBudgetExceededException(String message) {
        super(message);
    }
}
