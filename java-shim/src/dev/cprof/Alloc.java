package dev.cprof;

/**
 * Allocation callbacks for alloc.mode=instrument (see jvmti/alloc.h).
 *
 * <p>The agent's class-file rewriter inserts {@code dup; invokestatic} calls
 * to {@link #array}/{@link #multi} after array allocations, and a call to
 * {@link #object} at the entry of {@code java.lang.Object.<init>}, so these
 * run on every allocation of the program. Rules that follow from that:
 * <ul>
 * <li>the fast path never allocates (an allocation here would call back into
 *     {@code object} and recurse): only static arrays, reads of the thread id
 *     and class, arithmetic;</li>
 * <li>sampling by bytes: each thread slot counts bytes down from an
 *     exponentially distributed random interval of mean {@code interval}; only
 *     when it crosses zero does the native {@link #record} run (JVMTI stack
 *     walk), so the cost per allocation is a few loads and stores;</li>
 * <li>weights: {@code k} sample points fell inside this allocation, so it
 *     stands for {@code k * interval} bytes and {@code k * interval / size}
 *     objects - an unbiased estimate of the totals (Poisson sampling of
 *     bytes);</li>
 * <li>{@link #on} is false until the agent has registered the natives, so
 *     instrumented code that runs earlier (or after detach) costs one branch.</li>
 * </ul>
 * Thread slots are the thread id modulo {@link #SLOTS}; two threads sharing a
 * slot only make the sampling phase a little less random (races are benign).
 * Objects are charged a fixed estimate by the countdown and weighted by
 * their real size (JVMTI GetObjectSize) only when sampled (see object());
 * array sizes are computed from the length.
 */
public final class Alloc {
    private Alloc() {}

    /** Set by the agent after RegisterNatives; cleared on stop. */
    static volatile boolean on;
    /** Mean sampling interval in bytes; set by the agent. */
    static long interval = 512 * 1024;
    /** Reference size in arrays (4 with compressed oops); set by the agent. */
    static int refSize = 4;
    /** Array header size in bytes; set by the agent. */
    static int arrayHeader = 16;

    static final int SLOTS = 1024;
    /** One slot per 64-byte cache line: threads never false-share a countdown. */
    private static final int PAD = 3;
    private static final long[] left = new long[SLOTS << PAD];
    private static final long[] seed = new long[SLOTS << PAD];
    /** Bytes charged per object by the countdown (a typical small object). */
    static final int OBJ_EST = 32;

    /** After every newarray/anewarray (the new array is the argument). */
    public static void array(Object a) {
        if (!on) return;
        tick(a, arraySize(a));
    }

    /** After multianewarray: the outer array; every created level is counted. */
    public static void multi(Object a) {
        if (!on) return;
        multiWalk(a, 0);
    }

    /**
     * At the entry of java.lang.Object.&lt;init&gt;: every constructed object.
     * The countdown charges every object {@link #OBJ_EST} bytes (no size
     * lookup on the fast path); a sampled object is then weighted by its
     * real size: it was picked with probability OBJ_EST/interval per sample
     * point, so it stands for k*interval/OBJ_EST objects and that many times
     * its size in bytes - unbiased whatever the real size.
     */
    public static void object(Object o) {
        if (!on) return;
        int slot = ((int) Thread.currentThread().getId() & (SLOTS - 1)) << PAD;
        long l = left[slot] - OBJ_EST;
        if (l > 0) {
            left[slot] = l;
            return;
        }
        long k = 0;
        while (l <= 0) {
            k++;
            l += nextInterval(slot);
        }
        left[slot] = l;
        recordObject(o, Math.max(1, (k * interval + OBJ_EST / 2) / OBJ_EST));
    }

    private static void multiWalk(Object a, int depth) {
        tick(a, arraySize(a));
        if (depth < 254 && a instanceof Object[]) {
            Object[] arr = (Object[]) a;
            for (int i = 0; i < arr.length; i++) {
                Object e = arr[i];
                if (e != null && e.getClass().isArray()) multiWalk(e, depth + 1);
            }
        }
    }

    private static long arraySize(Object a) {
        Class<?> c = a.getClass();
        long n = java.lang.reflect.Array.getLength(a);
        int es;
        if (c == byte[].class || c == boolean[].class) es = 1;
        else if (c == char[].class || c == short[].class) es = 2;
        else if (c == int[].class || c == float[].class) es = 4;
        else if (c == long[].class || c == double[].class) es = 8;
        else es = refSize;
        return (arrayHeader + n * es + 7) & ~7L;
    }

    private static void tick(Object o, long size) {
        int slot = ((int) Thread.currentThread().getId() & (SLOTS - 1)) << PAD;
        long l = left[slot] - size;
        if (l > 0) {
            left[slot] = l;
            return;
        }
        long k = 0;
        while (l <= 0) {                          // sample points inside this object
            k++;
            l += nextInterval(slot);
        }
        left[slot] = l;
        long bytes = k * interval;
        long objects = size > 0 ? Math.max(1, (bytes + size / 2) / size) : k;
        record(o, bytes, objects);
    }

    /** Exponential random interval of mean {@code interval} (xorshift64*). */
    private static long nextInterval(int slot) {
        long x = seed[slot];
        if (x == 0) x = 0x9E3779B97F4A7C15L ^ System.nanoTime() ^ ((long) slot << 32);
        x ^= x >>> 12;
        x ^= x << 25;
        x ^= x >>> 27;
        seed[slot] = x;
        double u = ((x * 0x2545F4914F6CDD1DL) >>> 11) * 0x1.0p-53;   // [0, 1)
        long iv = (long) (-Math.log(1.0 - u) * interval);
        return iv < 1 ? 1 : iv;
    }

    /** Records one sample (stack walked by the agent). */
    private static native void record(Object o, long bytes, long objects);

    /** Records one object sample: `objects` objects of o's real size (JVMTI GetObjectSize). */
    private static native void recordObject(Object o, long objects);
}
