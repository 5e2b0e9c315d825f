import dev.cprof.Cprof;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;

/**
 * Context-capture bench driver (scripts/bench-context, issue 18): a fixed
 * H2 workload (in-memory database, H2 from Debian's libh2-java on the class
 * path) of STATEMENTS JDBC statements - inserts, point selects, updates and
 * small range scans in a fixed rotation - each one a "request".
 *
 *   java -cp classes:cprof-shim.jar:/usr/share/java/h2.jar CtxH2 MODE STATEMENTS
 *
 * MODE ctx: every statement runs inside
 *   Cprof.context("endpoint", one of 4, "tenant", one of 3) and
 *   Cprof.trace(one of 64 trace ids, a span per statement)
 * (two nested scopes opened and closed per statement, as a request filter
 * would); MODE off: the same statements, no context calls. The strings are
 * made before the timed part, and each statement's trace and span id
 * strings are read in both modes (a request holds its ids either way), so
 * the difference is the context calls and what the agent does with them. The first fifth of the statements warms
 * up; the rest is timed. Prints one line:
 *   ctxh2 mode=M statements=N wall_ns=W thread_cpu_ns=C
 *
 * MODE inter (java ... CtxH2 inter STATEMENTS BLOCK): one JVM, the timed
 * statements in blocks of BLOCK, context on and off alternating block by
 * block in pairs (on-off, off-on, ...: a drift within a pair falls on both
 * sides), so JVM start-up, JIT and machine drift are shared by both. Prints
 * one line per block:
 *   ctxh2 block=K ctx=0|1 statements=N thread_cpu_ns=C process_cpu_ns=P wall_ns=W alloc_bytes=A
 */
public class CtxH2 {
    static final String[] EP = {"POST /orders", "GET /orders/{n}", "PUT /orders/{n}", "GET /orders"};
    static final String[] TENANT = {"acme", "globex", "initech"};

    public static void main(String[] a) throws Exception {
        boolean inter = a[0].equals("inter");
        boolean ctx = a[0].equals("ctx");
        int n = Integer.parseInt(a[1]);
        int block = inter ? Integer.parseInt(a[2]) : 0;
        String[] traces = new String[64];
        // random ids, as real trace and span ids are (W3C): sequential ones share
        // their leading digits, which lets the branch predictor learn the hex parse
        java.util.SplittableRandom ids = new java.util.SplittableRandom(18);
        for (int i = 0; i < traces.length; i++)
            traces[i] = String.format("%016x%016x", ids.nextLong(), ids.nextLong());
        String[] spans = new String[4096];
        for (int i = 0; i < spans.length; i++)
            spans[i] = String.format("%016x", ids.nextLong() | 1);
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        com.sun.management.OperatingSystemMXBean os =
            (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        com.sun.management.ThreadMXBean amx = (com.sun.management.ThreadMXBean) mx;
        long self = Thread.currentThread().getId();
        long bc0 = 0, bp0 = 0, bt0 = 0, ba0 = 0;
        try (Connection c = DriverManager.getConnection("jdbc:h2:mem:ctxbench")) {
            try (Statement s = c.createStatement()) {
                s.execute("CREATE TABLE orders(id INT PRIMARY KEY, tenant VARCHAR(16), qty INT, note VARCHAR(64))");
            }
            PreparedStatement ins = c.prepareStatement("INSERT INTO orders VALUES(?, ?, ?, ?)");
            PreparedStatement get = c.prepareStatement("SELECT qty, note FROM orders WHERE id=?");
            PreparedStatement upd = c.prepareStatement("UPDATE orders SET qty=qty+1 WHERE id=?");
            PreparedStatement scan = c.prepareStatement("SELECT SUM(qty) FROM orders WHERE id BETWEEN ? AND ?");
            int warm = n / 5, rows = 0;
            long t0 = 0, c0 = 0;
            long sink = 0;
            for (int i = 0; i < n; i++) {
                if (i == warm) {
                    t0 = System.nanoTime();
                    c0 = mx.getCurrentThreadCpuTime();
                }
                if (inter && i >= warm && (i - warm) % block == 0) {
                    long bc = mx.getCurrentThreadCpuTime(), bp = os.getProcessCpuTime(), bt = System.nanoTime();
                    long ba = amx.getThreadAllocatedBytes(self);
                    int k = (i - warm) / block;
                    if (k > 0)
                        System.out.println("ctxh2 block=" + (k - 1) + " ctx=" + (ctx ? 1 : 0) + " statements=" + block
                                           + " thread_cpu_ns=" + (bc - bc0) + " process_cpu_ns=" + (bp - bp0)
                                           + " wall_ns=" + (bt - bt0) + " alloc_bytes=" + (ba - ba0));
                    ba0 = ba;
                    bc0 = bc;
                    bp0 = bp;
                    bt0 = bt;
                    ctx = ((k >> 1) + k) % 2 == 0;   // pairs: on off, off on, on off, ...
                } else if (inter && i < warm) {
                    ctx = (i / 64) % 2 == 0;         // warm both paths up
                }
                int kind = i & 3;
                if (kind == 0 || rows == 0)
                    kind = 0;
                // one call site of run() for both modes (as a request filter that may or may
                // not open scopes): with two, the JIT inlines each differently and the
                // difference between them is the inlining, not the calls (seen: x1.08-1.14)
                // the request's ids are read in both modes: a request has them in hand either
                // way (its tracer just parsed the traceparent header or made the span), so their
                // cache lines are not the calls' cost. Read only when ctx was on, the 4,096
                // span strings (made up front, cold after ~20 ms of H2) cost ~200 ns of cache
                // misses per statement, charged to the calls (seen: x1.046 for trace alone,
                // x1.009 with the ids read in both modes)
                String trace = traces[(i >>> 3) & 63], span = spans[i & 4095];
                sink += trace.charAt(31) + span.charAt(15);
                Cprof.Scope s = ctx ? Cprof.context("endpoint", EP[kind], "tenant", TENANT[i % 3]) : null;
                Cprof.Scope t = ctx ? Cprof.trace(trace, span) : null;
                try {
                    sink += run(kind, i, rows, ins, get, upd, scan);
                } finally {
                    if (t != null)
                        t.close();
                    if (s != null)
                        s.close();
                }
                if (kind == 0)
                    rows++;
            }
            long wall = System.nanoTime() - t0, cpu = mx.getCurrentThreadCpuTime() - c0;
            System.out.println("ctxh2 mode=" + a[0] + " statements=" + (n - warm) + " wall_ns=" + wall
                               + " thread_cpu_ns=" + cpu + " sink=" + (sink & 1));
        }
    }

    static long run(int kind, int i, int rows, PreparedStatement ins, PreparedStatement get,
                    PreparedStatement upd, PreparedStatement scan) throws Exception {
        switch (kind) {
        case 0:
            ins.setInt(1, rows);
            ins.setString(2, TENANT[i % 3]);
            ins.setInt(3, i & 255);
            ins.setString(4, "order " + i);
            return ins.executeUpdate();
        case 1: {
            get.setInt(1, (int) ((i * 2654435761L) % rows));
            try (ResultSet r = get.executeQuery()) {
                return r.next() ? r.getInt(1) : 0;
            }
        }
        case 2:
            upd.setInt(1, (int) ((i * 40503L) % rows));
            return upd.executeUpdate();
        default: {
            int lo = (int) ((i * 7919L) % rows);
            scan.setInt(1, lo);
            scan.setInt(2, lo + 50);
            try (ResultSet r = scan.executeQuery()) {
                return r.next() ? r.getLong(1) : 0;
            }
        }
        }
    }
}
