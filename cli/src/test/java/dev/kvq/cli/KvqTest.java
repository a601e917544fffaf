package dev.kvq.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;

class KvqTest {
    record Run(int code, String out, String err) {}

    static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Kvq.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new Run(code, out.toString(), err.toString());
    }

    @Test
    void infoReportsJdkSimdCudaAndBackend() {
        Run r = run("info");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("java     " + Runtime.version()), r.out());
        assertTrue(r.out().contains("float lanes preferred"), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("cuda ")), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("backend ")), r.out());
    }

    @Test
    void infoJsonIsOneObject() {
        Run r = run("info", "--json");
        assertEquals(0, r.code(), r.err());
        String json = r.out().trim();
        assertTrue(json.startsWith("{\"kvq\": ") && json.endsWith("}"), json);
        assertTrue(json.contains("\"simd\": "), json);
        assertEquals(1, json.lines().count());
    }

    @Test
    void versionAndHelp() {
        Run v = run("--version");
        assertEquals(0, v.code());
        assertTrue(v.out().startsWith("kvq "), v.out());
        Run h = run("--help");
        assertEquals(0, h.code());
        assertTrue(h.out().contains("info"), h.out());
    }

    @Test
    void usageErrorsExitWithTwo() {
        Run unknown = run("frobnicate");
        assertEquals(2, unknown.code());
        assertTrue(unknown.err().contains("Unmatched argument at index 0: 'frobnicate'"), unknown.err());
        Run none = run();
        assertEquals(2, none.code());
        assertTrue(none.err().contains("missing command"), none.err());
        assertEquals(2, run("info", "--bogus").code());
    }

    @Test
    void badSimdSettingIsARuntimeErrorWithOneLine() {
        String old = System.getProperty("kvq.simd");
        System.setProperty("kvq.simd", "7");
        try {
            Run r = run("info");
            assertEquals(1, r.code());
            assertEquals("kvq: kvq.simd must be 0, 4, 8 or 16, got 7", r.err().trim());
        } finally {
            if (old == null) {
                System.clearProperty("kvq.simd");
            } else {
                System.setProperty("kvq.simd", old);
            }
        }
    }
}
