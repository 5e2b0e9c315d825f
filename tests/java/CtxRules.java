import dev.cprof.Cprof;

import java.util.Arrays;

/**
 * The context API's rules (Cprof's class comment, docs/context.md), checked
 * through Cprof.current() on a platform thread and, where the JDK has them,
 * on a virtual thread: nesting and restore, null removes a key, a trace keeps
 * the labels and a context keeps the trace, invalid ids change nothing, a
 * second close does nothing, attach on another thread, the per-thread cache
 * (the same call twice). Run with the agent (test_context_rules): prints
 * "ctxrules agent=on", a FAIL line per broken rule, then "ctxrules fails=N".
 */
public class CtxRules {
    static final String T1 = "4bf92f3577b34da6a3ce929d0e0e4736", S1 = "00f067aa0ba902b7";
    static final String T2 = "a3ce929d0e0e4736", S2 = "1234567890abcdef";
    static int fails;

    static void expect(String what, String want) {
        Cprof.Context c = Cprof.current();
        String got = Arrays.toString(c.labels()) + " " + c.traceId() + " " + c.spanId();
        if (!got.equals(want)) {
            fails++;
            System.out.println("FAIL " + Thread.currentThread() + " " + what + ": got '" + got + "', want '" + want + "'");
        }
    }

    static void rules() throws Exception {
        String none = "[] null null";
        expect("at first", none);
        try (Cprof.Scope a = Cprof.context("tenant", "acme", "job", "nightly")) {
            String acme = "[job, nightly, tenant, acme] null null";
            expect("context", acme);
            try (Cprof.Scope t = Cprof.trace(T1, S1)) {
                String acmeT1 = "[job, nightly, tenant, acme] " + T1 + " " + S1;
                expect("trace keeps the labels", acmeT1);
                try (Cprof.Scope b = Cprof.context("job", null, "endpoint", "GET /x")) {
                    String x = "[endpoint, GET /x, tenant, acme] " + T1 + " " + S1;
                    expect("null removes, a context keeps the trace", x);
                    Cprof.Context snap = Cprof.current();
                    Thread th = new Thread(() -> {
                        expect("a new thread starts empty", none);
                        try (Cprof.Scope s = Cprof.attach(snap)) {
                            expect("attach", x);
                        }
                        expect("after attach", none);
                    });
                    th.start();
                    th.join();
                    try (Cprof.Scope again = Cprof.context("job", null, "endpoint", "GET /x")) {
                        expect("the same pairs again (cached)", x);
                    }
                    expect("after the same pairs", x);
                }
                expect("back to the trace scope", acmeT1);
                try (Cprof.Scope t2 = Cprof.trace(T2, S2)) {
                    expect("a 16-digit trace id", "[job, nightly, tenant, acme] 0000000000000000" + T2 + " " + S2);
                }
                try (Cprof.Scope bad = Cprof.trace("4bf92f3577b34da6a3ce929d0e0e473g", S1)) {
                    expect("an invalid trace id changes nothing", acmeT1);
                }
                try (Cprof.Scope bad = Cprof.trace("00000000000000000000000000000000", S1)) {
                    expect("an all-zero trace id changes nothing", acmeT1);
                }
                try (Cprof.Scope bad = Cprof.trace(T1.toUpperCase(), "00f067aa0ba902bz")) {
                    expect("upper case digits; an invalid span is none", "[job, nightly, tenant, acme] " + T1 + " null");
                }
                try (Cprof.Scope bad = Cprof.trace("4bf92f3577b34da6a3ce929d0e0e473\u0130", S1)) {
                    expect("a non-ASCII digit changes nothing", acmeT1);
                }
            }
            expect("back to the context scope", acme);
            Cprof.Scope t = Cprof.trace(T1, S1);
            t.close();
            try (Cprof.Scope inner = Cprof.context("tenant", "globex")) {
                t.close();
                expect("a second close does nothing", "[job, nightly, tenant, globex] null null");
            }
            expect("after the second close", acme);
            Cprof.Context keep = Cprof.current();
            try (Cprof.Scope s = Cprof.attach(null)) {
                expect("attach(null) empties", none);
            }
            if (Cprof.current() != keep) {
                fails++;
                System.out.println("FAIL current() after a scope is not the same object");
            }
        }
        expect("all closed", none);
        try {
            Cprof.context("odd");
            fails++;
            System.out.println("FAIL an odd number of strings did not throw");
        } catch (IllegalArgumentException e) {
            // the rule
        }
    }

    public static void main(String[] a) throws Exception {
        try (Cprof.Scope s = Cprof.context("probe", "1")) {
            System.out.println("ctxrules agent=" + (Cprof.current().labels().length > 0 ? "on" : "off"));
        }
        rules();
        rules();   // again: every set and trace is known now (cache hits)
        Thread vt = null;
        try {        // JDK 21+: the same on a virtual thread (its context goes through set0)
            vt = (Thread) Thread.class.getMethod("startVirtualThread", Runnable.class).invoke(null, (Runnable) () -> {
                try {
                    rules();
                } catch (Exception e) {
                    fails++;
                    System.out.println("FAIL virtual thread: " + e);
                }
            });
        } catch (NoSuchMethodException e) {
            System.out.println("ctxrules no virtual threads");
        }
        if (vt != null) {
            vt.join();
            System.out.println("ctxrules virtual thread done");
        }
        System.out.println("ctxrules fails=" + fails);
    }
}
