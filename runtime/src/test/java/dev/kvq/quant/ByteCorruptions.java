package dev.kvq.quant;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.SplittableRandom;

/** Random damage to a file's bytes, shared by the calibration and snapshot fuzz tests. */
public final class ByteCorruptions {
    private ByteCorruptions() {}

    /** A damaged copy of {@code good}: one of eight kinds of corruption, chosen and placed by {@code r}. */
    public static byte[] mutate(byte[] good, SplittableRandom r) {
        byte[] b = good.clone();
        switch (r.nextInt(8)) {
            case 0 -> {                                   // flip 1-8 random bits
                for (int i = 0, n = 1 + r.nextInt(8); i < n; i++) {
                    b[r.nextInt(b.length)] ^= (byte) (1 << r.nextInt(8));
                }
            }
            case 1 -> b = Arrays.copyOf(b, r.nextInt(b.length));             // truncate
            case 2 -> {                                   // append garbage
                byte[] longer = Arrays.copyOf(b, b.length + 1 + r.nextInt(64));
                for (int i = b.length; i < longer.length; i++) {
                    longer[i] = (byte) r.nextInt(256);
                }
                b = longer;
            }
            case 3 -> {                                   // overwrite a run with random bytes
                int from = r.nextInt(b.length);
                int to = Math.min(b.length, from + 1 + r.nextInt(32));
                for (int i = from; i < to; i++) {
                    b[i] = (byte) r.nextInt(256);
                }
            }
            case 4 -> {                                   // zero a run
                int from = r.nextInt(b.length);
                Arrays.fill(b, from, Math.min(b.length, from + 1 + r.nextInt(64)), (byte) 0);
            }
            case 5 -> {                                   // cut a run out of the middle
                int from = r.nextInt(b.length);
                int to = Math.min(b.length, from + 1 + r.nextInt(256));
                byte[] cut = new byte[b.length - (to - from)];
                System.arraycopy(b, 0, cut, 0, from);
                System.arraycopy(b, to, cut, from, b.length - to);
                b = cut;
            }
            case 6 -> {                                   // move a block (sections out of place)
                int len = 1 + r.nextInt(128);
                int from = r.nextInt(Math.max(1, b.length - len));
                int to = r.nextInt(Math.max(1, b.length - len));
                System.arraycopy(good, from, b, to, Math.min(len, b.length - Math.max(from, to)));
            }
            default -> {                                  // an extreme integer at a random aligned spot
                int at = r.nextInt(b.length / 4) * 4;
                int[] extremes = {0, -1, Integer.MAX_VALUE, Integer.MIN_VALUE, 1 << 30, 65536};
                ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(at, extremes[r.nextInt(extremes.length)]);
            }
        }
        return b;
    }
}
