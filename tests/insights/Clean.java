// Clean - healthy work that no insights rule should warn about: arithmetic
// and array work spread over several methods, a precompiled pattern with a
// reused Matcher, preallocated buffers (no allocation in the loop), one
// thread, no locks, no exceptions, no logging.
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class Clean {
    static final Pattern ORDER_ID = Pattern.compile("[a-z]+-(\\d+)");

    static long run(double seconds) {
        long[] numbers = new long[4096];
        for (int i = 0; i < numbers.length; i++) numbers[i] = i * 7919L;
        double[][] a = new double[36][36], b = new double[36][36], c = new double[36][36];
        for (int i = 0; i < 36; i++)
            for (int j = 0; j < 36; j++) { a[i][j] = i + j; b[i][j] = i - j; }
        String[] ids = new String[1024];
        for (int i = 0; i < ids.length; i++) ids[i] = (i % 3 == 0 ? "bad id " : "order-") + i;
        Matcher m = ORDER_ID.matcher("");
        int[] src = new int[2048], dst = new int[2048];
        for (int i = 0; i < src.length; i++) src[i] = (int) (i * 2654435761L);
        byte[] buf = new byte[9 * 1024];

        long end = InsightsLab.deadline(seconds), ops = 0, n = 0;
        while (InsightsLab.before(end)) {
            n += sumSquares(numbers);
            n += (long) multiplyMatrices(a, b, c);
            n += matchPrecompiled(m, ids);
            n += sortCopy(src, dst);
            n += checksumBuffer(buf, (int) ops);
            ops++;
        }
        InsightsLab.consume(n);
        return ops;
    }

    static long sumSquares(long[] v) {
        long s = 0;
        for (int r = 0; r < 24; r++)
            for (long x : v) s += x * x + r;
        return s;
    }

    static double multiplyMatrices(double[][] a, double[][] b, double[][] c) {
        int n = a.length;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int k = 0; k < n; k++) s += a[i][k] * b[k][j];
                c[i][j] = s;
            }
        return c[n - 1][n - 1];
    }

    /** A pattern compiled once; one Matcher reset per input. */
    static long matchPrecompiled(Matcher m, String[] ids) {
        long n = 0;
        for (String id : ids) {
            m.reset(id);
            if (m.matches()) n += m.end(1);
        }
        return n;
    }

    static long sortCopy(int[] src, int[] dst) {
        System.arraycopy(src, 0, dst, 0, src.length);
        Arrays.sort(dst);
        return dst[dst.length / 2];
    }

    /** Fills a preallocated buffer and checksums it (Adler-32 by hand). */
    static long checksumBuffer(byte[] buf, int seed) {
        for (int i = 0; i < buf.length; i++) buf[i] = (byte) (seed + i * 13);
        long a = 1, b = 0;
        for (int i = 0; i < buf.length; i++) {
            a = (a + (buf[i] & 0xff)) % 65521;
            b = (b + a) % 65521;
        }
        return (b << 16) | a;
    }
}
