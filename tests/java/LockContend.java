// LockContend - known monitor and ReentrantLock contention (issue 4 proof).
//
// A holder thread takes a lock and keeps it for `holdMs`, over and over; a
// waiter thread tries to take the same lock in waiterMonitor() (a
// `synchronized` block on a LockContend.Monitor) or waiterParked() (a
// ReentrantLock, which parks). The waiter measures how long each
// acquisition blocked (System.nanoTime around the lock; the lock is taken
// within microseconds when it is free), and prints the truth:
//   monitor_wait_ms=X monitor_waits=N
//   park_wait_ms=Y park_waits=M
// Args: [seconds per phase] (default 3), [holdMs] (default 20).
import java.util.concurrent.locks.ReentrantLock;

public class LockContend {
    static final class Monitor {}

    static final Monitor MON = new Monitor();
    static final ReentrantLock RL = new ReentrantLock();
    static volatile boolean stop;
    static volatile long sink;

    static void spin(long ns) {
        long end = System.nanoTime() + ns;
        while (System.nanoTime() < end) sink++;
    }

    static long[] waiterMonitor(long untilNs, long holdNs) {
        long waited = 0, n = 0;
        while (System.nanoTime() < untilNs) {
            long t0 = System.nanoTime();
            synchronized (MON) {
                long d = System.nanoTime() - t0;
                if (d > 1_000_000) { waited += d; n++; }
            }
            spin(holdNs / 10);
        }
        return new long[] {waited, n};
    }

    static long[] waiterParked(long untilNs, long holdNs) {
        long waited = 0, n = 0;
        while (System.nanoTime() < untilNs) {
            long t0 = System.nanoTime();
            RL.lock();
            try {
                long d = System.nanoTime() - t0;
                if (d > 1_000_000) { waited += d; n++; }
            } finally {
                RL.unlock();
            }
            spin(holdNs / 10);
        }
        return new long[] {waited, n};
    }

    public static void main(String[] args) throws Exception {
        double seconds = args.length > 0 ? Double.parseDouble(args[0]) : 3;
        long holdNs = (args.length > 1 ? Long.parseLong(args[1]) : 20) * 1_000_000L;
        Thread holder = new Thread(() -> {
            while (!stop) {
                synchronized (MON) { spin(holdNs); }
                RL.lock();
                try { spin(holdNs); } finally { RL.unlock(); }
                try { Thread.sleep(1); } catch (InterruptedException e) { return; }
            }
        }, "holder");
        holder.setDaemon(true);
        holder.start();
        Thread.sleep(50);
        long[] m = waiterMonitor(System.nanoTime() + (long) (seconds * 1e9), holdNs);
        long[] p = waiterParked(System.nanoTime() + (long) (seconds * 1e9), holdNs);
        stop = true;
        holder.join();
        System.out.printf("monitor_wait_ms=%.1f monitor_waits=%d%n", m[0] / 1e6, m[1]);
        System.out.printf("park_wait_ms=%.1f park_waits=%d%n", p[0] / 1e6, p[1]);
    }
}
