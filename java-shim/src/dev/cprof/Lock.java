package dev.cprof;

/**
 * Parking callbacks for lock profiling (see jvmti/lock.h).
 *
 * <p>The agent rewrites {@code java.util.concurrent.locks.LockSupport}: each
 * {@code park*} method calls {@link #parkEnter} first and {@link #parkExit}
 * before it returns. The time in between is the wait. Only waits picked by
 * the sampler (see lock.h: always when longer than the threshold, else with
 * probability wait/threshold) reach the native {@link #record}, which walks
 * the stack. No allocation on any path (parking can happen inside
 * allocation-sensitive code); per-thread state lives in static arrays indexed
 * by the thread id modulo {@link #SLOTS} (a collision makes one wait's time
 * wrong, never crashes).
 */
public final class Lock {
    private Lock() {}

    /** Set by the agent after RegisterNatives; cleared on stop. */
    static volatile boolean on;
    /** Sampling threshold in ns; set by the agent. */
    static long threshold = 10_000_000L;

    static final int SLOTS = 1024;
    private static final long[] start = new long[SLOTS];
    private static final Object[] blocker = new Object[SLOTS];
    private static final long[] seed = new long[SLOTS];

    public static void parkEnter(Object b) {
        if (!on) return;
        int s = (int) Thread.currentThread().getId() & (SLOTS - 1);
        blocker[s] = b;
        start[s] = System.nanoTime();
    }

    public static void parkEnter() {
        parkEnter(null);
    }

    public static void parkExit() {
        if (!on) return;
        long now = System.nanoTime();
        int s = (int) Thread.currentThread().getId() & (SLOTS - 1);
        long t0 = start[s];
        Object b = blocker[s];
        start[s] = 0;
        blocker[s] = null;
        if (t0 == 0) return;
        long d = now - t0;
        long th = threshold;
        if (d <= 0) return;
        if (d >= th) {
            record(b, d, 1);
            return;
        }
        long x = seed[s];
        if (x == 0) x = 0x9E3779B97F4A7C15L ^ now ^ ((long) s << 32);
        x ^= x >>> 12;
        x ^= x << 25;
        x ^= x >>> 27;
        seed[s] = x;
        double u = ((x * 0x2545F4914F6CDD1DL) >>> 11) * 0x1.0p-53;
        if (u * th < d) record(b, th, Math.max(1, (th + d / 2) / d));
    }

    /** Records one wait sample; blocker may be null. */
    private static native void record(Object blocker, long ns, long count);
}
