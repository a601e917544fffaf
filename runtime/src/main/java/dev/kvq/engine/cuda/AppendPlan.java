package dev.kvq.engine.cuda;

import dev.kvq.driver.CudaException;
import dev.kvq.driver.DeviceMemory;
import dev.kvq.engine.Budget;
import dev.kvq.engine.CacheSetup;
import dev.kvq.engine.Tensor;
import dev.kvq.layout.EntryChunks;
import dev.kvq.layout.Occupancy;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.function.Supplier;

/**
 * What one append needs on the device, worked out before anything is allocated: where its tokens go
 * ({@link Occupancy.Append}), the pages, entry chunks, sink buffer and quantizer tables the layer must
 * grow by, and their bytes. The sequence reserves {@link #bytes()} from the budget, then
 * {@link #allocate} makes them all or rolls back.
 *
 * <p>The sparse form's key entries are counted on the host first (the comparisons of the pack kernel
 * on the same fp32 numbers, {@link Occupancy#keyOutliers}), to size the chunks before any kernel runs;
 * value entries are a fixed number per token.
 */
final class AppendPlan {
    private final Occupancy.Append tokens;
    private final boolean needSinks;
    private final boolean needTables;
    private final long keyEntriesAfter;
    private final int keyChunksAfter;
    private final int valueChunksAfter;
    private final long sinkBytes;
    private final long tableBytes;
    private final long bytes;

    private AppendPlan(CacheSetup setup, DeviceLayer layer, int layerIndex, int stored, float[] keys, int n,
                       long tableBytes, Budget budget) {
        Occupancy occupancy = setup.occupancy(layerIndex);
        this.tokens = occupancy.append(stored, n);
        // the side buffer: at the first sink, or at the first token of a layer with a recent-token window
        this.needSinks = !layer.hasSinks()
                && (tokens.newSinks() > 0 || occupancy.sinks().windowCapacity() > 0 && n > 0);
        this.needTables = setup.spec().quantized() && !layer.hasTables();
        this.sinkBytes = occupancy.sinks().bytes();
        this.tableBytes = needTables ? tableBytes : 0;
        long b = layer.pages().bytesToGrow(tokens.pagesAfter()) + (needSinks ? sinkBytes : 0) + this.tableBytes;
        if (layer.sparse()) {
            // entries stay int-indexed like the host's store: a layer holds at most 2^31 − 1 of each
            keyEntriesAfter = layer.keyEntries()
                    + occupancy.keyOutliers(setup.layer(layerIndex).keys(), keys, tokens.newSinks(), n);
            long valueEntriesAfter = occupancy.valueEntries(tokens.packedAfter());
            if (keyEntriesAfter > Integer.MAX_VALUE || valueEntriesAfter > Integer.MAX_VALUE) {
                throw budget.exceeded("layer " + layerIndex + " would hold " + keyEntriesAfter + " key and "
                        + valueEntriesAfter + " value outlier entries, more than the " + Integer.MAX_VALUE
                        + " a sparse entry store indexes");
            }
            keyChunksAfter = EntryChunks.chunksFor(keyEntriesAfter);
            valueChunksAfter = EntryChunks.chunksFor(valueEntriesAfter);
            b += layer.chunks(Tensor.KEYS).bytesToGrow(keyChunksAfter)
                    + layer.chunks(Tensor.VALUES).bytesToGrow(valueChunksAfter);
        } else {
            keyEntriesAfter = 0;
            keyChunksAfter = 0;
            valueChunksAfter = 0;
        }
        this.bytes = b;
    }

    /**
     * The plan of appending {@code n} tokens after {@code stored} to {@code layer}.
     *
     * @param tableBytes bytes of the layer's quantizer tables, should they be missing
     * @throws RuntimeException the budget's exception when the sparse entries outgrow their index
     */
    static AppendPlan of(CacheSetup setup, DeviceLayer layer, int layerIndex, int stored, float[] keys, int n,
                         long tableBytes, Budget budget) {
        return new AppendPlan(setup, layer, layerIndex, stored, keys, n, tableBytes, budget);
    }

    Occupancy.Append tokens() {
        return tokens;
    }

    /** Device bytes the append allocates (to reserve first). */
    long bytes() {
        return bytes;
    }

    /** Key entries of the layer after the append (sparse form). */
    long keyEntriesAfter() {
        return keyEntriesAfter;
    }

    /**
     * Grows the layer's pools and allocates its sink buffer and tables ({@code tables} gives their
     * contents). All or nothing: when the device is out of memory, a pool that did grow stays (it is
     * the layer's now, and counted), the rest of the reservation is returned and the budget's
     * exception is thrown.
     */
    void allocate(DeviceLayer layer, int layerIndex, int n, Budget budget, Supplier<float[]> tables) {
        long before = layer.poolBytes();
        DeviceMemory newSinks = null;
        DeviceMemory newTables = null;
        try {
            layer.pages().grow(tokens.pagesAfter());
            if (layer.sparse()) {
                // new chunks are zeroed by the growth, as the value pack and an exact copy of the host need
                layer.chunks(Tensor.KEYS).grow(keyChunksAfter);
                layer.chunks(Tensor.VALUES).grow(valueChunksAfter);
            }
            if (needSinks) {
                newSinks = DeviceMemory.allocate(sinkBytes);
                newSinks.fill((byte) 0);
            }
            if (needTables) {
                newTables = DeviceMemory.allocate(tableBytes);
                try (Arena arena = Arena.ofConfined()) {
                    newTables.copyFromHost(arena.allocateFrom(ValueLayout.JAVA_FLOAT, tables.get()));
                }
            }
        } catch (CudaException | IllegalStateException e) {
            // out of device memory, or (a pool's sequence) out of free pages in the layer's shared pool
            long kept = layer.poolBytes() - before;
            if (newSinks != null) {
                newSinks.close();
            }
            if (newTables != null) {
                newTables.close();
            }
            budget.unreserve(bytes - kept);
            throw budget.exceeded("could not allocate " + bytes + " device bytes for " + n + " tokens of layer "
                    + layerIndex + ": " + e.getMessage());
        }
        layer.adopt(newSinks, newTables);
    }
}
