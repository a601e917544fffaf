package dev.kvq.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.util.Properties;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code kvq} command. Exit codes: 0 success, 1 runtime failure, 2 usage error; failures print one
 * readable line (the stack trace only with {@code --verbose}).
 */
@Command(name = "kvq",
        mixinStandardHelpOptions = true,
        versionProvider = Kvq.Version.class,
        description = "KV-cache quantization runtime for the JVM (KVQuant: 2-4 bit keys and values).",
        subcommands = {InfoCommand.class, BenchCommand.class, EvalCommand.class, CalibrateCommand.class,
                GenerateCommand.class, DemoCommand.class, PlanCommand.class, CommandLine.HelpCommand.class})
public final class Kvq implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing command (try 'kvq --help')");
    }

    public static void main(String[] args) {
        System.exit(run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
    }

    /** Runs the command line and returns the exit code; tests call this with their own writers. */
    public static int run(String[] args, PrintWriter out, PrintWriter err) {
        boolean verbose = false;
        for (String a : args) {
            if (a.equals("--verbose") || a.equals("-v")) {
                verbose = true;
            }
        }
        boolean showTrace = verbose;
        CommandLine cli = new CommandLine(new Kvq());
        cli.setOut(out);
        cli.setErr(err);
        cli.setExecutionExceptionHandler((ex, line, parsed) -> {
            line.getErr().println("kvq: " + oneLine(ex));
            if (showTrace) {
                ex.printStackTrace(line.getErr());
            }
            return 1;
        });
        return cli.execute(args);
    }

    static String oneLine(Throwable ex) {
        String m = ex.getMessage();
        if (m == null || m.isBlank()) {
            m = ex.getClass().getSimpleName();
        }
        return m.replace('\n', ' ');
    }

    /** Reads the version Maven filtered into the jar. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"kvq " + version(), "Java " + Runtime.version() + " (" + System.getProperty("java.vendor") + ")"};
        }

        static String version() {
            Properties p = new Properties();
            try (InputStream in = Kvq.class.getResourceAsStream("/kvq-version.properties")) {
                if (in != null) {
                    p.load(in);
                }
            } catch (IOException e) {
                return "unknown";
            }
            return p.getProperty("version", "unknown");
        }
    }
}
