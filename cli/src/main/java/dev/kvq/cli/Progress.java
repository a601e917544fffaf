package dev.kvq.cli;

import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * A progress bar with ETA on stderr for long commands, shown only when stderr is a terminal and
 * {@code --quiet} was not given; otherwise every call does nothing, so logs and pipes stay clean.
 * The launcher tells whether stderr is a terminal ({@code -Dkvq.stderr.tty}); without it, the JVM's
 * console is asked.
 */
final class Progress implements AutoCloseable {
    private final ProgressBar bar;   // null when not shown

    private Progress(ProgressBar bar) {
        this.bar = bar;
    }

    static Progress start(String task, long steps, boolean quiet) {
        if (quiet || steps <= 0 || !stderrIsTerminal()) {
            return new Progress(null);
        }
        ProgressBar bar = new ProgressBarBuilder().setTaskName(task).setInitialMax(steps)
                .setStyle(ProgressBarStyle.ASCII).setConsumer(new ConsoleProgressBarConsumer(System.err))
                .setUpdateIntervalMillis(250).build();
        return new Progress(bar);
    }

    static boolean stderrIsTerminal() {
        String told = System.getProperty("kvq.stderr.tty");
        if (told != null) {
            return Boolean.parseBoolean(told);
        }
        java.io.Console console = System.console();
        return console != null && console.isTerminal();
    }

    /** Names what runs now. */
    void message(String text) {
        if (bar != null) {
            bar.setExtraMessage(text);
        }
    }

    /** One step done. */
    void step() {
        if (bar != null) {
            bar.step();
        }
    }

    boolean shown() {
        return bar != null;
    }

    @Override
    public void close() {
        if (bar != null) {
            bar.close();
        }
    }
}
