// GcPauseRatio - rule gc-pause-ratio: a tight heap nearly full of medium-lived
// objects, replaced fast: the collector copies and compacts most of the time.
import java.util.concurrent.ThreadLocalRandom;

public class GcPauseRatio {
    static long run(double seconds) {
        Object[] ring = new Object[300_000];
        long end = InsightsLab.deadline(seconds), ops = 0;
        while (InsightsLab.before(end)) {
            churnMediumLived(ring);
            ops++;
        }
        return ops;
    }

    /** The mistake: a cache of short-lived entries that outlive the young generation. */
    static void churnMediumLived(Object[] ring) {
        ThreadLocalRandom r = ThreadLocalRandom.current();
        for (int k = 0; k < 1000; k++) ring[r.nextInt(ring.length)] = new byte[96 + (k & 127)];
    }
}
