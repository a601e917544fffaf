package dev.kvq.driver;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;

import org.junit.jupiter.api.Test;

class NvtxTest {

    @SuppressWarnings("try") // the resource exists for its close()
    @Test
    void rangesNestAndCloseWhetherOrNotNvtxIsPresent() {
        // without libnvToolsExt.so.1 this is the no-op path; with it, push/pop must balance
        assertDoesNotThrow(() -> {
            try (var outer = Nvtx.range("outer"); var inner = Nvtx.range("inner " + Nvtx.available())) {
                Thread.onSpinWait();
            }
        });
    }
}
