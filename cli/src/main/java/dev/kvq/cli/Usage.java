package dev.kvq.cli;

import dev.kvq.eval.KvMode;
import dev.kvq.quant.QuantSpec;
import picocli.CommandLine;

/** Parsing of option values whose errors are usage errors (exit 2 with the parser's message). */
final class Usage {
    private Usage() {}

    static KvMode kvMode(CommandLine.Model.CommandSpec spec, String text) {
        try {
            return KvMode.parse(text);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
    }

    static QuantSpec quantSpec(CommandLine.Model.CommandSpec spec, String text) {
        try {
            return QuantSpec.parse(text);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
    }
}
