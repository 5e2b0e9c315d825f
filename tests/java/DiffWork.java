// DiffWork - a program whose one method can be made slower by a known
// amount, for calibrating the statistical diff (docs/diff.md).
//
// Usage: java DiffWork SECONDS SLOW [CPU_SECONDS]
// With CPU_SECONDS it runs until its main thread has used that much CPU
// (SECONDS is then a wall-clock cap), so a JVM starved by a busy machine
// still gives as many samples as on a quiet one.
// Loops over four methods that each do the same work per operation
// (parse, hash, render, hot: a quarter each); hot does (1 + SLOW) times
// that work, so with SLOW = 0.2 it is 20% slower and its inclusive share of
// CPU goes from b to b*1.2/(1 + 0.2*b). Prints "OPS=<operations>" at the end.
public class DiffWork {
    static volatile long sink;
    static final int UNIT = 4000;

    // a dependency chain the JIT cannot shorten: its cost is linear in n
    static long kernel(long x, int n) {
        for (int i = 0; i < n; i++) {
            x = x * 6364136223846793005L + 1442695040888963407L;
            x ^= x >>> 29;
        }
        return x;
    }

    static long parse(long x) { return kernel(x + 1, UNIT); }
    static long hash(long x) { return kernel(x + 2, UNIT); }
    static long render(long x) { return kernel(x + 3, UNIT); }
    static long hot(long x, int n) { return kernel(x + 4, n); }

    public static void main(String[] args) {
        double secs = Double.parseDouble(args[0]);
        double slow = Double.parseDouble(args[1]);
        long cpuBudget = args.length > 2 ? (long) (Double.parseDouble(args[2]) * 1e9) : 0;
        java.lang.management.ThreadMXBean tmx = cpuBudget > 0 ? java.lang.management.ManagementFactory.getThreadMXBean() : null;
        int hotN = (int) Math.round(UNIT * (1 + slow));
        long end = System.nanoTime() + (long) (secs * 1e9), ops = 0, x = 7;
        while (System.nanoTime() < end && (tmx == null || tmx.getCurrentThreadCpuTime() < cpuBudget)) {
            for (int k = 0; k < 64; k++) {
                x = parse(x);
                x = hash(x);
                x = render(x);
                x = hot(x, hotN);
                ops++;
            }
        }
        sink = x;
        System.out.println("OPS=" + ops);
    }
}
