package dev.kvq.cli;

import java.util.Map;

/** Minimal JSON writing for flat objects; the CLI needs no JSON library for that. */
final class Json {
    private Json() {}

    static String object(Map<String, ?> fields) {
        StringBuilder s = new StringBuilder("{");
        boolean first = true;
        for (Map.Entry<String, ?> e : fields.entrySet()) {
            if (!first) {
                s.append(", ");
            }
            first = false;
            s.append(string(e.getKey())).append(": ").append(value(e.getValue()));
        }
        return s.append('}').toString();
    }

    static String value(Object v) {
        if (v == null) {
            return "null";
        }
        if (v instanceof Map<?, ?> m) {
            @SuppressWarnings("unchecked")
            Map<String, ?> fields = (Map<String, ?>) m;
            return object(fields);
        }
        if (v instanceof java.util.List<?> list) {
            StringBuilder s = new StringBuilder("[");
            for (int i = 0; i < list.size(); i++) {
                s.append(i == 0 ? "" : ", ").append(value(list.get(i)));
            }
            return s.append(']').toString();
        }
        if (v instanceof Number n && Double.isFinite(n.doubleValue())) {
            return n.toString();
        }
        if (v instanceof Boolean b) {
            return b.toString();
        }
        return string(String.valueOf(v));
    }

    static String string(String v) {
        StringBuilder s = new StringBuilder("\"");
        for (int i = 0; i < v.length(); i++) {
            char c = v.charAt(i);
            switch (c) {
                case '"' -> s.append("\\\"");
                case '\\' -> s.append("\\\\");
                case '\n' -> s.append("\\n");
                case '\r' -> s.append("\\r");
                case '\t' -> s.append("\\t");
                default -> {
                    if (c < 0x20) {
                        s.append(String.format("\\u%04x", (int) c));
                    } else {
                        s.append(c);
                    }
                }
            }
        }
        return s.append('"').toString();
    }
}
