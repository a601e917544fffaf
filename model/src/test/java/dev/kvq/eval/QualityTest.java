package dev.kvq.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.model.DataRoot;
import dev.kvq.model.Fp32DecodeCache;
import dev.kvq.model.Generator;
import dev.kvq.model.Llama;
import dev.kvq.model.PackedDecodeCache;
import dev.kvq.model.TestData;
import dev.kvq.model.Tokenizer;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.QuantSpec;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/**
 * Quantized modes on the real model: sanity of the simulated tables (on TinyStories: skipped without the
 * corpus) and of the packed decode path (on text the model generates: runs everywhere).
 */
class QualityTest {
    private static CalibrationData calibration() throws IOException {
        String text = Corpus.read(TestData.corpus(DataRoot.TINYSTORIES));
        int[] tokens = TestData.tokenizer().encode(Corpus.calibrationPart(text));
        return CalibrationData.collect(TestData.model(), tokens, 16, 512, "stories260K", "tinystories calibration part");
    }

    @Test
    void nuqBeatsSameOrMoreBitBaselinesOnTinyStories() throws IOException {
        Llama m = TestData.model();
        String text = Corpus.read(TestData.corpus(DataRoot.TINYSTORIES));
        int[] tokens = TestData.tokenizer().encode(Corpus.head(Corpus.evaluationPart(text), 60_000));
        CalibrationData data = calibration();
        Evaluator ev = new Evaluator(m, tokens, 512, 8, () -> data);
        double fp32 = ev.evaluate(KvMode.parse("fp32")).perplexity();
        double nuq4 = ev.evaluate(KvMode.parse("nuq4-1%")).perplexity();
        double nuq3 = ev.evaluate(KvMode.parse("nuq3-1%")).perplexity();
        double int4 = ev.evaluate(KvMode.parse("int4")).perplexity();
        double nf4 = ev.evaluate(KvMode.parse("nf4")).perplexity();
        assertTrue(nuq4 > fp32 && nuq4 < fp32 * 1.05, "nuq4-1% " + nuq4 + " vs fp32 " + fp32);
        assertTrue(nuq3 > nuq4 && nuq3 < fp32 * 1.12, "nuq3-1% " + nuq3 + " vs fp32 " + fp32);
        // int4/nf4 spend 5 bits at D = 32, more than nuq3-1% (≈4.84)
        assertTrue(nuq3 < int4 && nuq3 < nf4, "nuq3-1% " + nuq3 + ", int4 " + int4 + ", nf4 " + nf4);
    }

    @Test
    void packedCacheDecodingFollowsTheReference() throws IOException {
        Llama m = TestData.model();
        Tokenizer tok = TestData.tokenizer();
        int[] prompt = tok.encode("Once upon a time");
        int[] reference = new Generator(m).generate(prompt, 60, 0f, 0, new Fp32DecodeCache(m)).tokens();
        try (PackedDecodeCache fp32 = new PackedDecodeCache(m, QuantSpec.fp32(), null)) {
            assertArrayEquals(reference, new Generator(m).generate(prompt, 60, 0f, 0, fp32).tokens());
        }
    }

    /**
     * Teacher-forced decoding through the runtime's packed cache (BOS is the only prompt token, so
     * every later token is packed) must score a passage like the simulated store does: both quantize
     * the same vectors with the same quantizers; only RoPE angle precision and fp16 rounding differ.
     * Passage and calibration are text the fp32 model generated.
     */
    @Test
    void packedCacheScoresLikeTheSimulation() {
        Llama m = TestData.model();
        int n = 256;
        int[] tokens = GeneratedText.sample(m, 1, n, GeneratedText.REFERENCE_SEED);
        QuantSpec spec = QuantSpec.parse("nuq3-1%");
        Calibration c = GeneratedText.calibrationData(m, 4, 512, "stories260K").calibrate(spec, "test");
        double simulated = Perplexity.windowNll(m, tokens, 0, n, SimulatedStores.nuq(spec, c)) / (n - 1);
        double fp32 = Perplexity.windowNll(m, tokens, 0, n, dev.kvq.model.KvStore.FP32) / (n - 1);
        double packed = 0;
        try (PackedDecodeCache cache = new PackedDecodeCache(m, spec, c)) {
            for (int t = 0; t + 1 < n; t++) {
                float[] logits = m.step(tokens[t], t, cache);
                packed -= Perplexity.logSoftmax(logits, 0, logits.length, tokens[t + 1]);
            }
            assertTrue(cache.effectiveBits() < 32);
        }
        packed /= n - 1;
        assertTrue(simulated > fp32, "nuq3-1% " + simulated + " should cost NLL over fp32 " + fp32);
        assertTrue(Math.abs(packed - simulated) < 0.02 * (simulated - fp32) + 1e-3,
                "packed NLL " + packed + " vs simulated " + simulated + " (fp32 " + fp32 + ")");
    }
}
