/**
 * The CUDA kernels' committed PTX (one resource per source and architecture) and a catalogue of
 * their entry points, read from the PTX itself.
 */
module dev.kvq.kernels {
    exports dev.kvq.kernels;
}
