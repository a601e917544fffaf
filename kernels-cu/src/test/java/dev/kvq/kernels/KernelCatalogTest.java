package dev.kvq.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.NoSuchElementException;
import org.junit.jupiter.api.Test;

class KernelCatalogTest {

    private final KernelCatalog catalog = KernelCatalog.get();

    @Test
    void listsVectorAddForBothArchitectures() {
        assertTrue(catalog.sources().contains("vector_add"), catalog.sources().toString());
        assertEquals(List.of(80, 90), catalog.architectures("vector_add"));
        assertTrue(catalog.kernelNames().contains("vector_add"), catalog.kernelNames().toString());
    }

    @Test
    void ptxTargetsTheArchitectureItIsNamedFor() {
        for (int arch : catalog.architectures("vector_add")) {
            String ptx = catalog.ptx("vector_add", arch);
            assertTrue(ptx.contains(".target sm_" + arch + "\n"), "PTX for sm_" + arch + " targets something else");
            // -lineinfo would embed absolute paths and make the committed PTX machine-specific
            assertFalse(ptx.contains(".file"), "committed PTX must be built without -lineinfo");
            assertEquals(ptx.length(), catalog.ptxBytes("vector_add", arch).length); // ASCII only
        }
    }

    @Test
    void entryParametersMatchTheCudaSignature() {
        // vector_add(const float* a, const float* b, float* out, int n)
        List<KernelCatalog.Entry> entries = catalog.entries("vector_add", 90);
        assertEquals(1, entries.size(), entries.toString());
        assertEquals("vector_add", entries.get(0).name(), "entry name is mangled: is it extern \"C\"?");
        assertEquals(List.of("u64", "u64", "u64", "u32"), entries.get(0).parameterTypes());
    }

    @Test
    void parsesAlignedArrayAndPointerQualifiedParameters() {
        String ptx = """
                .visible .entry k(
                	.param .u64 .ptr .global .align 4 k_param_0,
                	.param .align 8 .b8 k_param_1[16],
                	.param .f32 k_param_2
                )
                { ret; }
                .entry hidden( .param .u32 x ) { ret; }
                """;
        List<KernelCatalog.Entry> entries = KernelCatalog.parseEntries(ptx);
        assertEquals(1, entries.size(), "only .visible entries are launchable by name");
        assertEquals(List.of("u64", "b8[16]", "f32"), entries.get(0).parameterTypes());
    }

    @Test
    void picksTheNewestArchitectureTheDeviceCanRun() {
        assertEquals(90, catalog.bestArchitecture("vector_add", 9, 0));
        assertEquals(90, catalog.bestArchitecture("vector_add", 10, 0)); // PTX JITs forward
        assertEquals(80, catalog.bestArchitecture("vector_add", 8, 9));
        assertThrows(NoSuchElementException.class, () -> catalog.bestArchitecture("vector_add", 7, 5));
    }

    @Test
    void unknownNamesFailWithTheAvailableChoices() {
        var e = assertThrows(NoSuchElementException.class, () -> catalog.ptx("nope", 90));
        assertTrue(e.getMessage().contains("vector_add"), e.getMessage());
        var e2 = assertThrows(NoSuchElementException.class, () -> catalog.ptx("vector_add", 75));
        assertTrue(e2.getMessage().contains("sm_[80, 90]"), e2.getMessage());
    }
}
