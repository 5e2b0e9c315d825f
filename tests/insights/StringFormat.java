// StringFormat - rule string-format: String.format (a Formatter that parses the
// format string every time) on a hot path.
public class StringFormat {
    static long run(double seconds) {
        long end = InsightsLab.deadline(seconds), ops = 0, n = 0;
        while (InsightsLab.before(end)) {
            n += formatReportLine((int) ops, ops * 0.37).length();
            ops++;
        }
        InsightsLab.consume(n);
        return ops;
    }

    /** The mistake: String.format for a line that concatenation would build. */
    static String formatReportLine(int i, double amount) {
        return String.format("order %s-%05d: %.3f EUR (%x)", "eu", i, amount, i);
    }
}
