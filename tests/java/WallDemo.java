// WallDemo - threads that spend their time off-CPU, for the wall-clock test.
//
// Usage: java WallDemo SECONDS
//   "holder"  takes LOCK and sleeps in holdLock() while holding it
//   "blocked" waits to enter LOCK in blockedOnMonitor()  (state BLOCKED)
//   "sleeper" sleeps in sleepingMethod()                 (TIMED_WAITING)
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
        blocked.start();
        sleeper.start();
        Thread.sleep((long) (secs * 1000));
        done = true;
        holder.join();
        blocked.join();
        sleeper.join();
        System.out.println("WALLDEMO_DONE state-of-blocked-was-BLOCKED");
    }
}
