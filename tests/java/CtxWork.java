import dev.cprof.Cprof;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;

/**
 * Request-context test program (test_context_labels, test_agent_context_torn).
 *
 * split CPU_MS: one thread alternates two kinds of work by thread CPU time,
 *   3 ms of "orders" (OrdersWork.burn) then 1 ms of "pay" (PayWork.burn),
 *   each inside Cprof.context("endpoint", ...) and Cprof.trace(trace of its
 *   kind, a span per request), until CPU_MS of CPU is spent: the labelled
 *   CPU is 75 % orders, 25 % pay.
 * flip MS: a thread flips between two contexts as fast as it can for MS
 *   wall ms (each a label set and a trace id of its own, work of tens of
 *   microseconds in between: FlipA.spin / FlipB.spin) while the agent
 *   samples it; every sample must carry the context its frames ran under.
 */
public class CtxWork {
    static final String TRACE_ORDERS = "4bf92f3577b34da6a3ce929d0e0e4736";
    static final String TRACE_PAY = "00f067aa0ba902b700f067aa0ba902b7";
    static final String TRACE_A = "aaaaaaaaaaaaaaaa1111111111111111";
    static final String TRACE_B = "bbbbbbbbbbbbbbbb2222222222222222";
    static volatile long sink;
    static final ThreadMXBean MX = ManagementFactory.getThreadMXBean();

    static long cpu() {
        return MX.getCurrentThreadCpuTime();
    }

    static final class OrdersWork {
        static void burn(long ns) {
            long end = cpu() + ns, x = 0;
            while (cpu() < end)
                for (int i = 0; i < 20000; i++) x += i * 31 ^ x;
            sink += x;
        }
    }

    static final class PayWork {
        static void burn(long ns) {
            long end = cpu() + ns, x = 0;
            while (cpu() < end)
                for (int i = 0; i < 20000; i++) x ^= i * 17 + x;
            sink += x;
        }
    }

    static final class FlipA {
        static void spin() {
            long x = 0;
            for (int i = 0; i < 20000; i++) x += i * 7 ^ x;
            sink += x;
        }
    }

    static final class FlipB {
        static void spin() {
            long x = 0;
            for (int i = 0; i < 20000; i++) x ^= i * 13 + x;
            sink += x;
        }
    }

    static String span(long n) {
        String s = Long.toHexString(n + 1);
        return "0000000000000000".substring(s.length()) + s;
    }

    public static void main(String[] a) throws Exception {
        if (a[0].equals("split")) {
            long budget = Long.parseLong(a[1]) * 1_000_000L, start = cpu();
            long n = 0;
            while (cpu() - start < budget) {
                try (Cprof.Scope s = Cprof.context("endpoint", "GET /orders/{n}");
                     Cprof.Scope t = Cprof.trace(TRACE_ORDERS, span(n))) {
                    OrdersWork.burn(3_000_000);
                }
                try (Cprof.Scope s = Cprof.context("endpoint", "POST /pay");
                     Cprof.Scope t = Cprof.trace(TRACE_PAY, span(n))) {
                    PayWork.burn(1_000_000);
                }
                n++;
            }
            System.out.println("split: " + n + " rounds");
        } else {
            long end = System.nanoTime() + Long.parseLong(a[1]) * 1_000_000L, flips = 0;
            while (System.nanoTime() < end) {
                try (Cprof.Scope s = Cprof.context("flip", "a"); Cprof.Scope t = Cprof.trace(TRACE_A, null)) {
                    FlipA.spin();
                }
                try (Cprof.Scope s = Cprof.context("flip", "b"); Cprof.Scope t = Cprof.trace(TRACE_B, null)) {
                    FlipB.spin();
                }
                flips += 2;
            }
            System.out.println("flip: " + flips + " flips");
        }
    }
}
