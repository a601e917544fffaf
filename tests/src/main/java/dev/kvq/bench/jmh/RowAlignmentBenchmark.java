package dev.kvq.bench.jmh;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.concurrent.TimeUnit;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What the alignment of a value width group's rows costs the packed value loop: the loop of
 * {@code PackedValueKernels} (four 16-lane vectors of 3-bit codes per token, 32 tokens per token group) over
 * 2,048 token groups of codes whose rows are {@code rowBytes} apart and token groups {@code groupBytes} apart. 512/1536 is a
 * uniform 3-bit head of 128 channels (every load 64-byte aligned); 368/1680 is the 92-channel 3-bit group of a
 * kvq3 head on the synthetic LLaMA layer (rows 4·92 bytes, token groups 4·420 bytes: loads straddle cache lines).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class RowAlignmentBenchmark {
    private static final VectorSpecies<Integer> IS = IntVector.SPECIES_512;
    private static final VectorSpecies<Float> FS = FloatVector.SPECIES_512;
    private static final long BYTES = 1L << 22;
    private static final int GROUPS = 2048;  // token groups per pass, the same for every stride: 3.4 MiB at most

    /** Row stride and token-group stride in bytes, "rowBytes/groupBytes". */
    @Param({"512/1536", "368/1680"})
    public String strides;

    private Arena arena;
    private MemorySegment codes;
    private long rowBytes;
    private long groupBytes;
    private int groups;
    private final int[] table = new int[16];
    private final float[] alpha = new float[32];

    /** Allocates the codes (64-byte aligned), the table and the weights. */
    @Setup(Level.Trial)
    public void setUp() {
        String[] parts = strides.split("/");
        rowBytes = Long.parseLong(parts[0]);
        groupBytes = Long.parseLong(parts[1]);
        arena = Arena.ofShared();
        codes = arena.allocate(BYTES + 4096, 64);
        groups = GROUPS;
        for (int i = 0; i < 16; i++) {
            table[i] = Float.floatToRawIntBits(i * 0.1f);
        }
        for (int i = 0; i < 32; i++) {
            alpha[i] = 0.01f * i;
        }
    }

    /** Frees the codes. */
    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    /**
     * One pass over every token group.
     *
     * @return the sum, so that nothing is dead code
     */
    @Benchmark
    public float pass() {
        IntVector lo = IntVector.fromArray(IS, table, 0);
        FloatVector c0 = FloatVector.zero(FS);
        FloatVector c1 = c0;
        FloatVector c2 = c0;
        FloatVector c3 = c0;
        for (int tg = 0; tg < groups; tg++) {
            long group = tg * groupBytes;
            for (int e = 0; e < 32; e++) {
                int bit = 3 * e;
                int sh = bit & 31;
                long row = group + (bit >>> 5) * rowBytes;
                FloatVector w = FloatVector.broadcast(FS, alpha[e]);
                c0 = load(row, sh).selectFrom(lo).reinterpretAsFloats().fma(w, c0);
                c1 = load(row + 64, sh).selectFrom(lo).reinterpretAsFloats().fma(w, c1);
                c2 = load(row + 128, sh).selectFrom(lo).reinterpretAsFloats().fma(w, c2);
                c3 = load(row + 192, sh).selectFrom(lo).reinterpretAsFloats().fma(w, c3);
            }
        }
        return c0.add(c1).add(c2).add(c3).reduceLanes(VectorOperators.ADD);
    }

    private IntVector load(long at, int shift) {
        return IntVector.fromMemorySegment(IS, codes, at, ByteOrder.LITTLE_ENDIAN).lanewise(VectorOperators.LSHR, shift);
    }
}
