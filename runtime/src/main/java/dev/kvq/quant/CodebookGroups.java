package dev.kvq.quant;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The channels of a tensor grouped by codebook, for a nearest-code search that runs each group through
 * {@link Codebook#nearestAll} (vector compares) instead of one scalar search per channel. Under a bit
 * allocation a layer has one codebook per width in use, so a token's channels form a handful of groups; the
 * uniform specs have one group, searched in place.
 */
final class CodebookGroups {
    private final Codebook[] books;   // [groups] distinct codebooks
    private final int[][] channels;   // [groups][n] the channels of each, ascending

    CodebookGroups(Codebook[] perChannel) {
        List<Codebook> distinct = new ArrayList<>();
        Map<Codebook, Integer> index = new HashMap<>();
        int[] groupOf = new int[perChannel.length];
        for (int c = 0; c < perChannel.length; c++) {
            Codebook book = perChannel[c];
            groupOf[c] = index.computeIfAbsent(book, b -> {
                distinct.add(b);
                return distinct.size() - 1;
            });
        }
        books = distinct.toArray(new Codebook[0]);
        int[] counts = new int[books.length];
        for (int g : groupOf) {
            counts[g]++;
        }
        channels = new int[books.length][];
        for (int g = 0; g < books.length; g++) {
            channels[g] = new int[counts[g]];
        }
        Arrays.fill(counts, 0);
        for (int c = 0; c < perChannel.length; c++) {
            int g = groupOf[c];
            channels[g][counts[g]++] = c;
        }
    }

    /**
     * {@code codes[c]} = the nearest code of {@code u[c]} in channel c's codebook, for every channel.
     *
     * @param gathered scratch, at least as long as the channels
     * @param found    scratch, at least as long as the channels
     */
    void nearest(float[] u, int[] codes, float[] gathered, int[] found) {
        if (books.length == 1) {
            // one codebook for every channel (the uniform specs): its channels are 0..n−1 in order, no copies
            books[0].nearestAll(u, 0, channels[0].length, codes, 0);
            return;
        }
        for (int g = 0; g < books.length; g++) {
            int[] list = channels[g];
            int n = list.length;
            for (int i = 0; i < n; i++) {
                gathered[i] = u[list[i]];
            }
            books[g].nearestAll(gathered, 0, n, found, 0);
            for (int i = 0; i < n; i++) {
                codes[list[i]] = found[i];
            }
        }
    }
}
