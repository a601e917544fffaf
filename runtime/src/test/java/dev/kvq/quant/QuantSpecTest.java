package dev.kvq.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class QuantSpecTest {

    @Test
    void parsesTheModeNames() {
        QuantSpec s = QuantSpec.parse("nuq3-1%");
        assertEquals(QuantSpec.Mode.NUQ, s.mode());
        assertEquals(3, s.bits());
        assertEquals(0.01, s.outlierFraction());
        assertEquals(1, s.sinkTokens());
        assertEquals("nuq3-1%", s.name());
        assertEquals("nuq2-0.5%", QuantSpec.parse("NUQ2-0.5%").name());
        assertEquals("nuq4", QuantSpec.parse("nuq4").name());
        assertFalse(QuantSpec.parse("nuq4").hasOutliers());
        assertEquals(QuantSpec.fp16(), QuantSpec.parse("fp16"));
        assertEquals(32, QuantSpec.parse("fp32").bits());
        assertEquals("unknown KV mode 'int5' (expected fp32, fp16, nuq4|3|2 or nuq4|3|2-P%)",
                assertThrows(IllegalArgumentException.class, () -> QuantSpec.parse("int5")).getMessage());
        assertThrows(IllegalArgumentException.class, () -> QuantSpec.parse("nuq5-1%"));
        assertThrows(IllegalArgumentException.class, () -> QuantSpec.parse("nuq3-60%"));
    }

    @Test
    void outlierCountsFollowTheDeploymentRules() {
        QuantSpec s = QuantSpec.nuq(4).outliers(0.01);
        assertEquals(21, s.keyOutlierCap(4096));
        assertEquals(22, s.valueTopK(4096));
        assertEquals(42, s.valueOutliersPerToken(4096));
        assertEquals(1, s.keyOutlierCap(32));      // stories260K: D = 4 KV heads × 8
        assertEquals(2, s.valueOutliersPerToken(32));
        assertEquals(0, QuantSpec.nuq(4).keyOutlierCap(4096));
        // ⌊τD⌋ for an exact product must not lose one to rounding: τ = 0.01, D = 200 → 2
        assertEquals(3, QuantSpec.nuq(2).outliers(0.02).keyOutlierCap(200));
    }

    @Test
    void rejectsOutOfRangeSettingsNamingTheValue() {
        assertEquals("bit width must be 2, 3 or 4, got 5",
                assertThrows(IllegalArgumentException.class, () -> QuantSpec.nuq(5)).getMessage());
        assertEquals("outlier fraction must be in [0, 0.5), got 0.5",
                assertThrows(IllegalArgumentException.class, () -> QuantSpec.nuq(3).outliers(0.5)).getMessage());
        assertThrows(IllegalArgumentException.class, () -> QuantSpec.nuq(3).outliers(-0.01));
        assertThrows(IllegalArgumentException.class, () -> QuantSpec.nuq(3).outliers(Double.NaN));
        assertThrows(IllegalArgumentException.class, () -> QuantSpec.nuq(3).sinkTokens(-1));
        assertThrows(IllegalArgumentException.class, () -> QuantSpec.fp16().outliers(0.01));
        assertThrows(IllegalArgumentException.class, () -> QuantSpec.fp32().qNorm(true));
        assertTrue(QuantSpec.nuq(2).qNorm(true).qNorm());
    }
}
