package dev.kvq.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class KernelSignaturesTest {

    private final KernelCatalog catalog = KernelCatalog.get();

    @Test
    void everySignatureMatchesTheShippedPtxOfBothArchitectures() {
        for (KernelSignatures.Signature s : KernelSignatures.all()) {
            assertEquals(List.of(80, 90), catalog.architectures(s.source()), s.source());
            for (int arch : catalog.architectures(s.source())) {
                KernelCatalog.Entry entry = catalog.entries(s.source(), arch).stream()
                        .filter(e -> e.name().equals(s.name())).findFirst()
                        .orElseThrow(() -> new AssertionError(s.name() + " is not an entry of " + s.source()
                                + ".sm_" + arch + ".ptx (mangled, or in another source?)"));
                assertEquals(s.ptxTypes(), entry.parameterTypes(), s.name() + " on sm_" + arch);
            }
        }
    }

    @Test
    void everyCacheKernelInThePtxIsDeclared() {
        for (String source : KernelSignatures.sources()) {
            for (KernelCatalog.Entry e : catalog.entries(source, 90)) {
                assertEquals(source, KernelSignatures.of(e.name()).source(), e.name());
            }
        }
    }

    /** The Java table and the C header list the same parameters, in the same order, with the same comments. */
    @Test
    void signaturesMirrorTheHeader() throws IOException {
        Map<String, List<String[]>> header = parseHeader(Path.of("src/main/cuda/kvq_kernels.cuh"));
        assertEquals(KernelSignatures.all().stream().map(KernelSignatures.Signature::name).toList(),
                List.copyOf(header.keySet()));
        for (KernelSignatures.Signature s : KernelSignatures.all()) {
            List<String[]> params = header.get(s.name());
            assertEquals(params.size(), s.params().size(), s.name());
            for (int i = 0; i < params.size(); i++) {
                KernelSignatures.Param p = s.params().get(i);
                assertEquals(params.get(i)[0], p.name(), s.name() + " parameter " + i);
                assertEquals(params.get(i)[1], p.kind().name(), s.name() + "." + p.name());
                assertEquals(params.get(i)[2], p.shape(), s.name() + "." + p.name());
                assertFalse(p.shape().isBlank(), s.name() + "." + p.name() + " has no shape comment");
            }
        }
    }

    private static final Pattern DECL = Pattern.compile("extern \"C\" __global__ void (\\w+)\\(");

    private static Map<String, List<String[]>> parseHeader(Path file) throws IOException {
        List<String> lines = Files.readAllLines(file);
        Map<String, List<String[]>> out = new LinkedHashMap<>();
        for (int i = 0; i < lines.size(); i++) {
            Matcher m = DECL.matcher(lines.get(i));
            if (!m.find()) {
                continue;
            }
            List<String[]> params = new ArrayList<>();
            boolean end = false;
            while (!end) {
                String line = lines.get(++i);
                int slash = line.indexOf("//");
                String code = (slash < 0 ? line : line.substring(0, slash)).strip();
                String comment = slash < 0 ? "" : line.substring(slash + 2).strip();
                end = code.endsWith(");");
                code = code.replaceAll("[,);]+$", "").strip();
                String[] tokens = code.replace("*", " * ").trim().split("\\s+");
                String name = tokens[tokens.length - 1];
                String kind = code.contains("*") ? "POINTER" : switch (tokens[0]) {
                    case "int" -> "I32";
                    case "long" -> "I64";
                    case "float" -> "F32";
                    default -> throw new AssertionError("unexpected parameter type in " + line);
                };
                params.add(new String[] {name, kind, comment});
            }
            out.put(m.group(1), params);
        }
        return out;
    }

    @Test
    void launchGeometryHelpers() {
        assertEquals(1, KernelSignatures.keyScoreTiles(0), "one tile scores the sinks of an all-sink sequence");
        assertEquals(1, KernelSignatures.keyScoreTiles(128));
        assertEquals(2, KernelSignatures.keyScoreTiles(129));
        assertEquals(4, KernelSignatures.valueTiles(1024));
        assertEquals(1, KernelSignatures.sparseBlocks(0));
        assertEquals(2, KernelSignatures.sparseBlocks(2049));
        // d = 128, G = 8: LUT 8 KiB + queries 4 KiB + base 512 B
        assertEquals((16 * 128 + 8 * 128 + 128) * 4, KernelSignatures.keyScoresSharedBytes(128, 8));
        assertTrue(KernelSignatures.valuePartialsSharedBytes(128, 8) <= 48 * 1024, "default 48 KiB suffices at d=128, G=8");
        assertEquals(KernelSignatures.of("kvq_pack_keys").params().get(KernelSignatures.of("kvq_pack_keys").indexOf("keys")).name(),
                "keys");
    }

    @Test
    void unknownKernelsAndParametersAreNamed() {
        var e = assertThrows(NoSuchElementException.class, () -> KernelSignatures.of("kvq_nope"));
        assertTrue(e.getMessage().contains("kvq_key_scores"), e.getMessage());
        var e2 = assertThrows(NoSuchElementException.class, () -> KernelSignatures.of("kvq_softmax").indexOf("nope"));
        assertTrue(e2.getMessage().contains("kvq_softmax"), e2.getMessage());
    }
}
