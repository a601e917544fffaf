/**
 * Reference LLaMA (llama2.c checkpoints and tokenizer) with forward and backward passes, Fisher
 * calibration, the int/nf/KIVI baselines and perplexity evaluation, on top of the kvq runtime.
 */
module dev.kvq.model {
    requires transitive dev.kvq.runtime;

    exports dev.kvq.model;
    exports dev.kvq.eval;
}
