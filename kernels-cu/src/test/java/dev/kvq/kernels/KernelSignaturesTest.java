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
        List<String> sources = new ArrayList<>(KernelSignatures.sources());
        sources.addAll(KernelSignatures.decodeV2Sources());
        for (String source : sources) {
            for (int arch : List.of(80, 90)) {
                for (KernelCatalog.Entry e : catalog.entries(source, arch)) {
                    assertEquals(source, KernelSignatures.of(e.name()).source(), e.name() + " on sm_" + arch);
                }
            }
        }
    }

    /** Every decode v2 kernel and every specialized instance is an entry of its source with the family's types. */
    @Test
    void decodeV2FamiliesAndInstancesMatchThePtx() {
        int instances = 0;
        for (KernelSignatures.Signature s : KernelSignatures.decodeV2()) {
            List<KernelSignatures.Signature> named = new ArrayList<>(List.of(s));
            for (KernelSignatures.Instance i : s.instances()) {
                named.add(KernelSignatures.of(i.name()));
                instances++;
            }
            for (KernelSignatures.Signature n : named) {
                assertEquals(List.of(80, 90), catalog.architectures(n.source()), n.source());
                for (int arch : List.of(80, 90)) {
                    KernelCatalog.Entry entry = catalog.entries(n.source(), arch).stream()
                            .filter(e -> e.name().equals(n.name())).findFirst()
                            .orElseThrow(() -> new AssertionError(n.name() + " is not an entry of " + n.source()
                                    + ".sm_" + arch + ".ptx"));
                    assertEquals(s.ptxTypes(), entry.parameterTypes(), n.name() + " on sm_" + arch);
                }
            }
        }
        assertEquals(36 + 12, instances, "b 2/3/4 × G 1/2/4/8 × d 64/128/256 packed, G × d fp16");
        assertTrue(KernelSignatures.decodeV2Sources().stream().noneMatch(KernelSignatures.sources()::contains),
                "the v1 backend loads every source of sources(): the v2 kernels must not be among them");
    }

    private static final Pattern CONST = Pattern.compile("\\.const \\.align 4 \\.u32 (\\w+) = (\\d+);");

    private Map<String, Integer> constants(String source, int arch) {
        Map<String, Integer> out = new LinkedHashMap<>();
        Matcher m = CONST.matcher(catalog.ptx(source, arch));
        while (m.find()) {
            out.put(m.group(1), Integer.parseInt(m.group(2)));
        }
        return out;
    }

    /** The Java shared-memory formulas equal the sizes the kernels were compiled with (PTX constants). */
    @Test
    void decodeSharedMemoryMatchesThePtxConstants() {
        for (int arch : List.of(80, 90)) {
            Map<String, Integer> generic = constants("kvq_decode", arch);
            for (int d : List.of(8, 24, 64, 128, 256)) {
                assertEquals(generic.get("kvq_decode_packed_smem_fixed") + d * generic.get("kvq_decode_packed_smem_per_d"),
                        KernelSignatures.packedDecodeSharedBytes(3, 3, d), "generic packed, d = " + d);
                assertEquals(generic.get("kvq_decode_fp16_smem_fixed") + d * generic.get("kvq_decode_fp16_smem_per_d"),
                        KernelSignatures.fp16DecodeSharedBytes(3, d), "generic fp16, d = " + d);
                assertEquals(generic.get("kvq_decode_packed_groups_smem_fixed")
                        + d * generic.get("kvq_decode_packed_groups_smem_per_d"),
                        KernelSignatures.groupsPackedDecodeSharedBytes(d), "width groups, d = " + d);
            }
            for (int b : List.of(2, 3, 4)) {
                Map<String, Integer> c = constants("kvq_decode_b" + b, arch);
                for (int g : List.of(1, 2, 4, 8)) {
                    for (int d : List.of(64, 128, 256)) {
                        String entry = KernelSignatures.packedDecodeEntry(b, g, d, 256);
                        assertEquals(c.get(entry + "_smem"), KernelSignatures.packedDecodeSharedBytes(b, g, d), entry);
                        String fp16 = KernelSignatures.fp16DecodeEntry(g, d);
                        assertEquals(generic.get(fp16 + "_smem"), KernelSignatures.fp16DecodeSharedBytes(g, d), fp16);
                        // sm_80 holds two 512-thread blocks per SM with this (164 KiB less 1 KiB per block)
                        assertTrue(KernelSignatures.packedDecodeSharedBytes(b, g, d) + 1024 <= 167936 / 2, entry);
                    }
                }
            }
        }
    }

    @Test
    void decodeEntriesAndSplits() {
        assertEquals("kvq_decode_packed_b3_g1_d128", KernelSignatures.packedDecodeEntry(3, 1, 128, 256));
        assertEquals("kvq_decode_packed_b2_g8_d64", KernelSignatures.packedDecodeEntry(2, 8, 64, 32));
        assertEquals("kvq_decode_packed", KernelSignatures.packedDecodeEntry(3, 1, 128, 96), "P not a power of two");
        assertEquals("kvq_decode_packed", KernelSignatures.packedDecodeEntry(3, 2, 8, 256), "stories260K: d = 8");
        assertEquals("kvq_decode_packed", KernelSignatures.packedDecodeEntry(3, 3, 128, 256), "G = 3");
        assertEquals("kvq_decode_packed", KernelSignatures.packedDecodeEntry(5, 1, 128, 256), "5 bits");
        assertEquals("kvq_decode_fp16_g4_d256", KernelSignatures.fp16DecodeEntry(4, 256));
        assertEquals("kvq_decode_fp16", KernelSignatures.fp16DecodeEntry(16, 128));
        assertEquals(13, KernelSignatures.decodeSplits(132, 1, 32, 131072), "⌈3·132/32⌉");
        assertEquals(1, KernelSignatures.decodeSplits(132, 64, 32, 131072));
        assertEquals(2, KernelSignatures.decodeSplits(132, 1, 32, 1000), "no more splits than 512-token passes");
        assertEquals(1, KernelSignatures.decodeSplits(132, 1, 8, 0));
        assertEquals("kvq_decode_b3", KernelSignatures.of("kvq_decode_packed_b3_g4_d64").source());
        assertEquals(KernelSignatures.of("kvq_decode_packed").params(),
                KernelSignatures.of("kvq_decode_packed_b3_g4_d64").params());
    }

    /** The Java table and the C header list the same parameters, in the same order, with the same comments. */
    @Test
    void signaturesMirrorTheHeader() throws IOException {
        Map<String, List<String[]>> header = parseHeader(Path.of("src/main/cuda/kvq_kernels.cuh"));
        List<KernelSignatures.Signature> every = new ArrayList<>(KernelSignatures.all());
        every.addAll(KernelSignatures.decodeV2());
        assertEquals(every.stream().map(KernelSignatures.Signature::name).toList(), List.copyOf(header.keySet()));
        for (KernelSignatures.Signature s : every) {
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
