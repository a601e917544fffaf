/**
 * The kvq runtime. Its packages read in one direction, each depending only on those listed before it:
 * the attention geometry ({@code dev.kvq.geometry}), the quantizers and calibration
 * ({@code dev.kvq.quant}), the page format ({@code dev.kvq.layout}), the engines behind one internal
 * seam ({@code dev.kvq.engine}, with the Vector API CPU engine in {@code dev.kvq.engine.cpu} and the
 * CUDA engine in {@code dev.kvq.engine.cuda}, on the PTX of {@code dev.kvq.kernels}), and on top the
 * public cache API with backend selection ({@code dev.kvq.cache}). The engines are internal; the CUDA
 * engine's profiling hooks ({@code dev.kvq.engine.cuda.profiling}) are exported to the benchmark
 * harness module only. Needs {@code --add-modules jdk.incubator.vector} at run time while the Vector
 * API incubates.
 */
@SuppressWarnings("module") // dev.kvq.bench is built after this module, so javac cannot see it here
module dev.kvq.runtime {
    requires jdk.incubator.vector;
    requires org.apache.logging.log4j;
    requires transitive dev.kvq.driver;  // DeviceStep takes and exposes its device memory and stream
    requires dev.kvq.kernels;

    exports dev.kvq.geometry;
    exports dev.kvq.quant;
    exports dev.kvq.layout;
    exports dev.kvq.cache;
    exports dev.kvq.engine.cuda.profiling to dev.kvq.bench;
}
