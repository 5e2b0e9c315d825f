// BudgetStorm - workloads that make a sampling profiler expensive, each
// with a known split between an "A" and a "B" method (70/30), for the
// overhead budget's tests (tests/integration/test_agent_budget.py) and
// scripts/bench budget.
//
// Usage: java BudgetStorm SCENARIO SECONDS [N]
//   threads  N (2000) runnable threads, each burning CPU in burnA / burnB (7:3 work)
//   wall     N (500) threads that sleep 7 ms in sleepA and 3 ms in sleepB, in
//            turn, beside one CPU-bound worker (burnA / burnB)
//   alloc    N (2) threads allocating 7:3 bytes in allocA / allocB (byte[] of
//            1-4 KiB, a storm for alloc=1k)
//   deep     N (1) threads recursing 500 frames deep, then burnA / burnB (7:3)
//   churn    starts and joins N (2000) short threads one after the other, prints
//            "CHURN cpu_ms=<process CPU> churn_cpu_us=<CPU of the churn>", then
//            one thread burns burnA / burnB (7:3) for SECONDS
// At the end prints "DONE cpu_ms=<process CPU> elapsed_ms=<wall time> work=<units>".
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;

public class BudgetStorm {
    static volatile long sink;
    // units of work done (a burnA+burnB pair, ten allocations, one recursion,
    // a sleepA+sleepB pair): CPU per unit of work compares runs with and
    // without the agent on storms that keep every core busy either way
    static final java.util.concurrent.atomic.LongAdder work = new java.util.concurrent.atomic.LongAdder();
    static volatile boolean stop;
    // every thread waits here until all have started: 2,000 runnable threads
    // would otherwise starve the main thread that starts them
    static final java.util.concurrent.CountDownLatch gate = new java.util.concurrent.CountDownLatch(1);

    static void await() {
        try { gate.await(); } catch (InterruptedException e) { }
    }

    static long mix(long x, int n) {
        for (int i = 0; i < n; i++) {
            x = x * 6364136223846793005L + 1442695040888963407L;
            x ^= x >>> 29;
        }
        return x;
    }

    static long burnA(long x) { return mix(x, 7000); }
    static long burnB(long x) { return mix(x, 3000); }

    static void burnLoop() {
        long x = Thread.currentThread().getId();
        while (!stop) {
            x = burnA(x);
            x = burnB(x);
            work.increment();
        }
        sink += x;
    }

    static void sleepA() throws InterruptedException { Thread.sleep(7); }
    static void sleepB() throws InterruptedException { Thread.sleep(3); }

    // kept in a static array so C2's escape analysis cannot remove them
    static final byte[][] keep = new byte[1024][];
    static byte[] allocA(int i) { return keep[i & 1023] = new byte[1024 + (i & 1)]; }
    static byte[] allocB(int i) { return keep[i & 1023] = new byte[1024 + (i & 1)]; }

    static void allocLoop() {
        long n = 0;
        int i = 0;
        while (!stop) {   // bytes 7:3 (same sizes, so the same sampling odds)
            for (int k = 0; k < 7; k++) n += allocA(i++).length;
            for (int k = 0; k < 3; k++) n += allocB(i++).length;
            if ((i & 1023) == 0) sink += n;
            work.increment();
        }
    }

    static long deep(int depth, long x) {
        if (depth == 0) {
            x = burnA(x);
            return burnB(x);
        }
        return deep(depth - 1, x) + 1;
    }

    static void deepLoop() {
        long x = 1;
        while (!stop) { x = deep(500, x); work.increment(); }
        sink += x;
    }

    static long processCpu() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }

    static void churn(int n) throws Exception {
        long c0 = processCpu();
        for (int i = 0; i < n; i++) {
            Thread t = new Thread(() -> { sink += mix(Thread.currentThread().getId(), 100); }, "churn-" + i);
            t.start();
            t.join();
        }
        long c1 = processCpu();
        System.out.println("CHURN cpu_ms=" + c1 / 1000000 + " churn_cpu_us=" + (c1 - c0) / 1000 + " threads=" + n);
    }

    public static void main(String[] a) throws Exception {
        String sc = a[0];
        long secs = Long.parseLong(a[1]);
        int n = a.length > 2 ? Integer.parseInt(a[2]) : sc.equals("threads") || sc.equals("churn") ? 2000 : sc.equals("wall") ? 500 : sc.equals("alloc") ? 2 : 1;
        if (sc.equals("churn")) {
            churn(n);
            n = 1;
        }
        List<Thread> ts = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Runnable r;
            switch (sc) {
            case "threads": case "churn": r = BudgetStorm::burnLoop; break;
            case "wall": r = () -> { try { while (!stop) { sleepA(); sleepB(); work.increment(); } } catch (InterruptedException e) { } }; break;
            case "alloc": r = BudgetStorm::allocLoop; break;
            case "deep": r = BudgetStorm::deepLoop; break;
            default: throw new IllegalArgumentException(sc);
            }
            Runnable body = r;
            Thread t = new Thread(() -> { await(); body.run(); }, sc + "-" + i);
            t.setDaemon(true);
            ts.add(t);
        }
        if (sc.equals("wall")) {
            Thread w = new Thread(() -> { await(); burnLoop(); }, "worker");
            w.setDaemon(true);
            ts.add(w);
        }
        for (Thread t : ts) t.start();
        long t0 = System.nanoTime();
        gate.countDown();
        Thread.sleep(secs * 1000);
        long done = work.sum();
        stop = true;   // daemon threads: the JVM exits without waiting for 2,000 of them
        long cpu = processCpu();
        System.out.println("DONE cpu_ms=" + cpu / 1000000 + " elapsed_ms=" + (System.nanoTime() - t0) / 1000000 + " work=" + done);
        System.exit(0);
    }
}
