// CpuSplit - a known CPU split between two methods, for the accuracy test.
//
// Usage: java CpuSplit SECONDS [WEIGHT_A WEIGHT_B]
// Alternates burnA(workA) and burnB(workB), timing each call on its own with
// this thread's CPU time (ThreadMXBean; calls take ~1-5 ms, so timing costs
// nothing). At the end prints "TRUE_SPLIT a=<fraction of CPU in burnA> b=<...>"
// and "CPU_MS=<CPU ms spent in both>" - the truth the profile must match. Both methods call small helpers that the JIT inlines
// (mixA / mixB), so without non-safepoint debug info samples would land in
// the wrong frame.
public class CpuSplit {
    static volatile long sink;

    // Loop-free leaves with a long dependency chain: inlined by C2, and the
    // bulk of the work, so samples belong in them.
    static long mixA(long x) {
        x = x * 6364136223846793005L + 1442695040888963407L; x ^= x >>> 29;
        x = x * 0x9e3779b97f4a7c15L + 11; x ^= x >>> 31;
        x = x * 6364136223846793005L + 3; x ^= x >>> 27;
        x = x * 0xbf58476d1ce4e5b9L + 5; x ^= x >>> 30;
        return x;
    }

    static long mixB(long x) {
        x = (x ^ (x >>> 31)) * 0xbf58476d1ce4e5b9L; x = Long.rotateLeft(x, 17) + 7;
        x = (x ^ (x >>> 27)) * 0x94d049bb133111ebL; x = Long.rotateLeft(x, 23) + 9;
        x = (x ^ (x >>> 33)) * 0xff51afd7ed558ccdL; x = Long.rotateLeft(x, 11) + 13;
        x = (x ^ (x >>> 29)) * 0xc4ceb9fe1a85ec53L;
        return x;
    }

    static long burnA(int n) {
        long x = n;
        for (int i = 0; i < n; i++) x = mixA(x) ^ i;
        return x;
    }

    static long burnB(int n) {
        long x = n;
        for (int i = 0; i < n; i++) x = mixB(x) + i;
        return x;
    }

    static long cpuNow() { return THREADS.getCurrentThreadCpuTime(); }
    static final java.lang.management.ThreadMXBean THREADS =
            java.lang.management.ManagementFactory.getThreadMXBean();

    public static void main(String[] args) throws Exception {
        double secs = args.length > 0 ? Double.parseDouble(args[0]) : 10;
        int wa = args.length > 1 ? Integer.parseInt(args[1]) : 7;
        int wb = args.length > 2 ? Integer.parseInt(args[2]) : 3;
        int unit = 1_000_000;
        long tA = 0, tB = 0;
        long end = System.nanoTime() + (long) (secs * 1e9);
        while (System.nanoTime() < end) {
            long t0 = cpuNow();
            sink += burnA(unit * wa);
            long t1 = cpuNow();
            sink += burnB(unit * wb);
            long t2 = cpuNow();
            tA += t1 - t0;
            tB += t2 - t1;
        }
        double a = (double) tA / (tA + tB);
        System.out.printf("TRUE_SPLIT a=%.4f b=%.4f%n", a, 1 - a);
        System.out.printf("CPU_MS=%d%n", (tA + tB) / 1000000);
    }
}
