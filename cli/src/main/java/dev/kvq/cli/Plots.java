package dev.kvq.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.awt.image.BufferedImage;
import javax.imageio.ImageIO;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.internal.chartpart.Chart;
import org.knowm.xchart.style.markers.SeriesMarkers;

/** The PNG figures of {@code kvq eval --plot}, {@code kvq bench --plot} and {@code kvq demo --plot} (XChart, headless). */
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

    /** The x axis of the quality figures: bits as stored, where the fixed costs (sinks, windows) have faded. */
    static final String BITS_32K = "bits per K/V element as stored, at a 32K-token context";

    /**
     * Perplexity against bits per element, one series per method family: the whole range (log-scaled y),
     * or with {@code zoom} only perplexities up to {@code zoom} times the fp32 reference (linear y), where
     * the modes worth shipping differ.
     */
    static void perplexityVsBits(Path file, String title, List<Point> points, double fp32, double zoom) throws IOException {
        if (zoom <= 0) {
            save(qualityVsBits(title, BITS_32K, "perplexity (log scale)", points, fp32, 900, 560), file);
            return;
        }
        List<Point> close = points.stream().filter(p -> p.y() <= fp32 * zoom).toList();
        XYChart chart = qualityVsBits(title, BITS_32K, "perplexity", close, fp32, 900, 560);
        chart.getStyler().setYAxisLogarithmic(false);
        chart.getStyler().setYAxisMin(fp32 * 0.995);
        chart.getStyler().setYAxisMax(fp32 * zoom);
        save(chart, file);
    }

    /** KL divergence to fp32 against bits per element, one series per method family (log-scaled y). */
    static void klVsBits(Path file, String title, List<Point> points) throws IOException {
        save(qualityVsBits(title, "KL divergence to fp32, nats (log scale)", points, Double.NaN, 900, 560), file);
    }

    /**
     * A quality measure against bits per element, one series per method family (log-scaled y), with a dashed
     * fp32 reference line unless {@code fp32} is NaN.
     */
    static XYChart qualityVsBits(String title, String yTitle, List<Point> points, double fp32, int width, int height) {
        return qualityVsBits(title, "effective bits per K/V element", yTitle, points, fp32, width, height);
    }

    /** {@link #qualityVsBits(String, String, List, double, int, int)} with its own x-axis title. */
    static XYChart qualityVsBits(String title, String xTitle, String yTitle, List<Point> points, double fp32, int width,
                                 int height) {
        headless();
        XYChart chart = new XYChartBuilder().width(width).height(height).title(title)
                .xAxisTitle(xTitle).yAxisTitle(yTitle).build();
        chart.getStyler().setYAxisLogarithmic(true);
        // labels at every decade only once the values span more than two (otherwise they overlap)
        double lo = points.stream().mapToDouble(Point::y).min().orElse(1);
        double hi = points.stream().mapToDouble(Point::y).max().orElse(1);
        chart.getStyler().setYAxisLogarithmicDecadeOnly(hi > 100 * lo);
        chart.getStyler().setLegendPosition(org.knowm.xchart.style.Styler.LegendPosition.OutsideE);
        double minX = Double.MAX_VALUE;
        double maxX = 0;
        for (Map.Entry<String, List<Point>> e : bySeries(points).entrySet()) {
            List<Point> ps = new ArrayList<>(e.getValue());
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
        return chart;
    }

    /** One bar per category (e.g. memory per KV mode), labelled with its value. */
    static CategoryChart bars(String title, String yTitle, List<String> categories, List<Double> values, int width,
                              int height) {
        headless();
        CategoryChart chart = new CategoryChartBuilder().width(width).height(height).title(title).yAxisTitle(yTitle).build();
        chart.getStyler().setLegendVisible(false);
        chart.getStyler().setLabelsVisible(true);
        chart.getStyler().setDecimalPattern("#,##0.0");
        chart.getStyler().setLabelsPosition(0.95);
        chart.getStyler().setSeriesColors(new java.awt.Color[] {PALETTE[0]});
        chart.addSeries(yTitle, categories, values);
        return chart;
    }

    /** Several charts side by side in one PNG. */
    static void sideBySide(Path file, List<? extends Chart<?, ?>> charts) throws IOException {
        headless();
        List<BufferedImage> images = new ArrayList<>();
        for (Chart<?, ?> c : charts) {
            images.add(BitmapEncoder.getBufferedImage(c));
        }
        int width = images.stream().mapToInt(BufferedImage::getWidth).sum();
        int height = images.stream().mapToInt(BufferedImage::getHeight).max().orElse(1);
        BufferedImage all = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        java.awt.Graphics2D g = all.createGraphics();
        g.setColor(java.awt.Color.WHITE);
        g.fillRect(0, 0, width, height);
        int x = 0;
        for (BufferedImage i : images) {
            g.drawImage(i, x, 0, null);
            x += i.getWidth();
        }
        g.dispose();
        createParent(file);
        if (!ImageIO.write(all, "png", file.toFile())) {
            throw new IOException("no PNG writer in this JDK for " + file);
        }
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

    private static void headless() {
        System.setProperty("java.awt.headless", "true");
    }

    private static void createParent(Path file) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        if (dir != null) {
            Files.createDirectories(dir);
        }
    }

    private static void save(XYChart chart, Path file) throws IOException {
        headless();
        createParent(file);
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
