package dev.kvq.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.model.DataRoot;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PlotTest {
    private static final byte[] PNG = {(byte) 0x89, 'P', 'N', 'G'};

    /** A real PNG of the expected size with more than a blank canvas in it. */
    static void assertPlot(Path file) throws IOException {
        assertTrue(Files.isRegularFile(file), file + " was written");
        assertArrayEquals(PNG, Arrays.copyOf(Files.readAllBytes(file), 4));
        BufferedImage image = ImageIO.read(file.toFile());
        assertEquals(900, image.getWidth());
        assertEquals(560, image.getHeight());
        java.util.Set<Integer> colours = new java.util.HashSet<>();
        for (int y = 0; y < image.getHeight(); y += 3) {
            for (int x = 0; x < image.getWidth(); x += 3) {
                colours.add(image.getRGB(x, y));
            }
        }
        assertTrue(colours.size() > 8, "the figure has curves, not just a background: " + colours.size() + " colours");
    }

    @Test
    void benchDrawsTimeAgainstContext(@TempDir Path dir) throws IOException {
        Path png = dir.resolve("bench.png");
        KvqTest.Run r = KvqTest.run("bench", "--tokens", "256,512", "--kv", "fp16,nuq3-1%", "--query-heads", "4",
                "--kv-heads", "4", "--head-dim", "32", "--warmup", "0", "--repeat", "1", "--quiet", "--plot", png.toString());
        assertEquals(0, r.code(), r.err());
        assertPlot(png);
    }

    @Test
    void evalDrawsKlAgainstBitsOnGeneratedText(@TempDir Path dir) throws IOException {
        Path png = dir.resolve("kl.png");
        KvqTest.Run r = KvqTest.run("eval", "--text", "generated", "--windows", "1", "--window-length", "64", "--kv",
                "fp32,int4,int3,nf4,nf3,kivi4-r32,kivi3-r32", "--quiet", "--plot", png.toString());
        assertEquals(0, r.code(), r.err());
        assertPlot(png);
    }

    @Test
    void evalDrawsPerplexityAgainstBits(@TempDir Path dir) throws IOException {
        Path data = ModelCommandsTest.corpora();
        Path png = dir.resolve("eval.png");
        KvqTest.Run r = KvqTest.run("eval", "--model", data.resolve(DataRoot.STORIES_MODEL).toString(), "--text",
                data.resolve(DataRoot.TINYSTORIES).toString(), "--windows", "2", "--kv", "fp32,int4,int3,nuq4-1%,nuq3-1%",
                "--plot", png.toString());
        assertEquals(0, r.code(), r.err());
        assertPlot(png);
    }
}
