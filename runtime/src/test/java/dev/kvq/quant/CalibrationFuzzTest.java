package dev.kvq.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.Arrays;
import java.util.EnumMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * 10,000 deterministic random corruptions of a calibration file: every one must end in a
 * {@link CalibrationFormatException} (or, for a mutation that changed nothing, load the same file) —
 * never another exception, a hang or a half-loaded calibration.
 */
class CalibrationFuzzTest {

    @Test
    void randomCorruptionsEndInACleanError() {
        byte[] good = CalibrationTest.sample(QuantSpec.nuq(2).outliers(0.02).qNorm(true)).toBytes();
        SplittableRandom random = new SplittableRandom(20261129);
        Map<CalibrationFormatException.Problem, Integer> seen = new EnumMap<>(CalibrationFormatException.Problem.class);
        for (int trial = 0; trial < 10_000; trial++) {
            byte[] bad = mutate(good, random);
            try {
                Calibration c = Calibration.fromBytes(bad, null);
                assertArrayEquals(good, c.toBytes(), "trial " + trial + " loaded a changed file");
            } catch (CalibrationFormatException e) {
                seen.merge(e.problem(), 1, Integer::sum);
                assertTrue(e.getMessage().startsWith("calibration: "), e.getMessage());
            } catch (RuntimeException e) {
                fail("trial " + trial + " ended in " + e, e);
            }
        }
        assertTrue(seen.getOrDefault(CalibrationFormatException.Problem.CORRUPTED, 0) > 1000, seen.toString());
        assertTrue(seen.getOrDefault(CalibrationFormatException.Problem.TRUNCATED, 0) > 100, seen.toString());
    }

    private static byte[] mutate(byte[] good, SplittableRandom r) {
        byte[] b = good.clone();
        switch (r.nextInt(6)) {
            case 0 -> {                                   // flip 1-8 random bits
                for (int i = 0, n = 1 + r.nextInt(8); i < n; i++) {
                    b[r.nextInt(b.length)] ^= (byte) (1 << r.nextInt(8));
                }
            }
            case 1 -> b = Arrays.copyOf(b, r.nextInt(b.length));             // truncate
            case 2 -> {                                   // append garbage
                byte[] longer = Arrays.copyOf(b, b.length + 1 + r.nextInt(64));
                for (int i = b.length; i < longer.length; i++) {
                    longer[i] = (byte) r.nextInt(256);
                }
                b = longer;
            }
            case 3 -> {                                   // overwrite a run with random bytes
                int from = r.nextInt(b.length);
                int to = Math.min(b.length, from + 1 + r.nextInt(32));
                for (int i = from; i < to; i++) {
                    b[i] = (byte) r.nextInt(256);
                }
            }
            case 4 -> {                                   // zero a run
                int from = r.nextInt(b.length);
                Arrays.fill(b, from, Math.min(b.length, from + 1 + r.nextInt(64)), (byte) 0);
            }
            default -> {                                  // move a block (sections out of place)
                int len = 1 + r.nextInt(128);
                int from = r.nextInt(Math.max(1, b.length - len));
                int to = r.nextInt(Math.max(1, b.length - len));
                System.arraycopy(good, from, b, to, Math.min(len, b.length - Math.max(from, to)));
            }
        }
        return b;
    }
}
