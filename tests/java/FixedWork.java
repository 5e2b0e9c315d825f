// FixedWork - a fixed amount of CPU work on one thread, for overhead
// measurements: bare and profiled runs do exactly the same work, so the
// difference in CPU is what the profiler adds. Prints "WORK_CPU_NS=<n>":
// this thread's CPU time over the work alone (no JVM start-up or exit).
//
// Usage: java FixedWork MILLIONS   (~3.5 ms of CPU per million here)
public class FixedWork {
    static volatile long sink;

    static long mix(long x) {
        x = x * 6364136223846793005L + 1442695040888963407L; x ^= x >>> 29;
        x = x * 0x9e3779b97f4a7c15L + 11; x ^= x >>> 31;
        return x;
    }

    public static void main(String[] args) {
        long n = Long.parseLong(args[0]) * 1_000_000L;
        java.lang.management.ThreadMXBean threads = java.lang.management.ManagementFactory.getThreadMXBean();
        long t0 = threads.getCurrentThreadCpuTime();
        long x = 1;
        for (long i = 0; i < n; i++) x = mix(x) ^ i;
        long t1 = threads.getCurrentThreadCpuTime();
        sink = x;
        System.out.println("WORK_CPU_NS=" + (t1 - t0));
        System.out.println("done " + (x & 1));
    }
}
