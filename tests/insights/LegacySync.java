// LegacySync - rule legacy-sync: the synchronized collections of Java 1.0
// (Hashtable, Vector, StringBuffer) on a hot path shared by four threads:
// every call takes their monitors, and Hashtable.contains scans the table
// while holding it, so the threads mostly wait for each other.
import java.util.Hashtable;
import java.util.Vector;

public class LegacySync {
    static final Hashtable<Integer, String> SESSIONS = new Hashtable<>();
    static final Vector<String> EVENTS = new Vector<>();
    static final Integer[] KEYS = new Integer[1024];
    static volatile boolean done;

    static long run(double seconds) throws InterruptedException {
        for (int i = 0; i < KEYS.length; i++) KEYS[i] = i;
        Thread[] ts = new Thread[4];
        long[] ops = new long[ts.length];
        for (int i = 0; i < ts.length; i++) {
            final int id = i;
            ts[i] = new Thread(() -> ops[id] = worker(id), "lab-legacy-" + i);
            ts[i].start();
        }
        InsightsLab.awaitBudget(seconds);
        done = true;
        long sum = 0;
        for (int i = 0; i < ts.length; i++) {
            ts[i].join();
            sum += ops[i];
        }
        return sum;
    }

    static long worker(int id) {
        StringBuffer sb = new StringBuffer();
        long n = 0;
        while (!done) {
            recordEventLegacy(sb, (int) n + id);
            n++;
        }
        return n;
    }

    /** The mistake: every call goes through synchronized legacy collections. */
    static int recordEventLegacy(StringBuffer sb, int i) {
        sb.setLength(0);
        sb.append("event-").append(i).append(':').append(i * 31);
        String s = sb.toString();
        SESSIONS.put(KEYS[i & 1023], s);
        EVENTS.add(s);
        if (EVENTS.size() > 4096) EVENTS.clear();
        return SESSIONS.size() + (SESSIONS.contains(s) ? 1 : 0);
    }
}
