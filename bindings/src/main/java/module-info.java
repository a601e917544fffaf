/**
 * Raw FFM downcalls to the CUDA driver API ({@code libcuda.so.1}), in jextract's layout.
 * They are unchecked and crash the JVM on misuse, so the package is exported only to the safe
 * driver layer ({@code dev.kvq.driver}); nothing else should link against it.
 */
@SuppressWarnings("module") // dev.kvq.driver is built after this module, so javac cannot see it here
module dev.kvq.bindings {
    exports dev.kvq.bindings.cuda to dev.kvq.driver;
}
