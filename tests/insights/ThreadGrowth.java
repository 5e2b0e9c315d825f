// ThreadGrowth - rule thread-growth: a new thread per request, never ended,
// so the live thread count only grows (~10 threads a second).
import java.util.concurrent.locks.LockSupport;

public class ThreadGrowth {
    static long run(double seconds) throws InterruptedException {
        long end = InsightsLab.wallDeadline(seconds), ops = 0;
        while (InsightsLab.beforeWall(end)) {
            spawnThreadPerRequest((int) ops);
            ops++;
            Thread.sleep(100);
        }
        return ops;
    }

    /** The mistake: a thread per request instead of a pool; it never exits. */
    static void spawnThreadPerRequest(int i) {
        Thread t = new Thread(ThreadGrowth::idleForever, "lab-request-" + i);
        t.setDaemon(true);
        t.start();
    }

    static void idleForever() {
        for (;;) LockSupport.park();
    }
}
