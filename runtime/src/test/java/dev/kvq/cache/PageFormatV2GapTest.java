package dev.kvq.cache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.Rope;
import dev.kvq.geometry.RopePairing;
import dev.kvq.quant.Activations;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.Calibrator;
import dev.kvq.quant.MemoryMath;
import dev.kvq.quant.Provenance;
import dev.kvq.quant.QuantSpec;
import dev.kvq.quant.SyntheticActivations;
import dev.kvq.quant.WeightedKMeans;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * What page format v1 cannot store is refused in one clear place (a recent window, mixed widths, per-channel
 * key codebooks on CUDA), what it can is stored (per-channel key codebooks on the CPU), and the memory
 * report counts what is stored: it agrees with the stored-bits arithmetic.
 */
class PageFormatV2GapTest {
    private static final AttentionShape SHAPE = new AttentionShape(2, 8, 4, 8, Rope.of(10000, RopePairing.INTERLEAVED, 8));

    private static Calibration calibration(QuantSpec spec) {
        Activations[][] a = SyntheticActivations.perLayer(SHAPE.layers(), 2048, SHAPE.kvChannels(), 10);
        return new Calibration(SHAPE, spec, Provenance.unknown(), Calibrator.fit(SHAPE, spec, a[0], a[1],
                WeightedKMeans.Options.defaults()));
    }

    @Test
    void windowsAndMixedWidthsAreRefusedNamingWhatIsMissing() {
        QuantSpec window = QuantSpec.parse("nuq3-1%-r32");
        Calibration c = calibration(QuantSpec.parse("nuq3-1%"));
        UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                () -> KvCache.open(SHAPE, window, c, Backend.cpu()));
        assertEquals("nuq3-1%-r32: a recent-token window needs page format v2, which the packed cache does not have"
                + " yet; simulated evaluation (kvq eval --kv nuq3-1%-r32) runs it", e.getMessage());
        QuantSpec allocated = QuantSpec.parse("nuqa3");
        Calibration a = calibration(allocated);
        assertTrue(assertThrows(UnsupportedOperationException.class, () -> KvCache.open(SHAPE, allocated, a, Backend.cpu()))
                .getMessage().contains("mixed code widths (a bit allocation) need page format v2"));
        assertTrue(assertThrows(UnsupportedOperationException.class,
                () -> KvCachePool.open(SHAPE, allocated, a, Backend.cpu(), 1 << 20)).getMessage().contains("page format v2"));
    }

    @Test
    void perChannelKeyCodebooksAreStoredOnTheCpuAndDecodeToTheQuantizersReconstruction() {
        QuantSpec spec = QuantSpec.parse("nuq3-ccb");
        Calibration c = calibration(spec);
        int d = SHAPE.kvChannels();
        int n = 40;
        float[] keys = SyntheticActivations.keys(77, n, d);
        float[] values = SyntheticActivations.values(78, n, d);
        try (KvCache cache = KvCache.open(SHAPE, spec, c, Backend.cpu())) {
            cache.append(0, keys, values);
            var kq = c.layer(0).keys();
            var tok = new dev.kvq.quant.QuantizedToken(d);
            float[] expected = keys.clone();
            for (int t = spec.sinkTokens(); t < n; t++) {
                kq.quantize(keys, t * d, tok, 0);
                for (int ch = 0; ch < d; ch++) {
                    expected[t * d + ch] = kq.dequantize(ch, tok.codes[ch]);
                }
            }
            float[] rotated = CacheFixtures.rotate(SHAPE, expected, n, 0);
            float[] back = cache.decodeKeys(0);
            for (int i = spec.sinkTokens() * d; i < n * d; i++) {
                assertEquals(rotated[i], back[i], 1e-5f * (1 + Math.abs(rotated[i])), "element " + i);
            }
            float[] query = SyntheticActivations.values(79, 1, SHAPE.queryHeads() * SHAPE.headDim());
            float[] out = new float[query.length];
            cache.attend(0, query, out);
            float[] reference = CacheFixtures.reference(SHAPE, query, back, cache.decodeValues(0), n);
            for (int i = 0; i < out.length; i++) {
                assertEquals(reference[i], out[i], 1e-4f * (1 + Math.abs(reference[i])), "attention output " + i);
            }
        }
    }

    @Test
    void aCacheWithPerChannelKeyCodebooksSnapshotsAndReopensBitIdentical(@org.junit.jupiter.api.io.TempDir
                                                                        java.nio.file.Path dir) throws Exception {
        QuantSpec spec = QuantSpec.parse("nuq3-1%-ccb");
        Calibration c = calibration(spec);
        int d = SHAPE.kvChannels();
        java.nio.file.Path file = dir.resolve("ccb.kvqsnap");
        try (KvCache cache = KvCache.open(SHAPE, spec, c, Backend.cpu())) {
            for (int l = 0; l < SHAPE.layers(); l++) {
                cache.append(l, SyntheticActivations.keys(l, 300, d), SyntheticActivations.values(l, 300, d));
            }
            cache.save(file);
            try (KvCache back = KvCache.openSnapshot(file, c, Backend.cpu())) {
                assertEquals(spec, back.spec());
                for (int l = 0; l < SHAPE.layers(); l++) {
                    assertArrayEquals(cache.decodeKeys(l), back.decodeKeys(l));
                    assertArrayEquals(cache.decodeValues(l), back.decodeValues(l));
                }
            }
        }
    }

    @Test
    void theMemoryReportCountsWhatTheStoredBitsArithmeticCounts() {
        SplittableRandom r = new SplittableRandom(4);
        for (String name : List.of("nuq4", "nuq3-1%", "nuq2-1%-sparse", "nuq3-ccb")) {
            QuantSpec spec = QuantSpec.parse(name);
            Calibration c = calibration(spec.outlierForm(QuantSpec.OutlierForm.FIXED_SLOTS));
            int d = SHAPE.kvChannels();
            int n = 256 + 1 + r.nextInt(100);
            float[] keys = SyntheticActivations.keys(5, n, d);
            float[] values = SyntheticActivations.values(6, n, d);
            try (KvCache cache = KvCache.open(SHAPE, spec, c, Backend.cpu())) {
                long keyOutliers = 0;
                for (int l = 0; l < SHAPE.layers(); l++) {
                    cache.append(l, keys, values);
                    for (int t = spec.sinkTokens(); t < n; t++) {
                        for (int ch = 0; ch < d; ch++) {
                            float x = keys[t * d + ch];
                            if (x > c.layer(l).keys().upper(ch) || x < c.layer(l).keys().lower(ch)) {
                                keyOutliers++;
                            }
                        }
                    }
                }
                double perToken = (double) keyOutliers / (SHAPE.layers() * (n - spec.sinkTokens()));
                MemoryMath.TokenBits token = MemoryMath.storedToken(spec, d, c.meanKeyCodeBits(), c.meanValueCodeBits(),
                        spec.hasOutliers() ? perToken : 0);
                double expected = MemoryMath.effectiveBits(token, d, spec.fp16Tokens(), n);
                double reported = cache.memory().tokenBits();
                // the sparse pointers are int32 [P+1] per page: one spare pointer per 256 tokens and tensor
                double slack = spec.outlierForm() == QuantSpec.OutlierForm.TOKEN_MAJOR_SPARSE ? 2 * 32.0 / 256 / (2 * d) : 0;
                assertEquals(expected, reported, slack + 1e-9, name + " at " + n + " tokens");
                if (!spec.hasOutliers() || spec.outlierForm() == QuantSpec.OutlierForm.FIXED_SLOTS) {
                    assertEquals(MemoryMath.effectiveBits(spec, d, n, MemoryMath.Accounting.STORED), reported, 1e-9, name);
                }
            }
        }
    }
}
