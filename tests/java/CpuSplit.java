// CpuSplit - a known CPU split between two methods, for the accuracy test.
//
// Usage: java CpuSplit SECONDS [WEIGHT_A WEIGHT_B]
// Alternates burnA(workA) and burnB(workB), timing each call on its own with
// System.nanoTime (calls take ~1-5 ms, so timing costs nothing). At the end
// prints "TRUE_SPLIT a=<fraction of time in burnA> b=<...>" - the truth the
// profile must match. Both methods call small helpers that the JIT inlines
// (mixA / mixB), so without non-safepoint debug info samples would land in
// the wrong frame.
public class CpuSplit {
    static volatile long sink;

    static long mixA(long x) { return x * 6364136223846793005L + 1442695040888963407L; }
    static long mixB(long x) { return (x ^ (x >>> 31)) * 0xbf58476d1ce4e5b9L; }

    static long burnA(int n) {
        long x = n;
        for (int i = 0; i < n; i++) x = mixA(x) ^ i;
        return x;
    }

    static long burnB(int n) {
        long x = n;
        for (int i = 0; i < n; i++) x = mixB(x) + (x >>> 7);
        return x;
    }

    public static void main(String[] args) throws Exception {
        double secs = args.length > 0 ? Double.parseDouble(args[0]) : 10;
        int wa = args.length > 1 ? Integer.parseInt(args[1]) : 7;
        int wb = args.length > 2 ? Integer.parseInt(args[2]) : 3;
        int unit = 300_000;
        long tA = 0, tB = 0;
        long end = System.nanoTime() + (long) (secs * 1e9);
        while (System.nanoTime() < end) {
            long t0 = System.nanoTime();
            sink += burnA(unit * wa);
            long t1 = System.nanoTime();
            sink += burnB(unit * wb);
            long t2 = System.nanoTime();
            tA += t1 - t0;
            tB += t2 - t1;
        }
        double a = (double) tA / (tA + tB);
        System.out.printf("TRUE_SPLIT a=%.4f b=%.4f%n", a, 1 - a);
    }
}
