package dev.kvq.cache;

import dev.kvq.attention.AttentionShape;
import dev.kvq.attention.cuda.CudaEngine;
import dev.kvq.attention.cuda.DevicePages;
import dev.kvq.attention.cuda.DeviceScratch;
import dev.kvq.attention.cuda.KvKernels;
import dev.kvq.driver.CudaException;
import dev.kvq.driver.DeviceMemory;
import dev.kvq.driver.Nvtx;
import dev.kvq.driver.Stream;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.Fp16;
import dev.kvq.quant.QuantSpec;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The CUDA half of a {@link KvCache}: per layer, device pages laid out exactly as {@link PageLayout}
 * with a device page table ({@link DevicePages}) and an fp16 sink buffer; appends pack on the device,
 * attention runs on the device (scores → softmax → values on the cache's stream, no host round trip
 * in between; the host reads only the output). One owner for every allocation: this object, which
 * frees all of them once in {@link #close()}.
 *
 * <p>Sink tokens (a handful per sequence) are rotated and rounded on the host, with the very code of
 * {@link LayerStore}, and copied up; everything after them is packed by the kernels.
 */
final class CudaLayers implements DeviceCache {
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    private final CudaEngine engine;
    private final KvKernels kernels;
    private final AttentionShape shape;
    private final QuantSpec spec;
    private final PageLayout layout;
    private final Calibration calibration;
    private final long firstPosition;
    private final Budget budget;
    private final Stream stream;
    private final DevicePages[] pages;
    private final DeviceMemory[] sinks;            // fp16 keys post-RoPE [n_sink][D], then values; null until used
    private final KvKernels.LayerTables[] tables;  // per-layer quantizer tables on the device (nuq only)
    private final DeviceScratch input;             // fp32 keys then values of an append
    private final DeviceScratch query;             // fp32 [Hq·d]
    private final DeviceScratch scores;            // fp32 [Hq][stored]
    private final DeviceScratch output;            // fp32 [Hq·d]
    private final long sinkBytes;
    private boolean closed;

    private CudaLayers(CudaEngine engine, AttentionShape shape, QuantSpec spec, Calibration calibration,
                       PageLayout layout, long firstPosition, Budget budget) {
        this.engine = engine;
        this.shape = shape;
        this.spec = spec;
        this.layout = layout;
        this.calibration = calibration;
        this.firstPosition = firstPosition;
        this.budget = budget;
        this.stream = Stream.create(false);   // blocking: synchronous copies order after its kernels
        this.kernels = new KvKernels(engine, shape, spec, layout);
        int layers = shape.layers();
        this.pages = new DevicePages[layers];
        this.sinks = new DeviceMemory[layers];
        this.tables = new KvKernels.LayerTables[layers];
        for (int l = 0; l < layers; l++) {
            pages[l] = new DevicePages(layout.pageBytes(), stream);
        }
        this.input = new DeviceScratch("append input", stream);
        this.query = new DeviceScratch("query", stream);
        this.scores = new DeviceScratch("scores", stream);
        this.output = new DeviceScratch("output", stream);
        this.sinkBytes = (long) spec.sinkTokens() * shape.kvChannels() * 2 * 2;
    }

    /**
     * The device half of a cache, on the JVM's {@link CudaEngine}.
     *
     * @throws IllegalStateException when CUDA does not start here
     * @throws UnsupportedOperationException for a spec the kernels do not cover
     */
    static CudaLayers open(AttentionShape shape, QuantSpec spec, Calibration calibration, PageLayout layout,
                           long firstPosition, Budget budget) {
        KvKernels.requireSupported(shape, spec, layout);
        CudaEngine engine = CudaEngine.shared();
        engine.bind();
        return new CudaLayers(engine, shape, spec, calibration, layout, firstPosition, budget);
    }

    private int sinkCapacity() {
        return spec.quantized() ? spec.sinkTokens() : 0;
    }

    @Override
    public void append(int layer, int stored, float[] keysPreRope, float[] values, int n) {
        requireOpen();
        engine.bind();
        int d = shape.kvChannels();
        int sinkCap = sinkCapacity();
        int newSinks = Math.max(0, Math.min(n, sinkCap - stored));
        int packedAfter = Math.max(0, stored + n - sinkCap);
        int pagesAfter = (int) ((packedAfter + (long) layout.pageTokens() - 1) / layout.pageTokens());
        boolean needSinks = newSinks > 0 && sinks[layer] == null;
        DevicePages p = pages[layer];
        long bytes = p.bytesToGrow(pagesAfter) + (needSinks ? sinkBytes : 0);
        if (bytes > 0) {
            budget.reserve(bytes, layer, n);
        }
        int before = p.size() + p.spares();
        try (Nvtx.Range r = Nvtx.range("kvq append")) {
            try {
                p.grow(pagesAfter);
                if (needSinks) {
                    DeviceMemory s = DeviceMemory.allocate(sinkBytes);
                    s.fill((byte) 0);
                    sinks[layer] = s;
                }
                if (spec.quantized() && tables[layer] == null) {
                    tables[layer] = kernels.upload(calibration.layer(layer));
                }
            } catch (CudaException e) {
                long kept = (long) (p.size() + p.spares() - before) * layout.pageBytes();
                budget.unreserve(bytes - kept);
                throw new CacheBudgetExceededException("could not allocate " + bytes + " device bytes for " + n
                        + " tokens of layer " + layer + ": " + e.getMessage());
            }
            if (newSinks > 0) {
                writeSinks(layer, stored, keysPreRope, values, newSinks);
            }
            int packed = n - newSinks;
            if (packed > 0) {
                long elements = (long) packed * d;
                DeviceMemory in = input.atLeast(elements * 2 * Float.BYTES);
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment host = arena.allocate(elements * 2 * Float.BYTES, 64);
                    MemorySegment.copy(keysPreRope, newSinks * d, host, FLOAT, 0, (int) elements);
                    MemorySegment.copy(values, newSinks * d, host, FLOAT, elements * Float.BYTES, (int) elements);
                    in.copyFromHost(host, 0, 0, host.byteSize());
                }
                int firstSlot = stored + newSinks - sinkCap;
                long firstPos = firstPosition + stored + newSinks;
                kernels.append(stream, tables[layer], p, in, 0, elements * Float.BYTES, firstSlot, packed, firstPos);
                stream.synchronize();   // the caller's arrays are free to change once append returns
            }
        }
    }

    /** Rotates and rounds sink tokens on the host (the code of {@link LayerStore}) and copies them up. */
    private void writeSinks(int layer, int stored, float[] keys, float[] values, int count) {
        int d = shape.kvChannels();
        int cap = sinkCapacity();
        float[] rotated = new float[d];
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment k = arena.allocate((long) count * d * 2);
            MemorySegment v = arena.allocate((long) count * d * 2);
            for (int t = 0; t < count; t++) {
                System.arraycopy(keys, t * d, rotated, 0, d);
                for (int h = 0; h < shape.kvHeads(); h++) {
                    shape.rope().apply(rotated, h * shape.headDim(), firstPosition + stored + t);
                }
                for (int c = 0; c < d; c++) {
                    k.set(ValueLayout.JAVA_SHORT, ((long) t * d + c) * 2, Fp16.encode(rotated[c]));
                    v.set(ValueLayout.JAVA_SHORT, ((long) t * d + c) * 2, Fp16.encode(values[t * d + c]));
                }
            }
            sinks[layer].copyFromHost(k, 0, (long) stored * d * 2, k.byteSize());
            sinks[layer].copyFromHost(v, 0, ((long) cap * d + (long) stored * d) * 2, v.byteSize());
        }
    }

    /** The scores of every stored token into the device scores buffer, stride {@code stored}. */
    private DeviceMemory queueScores(int layer, int stored, float[] q) {
        int hq = shape.queryHeads();
        DeviceMemory qd = query.atLeast((long) q.length * Float.BYTES);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocateFrom(FLOAT, q);
            qd.copyFromHost(host);
        }
        DeviceMemory sd = scores.atLeast((long) hq * stored * Float.BYTES);
        try (Nvtx.Range r = Nvtx.range("kvq scores")) {
            kernels.scores(stream, tables[layer], pages[layer], sinkAddress(layer), Math.min(stored, sinkCapacity()),
                    packed(stored), firstPosition, qd, sd, stored);
        }
        return sd;
    }

    private long sinkAddress(int layer) {
        return sinks[layer] == null ? 0 : sinks[layer].address();
    }

    private int packed(int stored) {
        return Math.max(0, stored - sinkCapacity());
    }

    private void queueValues(int layer, int stored, DeviceMemory weights, DeviceMemory out) {
        try (Nvtx.Range r = Nvtx.range("kvq values")) {
            kernels.values(stream, tables[layer], pages[layer], sinkAddress(layer), Math.min(stored, sinkCapacity()),
                    packed(stored), weights, stored, out);
        }
    }

    @Override
    public void attend(int layer, int stored, float[] q, float[] out) {
        requireOpen();
        engine.bind();
        DeviceMemory sd = queueScores(layer, stored, q);
        try (Nvtx.Range r = Nvtx.range("kvq softmax")) {
            kernels.softmax(stream, sd, shape.queryHeads(), stored);
        }
        DeviceMemory od = output.atLeast((long) out.length * Float.BYTES);
        queueValues(layer, stored, sd, od);
        readBack(od, out, out.length);
    }

    @Override
    public void keyScores(int layer, int stored, float[] q, float[] result) {
        requireOpen();
        engine.bind();
        DeviceMemory sd = queueScores(layer, stored, q);
        readBack(sd, result, shape.queryHeads() * stored);
    }

    @Override
    public void valueMatvec(int layer, int stored, float[] weights, float[] out) {
        requireOpen();
        engine.bind();
        int n = shape.queryHeads() * stored;
        DeviceMemory wd = scores.atLeast((long) n * Float.BYTES);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate((long) n * Float.BYTES, 64);
            MemorySegment.copy(weights, 0, host, FLOAT, 0, n);
            wd.copyFromHost(host, 0, 0, host.byteSize());
        }
        DeviceMemory od = output.atLeast((long) out.length * Float.BYTES);
        queueValues(layer, stored, wd, od);
        readBack(od, out, out.length);
    }

    /** Copies {@code n} floats back; the synchronous copy orders after the (blocking) stream's kernels. */
    private void readBack(DeviceMemory from, float[] to, int n) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate((long) n * Float.BYTES, 64);
            from.copyToHost(host, 0, 0, host.byteSize());
            MemorySegment.copy(host, FLOAT, 0, to, 0, n);
        }
    }

    @Override
    public float[] decode(int layer, int stored, boolean keys) {
        requireOpen();
        engine.bind();
        try (Arena arena = Arena.ofConfined()) {
            LayerStore copy = hostCopy(layer, stored, arena, true);
            return LayerDecoder.decode(copy, keys);
        }
    }

    /**
     * The layer as a host {@link LayerStore} (pages copied back when {@code withData}, else only
     * counted), so the decoder and the memory report are the host's own code.
     */
    private LayerStore hostCopy(int layer, int stored, Arena arena, boolean withData) {
        LayerStore s = new LayerStore(shape, spec, layout, spec.quantized() ? calibration.layer(layer) : null,
                firstPosition);
        DevicePages p = pages[layer];
        int used = (int) ((packed(stored) + (long) layout.pageTokens() - 1) / layout.pageTokens());
        for (int i = 0; i < p.size(); i++) {
            if (withData && i < used) {
                MemorySegment host = arena.allocate(layout.pageBytes(), PageLayout.ALIGN);
                p.page(i).copyToHost(host);
                s.pages.add(host);
            } else {
                s.pages.add(MemorySegment.NULL);
            }
        }
        for (int i = 0; i < p.spares(); i++) {
            s.spare.add(MemorySegment.NULL);
        }
        if (withData && sinks[layer] != null) {
            s.sinks = arena.allocate(sinkBytes, PageLayout.ALIGN);
            sinks[layer].copyToHost(s.sinks);
        }
        s.tokens = stored;
        return s;
    }

    @Override
    public int pages(int layer) {
        requireOpen();
        return pages[layer].size();
    }

    @Override
    public MemorySegment pageBytes(int layer, int page) {
        requireOpen();
        engine.bind();
        MemorySegment host = Arena.ofAuto().allocate(layout.pageBytes(), PageLayout.ALIGN);
        pages[layer].page(page).copyToHost(host);
        return host;
    }

    @Override
    public MemoryReport memory(int[] stored) {
        requireOpen();
        MemoryReport total = MemoryReport.empty(shape.kvChannels());
        try (Arena arena = Arena.ofConfined()) {
            for (int l = 0; l < stored.length; l++) {
                MemoryReport m = hostCopy(l, stored[l], arena, false).memory();
                long sinkBytesHere = sinks[l] == null ? 0 : sinks[l].byteSize();
                total = total.plus(new MemoryReport(m.codes(), m.scales(), m.outliers(), sinkBytesHere, m.sideData(),
                        m.pageSlack(), m.tokens(), shape.kvChannels()));
            }
        }
        return total;
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("the KV cache is closed");
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        RuntimeException first = null;
        try {
            engine.bind();
            stream.synchronize();   // nothing may still run on memory that is about to be freed
        } catch (RuntimeException e) {
            first = e;
        }
        java.util.List<AutoCloseable> owned = new java.util.ArrayList<>();
        for (int l = 0; l < pages.length; l++) {
            owned.add(pages[l]);
            if (sinks[l] != null) {
                owned.add(sinks[l]);
            }
            if (tables[l] != null) {
                owned.add(tables[l]);
            }
        }
        owned.add(input);
        owned.add(query);
        owned.add(scores);
        owned.add(output);
        owned.add(stream);
        for (AutoCloseable c : owned) {
            try {
                c.close();
            } catch (Exception e) {
                // free everything else; report the first failure
                if (first == null) {
                    first = e instanceof RuntimeException re ? re : new IllegalStateException(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
