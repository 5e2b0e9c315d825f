import dev.cprof.Cprof;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;

/**
 * The context calls' own cost (scripts/bench-context, issue 18): the calling
 * thread's CPU per iteration of a loop that does what CtxH2's ctx mode does
 * around each statement, against the same loop without the calls, in
 * alternated blocks inside one JVM (no start-up noise in the difference).
 *
 *   java -cp classes:cprof-shim.jar CtxMicro ITERS_PER_BLOCK ROUNDS
 *
 * Bodies (each a block of ITERS_PER_BLOCK iterations; a round runs every
 * body once, the order rotating round by round):
 *   base   the index arithmetic and array reads of the others, no calls
 *   both   try (context("endpoint", 1 of 4, "tenant", 1 of 3);
 *             trace(1 of 64 trace ids, 1 of 4096 spans)) {}   (CtxH2's calls)
 *   ctx    try (context("endpoint", ..., "tenant", ...)) {}
 *   trace  try (trace(...)) {}
 * Prints one line per block, after max(8, ROUNDS/3) warm-up rounds (JIT) that are not
 * printed:
 *   ctxmicro body=B iters=N cpu_ns=C
 * and "ctxmicro agent=on|off" first (whether the shim's calls reach an
 * agent; off = they return a no-op scope).
 */
public class CtxMicro {
    static final String[] EP = {"POST /orders", "GET /orders/{n}", "PUT /orders/{n}", "GET /orders"};
    static final String[] TENANT = {"acme", "globex", "initech"};
    static final String[] TRACES = new String[64];
    static final String[] SPANS = new String[4096];
    static final String[] BODIES = {"base", "both", "ctx", "trace"};
    static long sink;

    public static void main(String[] a) {
        int iters = Integer.parseInt(a[0]), rounds = Integer.parseInt(a[1]);
        // random ids, as real trace and span ids are (W3C): sequential ones share
        // their leading digits, which lets the branch predictor learn the hex parse
        java.util.SplittableRandom ids = new java.util.SplittableRandom(18);
        for (int i = 0; i < TRACES.length; i++)
            TRACES[i] = String.format("%016x%016x", ids.nextLong(), ids.nextLong());
        for (int i = 0; i < SPANS.length; i++)
            SPANS[i] = String.format("%016x", ids.nextLong() | 1);
        try (Cprof.Scope s = Cprof.context("probe", "1")) {
            System.out.println("ctxmicro agent=" + (Cprof.current().labels().length > 0 ? "on" : "off"));
        }
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        int warm = Math.max(8, rounds / 3);
        for (int r = 0; r < warm + rounds; r++) {
            for (int k = 0; k < BODIES.length; k++) {
                int b = (k + r) % BODIES.length;
                long c0 = mx.getCurrentThreadCpuTime();
                run(b, iters);
                long c1 = mx.getCurrentThreadCpuTime();
                if (r >= warm)
                    System.out.println("ctxmicro body=" + BODIES[b] + " iters=" + iters + " cpu_ns=" + (c1 - c0));
            }
        }
        System.out.println("ctxmicro sink=" + (sink & 1));
    }

    static void run(int body, int n) {
        switch (body) {
        case 0: base(n); break;
        case 1: both(n); break;
        case 2: ctx(n); break;
        default: trace(n); break;
        }
    }

    static void base(int n) {
        long s = 0;
        for (int i = 0; i < n; i++)
            s += EP[i & 3].length() + TENANT[i % 3].length() + TRACES[(i >>> 3) & 63].length()
                 + SPANS[i & 4095].length();
        sink += s;
    }

    static void both(int n) {
        long s = 0;
        for (int i = 0; i < n; i++) {
            try (Cprof.Scope c = Cprof.context("endpoint", EP[i & 3], "tenant", TENANT[i % 3]);
                 Cprof.Scope t = Cprof.trace(TRACES[(i >>> 3) & 63], SPANS[i & 4095])) {
                s += i;
            }
        }
        sink += s;
    }

    static void ctx(int n) {
        long s = 0;
        for (int i = 0; i < n; i++) {
            try (Cprof.Scope c = Cprof.context("endpoint", EP[i & 3], "tenant", TENANT[i % 3])) {
                s += i;
            }
        }
        sink += s;
    }

    static void trace(int n) {
        long s = 0;
        for (int i = 0; i < n; i++) {
            try (Cprof.Scope t = Cprof.trace(TRACES[(i >>> 3) & 63], SPANS[i & 4095])) {
                s += i;
            }
        }
        sink += s;
    }
}
