package dev.kvq.quant;

/**
 * Where a calibration came from, kept in the file so a cache can say what it runs with.
 *
 * @param model     the model it was fitted for (name or path)
 * @param data      the calibration text or data set
 * @param sequences calibration sequences (windows)
 * @param sequenceLength tokens per sequence
 * @param createdBy the tool and version that wrote it
 * @param createdAt ISO-8601 time of creation
 */
public record Provenance(String model, String data, int sequences, int sequenceLength, String createdBy,
                         String createdAt) {
    /** Turns null strings into empty ones and rejects negative counts. */
    public Provenance {
        model = model == null ? "" : model;
        data = data == null ? "" : data;
        createdBy = createdBy == null ? "" : createdBy;
        createdAt = createdAt == null ? "" : createdAt;
        Checks.requireNonNegative("calibration sequences", sequences);
        Checks.requireNonNegative("calibration sequence length", sequenceLength);
    }

    /**
     * A provenance for calibrations that did not record one.
     *
     * @return empty strings and zero counts
     */
    public static Provenance unknown() {
        return new Provenance("", "", 0, 0, "", "");
    }
}
