package dev.kvq.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code ./kvq} launcher on machines whose default java is too old: it must find a JDK ≥ 22 in
 * the JVM folder, or stop with one line that names what to install. Runs the jar Maven just built.
 */
class LauncherTest {
    static Path root;

    @BeforeAll
    static void findRepository() {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null && !Files.isRegularFile(dir.resolve("kvq"))) {
            dir = dir.getParent();
        }
        assertTrue(dir != null, "the kvq launcher is above " + Path.of("").toAbsolutePath());
        root = dir;
        assertTrue(Files.isRegularFile(root.resolve("cli/target/kvq.jar")), "cli/target/kvq.jar was built");
    }

    record Result(int code, String out, String err) {}

    static Result launch(Map<String, String> env, String... args) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder();
        pb.command().add("bash");
        pb.command().add(root.resolve("kvq").toString());
        pb.command().addAll(List.of(args));
        pb.environment().remove("JAVA_HOME");
        pb.environment().put("KVQ_SKIP_BUILD", "1");
        pb.environment().putAll(env);
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        byte[] err = p.getErrorStream().readAllBytes();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "launcher finished");
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
    }

    /** A fake JDK whose java prints the given version, as an old system JDK would. */
    static Path fakeJdk(Path dir, String version) throws IOException {
        Path bin = Files.createDirectories(dir.resolve("bin"));
        for (String tool : List.of("java", "javac")) {
            Path f = bin.resolve(tool);
            Files.writeString(f, "#!/bin/sh\necho 'openjdk version \"" + version + "\" 2025-04-15' >&2\nexit 0\n");
            Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        return dir;
    }

    @Test
    void picksTheNewestJdkInTheJvmFolderWhenJavaHomeIsOld(@TempDir Path tmp) throws Exception {
        Path jvms = Files.createDirectories(tmp.resolve("jvm"));
        Path old = fakeJdk(jvms.resolve("java-17-openjdk-amd64"), "17.0.15");
        Files.createSymbolicLink(jvms.resolve("temurin-current"), Path.of(System.getProperty("java.home")));
        Result r = launch(Map.of("JAVA_HOME", old.toString(), "KVQ_JVM_DIR", jvms.toString()), "info");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("java     " + Runtime.version()), r.out());
    }

    @Test
    void saysWhatToInstallWhenNoJdkIsNewEnough(@TempDir Path tmp) throws Exception {
        Path jvms = Files.createDirectories(tmp.resolve("jvm"));
        Path old = fakeJdk(jvms.resolve("java-17-openjdk-amd64"), "17.0.15");
        Result r = launch(Map.of("JAVA_HOME", old.toString(), "KVQ_JVM_DIR", jvms.toString()), "info");
        assertEquals(1, r.code());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().startsWith("kvq: no JDK 22+ found"), r.err());
        assertTrue(r.err().contains("install a JDK 25"), r.err());
    }

    @Test
    void passesVerbsAndExitCodesThrough() throws Exception {
        Result r = launch(Map.of("JAVA_HOME", System.getProperty("java.home")), "no-such-verb");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("Unmatched argument"), r.err());
    }

    /** The JDK's incubator notice is dropped from stderr; the JDK's other lines and the command's own pass. */
    @Test
    void dropsOnlyTheIncubatorNoticeFromStderr() throws Exception {
        Result r = launch(Map.of("JAVA_HOME", System.getProperty("java.home"), "JAVA_TOOL_OPTIONS", "-Dkvq.launcher.test=1"),
                "no-such-verb");
        assertEquals(2, r.code(), r.err());
        assertFalse(r.err().contains("Using incubator modules"), r.err());
        assertTrue(r.err().startsWith("Picked up JAVA_TOOL_OPTIONS: -Dkvq.launcher.test=1\n"), r.err());
        assertTrue(r.err().contains("Unmatched argument at index 0: 'no-such-verb'"), r.err());
    }
}
