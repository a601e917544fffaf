package dev.kvq.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
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
        assertTrue(assertThrows(IllegalArgumentException.class, () -> QuantSpec.parse("int5")).getMessage()
                .startsWith("unknown KV mode 'int5' (expected fp32, fp16, "));
        assertThrows(IllegalArgumentException.class, () -> QuantSpec.parse("nuq5-1%"));
        assertThrows(IllegalArgumentException.class, () -> QuantSpec.parse("nuq3-60%"));
    }

    @Test
    void parsesWindowsAllocationsAndCodebooksInAnyOrderAndPrintsThemCanonically() {
        QuantSpec s = QuantSpec.parse("nuqa3-1%-r32");
        assertTrue(s.allocated());
        assertEquals(QuantSpec.Allocation.CHANNEL, s.allocation());
        assertEquals(3, s.bits());
        assertEquals(32, s.recentWindow());
        assertEquals(0.01, s.outlierFraction());
        assertEquals("nuqa3-1%-r32", s.name());
        assertEquals(s, QuantSpec.parse("nuqa3-r32-1%"));
        assertEquals(33, s.fp16Tokens(), "one sink and 32 recent tokens");
        assertEquals("nuq3-1%-r32", QuantSpec.parse("nuq3-1%-r32").name());
        assertEquals("nuqa2-r32-head", QuantSpec.parse("NUQA2-head-r32").name());
        assertEquals(QuantSpec.Allocation.TENSOR, QuantSpec.parse("nuqa4-tensor").allocation());
        QuantSpec ccb = QuantSpec.parse("nuq3-ccb-1%");
        assertEquals(QuantSpec.KeyCodebooks.PER_CHANNEL, ccb.keyCodebooks());
        assertEquals("nuq3-1%-ccb", ccb.name());
        assertEquals(QuantSpec.KeyCodebooks.PER_LAYER, QuantSpec.parse("nuq3-lcb").keyCodebooks());
        assertTrue(QuantSpec.parse("nuqa2-r32-vtok").valuesAlongTokens());
        assertEquals("nuqa2-r32-vtok", QuantSpec.parse("nuqa2-vtok-r32").name());
        QuantSpec ablation = QuantSpec.parse("nuq3-1%-s0-unweighted-sparse");
        assertEquals(0, ablation.sinkTokens());
        assertEquals(FisherWeighting.UNWEIGHTED, ablation.weighting());
        assertEquals(QuantSpec.OutlierForm.TOKEN_MAJOR_SPARSE, ablation.outlierForm());
        assertEquals(FisherWeighting.FISHER, QuantSpec.parse("nuq3-fisher").weighting());
        for (String name : List.of("nuq4", "nuq3-1%", "nuqa3-1%-r32", "nuqa2-r32-head", "nuq2-0.5%-r16-ccb",
                "nuqa4-r16-tensor-ccb", "nuqa3-r32-vtok")) {
            assertEquals(name, QuantSpec.parse(name).name(), "round trip of " + name);
        }
        assertFalse(QuantSpec.parse("nuq3-1%").extended(), "version-1 fields only");
        assertTrue(QuantSpec.parse("nuq3-r1").extended());
    }

    @Test
    void rejectsSuffixesThatDoNotApply() {
        assertEquals("KV mode 'nuq3-r8-r16' sets '-r16' twice",
                assertThrows(IllegalArgumentException.class, () -> QuantSpec.parse("nuq3-r8-r16")).getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> QuantSpec.parse("nuq3-head")).getMessage()
                .contains("only nuqaB modes have"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> QuantSpec.parse("nuq3-vtok")).getMessage()
                .contains("only nuqaB modes have"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> QuantSpec.parse("nuq3-w9")).getMessage()
                .contains("'-w9' is not a suffix"));
        assertEquals("unknown KV mode 'nuqa6': an allocated bit budget must be in [1, 5] bits per element on average,"
                + " got 6", assertThrows(IllegalArgumentException.class, () -> QuantSpec.parse("nuqa6")).getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> QuantSpec.parse("nuq3-r99999999999"))
                .getMessage().contains("too large"));
        assertThrows(IllegalArgumentException.class, () -> QuantSpec.parse("nuq3-r65537"));
        assertThrows(IllegalArgumentException.class, () -> QuantSpec.fp16().window(16));
        assertThrows(IllegalArgumentException.class, () -> QuantSpec.fp32().keyCodebooks(QuantSpec.KeyCodebooks.PER_CHANNEL));
        assertThrows(IllegalArgumentException.class, () -> QuantSpec.nuq(3).valuesAlongTokens(true));
    }

    @Test
    void presetsAreAliasesOfSpelledOutModes() {
        for (var e : QuantSpec.PRESETS.entrySet()) {
            assertEquals(QuantSpec.parse(e.getValue()), QuantSpec.parse(e.getKey()), e.getKey());
            assertEquals(QuantSpec.parse(e.getValue()), QuantSpec.parse(e.getKey().toUpperCase()), e.getKey());
        }
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
