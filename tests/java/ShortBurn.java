// ShortBurn - short-lived threads that each use a known amount of CPU, one
// after another (test_agent_thread_start: their CPU must be sampled although
// each ends within tens of milliseconds).
//
// Usage: java ShortBurn THREADS CPU_MS
// Prints "SHORTBURN threads=N cpu_ms=M" (M: the threads' CPU, summed).
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.concurrent.atomic.AtomicLong;

public class ShortBurn {
    static volatile long sink;

    static void burn(long ns, AtomicLong used) {
        ThreadMXBean t = ManagementFactory.getThreadMXBean();
        long start = t.getCurrentThreadCpuTime(), x = 1;
        while (t.getCurrentThreadCpuTime() - start < ns)
            for (int i = 0; i < 10000; i++)
                x = x * 31 + i;
        sink = x;
        used.addAndGet(t.getCurrentThreadCpuTime() - start);
    }

    public static void main(String[] args) throws Exception {
        int n = Integer.parseInt(args[0]);
        long ns = Long.parseLong(args[1]) * 1000000L;
        AtomicLong used = new AtomicLong();
        for (int i = 0; i < n; i++) {
            Thread th = new Thread(() -> burn(ns, used), "short-" + i);
            th.start();
            th.join();
        }
        System.out.println("SHORTBURN threads=" + n + " cpu_ms=" + used.get() / 1000000);
    }
}
