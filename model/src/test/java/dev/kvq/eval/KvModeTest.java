package dev.kvq.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.quant.FisherWeighting;
import org.junit.jupiter.api.Test;

class KvModeTest {
    @Test
    void parsesEveryFamily() {
        assertEquals(KvMode.Kind.FP32, KvMode.parse("fp32").kind());
        assertEquals(KvMode.Kind.NF, KvMode.parse("NF3").kind());
        assertEquals(KvMode.Kind.INT_KEY_CHANNEL_PRE_ROPE, KvMode.parse("int3-kchan-pre").kind());
        KvMode kivi = KvMode.parse("kivi2");
        assertEquals(128, kivi.recentWindow());
        assertEquals("kivi2-r128", kivi.name());
        assertEquals(32, KvMode.parse("kivi4-r32").recentWindow());
        KvMode nuq = KvMode.parse("nuq3-1%-s0-unweighted");
        assertEquals(0, nuq.spec().sinkTokens());
        assertEquals(0.01, nuq.spec().outlierFraction(), 1e-12);
        assertEquals(FisherWeighting.UNWEIGHTED, nuq.spec().weighting());
        assertEquals(1, KvMode.parse("nuq2-1%").spec().sinkTokens());
        assertEquals(FisherWeighting.FISHER_SCALED, KvMode.parse("nuq2-1%").spec().weighting());
    }

    @Test
    void parsesTheOutlierFormAndThePackedPath() {
        KvMode sparse = KvMode.parse("nuq3-1%-sparse");
        assertEquals(KvMode.Kind.NUQ, sparse.kind());
        assertEquals(dev.kvq.quant.QuantSpec.OutlierForm.TOKEN_MAJOR_SPARSE, sparse.spec().outlierForm());
        KvMode packed = KvMode.parse("nuq2-1%-packed");
        assertEquals(KvMode.Kind.NUQ_PACKED, packed.kind());
        assertTrue(packed.isNuq());
        assertEquals(dev.kvq.quant.QuantSpec.OutlierForm.FIXED_SLOTS, packed.spec().outlierForm());
        assertEquals(EffectiveBits.of(KvMode.parse("nuq2-1%"), 32, 4, 512), EffectiveBits.of(packed, 32, 4, 512));
        assertEquals(KvMode.Kind.NUQ_KEYS_ONLY, KvMode.parse("nuq3-1%-konly").kind());
        assertEquals(KvMode.Kind.NUQ_VALUES_ONLY, KvMode.parse("nuq3-1%-vonly").kind());
    }

    @Test
    void rejectsUnknownNamesWithTheGrammar() {
        var e = assertThrows(IllegalArgumentException.class, () -> KvMode.parse("int5"));
        assertTrue(e.getMessage().contains("int5") && e.getMessage().contains("kivi"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> KvMode.parse("kivi2-r40"));
        assertThrows(IllegalArgumentException.class, () -> KvMode.parse("kivi2-r-32"));
        assertEquals(0, KvMode.parse("kivi4-r0").recentWindow(), "KIVI without its full-precision window");
        assertThrows(IllegalArgumentException.class, () -> KvMode.parse("nf3-kchan"));
    }

    @Test
    void parsesTheNewKvqModesAndTheirPaths() {
        KvMode m = KvMode.parse("nuqa3-1%-r32");
        assertEquals(KvMode.Kind.NUQ, m.kind());
        assertEquals(32, m.recentWindow());
        assertTrue(m.spec().allocated());
        assertEquals(KvMode.Kind.NUQ_PACKED, KvMode.parse("nuqa4-r16-packed").kind());
        assertEquals(KvMode.Kind.NUQ_KEYS_ONLY, KvMode.parse("nuq3-r32-ccb-konly").kind());
        assertEquals(dev.kvq.quant.QuantSpec.KeyCodebooks.PER_CHANNEL, KvMode.parse("nuq3-r32-ccb-konly").spec().keyCodebooks());
        for (String name : java.util.List.of("nuqa4-r16", "nuqa3-r32", "nuqa2-r32", "nuqa3-1%-r32", "nuq3-1%-r32")) {
            assertEquals(name, KvMode.parse(name).spec().name());
        }
        for (String preset : dev.kvq.quant.QuantSpec.PRESETS.keySet()) {
            assertTrue(KvMode.parse(preset).isNuq(), preset);
        }
        assertTrue(assertThrows(IllegalArgumentException.class, () -> KvMode.parse("nuq3-packed-r32")).getMessage()
                .contains("packed"));
    }

    @Test
    void storedBitsCountTheAllocatedSlotsTheWindowAndTheOpenKiviGroup() {
        // D = 32: nuq4-1% stores 2 key slots and 2 value slots of 32 bits per token (not the paper's 1%),
        // plus (page format v2) a uint8 end per KV head in each tensor's outlier list
        assertEquals(6.5 + 8.0 / 32, EffectiveBits.of(KvMode.parse("nuq4-1%"), 32, 1, 0), 1e-12);
        assertEquals(6.5 + 4 * 8.0 / 32, EffectiveBits.of(KvMode.parse("nuq4-1%"), 32, 4, 0), 1e-12);
        // v2: the sink is fp16 only; every later token is packed and the last 32 also kept in fp16
        assertEquals((3.5 * (512 - 1) + 16.0 * 33) / 512, EffectiveBits.of(KvMode.parse("nuq3-r32"), 32, 4, 512), 1e-12);
        // KIVI without a window keeps the tokens of the group being filled in fp16
        assertEquals((5.0 * 512 + 16.0 * 8) / 520, EffectiveBits.of(KvMode.parse("kivi4-r0"), 32, 4, 520), 1e-12);
        assertEquals(5.0, EffectiveBits.of(KvMode.parse("kivi4-r0"), 32, 4, 512), 1e-12);
    }

    @Test
    void effectiveBitsCountOverheadsAndTheKiviWindow() {
        assertEquals(4 + 1.0, EffectiveBits.of(KvMode.parse("int4"), 32, 4, 512), 1e-12);   // fp16 z,s per 32-vector
        assertEquals((3.0 * 384 + 16 * 128) / 512, EffectiveBits.of(KvMode.parse("kivi2-r128"), 32, 4, 512), 1e-12);
        assertEquals(3.0 + 13 * 128 / 32768.0, EffectiveBits.of(KvMode.parse("kivi2-r128"), 4096, 32, 32768), 1e-12);
        double nuq = EffectiveBits.of(KvMode.parse("nuq3-1%"), 4096, 32, 0);
        // stored: 42 key and 42 value slots of 32 bits (the paper's count of the same data is 3.32–3.35)
        // and 32 uint8 head ends per tensor
        assertEquals(3 + 42 * 32.0 / 4096 + 16.0 / 4096 + 32 * 8.0 / 4096, nuq, 1e-12);
    }
}
