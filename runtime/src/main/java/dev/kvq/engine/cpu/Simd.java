package dev.kvq.engine.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The SIMD width of the CPU backend, from the system property {@value #PROPERTY}: unset means the
 * machine's preferred width, {@code 0} forces the scalar path (tests run both), and 4, 8 or 16 pick
 * that many float lanes when the hardware has them.
 */
public final class Simd {
    public static final String PROPERTY = "kvq.simd";

    private Simd() {}

    /** Float lanes of the preferred species on this machine. */
    public static int preferredLanes() {
        return FloatVector.SPECIES_PREFERRED.length();
    }

    /** The configured number of float lanes; 0 = scalar. */
    public static int lanes() {
        return lanes(System.getProperty(PROPERTY));
    }

    static int lanes(String setting) {
        if (setting == null || setting.isBlank()) {
            return preferredLanes();
        }
        int lanes;
        try {
            lanes = Integer.parseInt(setting.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(PROPERTY + " must be 0 (scalar) or a lane count, got '" + setting + "'");
        }
        if (lanes == 0) {
            return 0;
        }
        if (lanes != 4 && lanes != 8 && lanes != 16) {
            throw new IllegalArgumentException(PROPERTY + " must be 0, 4, 8 or 16, got " + lanes);
        }
        if (lanes > preferredLanes()) {
            throw new IllegalArgumentException(PROPERTY + "=" + lanes + " exceeds the " + preferredLanes()
                    + " float lanes this CPU offers");
        }
        return lanes;
    }

    /** The float species for {@code lanes} (4, 8 or 16); null for 0, the scalar path. */
    public static VectorSpecies<Float> species(int lanes) {
        if (lanes == 0) {
            return null;
        }
        return FloatVector.SPECIES_PREFERRED.length() == lanes ? FloatVector.SPECIES_PREFERRED
                : VectorSpecies.of(float.class, VectorShape.forBitSize(lanes * Float.SIZE));
    }
}
