package dev.kvq.it.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The fused decode kernels of issue 15 (kernels-cu/src/main/cuda/kvq_decode.cuh) and the page format v2
 * appends, run on the host by {@code kernels-cu/src/test/cuda/kvq_decode_test.cu}: every block executes
 * its real per-thread code as fibers (barriers, warp shuffles, shared-memory atomics), and each case
 * compares outputs and debug scores with a double-precision reference decode of the same pages within
 * 1e-4, v2 pages with v1 pages (the v1 packers are checked byte for byte against the Java CPU cache by
 * {@link KernelHostEmulationTest}), and the reference's dequantization with the original data. The
 * cases cover d 8/16/24/64/128/256, G 1–10, 2/3/4 bits, outliers 0/1%, window 0/32, sinks 0/1, both
 * RoPE pairings, positions to 10^7, 1–4 splits, batches of sequences of different lengths, the
 * specialized instances, the generic entry and the fp16 baselines. What this cannot check is the GPU:
 * the CUDA team code, timing, the JIT's register allocation (see docs/KERNELS.md).
 */
class FusedDecodeHostEmulationTest {

    private static HostEmulation.Program program() {
        HostEmulation.Program p = HostEmulation.program("kvq_decode_test");
        Assumptions.assumeTrue(p.unavailable() == null, p.unavailable());
        return p;
    }

    @TestFactory
    Stream<DynamicTest> everyCaseMatchesTheReferenceDecode() throws Exception {
        HostEmulation.Program p = program();
        HostEmulation.Program.Result list = p.run("list");
        assertEquals(0, list.exit(), list.output());
        String[] names = list.output().strip().split("\n");
        assertTrue(names.length >= 20, "the case matrix: " + Arrays.toString(names));
        return Arrays.stream(names).map(name -> DynamicTest.dynamicTest(name, () -> {
            HostEmulation.Program.Result r = p.run("run", name);
            assertEquals(0, r.exit(), r.output());
            assertTrue(r.output().startsWith("ok " + name), r.output());
            System.out.print(r.output());
        }));
    }

    @Test
    void ropeAnglesStayAccurateAtTenMillionPositions() throws Exception {
        HostEmulation.Program.Result r = program().run("rope");
        System.out.print(r.output());
        assertEquals(0, r.exit(), "kvq_rope_angle is off by more than 5e-7: " + r.output());
    }

    /** The fused decode reads about the packed bytes: each outlier once, z/s per token and head, tables once. */
    @Test
    void bytesLoadedPerTokenAndHeadStayCloseToThePackedBytes() throws Exception {
        HostEmulation.Program.Result r = program().run("bytes", "3", "1", "128", "8", "2048");
        assertEquals(0, r.exit(), r.output());
        Matcher m = Pattern.compile("\"ratio\": ([0-9.]+)").matcher(r.output());
        assertTrue(m.find(), r.output());
        double ratio = Double.parseDouble(m.group(1));
        System.out.print(r.output());
        assertTrue(ratio <= 1.15, "loaded / packed bytes " + ratio + " (target ≤ 1.15, DECODE-PERF §4)");
        // every code word exactly once: 3 bits × 128 channels / 8 = 48 bytes per token and head, each side
        assertTrue(r.output().contains("\"key_codes\": 48.0000") && r.output().contains("\"value_codes\": 48.0000"),
                r.output());
    }
}
