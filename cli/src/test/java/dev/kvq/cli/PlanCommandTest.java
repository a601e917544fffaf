package dev.kvq.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class PlanCommandTest {

    private static long maxTokens(String json) {
        Matcher m = Pattern.compile("\"max_tokens\": (\\d+)").matcher(json);
        assertTrue(m.find(), json);
        return Long.parseLong(m.group(1));
    }

    @Test
    void llama7bReachesAMillionTokensOnOneGpuAndTenMillionOnEight() {
        KvqTest.Run one = KvqTest.run("plan", "--model", "llama-7b", "--memory", "80GiB", "--kv", "nuq2", "--json");
        assertEquals(0, one.code(), one.err());
        assertTrue(maxTokens(one.out()) >= 1 << 20, one.out());
        KvqTest.Run eight = KvqTest.run("plan", "--model", "llama-7b", "--gpus", "8", "--kv", "nuq2", "--json");
        assertTrue(maxTokens(eight.out()) >= 10_000_000, eight.out());
        KvqTest.Run fp16 = KvqTest.run("plan", "--kv", "fp16", "--json");
        assertTrue(maxTokens(fp16.out()) < 150_000, "fp16 fits ~135K tokens: " + fp16.out());
    }

    @Test
    void flagsThePapersLlama65bFigure() {
        KvqTest.Run r = KvqTest.run("plan", "--model", "llama-65b", "--weights", "int4", "--kv", "nuq2-1%");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("46.5 GiB at 128K"), r.out());
        assertTrue(r.out().contains("note: the paper quotes"), r.out());
    }

    @Test
    void customModelsAndTable() {
        KvqTest.Run r = KvqTest.run("plan", "--model", "custom", "--layers", "16", "--heads", "16", "--kv-heads", "4",
                "--head-dim", "64", "--parameters", "1e9", "--memory", "24GB", "--kv", "fp16,nuq3-1%");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("nuq3-1% ")), r.out());
    }

    @Test
    void badArgumentsExitWithTwoAndNameTheProblem() {
        KvqTest.Run r = KvqTest.run("plan", "--model", "gpt-9");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("unknown model 'gpt-9'"), r.err());
        assertEquals(2, KvqTest.run("plan", "--memory", "lots").code());
        assertEquals(2, KvqTest.run("plan", "--weights", "int3").code());
        assertEquals(2, KvqTest.run("plan", "--model", "custom", "--layers", "2").code());
        KvqTest.Run tooSmall = KvqTest.run("plan", "--model", "llama-65b", "--memory", "24GiB");
        assertEquals(2, tooSmall.code());
        assertTrue(tooSmall.err().contains("do not fit"), tooSmall.err());
        assertEquals(2, KvqTest.run("plan", "--kv", "nuq7").code());
    }
}
