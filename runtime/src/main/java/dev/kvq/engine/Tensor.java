package dev.kvq.engine;

/** The two halves of a KV cache layer. */
public enum Tensor {
    /** The keys (stored before RoPE in nuq pages, after it in sinks and baseline pages). */
    KEYS,
    /** The values. */
    VALUES
}
