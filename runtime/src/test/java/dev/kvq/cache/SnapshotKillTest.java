package dev.kvq.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.geometry.AttentionShape;
import dev.kvq.geometry.Rope;
import dev.kvq.geometry.RopePairing;
import dev.kvq.quant.QuantSpec;
import dev.kvq.quant.SyntheticActivations;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A child JVM saves ever larger snapshots over one path in a loop and is killed (SIGKILL) while a
 * save is writing its temporary file. The snapshot on the path must then be the last complete one,
 * open bit-identically, and the next save must work despite the stale temporary file.
 */
class SnapshotKillTest {
    static final AttentionShape SHAPE =
            new AttentionShape(1, 8, 8, 128, Rope.of(10000, RopePairing.ROTATE_HALF, 128));
    /** 1024 channels of fp16 keys and values: 4 KiB a token, 48 MiB at the start. */
    static final int BASE_TOKENS = 12_288;

    @TempDir
    Path dir;

    /** The cache the child has saved as version {@code v}: the base, then one token per version. */
    static KvCache version(int v) {
        KvCache c = KvCache.open(SHAPE, QuantSpec.fp16(), null, Backend.cpu(), 256);
        int d = SHAPE.kvChannels();
        c.append(0, SyntheticActivations.keys(1, BASE_TOKENS, d), SyntheticActivations.values(2, BASE_TOKENS, d));
        for (int i = 0; i < v; i++) {
            appendStep(c, i);
        }
        return c;
    }

    static void appendStep(KvCache c, int i) {
        int d = SHAPE.kvChannels();
        c.append(0, SyntheticActivations.keys(1000 + i, 1, d), SyntheticActivations.values(5000 + i, 1, d));
    }

    /** The child: saves version 0, 1, 2, … over {@code args[0]}, announcing each save on stdout. */
    public static final class Child {
        private Child() {}

        /**
         * Entry point of the child JVM.
         *
         * @param args the snapshot path
         * @throws IOException if a save fails
         */
        public static void main(String[] args) throws IOException {
            Path file = Path.of(args[0]);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);  // never outlive a broken parent
            try (KvCache c = version(0)) {
                for (int v = 0; System.nanoTime() < deadline; v++) {
                    System.out.println("saving " + v);
                    System.out.flush();
                    c.save(file);
                    System.out.println("saved " + v);
                    System.out.flush();
                    appendStep(c, v);
                }
            }
        }
    }

    @Test
    void killingASaveMidwayLeavesThePreviousSnapshotIntact() throws Exception {
        Path file = dir.resolve("long.kvqsnap");
        Path tmp = dir.resolve("long.kvqsnap.tmp");
        int killedSaving = -1;
        for (int attempt = 0; attempt < 3 && killedSaving < 0; attempt++) {
            killedSaving = killDuringASave(file, tmp);
        }
        assertTrue(killedSaving >= 2, "no kill landed while the temporary file was being written");
        assertTrue(Files.exists(tmp), "the killed save left its temporary file");

        int v;
        try (KvCache opened = KvCache.openSnapshot(file, null, Backend.cpu())) {
            v = opened.length(0) - BASE_TOKENS;
            // the save being written died before its rename: the file is the version before it
            assertEquals(killedSaving - 1, v, "version on disk");
            try (KvCache expected = version(v)) {
                SnapshotTest.assertSameCache(expected, opened);
            }
        }
        // the next save reuses the stale temporary file and the result opens
        try (KvCache next = version(v + 1)) {
            next.save(file);
            assertTrue(!Files.exists(tmp));
            try (KvCache opened = KvCache.openSnapshot(file, null, Backend.cpu())) {
                SnapshotTest.assertSameCache(next, opened);
            }
        }
    }

    /**
     * Runs one child until a save of version 2 or later is writing, then kills it; returns the version
     * it was saving, or -1 if the kill did not land mid-save.
     */
    private static int killDuringASave(Path file, Path tmp) throws Exception {
        // The child runs everything on its class path: this JVM's class path, its module path (Surefire
        // puts the runtime module and its dependencies there) and the test classes patched into it.
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> path = new ArrayList<>();
        path.add(Path.of(Child.class.getProtectionDomain().getCodeSource().getLocation().toURI()).toString());
        for (String p : new String[] {System.getProperty("jdk.module.path"), System.getProperty("java.class.path")}) {
            if (p != null && !p.isBlank()) {
                path.add(p);
            }
        }
        List<String> cmd = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "-cp", String.join(File.pathSeparator, path),
                Child.class.getName(), file.toString()));
        int savingAfterFirst = -1;
        Process child = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        Thread reader = Thread.ofVirtual().start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(child.getInputStream(),
                    StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    lines.add(line);
                }
            } catch (IOException e) {
                // the child died: nothing more to read
            }
        });
        try {
            // wait until version 0 is complete and a later save has begun
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
            boolean firstSaved = false;
            while (savingAfterFirst < 0) {
                String line = lines.poll(100, TimeUnit.MILLISECONDS);
                if (System.nanoTime() > deadline || !child.isAlive() && line == null && lines.isEmpty()) {
                    throw new AssertionError("the child did not get past its first save (alive: " + child.isAlive()
                            + ")");
                }
                if (line == null) {
                    continue;
                }
                firstSaved |= line.equals("saved 1");
                if (firstSaved && line.startsWith("saving ") && Integer.parseInt(line.substring(7)) >= 2) {
                    savingAfterFirst = Integer.parseInt(line.substring(7));
                }
            }
            // kill as soon as the temporary file has data but is not complete
            long full = Files.size(file);
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (System.nanoTime() < until) {
                long size = Files.exists(tmp) ? sizeOrZero(tmp) : 0;
                if (size > 0 && size < full) {
                    child.destroyForcibly();
                    break;
                }
                Thread.onSpinWait();
            }
        } finally {
            child.destroyForcibly();
            assertTrue(child.waitFor(30, TimeUnit.SECONDS), "the child did not die");
            reader.join(5000);
        }
        assertNotEquals(0, child.exitValue());
        return Files.exists(tmp) ? savingAfterFirst : -1;
    }

    private static long sizeOrZero(Path p) {
        try {
            return Files.size(p);
        } catch (IOException e) {
            return 0;   // renamed away between the two calls
        }
    }
}
