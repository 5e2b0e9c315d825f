// WallDemo - threads that spend their time off-CPU, for the wall-clock test.
//
// Usage: java WallDemo SECONDS [phased]
//   "holder"  takes LOCK and sleeps in holdLock() while holding it
//   "blocked" waits to enter LOCK in blockedOnMonitor()  (state BLOCKED)
//   "sleeper" sleeps in sleepingMethod()                 (TIMED_WAITING)
//   "phased"  (with `phased`) in step with a 20 ms clock: busy in phasedWork()
//             for the first 10 ms of every 20 ms of System.nanoTime
//             (CLOCK_MONOTONIC), parked in phasedRest() for the second; a
//             wall sampler that looks exactly every 20 ms sees one of them
// The main thread joins them. A CPU profile sees almost nothing; a wall
// profile must show blockedOnMonitor and sleepingMethod.
public class WallDemo {
    static final Object LOCK = new Object();
    static volatile boolean done;

    static void holdLock() throws InterruptedException {
        synchronized (LOCK) {
            while (!done) Thread.sleep(50);
        }
    }

    static void blockedOnMonitor() {
        synchronized (LOCK) {
            done = true;
        }
    }

    static void sleepingMethod() throws InterruptedException {
        while (!done) Thread.sleep(20);
    }

    static final long PHASE_NS = 10_000_000L;
    static volatile long sink;

    static boolean inFirstHalf() {
        return (System.nanoTime() / PHASE_NS) % 2 == 0;
    }

    static void phasedWork() {
        long x = sink;
        while (inFirstHalf())
            for (int i = 0; i < 1000; i++) x = x * 31 + i;
        sink = x;
    }

    static void phasedRest() {
        long now;
        while (!inFirstHalf() && (now = System.nanoTime()) > 0)
            java.util.concurrent.locks.LockSupport.parkNanos(PHASE_NS - now % PHASE_NS);
    }

    static void phased() {
        while (!done) {
            if (inFirstHalf()) phasedWork(); else phasedRest();
        }
    }

    public static void main(String[] args) throws Exception {
        double secs = args.length > 0 ? Double.parseDouble(args[0]) : 5;
        Thread holder = new Thread(() -> {
            try { holdLock(); } catch (InterruptedException e) { }
        }, "holder");
        holder.start();
        Thread.sleep(100);   // holder owns LOCK now
        Thread blocked = new Thread(WallDemo::blockedOnMonitor, "blocked");
        Thread sleeper = new Thread(() -> {
            try { sleepingMethod(); } catch (InterruptedException e) { }
        }, "sleeper");
        Thread phased = new Thread(WallDemo::phased, "phased");
        blocked.start();
        sleeper.start();
        if (args.length > 1 && args[1].equals("phased")) phased.start();
        Thread.sleep((long) (secs * 1000));
        done = true;
        holder.join();
        blocked.join();
        sleeper.join();
        if (phased.isAlive()) phased.join();
        System.out.println("WALLDEMO_DONE state-of-blocked-was-BLOCKED");
    }
}
