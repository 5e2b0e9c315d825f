// RegexCompile - rule regex-compile: String.split/replaceAll/matches compile
// their regular expression again on every call (Pattern.compile).
public class RegexCompile {
    static long run(double seconds) {
        String[] lines = new String[64];
        for (int i = 0; i < lines.length; i++)
            lines[i] = "id" + i + ", q" + (i * 7) + ";" + (i * 3);   // short: compiling dominates matching
        long end = InsightsLab.deadline(seconds), ops = 0, n = 0;
        while (InsightsLab.before(end)) {
            for (String l : lines) n += parseLine(l);
            ops += lines.length;
        }
        InsightsLab.consume(n);
        return ops;
    }

    /** The mistake: three regular expressions compiled per line. */
    static int parseLine(String line) {
        String norm = line.replaceAll("\\s+", " ");
        String[] parts = norm.split("\\s*[,;]\\s*");
        return parts.length + (norm.matches("(?:[a-z]+[0-9]*|[0-9]+)(?:[,; ]+(?:[a-z]+[0-9]*|[0-9]+))*") ? 1 : 0);
    }
}
