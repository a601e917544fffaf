package dev.kvq.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.model.Llama;
import dev.kvq.model.TestData;
import dev.kvq.model.Tokenizer;
import dev.kvq.quant.QuantSpec;
import java.util.Arrays;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The corpus-free quality measure on the real model: generated text, KL, top-1 agreement, stored bits. */
class FidelityTest {
    private static final int LENGTH = 256;
    private static final int WINDOWS = 3;
    private static Fidelity fidelity;

    @BeforeAll
    static void scoreOnGeneratedText() {
        Llama m = TestData.model();
        int[] stream = GeneratedText.sample(m, WINDOWS, LENGTH, GeneratedText.REFERENCE_SEED);
        // a small calibration keeps the test quick; the demo and eval use 8-16 windows of 512
        fidelity = new Fidelity(m, stream, LENGTH, WINDOWS, () -> GeneratedText.calibrationData(m, 4, LENGTH, "stories260K"));
    }

    @Test
    void generatedWindowsStartAtBosAndDependOnlyOnTheSeed() {
        Llama m = TestData.model();
        int[] two = GeneratedText.sample(m, 2, 64, 9);
        int[] one = GeneratedText.sample(m, 1, 64, 9);
        assertEquals(Tokenizer.BOS, two[0]);
        assertEquals(Tokenizer.BOS, two[64]);
        assertArrayEquals(one, Arrays.copyOf(two, 64), "a window does not depend on how many are drawn");
        assertTrue(!Arrays.equals(Arrays.copyOf(two, 64), Arrays.copyOfRange(two, 64, 128)), "windows differ");
        assertTrue(!Arrays.equals(one, GeneratedText.sample(m, 1, 64, 10)), "another seed, another text");
        String text = TestData.tokenizer().decode(two);
        assertTrue(text.chars().filter(Character::isLetter).count() > 100, "the model writes words: " + text);
        assertThrows(IllegalArgumentException.class, () -> GeneratedText.sample(m, 1, 513, 1));
        assertThrows(IllegalArgumentException.class, () -> GeneratedText.sample(m, 0, 64, 1));
    }

    @Test
    void fp32ScoresZeroAndFp16AlmostZero() {
        Fidelity.Row fp32 = fidelity.evaluate(KvMode.parse("fp32"));
        assertEquals(0, fp32.klDivergence(), 0);
        assertEquals(1, fp32.top1Agreement(), 0);
        assertEquals((long) WINDOWS * (LENGTH - 1), fp32.predictions());
        assertNull(fp32.memory(), "a simulated mode stores nothing");
        Fidelity.Row fp16 = fidelity.evaluate(KvMode.parse("fp16"));
        assertTrue(fp16.klDivergence() > 0 && fp16.klDivergence() < 1e-4, "fp16 KL " + fp16.klDivergence());
        assertTrue(fp16.top1Agreement() > 0.99, "fp16 top-1 " + fp16.top1Agreement());
        assertEquals(fp32.perplexity(), fp16.perplexity(), 1e-3 * fp32.perplexity());
    }

    /** The generated-text counterpart of the TinyStories ranking test: fewer bits cost more, nuq beats int/nf. */
    @Test
    void klRanksModesLikeTheCorpusDoes() {
        double nuq4 = fidelity.evaluate(KvMode.parse("nuq4-1%")).klDivergence();
        double nuq3 = fidelity.evaluate(KvMode.parse("nuq3-1%")).klDivergence();
        double nuq2 = fidelity.evaluate(KvMode.parse("nuq2-1%")).klDivergence();
        Fidelity.Row int4 = fidelity.evaluate(KvMode.parse("int4"));
        double nf4 = fidelity.evaluate(KvMode.parse("nf4")).klDivergence();
        assertTrue(0 < nuq4 && nuq4 < nuq3 && nuq3 < nuq2, "nuq4-1% " + nuq4 + " < nuq3-1% " + nuq3 + " < nuq2-1% " + nuq2);
        // int4/nf4 spend 5 bits at D = 32, more than nuq3-1%'s 4.84 in the same accounting
        assertTrue(nuq3 < int4.klDivergence() && nuq3 < nf4, "nuq3-1% " + nuq3 + ", int4 " + int4.klDivergence() + ", nf4 " + nf4);
        assertEquals(5.0, int4.bits(), 1e-9);
        Fidelity.Row fp32 = fidelity.evaluate(KvMode.parse("fp32"));
        assertTrue(int4.perplexity() > fp32.perplexity() && int4.top1Agreement() < 1, int4.toString());
    }

    /** Packed rows decode token by token through the runtime cache and report what it stored. */
    @Test
    void packedCacheAgreesWithTheSimulationAndCountsStoredBits() {
        Fidelity.Row simulated = fidelity.evaluate(KvMode.parse("nuq3-1%"));
        Fidelity.Row packed = fidelity.evaluate(KvMode.parse("nuq3-1%-packed"));
        assertEquals(simulated.klDivergence(), packed.klDivergence(), 0.02 * simulated.klDivergence(),
                "packed " + packed + " vs simulated " + simulated);
        assertNotNull(packed.memory());
        assertEquals((long) WINDOWS * 5 * (LENGTH - 1), packed.memory().tokens(), "tokens stored over windows and layers");
        assertEquals(packed.memory().effectiveBits(), packed.bits(), 1e-12);
        assertTrue(packed.bits() > simulated.bits(), "allocated bits " + packed.bits() + " include the tables and padding the "
                + "paper accounting (" + simulated.bits() + ") leaves out");
        Fidelity.Row fp32 = fidelity.packed(QuantSpec.fp32());
        assertTrue(fp32.klDivergence() < 1e-6 && fp32.top1Agreement() > 0.999, fp32.toString());
        assertEquals(32, fp32.bits(), 0.5, "an fp32 cache stores 32 bits plus page padding");
    }

    @Test
    void refusesMoreWindowsThanTheStreamHas() {
        Llama m = TestData.model();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Fidelity(m, new int[100], 64, 2, () -> null));
        assertTrue(e.getMessage().contains("2 windows of 64 tokens requested; the stream has 1"), e.getMessage());
    }
}
