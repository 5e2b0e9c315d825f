// ExceptionCost - rule exception-cost: exceptions as control flow, thrown deep
// in the stack (Throwable.fillInStackTrace walks every frame).
public class ExceptionCost {
    static final String[] INPUTS = {"12", "x7", "", "abc", "99", "n/a"};

    static long run(double seconds) {
        long end = InsightsLab.deadline(seconds), ops = 0, n = 0;
        while (InsightsLab.before(end)) {
            for (String s : INPUTS) n += parseAtDepth(24, s);
            ops += INPUTS.length;
        }
        InsightsLab.consume(n);
        return ops;
    }

    static int parseAtDepth(int depth, String s) {
        return depth == 0 ? parseOrDefault(s, -1) : parseAtDepth(depth - 1, s) + (depth & 1);
    }

    /** The mistake: a NumberFormatException for every malformed input. */
    static int parseOrDefault(String s, int dflt) {
        try {
            return Integer.parseInt(s);
        } catch (NumberFormatException e) {
            return dflt;
        }
    }
}
