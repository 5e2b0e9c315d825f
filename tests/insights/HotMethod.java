// HotMethod - rule hot-method: one method burns nearly all of the CPU.
public class HotMethod {
    static long run(double seconds) {
        long[] data = new long[4096];
        for (int i = 0; i < data.length; i++) data[i] = i * 2654435761L;
        long end = InsightsLab.deadline(seconds), ops = 0, acc = 0;
        while (InsightsLab.before(end)) {
            acc += crunchNumbers(data);
            ops++;
        }
        InsightsLab.consume(acc);
        return ops;
    }

    /** The hot method: 64 rounds of a polynomial hash over the array. */
    static long crunchNumbers(long[] data) {
        long h = 1;
        for (int r = 0; r < 64; r++)
            for (int i = 0; i < data.length; i++) h = h * 31 + (data[i] ^ (h >>> 7));
        return h;
    }
}
