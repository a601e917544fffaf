package dev.kvq.cli;

import picocli.CommandLine.Option;

/** Options every command shares, declared once and mixed in with {@code @Mixin}. */
final class CommonOptions {
    private CommonOptions() {}

    /** {@code -v/--verbose}: stack traces of failures ({@link Kvq#run} reads it before parsing). */
    static final class Verbose {
        @Option(names = {"-v", "--verbose"}, description = "Print stack traces of failures.")
        boolean on;
    }

    /** {@code -q/--quiet}: no progress bar. */
    static final class Quiet {
        @Option(names = {"-q", "--quiet"}, description = "No progress bar on stderr.")
        boolean on;
    }
}
