package dev.kvq.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;

/** The PNG figures of {@code kvq eval --plot} and {@code kvq bench --plot} (XChart, headless). */
final class Plots {
    private Plots() {}

    /** Distinct, colour-blind-friendly series colours (Okabe–Ito), so no two curves look alike. */
    private static final java.awt.Color[] PALETTE = {new java.awt.Color(0, 114, 178), new java.awt.Color(230, 159, 0),
        new java.awt.Color(0, 158, 115), new java.awt.Color(204, 121, 167), new java.awt.Color(213, 94, 0),
        new java.awt.Color(86, 180, 233), new java.awt.Color(120, 120, 120), new java.awt.Color(0, 0, 0)};

    /** One measured point of a series. */
    record Point(String series, double x, double y) {}

    /** Marker shapes, cycled with a different period than the colours so that no two series look alike. */
    private static final org.knowm.xchart.style.markers.Marker[] MARKERS = {SeriesMarkers.CIRCLE, SeriesMarkers.SQUARE,
        SeriesMarkers.DIAMOND, SeriesMarkers.TRIANGLE_UP, SeriesMarkers.TRIANGLE_DOWN};

    /**
     * Perplexity against bits per element, one series per method family: the whole range (log-scaled y),
     * or with {@code zoom} only perplexities up to {@code zoom} times the fp32 reference (linear y), where
     * the modes worth shipping differ.
     */
    static void perplexityVsBits(Path file, String title, List<Point> points, double fp32, double zoom) throws IOException {
        XYChart chart = new XYChartBuilder().width(900).height(560).title(title)
                .xAxisTitle("bits per K/V element as stored, at a 32K-token context")
                .yAxisTitle(zoom > 0 ? "perplexity" : "perplexity (log scale)").build();
        if (zoom > 0) {
            chart.getStyler().setYAxisMin(fp32 * 0.995);
            chart.getStyler().setYAxisMax(fp32 * zoom);
        } else {
            chart.getStyler().setYAxisLogarithmic(true);
            chart.getStyler().setYAxisLogarithmicDecadeOnly(false);
        }
        chart.getStyler().setLegendPosition(org.knowm.xchart.style.Styler.LegendPosition.OutsideE);
        double minX = Double.MAX_VALUE;
        double maxX = 0;
        for (Map.Entry<String, List<Point>> e : bySeries(points).entrySet()) {
            List<Point> ps = new ArrayList<>(e.getValue());
            if (zoom > 0) {
                ps.removeIf(p -> p.y() > fp32 * zoom);
                if (ps.isEmpty()) {
                    continue;
                }
            }
            ps.sort((a, b) -> Double.compare(a.x(), b.x()));
            double[] x = ps.stream().mapToDouble(Point::x).toArray();
            double[] y = ps.stream().mapToDouble(Point::y).toArray();
            XYSeries s = chart.addSeries(e.getKey(), x, y);
            int i = chart.getSeriesMap().size();
            s.setMarker(MARKERS[i % MARKERS.length]);
            s.setLineColor(PALETTE[i % PALETTE.length]);
            s.setMarkerColor(PALETTE[i % PALETTE.length]);
            for (double v : x) {
                minX = Math.min(minX, v);
                maxX = Math.max(maxX, v);
            }
        }
        if (!Double.isNaN(fp32) && maxX > 0) {
            XYSeries ref = chart.addSeries("fp32 reference", new double[] {minX, maxX}, new double[] {fp32, fp32});
            ref.setMarker(SeriesMarkers.NONE);
            ref.setLineColor(java.awt.Color.BLACK);
            ref.setLineStyle(new java.awt.BasicStroke(1f, java.awt.BasicStroke.CAP_BUTT, java.awt.BasicStroke.JOIN_MITER,
                    10f, new float[] {6f, 4f}, 0f));
        }
        save(chart, file);
    }

    /** Time against context length per KV mode (log-log). */
    static void timeVsContext(Path file, String title, String yTitle, List<Point> points) throws IOException {
        XYChart chart = new XYChartBuilder().width(900).height(560).title(title)
                .xAxisTitle("context length (tokens, log scale)").yAxisTitle(yTitle).build();
        chart.getStyler().setXAxisLogarithmic(true);
        chart.getStyler().setYAxisLogarithmic(true);
        chart.getStyler().setXAxisDecimalPattern("#,###");
        chart.getStyler().setYAxisLogarithmicDecadeOnly(false);
        chart.getStyler().setLegendPosition(org.knowm.xchart.style.Styler.LegendPosition.InsideNW);
        for (Map.Entry<String, List<Point>> e : bySeries(points).entrySet()) {
            XYSeries s = chart.addSeries(e.getKey(), e.getValue().stream().mapToDouble(Point::x).toArray(),
                    e.getValue().stream().mapToDouble(Point::y).toArray());
            s.setMarker(SeriesMarkers.CIRCLE);
            s.setLineColor(PALETTE[chart.getSeriesMap().size() % PALETTE.length]);
            s.setMarkerColor(PALETTE[chart.getSeriesMap().size() % PALETTE.length]);
        }
        save(chart, file);
    }

    private static Map<String, List<Point>> bySeries(List<Point> points) {
        Map<String, List<Point>> m = new LinkedHashMap<>();
        for (Point p : points) {
            m.computeIfAbsent(p.series(), k -> new ArrayList<>()).add(p);
        }
        return m;
    }

    private static void save(XYChart chart, Path file) throws IOException {
        System.setProperty("java.awt.headless", "true");
        Path dir = file.toAbsolutePath().getParent();
        if (dir != null) {
            Files.createDirectories(dir);
        }
        String name = file.toString();
        String base = name.toLowerCase(java.util.Locale.ROOT).endsWith(".png") ? name.substring(0, name.length() - 4) : name;
        BitmapEncoder.saveBitmap(chart, base, BitmapEncoder.BitmapFormat.PNG);
    }

    /** The series a KV mode name belongs to in the perplexity figure. */
    static String family(String mode) {
        if (mode.startsWith("nuq")) {
            // ablation variants (sinks, weighting, outlier form) and the error splits are not curves
            if (mode.matches(".*-(s\\d+|fisher|unweighted|sparse|packed|konly|vonly)(-.*)?")) {
                return null;
            }
            dev.kvq.quant.QuantSpec s = dev.kvq.quant.QuantSpec.parse(mode);
            return "kvq " + (s.allocated() ? "nuqa" : "nuq")
                    + (s.allocation() == dev.kvq.quant.QuantSpec.Allocation.HEAD ? " per head"
                    : s.allocation() == dev.kvq.quant.QuantSpec.Allocation.TENSOR ? " per tensor" : "")
                    + (s.hasOutliers() ? ", " + mode.replaceAll(".*?-([0-9.]+%).*", "$1") + " outliers" : ", dense")
                    + (s.keyCodebooks() == dev.kvq.quant.QuantSpec.KeyCodebooks.PER_CHANNEL ? ", channel codebooks" : "")
                    + (s.recentWindow() > 0 ? ", window " + s.recentWindow() : "");
        }
        if (mode.matches("int[234]")) {
            return "int (per token)";
        }
        if (mode.matches("nf[234]")) {
            return "nf (per token)";
        }
        if (mode.matches("kivi[234]-r\\d+")) {
            return "KIVI, window " + mode.substring(mode.indexOf("-r") + 2);
        }
        return null;   // fp32, fp16, ablations and variants are not part of a family curve
    }
}
