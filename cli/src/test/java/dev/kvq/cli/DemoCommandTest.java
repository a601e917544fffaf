package dev.kvq.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.model.DataRoot;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DemoCommandTest {

    @Test
    void syntheticDemoPrintsEveryModeAndExplainsItsError() {
        KvqTest.Run r = KvqTest.run("demo", "--synthetic", "--tokens", "2048", "--quiet");
        assertEquals(0, r.code(), r.err());
        java.util.List<String> modes = new java.util.ArrayList<>(java.util.List.of("fp32", "fp16"));
        modes.addAll(shownModes());
        for (String mode : modes) {
            assertTrue(r.out().lines().anyMatch(l -> l.matches(java.util.regex.Pattern.quote(mode)
                    + " +\\d+\\.\\d +(-|\\d+\\.\\d\\d×) +\\d+\\.\\d\\d +\\d\\.\\d{4} +[01]\\.\\d{4} +\\d+\\.\\d")), mode + " row in:\n" + r.out());
        }
        assertTrue(r.out().contains("synthetic LLaMA-7B-shaped layer"), r.out());
        assertTrue(r.out().contains("It is not a loss of model quality"), "the legend explains the error: " + r.out());
    }

    /** The real model with nothing configured beyond what the repository holds (KVQ_DATA adds a column). */
    @Test
    void realModelDemoGeneratesScoresAndDraws(@TempDir Path dir) throws IOException {
        Path cache = dir.resolve("cache");
        Path png = dir.resolve("demo.png");
        System.setProperty("kvq.cache.dir", cache.toString());
        KvqTest.Run r;
        try {
            r = KvqTest.run("demo", "--quiet", "--plot", png.toString());
        } finally {
            System.clearProperty("kvq.cache.dir");
        }
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("fp32     Once upon a time, there was a little girl named Lily."), r.out());
        boolean corpus = DataRoot.configured().isPresent();
        assertTrue(r.out().contains("kvq4, kvq3, kvq2 = nuqa4-r16, nuqa3-r32, nuqa2-r32"), r.out());
        for (String mode : shownModes()) {
            assertTrue(r.out().lines().anyMatch(l -> l.startsWith(String.format("%-8s Once upon a time", mode))), mode + ":\n" + r.out());
            // KL, top-1, text ppl, [TinyStories ppl,] KV bytes, bits
            String row = java.util.regex.Pattern.quote(mode) + " +0\\.\\d{4} +\\d+\\.\\d% +\\d+\\.\\d{4} +"
                    + (corpus ? "\\d+\\.\\d{4} +" : "") + "\\d+ +\\d+\\.\\d\\d";
            assertTrue(r.out().lines().anyMatch(l -> l.matches(row)), mode + " score row in:\n" + r.out());
            assertTrue(r.out().lines().anyMatch(l -> l.matches(java.util.regex.Pattern.quote(mode)
                    + " +\\d+\\.\\d\\d +\\d+\\.\\d GiB +\\d+\\.\\d GiB +\\d+\\.\\d\\d×")), mode + " LLaMA-7B row in:\n" + r.out());
            assertTrue(Files.exists(cache.resolve("stories260K-generated-" + mode.replace("%", "pct") + ".kvqcal")),
                    "calibration cached");
        }
        assertTrue(r.out().lines().anyMatch(l -> l.matches("fp32 +0\\.0000 +100\\.0% .*")), r.out());
        assertTrue(r.out().contains("fp16              16.00       64.0 GiB      512.0 GiB     1.00×"), r.out());
        BufferedImage image = ImageIO.read(png.toFile());
        assertEquals(corpus ? 520 + 700 + 700 : 520 + 700, image.getWidth(), "one panel per figure part");
        assertEquals(520, image.getHeight());
    }

    /** The demo's modes as it prints them: presets under their spec names (kvq3 is nuqa3-r32). */
    private static java.util.List<String> shownModes() {
        return DemoCommand.MODES.stream().map(m -> dev.kvq.quant.QuantSpec.parse(m).name()).toList();
    }

    @Test
    void badArgumentsExitWithTwo() {
        KvqTest.Run r = KvqTest.run("demo", "--tokens", "12");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--tokens must be in [1024, 1048576], got 12"), r.err());
        KvqTest.Run p = KvqTest.run("demo", "--synthetic", "--plot", "x.png");
        assertEquals(2, p.code());
        assertTrue(p.err().contains("--plot draws the real model's figure; drop --synthetic"), p.err());
    }
}
