package dev.kvq.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.eval.Corpus;
import dev.kvq.eval.Perplexity;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/** The golden values of the data NOTICE (measured there with an independent float64 implementation). */
class GoldenTest {
    static final String GREEDY = "Once upon a time, there was a little girl named Lily. She loved to play outside in "
            + "the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.\nLily";

    @Test
    void loadsTheStoriesHeader() {
        LlamaConfig c = TestData.model().config();
        assertEquals(new LlamaConfig(64, 172, 5, 8, 4, 512, 512, true), c);
        assertEquals(8, c.headSize());
        assertEquals(32, c.kvDim());
    }

    @Test
    void greedyContinuationMatchesNotice() {
        Llama m = TestData.model();
        Tokenizer tok = TestData.tokenizer();
        int[] prompt = tok.encode("Once upon a time");
        Generator.Output out = new Generator(m).generate(prompt, 60, 0f, 0, new Fp32DecodeCache(m));
        assertEquals(60, out.generated().length);
        assertEquals(GREEDY, tok.decode(out.tokens()));
    }

    @Test
    void windowForwardAgreesWithDecodeSteps() {
        Llama m = TestData.model();
        int[] tokens = TestData.tokenizer().encode("Tom and Sue went to the park. They saw a dog and a cat.");
        float[] window = m.forward(tokens, 0, tokens.length, KvStore.FP32);
        Fp32DecodeCache cache = new Fp32DecodeCache(m);
        int v = m.config().vocabSize();
        for (int t = 0; t < tokens.length; t++) {
            float[] step = m.step(tokens[t], t, cache);
            for (int i = 0; i < v; i++) {
                assertEquals(window[t * v + i], step[i], 1e-4f, "token " + t + " logit " + i);
            }
        }
    }

    @Test
    void tinyStoriesPerplexity() throws IOException {
        String text = Corpus.head(Corpus.read(TestData.corpus(DataRoot.TINYSTORIES)), 120_000);
        int[] tokens = TestData.tokenizer().encode(text);
        Perplexity.Result r = Perplexity.evaluate(TestData.model(), tokens, 512, 20, w -> KvStore.FP32);
        assertEquals(20 * 511, r.predictions());
        assertEquals(4.0022, r.perplexity(), 4.0022 * 0.001, "TinyStories perplexity " + r.perplexity());
    }

    @Test
    void wikiTextPerplexity() throws IOException {
        String text = Corpus.read(TestData.corpus(DataRoot.WIKITEXT2));
        int[] tokens = TestData.tokenizer().encode(text);
        Perplexity.Result r = Perplexity.evaluate(TestData.model(), tokens, 512, 40, w -> KvStore.FP32);
        assertEquals(131.01, r.perplexity(), 131.01 * 0.002, "WikiText-2 perplexity " + r.perplexity());
    }

    @Test
    void encodeDecodeRoundTripsWithByteFallback() {
        Tokenizer tok = TestData.tokenizer();
        String s = "Hello wörld — 猫\n\nThe end.";
        int[] ids = tok.encode(s);
        assertEquals(Tokenizer.BOS, ids[0]);
        assertEquals(s, tok.decode(ids));
        assertTrue(java.util.Arrays.stream(ids).anyMatch(i -> i >= Tokenizer.BYTE_OFFSET && i < Tokenizer.BYTE_OFFSET + 256),
                "CJK text should need byte fallback in a 512-piece vocabulary");
        assertArrayEquals(new int[] {Tokenizer.BOS}, tok.encode(""));
    }
}
