// AllocSites - two allocation sites with a known byte ratio (issue 4 proof).
//
// siteRecords() allocates AllocSites.Rec objects (object construction path:
// `new` + constructor chain), siteArrays() allocates int[] arrays of varying
// length (newarray). Both keep their results reachable through a small ring
// (so escape analysis cannot remove them).
//
// The true byte split is measured, not assumed: each site runs alone and
// com.sun.management.ThreadMXBean.getThreadAllocatedBytes tells what it
// allocated. Then both run interleaved for `seconds`, which is what a
// profiler sees. Output (stdout):
//   truth records_bytes=N arrays_bytes=M records_share=P
//   done rounds=R
// Args: [seconds] (default 6).
import java.lang.management.ManagementFactory;

public class AllocSites {
    static final class Rec {
        long a, b, c, d, e;
        Rec(long x) { a = x; b = x + 1; c = x ^ 3; }
    }

    static final Object[] sink = new Object[4096];

    static long siteRecords(int n) {
        long s = 0;
        for (int i = 0; i < n; i++) {
            Rec r = new Rec(i);
            sink[i & 4095] = r;
            s += r.b;
        }
        return s;
    }

    static long siteArrays(int n) {
        long s = 0;
        for (int i = 0; i < n; i++) {
            int[] a = new int[20 + (i & 31)];
            sink[(i + 2048) & 4095] = a;
            s += a.length;
        }
        return s;
    }

    static final int N_REC = 20_000, N_ARR = 5_000;

    public static void main(String[] args) throws Exception {
        double seconds = args.length > 0 ? Double.parseDouble(args[0]) : 6;
        com.sun.management.ThreadMXBean mx =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long tid = Thread.currentThread().getId();
        long chk = 0;
        for (int w = 0; w < 300; w++) { chk += siteRecords(N_REC); chk += siteArrays(N_ARR); }
        long recBytes = 0, arrBytes = 0;
        for (int k = 0; k < 20; k++) {
            long b0 = mx.getThreadAllocatedBytes(tid);
            chk += siteRecords(N_REC);
            long b1 = mx.getThreadAllocatedBytes(tid);
            chk += siteArrays(N_ARR);
            long b2 = mx.getThreadAllocatedBytes(tid);
            recBytes += b1 - b0;
            arrBytes += b2 - b1;
        }
        System.out.printf("truth records_bytes=%d arrays_bytes=%d records_share=%.2f%n",
                          recBytes, arrBytes, 100.0 * recBytes / (recBytes + arrBytes));
        long end = System.nanoTime() + (long) (seconds * 1e9);
        long rounds = 0;
        while (System.nanoTime() < end) {
            chk += siteRecords(N_REC);
            chk += siteArrays(N_ARR);
            rounds++;
        }
        System.out.println("done rounds=" + rounds + " chk=" + (chk & 1));
    }
}
