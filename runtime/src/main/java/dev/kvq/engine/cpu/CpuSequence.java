package dev.kvq.engine.cpu;

import dev.kvq.engine.Budget;
import dev.kvq.engine.CacheSetup;
import dev.kvq.engine.LayerImage;
import dev.kvq.engine.ReferenceDecoder;
import dev.kvq.engine.Sequence;
import dev.kvq.engine.Tensor;
import dev.kvq.layout.MemoryReport;
import dev.kvq.layout.PageLayout;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.util.List;

/**
 * One sequence on the CPU: a {@link CpuLayer} per layer, allocated from one shared arena, and the
 * {@link CpuAttention} scratch of its decode steps (so a sequence attends from one thread at a time,
 * which the cache's lock ensures). Closing the arena frees every page at once.
 */
final class CpuSequence implements Sequence {
    private final CacheSetup setup;
    private final long firstPosition;
    private final Budget budget;
    private final CpuLayer[] layers;
    private final CpuAttention attention;
    // shared, not confined: a pool's sequences move between threads; the cache's lock keeps close()
    // from ever closing it under another thread's access
    private final Arena arena;
    private long allocatedBytes;       // from the arena, for the off-heap gauge
    private boolean closed;

    CpuSequence(CacheSetup setup, long firstPosition, Budget budget) {
        this.setup = setup;
        this.firstPosition = firstPosition;
        this.budget = budget;
        this.layers = new CpuLayer[setup.shape().layers()];
        for (int l = 0; l < layers.length; l++) {
            layers[l] = new CpuLayer(setup, l, firstPosition);
        }
        this.attention = new CpuAttention(setup.shape(), setup.spec(), setup.occupancy(0), Simd.lanes() != 0);
        this.arena = Arena.ofShared();
        OffHeapGauge.arenaOpened();
    }

    private MemorySegment allocate(long bytes) {
        MemorySegment s = arena.allocate(bytes, PageLayout.ALIGN);
        allocatedBytes += bytes;
        OffHeapGauge.allocated(bytes);
        return s;
    }

    @Override
    public void append(int layer, int stored, float[] keysPreRope, float[] values, int n) {
        CpuLayer store = layers[layer];
        store.reserveAndAllocate(layer, stored, keysPreRope, n, budget, this::allocate);
        for (int t = 0; t < n; t++) {
            store.write(keysPreRope, values, t, stored + t);
        }
    }

    @Override
    public void attend(int layer, int stored, float[] query, float[] out) {
        attention.attend(layers[layer], stored, query, out);
    }

    @Override
    public void keyScores(int layer, int stored, float[] query, float[] scores) {
        attention.scores(layers[layer], stored, query, scores, stored);
    }

    @Override
    public void valueMatvec(int layer, int stored, float[] weights, float[] out) {
        attention.values(layers[layer], stored, weights, stored, out);
    }

    @Override
    public float[] decode(int layer, int stored, Tensor tensor) {
        return ReferenceDecoder.decode(setup, layer, firstPosition, stored, layers[layer].image(stored), tensor);
    }

    @Override
    public MemorySegment pageBytes(int layer, int page) {
        return layers[layer].page(page);
    }

    @Override
    public int entries(int layer, int stored, Tensor tensor) {
        return layers[layer].entries(tensor).size();
    }

    @Override
    public MemorySegment entryChunk(int layer, Tensor tensor, int chunk) {
        List<MemorySegment> used = layers[layer].entries(tensor).usedChunks();
        if (chunk < 0 || chunk >= used.size()) {
            throw new IllegalArgumentException("layer " + layer + " has " + used.size() + " "
                    + (tensor == Tensor.KEYS ? "key" : "value") + " entry chunks, no chunk " + chunk);
        }
        return used.get(chunk);
    }

    @Override
    public MemoryReport memory(int layer, int stored) {
        return layers[layer].memory(stored);
    }

    @Override
    public long hostBytes() {
        return closed ? 0 : allocatedBytes;
    }

    @Override
    public LayerImage image(int layer, int stored) {
        return layers[layer].image(stored);
    }

    @Override
    public MemorySegment mapSnapshot(FileChannel file) throws IOException {
        return file.map(FileChannel.MapMode.READ_ONLY, 0, file.size(), arena);
    }

    @Override
    public void restore(int layer, int tokens, LayerImage image) {
        layers[layer].restore(tokens, image, this::allocate);
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        arena.close();
        OffHeapGauge.arenaClosed(allocatedBytes);
    }
}
