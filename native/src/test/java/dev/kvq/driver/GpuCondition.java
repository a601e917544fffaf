package dev.kvq.driver;

/**
 * Class-level condition for GPU tests: {@code @EnabledIf("dev.kvq.driver.GpuCondition#available")}.
 * Disabled test classes show as skipped in the reports (an assumption in {@code @BeforeAll} would
 * make them vanish from the counts instead).
 */
public final class GpuCondition {

    private GpuCondition() {
    }

    public static boolean available() {
        return CudaDriver.probe().available();
    }
}
