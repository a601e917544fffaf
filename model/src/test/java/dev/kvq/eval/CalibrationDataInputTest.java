package dev.kvq.eval;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.model.Llama;
import dev.kvq.model.LlamaConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** The calibration-data rows of the input matrix (docs/RELIABILITY.md). */
class CalibrationDataInputTest {
    private static final Llama MODEL = Llama.random(new LlamaConfig(16, 24, 1, 2, 1, 10, 8, true), 1, 0.1f);

    private static void rejects(String excerpt, Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage() != null && e.getMessage().contains(excerpt),
                "message '" + e.getMessage() + "' lacks '" + excerpt + "'");
    }

    @Test
    void theFisherWeightOfEveryElementIsItsSquaredGradientInItsWindow() {
        Llama m = Llama.random(new LlamaConfig(16, 24, 2, 2, 1, 10, 16, true), 3, 0.3f);
        int[] tokens = new java.util.Random(4).ints(64, 0, 10).toArray();
        CalibrationData data = CalibrationData.collect(m, tokens, 3, 16, "m", "t");
        int[] starts = CalibrationData.windowStarts(tokens.length, 3, 16);
        int d = m.config().kvDim();
        for (int w = 0; w < 3; w++) {
            dev.kvq.model.FisherGradients.Result g = dev.kvq.model.FisherGradients.compute(m, tokens, starts[w], 16);
            for (int l = 0; l < 2; l++) {
                for (int i = 0; i < 16 * d; i++) {
                    float gk = g.keys()[l][i];
                    float gv = g.values()[l][i];
                    org.junit.jupiter.api.Assertions.assertEquals(gk * gk, data.keys(l).fisher()[w * 16 * d + i]);
                    org.junit.jupiter.api.Assertions.assertEquals(gv * gv, data.values(l).fisher()[w * 16 * d + i]);
                    org.junit.jupiter.api.Assertions.assertEquals(g.keyActivations()[l][i], data.keys(l).values()[w * 16 * d + i]);
                }
            }
        }
    }

    @Test
    void windowsTokensAndVocabulary() {
        int[] tokens = new int[40];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = 1 + i % 9;
        }
        rejects("need at least one window of at least 2 tokens, got 0 × 8",
                () -> CalibrationData.collect(MODEL, tokens, 0, 8, "m", "t"));
        rejects("need at least one window of at least 2 tokens, got 2 × 1",
                () -> CalibrationData.collect(MODEL, tokens, 2, 1, "m", "t"));
        rejects("the calibration text has 40 tokens, fewer than 6 windows × 8",
                () -> CalibrationData.collect(MODEL, tokens, 6, 8, "m", "t"));
        rejects("window of 16 tokens; the model handles 1…8",
                () -> CalibrationData.collect(MODEL, tokens, 2, 16, "m", "t"));
        int[] foreign = tokens.clone();
        foreign[3] = 99;
        rejects("token 99 at 3 is outside the vocabulary of 10",
                () -> CalibrationData.collect(MODEL, foreign, 1, 8, "m", "t"));
    }
}
