package dev.kvq.cli;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class ProgressTest {

    @Test
    void shownOnlyOnATerminalAndNeverWhenQuiet() {
        String old = System.getProperty("kvq.stderr.tty");
        try {
            System.setProperty("kvq.stderr.tty", "false");
            try (Progress p = Progress.start("t", 3, false)) {
                assertFalse(p.shown(), "not a terminal: no bar");
                p.message("x");
                p.step();
            }
            System.setProperty("kvq.stderr.tty", "true");
            try (Progress p = Progress.start("t", 3, true)) {
                assertFalse(p.shown(), "--quiet: no bar");
            }
            try (Progress p = Progress.start("t", 3, false)) {
                assertTrue(p.shown(), "a terminal: a bar");
                p.step();
            }
        } finally {
            if (old == null) {
                System.clearProperty("kvq.stderr.tty");
            } else {
                System.setProperty("kvq.stderr.tty", old);
            }
        }
    }
}
