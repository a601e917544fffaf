package dev.kvq.cli;

import dev.kvq.cache.Backend;
import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine;

/** {@code kvq info}: the JDK, the SIMD width, CUDA availability (with the reason) and the backend. */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Show the JDK, SIMD lanes, CUDA availability and the backend kvq would use.")
final class InfoCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--json", description = "Print one JSON object instead of a table.")
    boolean json;

    @CommandLine.Mixin
    CommonOptions.Verbose verbose;

    @Override
    public Integer call() {
        Map<String, String> rows = new LinkedHashMap<>();
        rows.put("kvq", Kvq.Version.version());
        rows.put("java", Runtime.version() + " (" + System.getProperty("java.vendor") + ") at "
                + System.getProperty("java.home"));
        rows.put("cpu", Runtime.getRuntime().availableProcessors() + " cores, " + System.getProperty("os.arch"));
        int preferred = Backend.preferredSimdLanes();
        String configured = System.getProperty(Backend.SIMD_PROPERTY);
        int lanes = Backend.simdLanes();
        rows.put("simd", preferred + " float lanes preferred (" + preferred * 32 + "-bit); using "
                + (lanes == 0 ? "the scalar path" : lanes + " lanes")
                + (configured == null ? "" : " (" + Backend.SIMD_PROPERTY + "=" + configured + ")"));
        BackendReport.describe(rows);
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.println(Json.object(rows));
        } else {
            Table.keyValue(out, rows);
        }
        return 0;
    }
}
