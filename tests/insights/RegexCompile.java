// RegexCompile - rule regex-compile: String.split/replaceAll/matches compile
// their regular expression again on every call (Pattern.compile).
public class RegexCompile {
    static long run(double seconds) {
        String[] lines = new String[64];
        for (int i = 0; i < lines.length; i++)
            lines[i] = "id" + i + ",name  " + i + ";qty " + (i * 7) + ",price;" + (i * 3);
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
        String[] parts = norm.split("[,;]");
        return parts.length + (norm.matches("[a-z0-9,; ]+") ? 1 : 0);
    }
}
