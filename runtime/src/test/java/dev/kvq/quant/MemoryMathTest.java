package dev.kvq.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.quant.MemoryMath.Accounting;
import org.junit.jupiter.api.Test;

class MemoryMathTest {
    private static final AttentionShape LLAMA_7B = new AttentionShape(32, 32, 32, 128);
    private static final long CONTEXT_128K = 128 * 1024;
    private static final double GIB = 1024.0 * 1024 * 1024;

    private static double gib(String mode) {
        return MemoryMath.bytes(LLAMA_7B, QuantSpec.parse(mode), CONTEXT_128K, Accounting.PAPER) / GIB;
    }

    private static double round1(double x) {
        return Math.round(x * 10) / 10.0;
    }

    @Test
    void reproducesThePapersLlama7bFiguresAt128k() {
        assertEquals(64L << 30, MemoryMath.fp16Bytes(LLAMA_7B, CONTEXT_128K));
        assertEquals(64.0, round1(gib("fp16")));
        assertEquals(17.3, round1(gib("nuq4-1%")));
        assertEquals(13.3, round1(gib("nuq3-1%")));
        assertEquals(9.3, round1(gib("nuq2-1%")));
        assertEquals(16.0, round1(gib("nuq4")));
        assertEquals(12.0, round1(gib("nuq3")));
        assertEquals(8.0, round1(gib("nuq2")));
    }

    @Test
    void reproducesThePapersCompressionRatios() {
        int d = LLAMA_7B.kvChannels();
        assertEquals(3.7, round1(MemoryMath.compression(QuantSpec.parse("nuq4-1%"), d, LLAMA_7B.kvHeads(), CONTEXT_128K, Accounting.PAPER)));
        assertEquals(4.8, round1(MemoryMath.compression(QuantSpec.parse("nuq3-1%"), d, LLAMA_7B.kvHeads(), CONTEXT_128K, Accounting.PAPER)));
        assertEquals(6.9, round1(MemoryMath.compression(QuantSpec.parse("nuq2-1%"), d, LLAMA_7B.kvHeads(), CONTEXT_128K, Accounting.PAPER)));
        assertEquals(8.0, round1(MemoryMath.compression(QuantSpec.parse("nuq2"), d, LLAMA_7B.kvHeads(), CONTEXT_128K, Accounting.PAPER)));
    }

    @Test
    void effectiveBitsFollowTheAccountingRules() {
        int d = 4096;
        int heads = 32;
        // paper: b + 32·1% + 32/D pointer (both tensors) + 16/D (value scale and zero, averaged)
        assertEquals(3 + 0.32 + 32.0 / d + 16.0 / d,
                MemoryMath.effectiveBits(QuantSpec.parse("nuq3-1%"), d, heads, 0, Accounting.PAPER), 1e-12);
        // fixed slots: 42 key slots and 42 value slots of 32 bits, scale and zero, no pointers; v2 adds a
        // uint8 end per KV head to each tensor's list
        assertEquals(3 + 42 * 32.0 / d + 16.0 / d + 8.0 * heads / d,
                MemoryMath.effectiveBits(QuantSpec.parse("nuq3-1%"), d, heads, 0, Accounting.STORED), 1e-12);
        assertEquals(16.0, MemoryMath.effectiveBits(QuantSpec.fp16(), d, heads, 1000, Accounting.PAPER));
        // one fp16 sink token out of two tokens
        double packed = MemoryMath.effectiveBits(QuantSpec.parse("nuq2"), d, heads, 0, Accounting.PAPER);
        assertEquals((packed + 16) / 2, MemoryMath.effectiveBits(QuantSpec.parse("nuq2"), d, heads, 2, Accounting.PAPER), 1e-12);
    }

    @Test
    void storedBitsAtThirtyTwoChannelsCountEveryAllocatedSlot() {
        int d = 32;   // stories260K: at 1% the value top-k flags one element per side and token (6.25%)
        int heads = 4;
        // keys: 4 code bits + 2 slots × 32 bits / 32; values: 4 + 1 (scale, zero) + 2 slots × 32 / 32;
        // both: a uint8 end per KV head (v2), 4 × 8 / 32 = 1 bit
        assertEquals((6.0 + 7.0) / 2 + 1, MemoryMath.effectiveBits(QuantSpec.parse("nuq4-1%"), d, heads, 0, Accounting.STORED), 1e-12);
        assertEquals((5.0 + 6.0) / 2 + 1, MemoryMath.effectiveBits(QuantSpec.parse("nuq3-1%"), d, heads, 0, Accounting.STORED), 1e-12);
        assertEquals(4.5, MemoryMath.effectiveBits(QuantSpec.parse("nuq4"), d, heads, 0, Accounting.STORED), 1e-12);
        // sparse: a 32-bit pointer per token and tensor plus 32 bits per entry and a uint16 end per KV head;
        // keys at a measured 0.4 entries
        MemoryMath.TokenBits sparse = MemoryMath.storedToken(QuantSpec.parse("nuq3-1%-sparse"), d, heads, 96, 96, 0.4);
        assertEquals(96 + 32 + 0.4 * 32 + 16 * heads, sparse.keys(), 1e-12);
        assertEquals(96 + 32 + 32 + 2 * 32 + 16 * heads, sparse.values(), 1e-12);
    }

    @Test
    void theRecentWindowIsAnFp16CopyBesidesTheCodesAndVanishesAtLongContexts() {
        int d = 32;
        int heads = 4;
        QuantSpec s = QuantSpec.parse("nuq3-r32");
        double packed = 3.5;   // 3 code bits, values + 1 bit of scale and zero, averaged
        assertEquals(packed, MemoryMath.effectiveBits(s, d, heads, 0, Accounting.STORED), 1e-12);
        // page format v2: the sink is fp16 only; every later token is packed, the last 32 also kept in fp16
        assertEquals((packed * (512 - 1) + 16.0 * 33) / 512, MemoryMath.effectiveBits(s, d, heads, 512, Accounting.STORED), 1e-12);
        assertEquals((packed * (32768 - 1) + 16.0 * 33) / 32768, MemoryMath.effectiveBits(s, d, heads, 32768, Accounting.STORED),
                1e-12);
        assertEquals((packed * 19 + 16.0 * 20) / 20, MemoryMath.effectiveBits(s, d, heads, 20, Accounting.STORED), 1e-12,
                "all 19 packed tokens are in the window: codes and fp16 copy");
    }

    @Test
    void oneMillionTokensOfNuq2FitOnOne80GbGpu() {
        long tokens = MemoryMath.maxTokens(LLAMA_7B, QuantSpec.parse("nuq2"), 80e9 - 13.5e9, Accounting.PAPER);
        assertTrue(tokens >= 1_000_000, "fp16 weights (13.5 GB) + nuq2 KV for 1M tokens in 80 GB: " + tokens);
        long fp16 = MemoryMath.maxTokens(LLAMA_7B, QuantSpec.fp16(), 80e9 - 13.5e9, Accounting.PAPER);
        assertTrue(fp16 < 140_000, "fp16 reaches only ~127K: " + fp16);
        assertTrue(MemoryMath.bytes(LLAMA_7B, QuantSpec.parse("nuq2"), tokens, Accounting.PAPER) <= 80e9 - 13.5e9);
    }
}
