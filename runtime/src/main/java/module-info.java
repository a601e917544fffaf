/**
 * The kvq runtime: quantizer formats and calibration ({@code dev.kvq.quant}), the packed KV cache
 * ({@code dev.kvq.cache}) and the attention backends' shared types ({@code dev.kvq.attention}).
 * The CPU kernels ({@code dev.kvq.attention.cpu}) and the CUDA backend's launch layer
 * ({@code dev.kvq.attention.cuda}, on the PTX of {@code dev.kvq.kernels}) are internal. Needs
 * {@code --add-modules jdk.incubator.vector} at run time while the Vector API incubates.
 */
module dev.kvq.runtime {
    requires jdk.incubator.vector;
    requires org.apache.logging.log4j;
    requires dev.kvq.driver;
    requires dev.kvq.kernels;

    exports dev.kvq.quant;
    exports dev.kvq.cache;
    exports dev.kvq.attention;
}
