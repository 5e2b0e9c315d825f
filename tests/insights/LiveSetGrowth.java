// LiveSetGrowth - rule live-set-growth: a static map that only grows (a cache
// without eviction): the heap left after each GC rises ~2 MB/s.
import java.util.HashMap;

public class LiveSetGrowth {
    static final HashMap<String, byte[]> CACHE = new HashMap<>();

    static long run(double seconds) throws InterruptedException {
        long end = InsightsLab.wallDeadline(seconds), ops = 0, n = 0;
        while (InsightsLab.beforeWall(end)) {
            for (int k = 0; k < 30; k++) {
                n += cacheForever(ops);
                ops++;
            }
            n += makeGarbage();
            Thread.sleep(10);
        }
        InsightsLab.consume(n);
        return ops;
    }

    /** The mistake: every entry is kept forever. */
    static int cacheForever(long i) {
        byte[] v = new byte[1024];
        v[0] = (byte) i;
        CACHE.put("session-" + i, v);
        return CACHE.size();
    }

    /** Short-lived garbage, so young collections (and heap-after-GC points) keep coming. */
    static int makeGarbage() {
        int n = 0;
        for (int k = 0; k < 20; k++) n += new byte[64 * 1024].length;
        return n;
    }
}
