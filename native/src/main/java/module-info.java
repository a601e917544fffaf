/**
 * The safe CUDA driver layer: probe, errors, devices, contexts, modules, kernels, device and pinned
 * memory, streams, events and NVTX ranges. It calls native code through FFM, so applications on the
 * module path run with {@code --enable-native-access=dev.kvq.bindings,dev.kvq.driver}.
 */
module dev.kvq.driver {
    requires dev.kvq.bindings;
    requires org.apache.logging.log4j;

    exports dev.kvq.driver;
}
