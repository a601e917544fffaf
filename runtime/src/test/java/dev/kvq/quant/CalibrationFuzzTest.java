package dev.kvq.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

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
            byte[] bad = ByteCorruptions.mutate(good, random);
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
}
