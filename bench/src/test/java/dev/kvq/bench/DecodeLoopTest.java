package dev.kvq.bench;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The profiling loop runs a short step loop on a small cache and names what is wrong with its arguments. */
class DecodeLoopTest {

    @Test
    void aShortLoopReportsItsSteps() {
        String line = DecodeLoop.run(new String[] {"nuq3-1%", "96", "8", "0.05"});
        assertTrue(line.startsWith("nuq3-1% decode 96 tokens, 8 KV heads: median "), line);
        assertTrue(line.matches(".*\\((\\d+) steps\\)") && !line.endsWith("(0 steps)"), line);
        String keys = DecodeLoop.run(new String[] {"fp16", "40", "32", "0.05", "keys"});
        assertTrue(keys.startsWith("fp16 keys 40 tokens, 32 KV heads"), keys);
    }

    @Test
    void badArgumentsAreNamed() {
        IllegalArgumentException usage = assertThrows(IllegalArgumentException.class,
                () -> DecodeLoop.run(new String[] {"nuq3-1%", "96"}));
        assertTrue(usage.getMessage().startsWith("usage: DecodeLoop"), usage.getMessage());
        IllegalArgumentException what = assertThrows(IllegalArgumentException.class,
                () -> DecodeLoop.run(new String[] {"nuq3-1%", "96", "8", "1", "values"}));
        assertTrue(what.getMessage().contains("decode or keys, not values"), what.getMessage());
        IllegalArgumentException tokens = assertThrows(IllegalArgumentException.class,
                () -> DecodeLoop.run(new String[] {"nuq3-1%", "0", "8", "1"}));
        assertTrue(tokens.getMessage().contains("must be positive"), tokens.getMessage());
    }
}
