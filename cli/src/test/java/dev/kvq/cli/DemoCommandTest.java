package dev.kvq.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.kvq.model.DataRoot;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DemoCommandTest {

    @Test
    void syntheticDemoPrintsEveryModeAndSaysHowToGetTheOther() {
        KvqTest.Run r = KvqTest.run("demo", "--synthetic", "--tokens", "2048", "--quiet");
        assertEquals(0, r.code(), r.err());
        for (String mode : new String[] {"fp32", "fp16", "nuq4-1%", "nuq3-1%", "nuq2-1%"}) {
            assertTrue(r.out().lines().anyMatch(l -> l.startsWith(mode + " ")), mode + " row in:\n" + r.out());
        }
        assertTrue(r.out().contains("synthetic LLaMA-7B-shaped layer"), r.out());
        assertTrue(r.out().contains("KVQ_DATA") || r.out().contains("./kvq demo"), r.out());
    }

    @Test
    void realModelDemoGeneratesWithEveryCache(@TempDir Path cache) {
        assumeTrue(DataRoot.configured().isPresent(), "KVQ_DATA is not set: the real-model demo needs the data");
        System.setProperty("kvq.cache.dir", cache.toString());
        KvqTest.Run r;
        try {
            r = KvqTest.run("demo", "--quiet");
        } finally {
            System.clearProperty("kvq.cache.dir");
        }
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("fp32     Once upon a time, there was a little girl named Lily."), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("nuq3-1%  Once upon a time")), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.matches("nuq2-1% +\\d+\\.\\d{4} .*")), r.out());
        assertTrue(java.nio.file.Files.exists(cache.resolve("stories260K-nuq3-1pct.kvqcal")), "calibration cached");
    }

    @Test
    void badArgumentsExitWithTwo() {
        KvqTest.Run r = KvqTest.run("demo", "--tokens", "12");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--tokens must be in [1024, 1048576], got 12"), r.err());
    }
}
