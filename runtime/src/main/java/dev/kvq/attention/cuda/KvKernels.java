package dev.kvq.attention.cuda;

import dev.kvq.attention.AttentionShape;
import dev.kvq.cache.PageLayout;
import dev.kvq.driver.DeviceMemory;
import dev.kvq.driver.Stream;
import dev.kvq.quant.LayerCalibration;
import dev.kvq.quant.QuantSpec;
import java.util.List;

/** PROVISIONAL: typed launches of the cache kernels (filled in once the kernels' ABI is merged). */
public final class KvKernels {
    /** Kernel sources (PTX resources) the backend loads. */
    public static final List<String> SOURCES = List.of("vector_add");
    /** Entry points that must be present. */
    public static final List<String> REQUIRED = List.of();

    /** Per-layer tables on the device. */
    public static final class LayerTables implements AutoCloseable {
        @Override
        public void close() {
        }
    }

    /** Launches for one cache geometry. */
    public KvKernels(CudaEngine engine, AttentionShape shape, QuantSpec spec, PageLayout layout) {
    }

    /** Throws for a spec the kernels do not cover. */
    public static void requireSupported(AttentionShape shape, QuantSpec spec, PageLayout layout) {
        if (layout.sparseOutliers()) {
            throw new UnsupportedOperationException("the CUDA kernels store outliers in FIXED_SLOTS only, not "
                    + QuantSpec.OutlierForm.TOKEN_MAJOR_SPARSE);
        }
    }

    /** Uploads one layer's tables. */
    public LayerTables upload(LayerCalibration calibration) {
        throw new UnsupportedOperationException("pending");
    }

    /** Packs tokens. */
    public void append(Stream stream, LayerTables t, DevicePages pages, DeviceMemory in, long keysOffset,
                       long valuesOffset, int firstSlot, int n, long firstPosition) {
        throw new UnsupportedOperationException("pending");
    }

    /** Scores. */
    public void scores(Stream stream, LayerTables t, DevicePages pages, long sinks, int sinkCount, int packed,
                       long firstPosition, DeviceMemory query, DeviceMemory scores, int stride) {
        throw new UnsupportedOperationException("pending");
    }

    /** Softmax. */
    public void softmax(Stream stream, DeviceMemory scores, int rows, int n) {
        throw new UnsupportedOperationException("pending");
    }

    /** Values. */
    public void values(Stream stream, LayerTables t, DevicePages pages, long sinks, int sinkCount, int packed,
                       DeviceMemory weights, int stride, DeviceMemory out) {
        throw new UnsupportedOperationException("pending");
    }
}
