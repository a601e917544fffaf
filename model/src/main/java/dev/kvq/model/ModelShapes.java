package dev.kvq.model;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.Rope;
import dev.kvq.geometry.RopePairing;

/** The runtime's view of a llama2.c model: its attention geometry with interleaved RoPE at θ = 10000. */
public final class ModelShapes {
    /** The RoPE base of llama2.c models. */
    public static final double ROPE_THETA = 10000.0;

    private ModelShapes() {}

    /**
     * The attention shape of a llama2.c model.
     *
     * @param c the checkpoint header
     * @return the shape, with interleaved RoPE
     */
    public static AttentionShape attentionShape(LlamaConfig c) {
        return new AttentionShape(c.layers(), c.heads(), c.kvHeads(), c.headSize(),
                Rope.of(ROPE_THETA, RopePairing.INTERLEAVED, c.headSize()));
    }
}
