package dev.kvq.cli;

import java.io.PrintWriter;
import java.util.Map;

/** Aligned plain-text output. */
final class Table {
    private Table() {}

    /** One "key  value" line per entry, keys padded to the widest. */
    static void keyValue(PrintWriter out, Map<String, String> rows) {
        int width = 0;
        for (String k : rows.keySet()) {
            width = Math.max(width, k.length());
        }
        for (Map.Entry<String, String> e : rows.entrySet()) {
            out.printf("%-" + width + "s  %s%n", e.getKey(), e.getValue());
        }
    }
}
