// GcChurn - a GC-heavy program for the GC series test (issue 4 proof).
//
// Allocates short-lived garbage at a high rate while keeping a rotating set
// of survivors, so young collections happen many times a second and an
// occasional System.gc() adds full collections. Run it with a small heap
// (-Xmx64m) and -Xlog:gc to get the reference pause count.
// Args: [seconds] (default 4), [full GCs] (default 3).
public class GcChurn {
    static Object[] keep = new Object[20_000];

    public static void main(String[] args) {
        double seconds = args.length > 0 ? Double.parseDouble(args[0]) : 4;
        int fulls = args.length > 1 ? Integer.parseInt(args[1]) : 3;
        long end = System.nanoTime() + (long) (seconds * 1e9);
        long n = 0, chk = 0;
        int nextFull = 1;
        long start = System.nanoTime();
        while (System.nanoTime() < end) {
            for (int i = 0; i < 10_000; i++) {
                byte[] b = new byte[64 + (int) (n & 255)];
                chk += b.length;
                if ((n & 15) == 0) keep[(int) (n % keep.length)] = b;
                n++;
            }
            if (nextFull <= fulls && System.nanoTime() - start > (long) (seconds * 1e9 * nextFull / (fulls + 1))) {
                System.gc();
                nextFull++;
            }
        }
        System.out.println("allocated=" + n + " chk=" + (chk & 7));
    }
}
