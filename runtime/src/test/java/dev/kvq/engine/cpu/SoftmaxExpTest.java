package dev.kvq.engine.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

class SoftmaxExpTest {
    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;

    @Test
    void isWithinTwoUlpOfMathExpOverTheSoftmaxRange() {
        SplittableRandom random = new SplittableRandom(1);
        double worst = 0;
        for (int i = 0; i < 1_000_000; i++) {
            float x = (float) (-87.0 * random.nextDouble());
            float expected = (float) Math.exp(x);
            float ulps = Math.abs(SoftmaxExp.exp(x) - expected) / Math.ulp(expected);
            worst = Math.max(worst, ulps);
        }
        assertTrue(worst <= 2, "worst error " + worst + " ulp");
        assertEquals(1f, SoftmaxExp.exp(0f));
        assertEquals(1f, SoftmaxExp.exp(-0f));
        assertEquals(0f, SoftmaxExp.exp(-87.5f));
        assertEquals(0f, SoftmaxExp.exp(Float.NEGATIVE_INFINITY));
    }

    @Test
    void vectorLanesHaveTheBitsOfTheScalarForm() {
        SplittableRandom random = new SplittableRandom(2);
        int lanes = SPECIES.length();
        float[] x = new float[lanes * 4096];
        for (int i = 0; i < x.length; i++) {
            x[i] = switch (i % 5) {
                case 0 -> (float) (-100.0 * random.nextDouble());   // some below the cut-off
                case 1 -> -(float) random.nextDouble() * 1e-6f;
                default -> (float) (-30.0 * random.nextDouble());
            };
        }
        float[] y = new float[x.length];
        // repeated so that the loop is JIT-compiled part-way: compiled and interpreted must agree
        for (int rep = 0; rep < 20; rep++) {
            for (int i = 0; i < x.length; i += lanes) {
                SoftmaxExp.exp(FloatVector.fromArray(SPECIES, x, i)).intoArray(y, i);
            }
            for (int i = 0; i < x.length; i++) {
                assertEquals(Float.floatToRawIntBits(SoftmaxExp.exp(x[i])), Float.floatToRawIntBits(y[i]),
                        "x = " + x[i] + " in repetition " + rep);
            }
        }
    }
}
