/**
 * kvq's benchmark harnesses, outside the library: the synthetic LLaMA-shaped layer, the CPU decode
 * benchmark, the GPU benchmark (on the CUDA engine's profiling hooks, which the runtime exports to
 * this module only) and the one timing helper they share. {@code kvq bench} and the JMH benchmarks use
 * it.
 */
module dev.kvq.bench {
    requires dev.kvq.runtime;
    requires dev.kvq.driver;
    requires java.management;

    exports dev.kvq.bench;
}
