// Boxing - rule boxing: arithmetic on Long/Integer objects instead of
// primitives, one new box per step (kept, so the JIT cannot remove it).
public class Boxing {
    static long run(double seconds) {
        int[] values = new int[8192];
        for (int i = 0; i < values.length; i++) values[i] = 1000 + i * 37;
        Object[] keep = new Object[2 * values.length];
        long end = InsightsLab.deadline(seconds), ops = 0, n = 0;
        while (InsightsLab.before(end)) {
            n += sumBoxed(values, keep);
            ops++;
        }
        InsightsLab.consume(n);
        return ops;
    }

    /** The mistake: a running total in a Long and keys as Integers. */
    static long sumBoxed(int[] values, Object[] keep) {
        Long total = 0L;
        for (int i = 0; i < values.length; i++) {
            Integer key = values[i];
            total += key;
            keep[2 * i] = key;
            keep[2 * i + 1] = total;
        }
        return total;
    }
}
