package dev.kvq.cache;

import static dev.kvq.cache.CacheFixtures.calibration;
import static dev.kvq.cache.CacheFixtures.randomQuery;
import static dev.kvq.cache.GpuDeviceStepTest.download;
import static dev.kvq.cache.GpuDeviceStepTest.upload;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvq.driver.DeviceMemory;
import dev.kvq.geometry.AttentionShape;
import dev.kvq.quant.Calibration;
import dev.kvq.quant.QuantSpec;
import dev.kvq.quant.SyntheticActivations;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;

/**
 * {@link DeviceGraph}: a whole L-layer step captured once and replayed per token. The step chains the layers as a
 * model does (layer l's output, copied on the step's stream, is layer l+1's query), so the graph carries the
 * dependencies; every replay after appends gives the outputs of the same chain run through the host API (within
 * 1e-5), without a new capture while the device layout stays; a page table that grows makes {@link
 * DeviceGraph#launch} capture again, and the outputs stay right.
 */
@Tag("gpu")
@EnabledIf("dev.kvq.cache.GpuCondition#available")
class GpuDeviceGraphTest {
    /** The chain through the host API: q → layer 0 → output → layer 1 → … ; the last layer's output. */
    private static float[] hostChain(KvCache cache, float[] q0) {
        float[] q = q0.clone();
        float[] out = new float[q.length];
        for (int l = 0; l < cache.shape().layers(); l++) {
            cache.attend(l, q, out);
            q = out.clone();
        }
        return out;
    }

    @Test
    void aCapturedChainOfLayersReplaysAtEveryLengthAndRecapturesWhenTheLayoutMoves() {
        AttentionShape shape = new AttentionShape(4, 8, 2, 64);
        QuantSpec spec = QuantSpec.parse("nuq3-1%-s4-r32");
        Calibration cal = calibration(shape, spec, 11);
        int d = shape.kvChannels();
        float[] q0 = randomQuery(shape, 3);
        int n = q0.length;
        try (KvCache cache = KvCache.open(shape, spec, cal, Backend.cuda(), 64);
             DeviceMemory query = upload(q0);
             DeviceMemory out = upload(new float[n])) {
            for (int l = 0; l < shape.layers(); l++) {
                cache.append(l, SyntheticActivations.keys(10 + l, 90, d), SyntheticActivations.values(20 + l, 90, d));
            }
            DeviceMemory[] chain = new DeviceMemory[shape.layers()];
            for (int l = 0; l < chain.length; l++) {
                chain[l] = upload(new float[n]);
            }
            try (DeviceGraph graph = DeviceGraph.capture(cache, s -> {
                for (int l = 0; l < shape.layers(); l++) {
                    s.attend(l, l == 0 ? query : chain[l - 1], chain[l]);
                }
                out.copyFromAsync(chain[shape.layers() - 1], 0, 0, (long) n * Float.BYTES, s.stream());
            })) {
                assertEquals(1, graph.captures());
                for (int token = 0; token < 4; token++) {
                    graph.launch();
                    graph.finish();
                    GpuCacheTest.assertWithin(hostChain(cache, q0), download(out, n), "replay at token " + token);
                    for (int l = 0; l < shape.layers(); l++) {   // one decode token: no page table grows here
                        cache.append(l, SyntheticActivations.keys(30 + token, 1, d),
                                SyntheticActivations.values(40 + token, 1, d));
                    }
                }
                assertEquals(1, graph.captures(), "appends within the page tables need no new capture");
                for (int l = 0; l < shape.layers(); l++) {   // many pages: the page tables grow into new memory
                    cache.append(l, SyntheticActivations.keys(50 + l, 600, d), SyntheticActivations.values(60 + l, 600, d));
                }
                graph.launch();
                graph.finish();
                assertEquals(2, graph.captures(), "a moved page table is captured anew");
                GpuCacheTest.assertWithin(hostChain(cache, q0), download(out, n), "after the layout moved");
            } finally {
                for (DeviceMemory m : chain) {
                    m.close();
                }
            }
        }
    }

    @Test
    void aClosedGraphOrCacheIsRefused() {
        AttentionShape shape = new AttentionShape(1, 4, 2, 64);
        float[] q0 = randomQuery(shape, 3);
        try (DeviceMemory q = upload(q0); DeviceMemory out = upload(new float[q0.length])) {
            KvCache cache = KvCache.open(shape, QuantSpec.fp16(), null, Backend.cuda());
            cache.append(0, SyntheticActivations.keys(1, 10, shape.kvChannels()),
                    SyntheticActivations.values(2, 10, shape.kvChannels()));
            DeviceGraph graph = DeviceGraph.capture(cache, s -> s.attend(0, q, out));
            graph.launch();
            graph.finish();
            float[] expected = new float[q0.length];
            cache.attend(0, q0, expected);
            GpuCacheTest.assertWithin(expected, download(out, q0.length), "one layer");
            cache.close();
            IllegalStateException e = assertThrows(IllegalStateException.class, graph::launch);
            assertTrue(e.getMessage().contains("closed"), e.getMessage());
            graph.close();
            graph.close();
            assertThrows(IllegalStateException.class, graph::launch);
        }
    }
}
