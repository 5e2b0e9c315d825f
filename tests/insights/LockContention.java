// LockContention - rule lock-contention: four threads take turns on one
// monitor held for long stretches, so they mostly wait for each other.
public class LockContention {
    static final class Ledger {
        long total;
    }

    static final Ledger LEDGER = new Ledger();
    static volatile boolean done;

    static long run(double seconds) throws InterruptedException {
        Thread[] ts = new Thread[4];
        long[] ops = new long[ts.length];
        for (int i = 0; i < ts.length; i++) {
            final int id = i;
            ts[i] = new Thread(() -> ops[id] = worker(id), "lab-lock-" + i);
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
        long n = 0;
        while (!done) {
            updateSharedTotal(id + n);
            n++;
        }
        return n;
    }

    /** The mistake: all the work happens while holding the one shared lock. */
    static void updateSharedTotal(long v) {
        synchronized (LEDGER) {
            long t = LEDGER.total;
            for (int k = 0; k < 200_000; k++) t = t * 31 + (v ^ k);
            LEDGER.total = t;
        }
    }
}
