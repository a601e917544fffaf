package dev.kvq.bench;

import java.util.List;

/** A benchmark row: one KV mode at one context length. */
public interface BenchRow {
    /**
     * The context length.
     *
     * @return tokens
     */
    int tokens();

    /**
     * The KV mode.
     *
     * @return e.g. {@code nuq3-1%}
     */
    String kv();

    /**
     * The fp16 row at {@code tokens} tokens: the baseline of the ratios.
     *
     * @param rows   the rows of one run
     * @param tokens the context length
     * @param <R>    the row type
     * @return the fp16 row, or null when fp16 was not measured at that length
     */
    static <R extends BenchRow> R fp16(List<R> rows, int tokens) {
        for (R r : rows) {
            if (r.tokens() == tokens && r.kv().equals("fp16")) {
                return r;
            }
        }
        return null;
    }
}
