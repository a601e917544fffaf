package dev.kvq.driver;

/**
 * A launch grid or block size; every component must be at least 1.
 *
 * @param x extent in x, at least 1
 * @param y extent in y, at least 1
 * @param z extent in z, at least 1
 */
public record Dim3(int x, int y, int z) {

    /** Rejects components below 1 with an exception naming all three. */
    public Dim3 {
        if (x < 1 || y < 1 || z < 1) {
            throw new IllegalArgumentException("grid/block dimensions must be >= 1, got (" + x + ", " + y + ", " + z + ")");
        }
    }

    /**
     * A one-dimensional size {@code (x, 1, 1)}.
     *
     * @param x extent in x, at least 1
     * @return the size
     */
    public static Dim3 of(int x) {
        return new Dim3(x, 1, 1);
    }

    /**
     * A two-dimensional size {@code (x, y, 1)}.
     *
     * @param x extent in x, at least 1
     * @param y extent in y, at least 1
     * @return the size
     */
    public static Dim3 of(int x, int y) {
        return new Dim3(x, y, 1);
    }

    /**
     * The number of blocks of {@code blockSize} threads that cover {@code n} elements.
     *
     * @param n elements to cover, at least 0
     * @param blockSize threads per block, at least 1
     * @return {@code ceil(n / blockSize)}
     */
    public static int blocksFor(long n, int blockSize) {
        if (n < 0 || blockSize < 1) {
            throw new IllegalArgumentException("need n >= 0 and blockSize >= 1, got n=" + n + ", blockSize=" + blockSize);
        }
        long blocks = Math.max(1, (n + blockSize - 1) / blockSize);
        if (blocks > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(n + " elements need more than 2^31-1 blocks of " + blockSize);
        }
        return (int) blocks;
    }

    long threads() {
        return (long) x * y * z;
    }
}
