package dev.kvq.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.kvq.cache.Backend;
import dev.kvq.cache.KvCache;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Random packing and quantizer inputs, deterministic seeds: codes of every width (valid or not), and
 * vectors mixing ordinary values with NaN, ±Inf, ±0, float and fp16 denormals, the fp16 extremes and
 * huge values. Every case must pack/quantize into a representable result or be rejected with an
 * {@link IllegalArgumentException}; nothing else, and never a NaN or Inf in the stored form.
 */
class PackingFuzzTest {
    private static final int[] WIDTHS = {-1, 0, 1, 2, 3, 4, 5, 8, 31, 32};

    @Test
    void codeGroupsPackAndUnpackOrAreRejected() {
        SplittableRandom r = new SplittableRandom(1129);
        int packed = 0;
        int rejected = 0;
        for (int trial = 0; trial < 4000; trial++) {
            int bits = WIDTHS[r.nextInt(WIDTHS.length)];
            int stride = 1 + r.nextInt(3);
            int[] codes = new int[BitPacking.GROUP + 3];
            int limit = bits >= 1 && bits < 31 ? 1 << bits : 16;
            for (int i = 0; i < codes.length; i++) {
                codes[i] = r.nextInt(limit);
            }
            if (r.nextInt(4) == 0) {                       // one code that does not fit (or is negative)
                codes[r.nextInt(codes.length)] = r.nextBoolean() ? -1 - r.nextInt(1000) : limit + r.nextInt(1 << 20);
            }
            int from = r.nextInt(4);
            int[] words = new int[stride * Math.max(bits, 1) + 4];
            int base = r.nextInt(3);
            int[] before = words.clone();
            boolean valid = bits >= 2 && bits <= 4;
            for (int e = 0; e < BitPacking.GROUP && valid; e++) {
                valid = codes[from + e] >= 0 && codes[from + e] < (1 << bits);
            }
            try {
                BitPacking.packGroup(codes, from, bits, words, base, stride);
                assertTrue(valid, "trial " + trial + ": packed an invalid group (bits " + bits + ")");
                int[] back = new int[BitPacking.GROUP];
                BitPacking.unpackGroup(words, base, stride, bits, back, 0);
                assertEquals(Arrays.toString(Arrays.copyOfRange(codes, from, from + BitPacking.GROUP)),
                        Arrays.toString(back), "trial " + trial);
                for (int i = 0; i < words.length; i++) {
                    boolean inGroup = i >= base && (i - base) % stride == 0 && (i - base) / stride < bits;
                    assertTrue(inGroup || words[i] == before[i], "trial " + trial + " wrote outside the group");
                }
                packed++;
            } catch (IllegalArgumentException e) {
                assertTrue(!valid, "trial " + trial + ": rejected a valid group: " + e.getMessage());
                rejected++;
            } catch (RuntimeException e) {
                fail("trial " + trial + " (bits " + bits + ") ended in " + e, e);
            }
        }
        assertTrue(packed > 500 && rejected > 500, packed + " packed, " + rejected + " rejected");
    }

    /** One nasty float: ordinary most of the time, otherwise an edge case. */
    static float nasty(SplittableRandom r, float typical) {
        return switch (r.nextInt(24)) {
            case 0 -> Float.NaN;
            case 1 -> r.nextBoolean() ? Float.POSITIVE_INFINITY : Float.NEGATIVE_INFINITY;
            case 2 -> r.nextBoolean() ? 0f : -0f;
            case 3 -> Float.MIN_VALUE * (1 + r.nextInt(1000)) * (r.nextBoolean() ? 1 : -1);   // float denormal
            case 4 -> (float) (r.nextDouble() * 6e-5) * (r.nextBoolean() ? 1 : -1);          // fp16 denormal range
            case 5 -> r.nextBoolean() ? Checks.FP16_MAX : -Checks.FP16_MAX;
            case 6 -> Math.nextUp(Checks.FP16_MAX) * (r.nextBoolean() ? 1 : -1);             // just out of range
            case 7 -> (float) (r.nextDouble() * 1e30) * (r.nextBoolean() ? 1 : -1);
            case 8 -> Float.intBitsToFloat(r.nextInt());                                      // any bit pattern
            case 9 -> (float) (r.nextGaussian() * 3000);
            default -> (float) (r.nextGaussian() * typical);
        };
    }

    /** A vector that is clean (finite, in fp16 range) about half the time, so both outcomes occur. */
    static float[] vector(SplittableRandom r, int n) {
        float[] v = new float[n];
        boolean clean = r.nextBoolean();
        for (int i = 0; i < n; i++) {
            float x;
            do {
                x = r.nextInt(4) == 0 ? nasty(r, 2f) : (float) (r.nextGaussian() * 2);
            } while (clean && !(Float.isFinite(x) && Math.abs(x) <= Checks.FP16_MAX));
            v[i] = x;
        }
        if (r.nextInt(8) == 0) {
            // one extreme against a far-shifted rest: the largest possible outlier residual
            float shift = (r.nextBoolean() ? 1 : -1) * (float) (r.nextDouble() * 30000);
            for (int i = 0; i < n; i++) {
                v[i] = Float.isFinite(v[i]) && Math.abs(v[i]) <= 100 ? shift + v[i] : v[i];
            }
            v[r.nextInt(n)] = shift > 0 ? -Checks.FP16_MAX : Checks.FP16_MAX;
        }
        return v;
    }

    static boolean storable(float[] v, int from, int n) {
        for (int i = from; i < from + n; i++) {
            if (!Float.isFinite(v[i]) || Math.abs(v[i]) > Checks.FP16_MAX) {
                return false;
            }
        }
        return true;
    }

    @Test
    void quantizersTakeStorableVectorsAndRejectTheRest() {
        QuantSpec[] specs = {QuantSpec.nuq(2).outliers(0.01), QuantSpec.nuq(3).outliers(0.05).qNorm(true),
                QuantSpec.nuq(4)};
        SplittableRandom r = new SplittableRandom(2911);
        int accepted = 0;
        int rejected = 0;
        for (QuantSpec spec : specs) {
            Calibration cal = CalibrationTest.sample(spec);
            int d = cal.shape().kvChannels();
            KeyQuantizer keys = cal.layer(0).keys();
            ValueQuantizer values = new ValueQuantizer(cal.layer(0).values(), spec, d);
            QuantizedToken token = new QuantizedToken(d);
            int levels = 1 << spec.bits();
            for (int trial = 0; trial < 2000; trial++) {
                float[] v = vector(r, d);
                boolean key = r.nextBoolean();
                boolean ok = storable(v, 0, d);
                try {
                    if (key) {
                        keys.quantize(v, 0, token, spec.keyOutlierCap(d));
                    } else {
                        values.quantize(v, 0, token);
                        assertTrue(Float.isFinite(token.zero) && Float.isFinite(token.scale),
                                spec.name() + " trial " + trial + ": zero " + token.zero + ", scale " + token.scale);
                    }
                    assertTrue(ok, spec.name() + " trial " + trial + " quantized " + Arrays.toString(v));
                    for (int c = 0; c < d; c++) {
                        assertTrue(token.codes[c] >= 0 && token.codes[c] < levels, "code " + token.codes[c]);
                    }
                    for (int i = 0; i < token.outlierCount; i++) {
                        assertTrue(Float.isFinite(token.residual(i)), spec.name() + " trial " + trial + ": "
                                + (key ? "key" : "value") + " outlier residual " + token.residual(i) + " from "
                                + Arrays.toString(v));
                    }
                    accepted++;
                } catch (IllegalArgumentException e) {
                    assertTrue(!ok || e.getMessage().contains("residual"), spec.name() + " trial " + trial
                            + " rejected a storable vector: " + e.getMessage());
                    rejected++;
                } catch (RuntimeException e) {
                    fail(spec.name() + " trial " + trial + " ended in " + e, e);
                }
            }
        }
        assertTrue(accepted > 1000 && rejected > 1000, accepted + " accepted, " + rejected + " rejected");
    }

    @Test
    void aCacheStoresWhatItAcceptsAndIsUnchangedByWhatItRejects() {
        QuantSpec spec = QuantSpec.nuq(2).outliers(0.01);
        Calibration cal = CalibrationTest.sample(spec);
        int d = cal.shape().kvChannels();
        SplittableRandom r = new SplittableRandom(9112);
        int accepted = 0;
        try (KvCache cache = KvCache.open(cal.shape(), spec, cal, Backend.cpu(), 32)) {
            for (int trial = 0; trial < 1500; trial++) {
                int n = 1 + r.nextInt(3);
                float[] k = new float[n * d];
                float[] v = new float[n * d];
                for (int t = 0; t < n; t++) {
                    System.arraycopy(vector(r, d), 0, k, t * d, d);
                    System.arraycopy(vector(r, d), 0, v, t * d, d);
                }
                int before = cache.length(0);
                try {
                    cache.append(0, k, v);
                    assertTrue(storable(k, 0, k.length) && storable(v, 0, v.length), "trial " + trial);
                    accepted++;
                } catch (IllegalArgumentException e) {
                    assertEquals(before, cache.length(0), "a rejected append changed the cache");
                }
            }
            assertTrue(accepted > 50, accepted + " appends accepted");
            for (float x : cache.decodeKeys(0)) {
                assertTrue(Float.isFinite(x), "a stored key decodes to " + x);
            }
            for (float x : cache.decodeValues(0)) {
                assertTrue(Float.isFinite(x), "a stored value decodes to " + x);
            }
        }
    }
}
