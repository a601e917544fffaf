package dev.kvq.geometry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class RopeAndShapeTest {

    @Test
    void rotateHalfMatchesTheHuggingFaceFormula() {
        int d = 8;
        Rope rope = Rope.of(10000, RopePairing.ROTATE_HALF, d);
        float[] x = {1, 2, 3, 4, 5, 6, 7, 8};
        float[] y = x.clone();
        long p = 37;
        rope.apply(y, 0, p);
        for (int j = 0; j < d; j++) {
            double w = Math.pow(10000, -2.0 * (j % 4) / d);
            double phi = (float) p * (float) w;
            double expected = j < 4 ? x[j] * Math.cos(phi) - x[j + 4] * Math.sin(phi)
                    : x[j] * Math.cos(phi) + x[j - 4] * Math.sin(phi);
            assertEquals(expected, y[j], 1e-5, "channel " + j);
        }
    }

    @Test
    void interleavedRotatesAdjacentPairs() {
        int d = 8;
        Rope rope = Rope.of(10000, RopePairing.INTERLEAVED, d);
        float[] x = {1, 2, 3, 4, 5, 6, 7, 8};
        float[] y = x.clone();
        rope.apply(y, 0, 5);
        for (int i = 0; i < d / 2; i++) {
            double phi = 5f * (float) Math.pow(10000, -2.0 * i / d);
            assertEquals(x[2 * i] * Math.cos(phi) - x[2 * i + 1] * Math.sin(phi), y[2 * i], 1e-5);
            assertEquals(x[2 * i + 1] * Math.cos(phi) + x[2 * i] * Math.sin(phi), y[2 * i + 1], 1e-5);
        }
    }

    @Test
    void scalingIsATableChange() {
        Rope base = Rope.of(10000, RopePairing.ROTATE_HALF, 128);
        Rope linear8 = Rope.of(10000, RopePairing.ROTATE_HALF, 128, w -> w / 8);
        assertEquals(base.invFreq()[5] / 8, linear8.invFreq()[5], 1e-9f);
        assertEquals(128, linear8.headDim());
    }

    @Test
    void shapeValidatesGeometry() {
        AttentionShape s = new AttentionShape(32, 32, 8, 128);
        assertEquals(1024, s.kvChannels());
        assertEquals(4, s.groupSize());
        assertEquals("query heads (6) must be a multiple of KV heads (4)",
                assertThrows(IllegalArgumentException.class, () -> new AttentionShape(1, 6, 4, 8)).getMessage());
        assertThrows(IllegalArgumentException.class, () -> new AttentionShape(1, 4, 4, 12));
        assertThrows(IllegalArgumentException.class, () -> new AttentionShape(1, 4, 4, 264));
        assertThrows(IllegalArgumentException.class, () -> new AttentionShape(0, 4, 4, 8));
        assertThrows(IllegalArgumentException.class,
                () -> new AttentionShape(1, 4, 4, 64, Rope.of(10000, RopePairing.ROTATE_HALF, 128)));
        assertTrue(s.sameGeometry(new AttentionShape(32, 32, 8, 128, Rope.of(5e5, RopePairing.INTERLEAVED, 128))));
    }
}
