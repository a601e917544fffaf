import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import javax.xml.parsers.DocumentBuilderFactory;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * Lists, one line each, the tests that the last {@code ./kvq test} skipped and why (their assumption or
 * condition message), from the surefire and failsafe XML reports written since a start time. Run by the
 * launcher as a single-file program: {@code java tests/SkippedTests.java ROOT START_EPOCH_MILLIS}.
 * Without a GPU the real-GPU tests skip; without KVQ_DATA the corpus-scoring tests skip.
 */
public final class SkippedTests {
    public static void main(String[] args) throws IOException {
        Path root = Path.of(args[0]);
        long since = Long.parseLong(args[1]);
        List<String> lines = new ArrayList<>();
        try (Stream<Path> files = Files.walk(root, 4)) {
            for (Path f : files.filter(p -> isReport(p, since)).sorted().toList()) {
                lines.addAll(skipped(f));
            }
        }
        System.out.println("kvq: " + lines.size() + " test" + (lines.size() == 1 ? "" : "s") + " skipped"
                + (lines.isEmpty() ? "" : ":"));
        lines.forEach(l -> System.out.println("  " + l));
    }

    private static boolean isReport(Path p, long since) {
        String dir = p.getParent() == null ? "" : p.getParent().getFileName().toString();
        String name = p.getFileName().toString();
        try {
            return (dir.startsWith("surefire-reports") || dir.equals("failsafe-reports")) && name.startsWith("TEST-")
                    && name.endsWith(".xml") && Files.getLastModifiedTime(p).toMillis() >= since;
        } catch (IOException e) {
            return false;
        }
    }

    private static List<String> skipped(Path report) {
        List<String> out = new ArrayList<>();
        try {
            Element suite = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(report.toFile()).getDocumentElement();
            NodeList cases = suite.getElementsByTagName("testcase");
            for (int i = 0; i < cases.getLength(); i++) {
                Element c = (Element) cases.item(i);
                NodeList skip = c.getElementsByTagName("skipped");
                if (skip.getLength() == 0) {
                    continue;
                }
                Element s = (Element) skip.item(0);
                String reason = s.getAttribute("message").isBlank() ? s.getTextContent() : s.getAttribute("message");
                reason = reason.strip().lines().findFirst().orElse("").replaceFirst(".*Assumption failed: ", "");
                String className = c.getAttribute("classname");
                out.add(className.substring(className.lastIndexOf('.') + 1) + "." + c.getAttribute("name") + ": " + reason);
            }
        } catch (Exception e) {
            out.add(report + ": unreadable report (" + e.getMessage() + ")");
        }
        return out;
    }
}
