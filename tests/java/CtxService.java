import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.URL;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One of the two services of test_context_http (issue 18), on the JDK's
 * built-in HTTP server, with no cprof code: the agent's automatic context
 * (context.http) labels each request with its endpoint and the traceparent's
 * trace and span.
 *
 *   java CtxService front BACK_PORT [vthreads]   GET /orders/{n}: ordersWork 16 ms of CPU, then 2 ms in
 *                                                ordersAsyncWork on another pool (executors), then GET
 *                                                BACK/price/{n}; GET /users/{n}: usersWork 4 ms, then
 *                                                GET BACK/stock/{n}. ?big: bigOrdersWork 300 ms instead.
 *   java CtxService back [vthreads]              GET /price/{n}: priceWork 6 ms; /stock/{n}: stockWork
 *                                                6 ms; ?big: bigPriceWork 150 ms.
 * Both print "port=N" once listening; GET /truth answers the CPU each
 * endpoint's requests really used (thread CPU time of the whole handler,
 * call to the back and reply included, and of its async part; the heavy
 * request counts under its endpoint), GET /quit exits. The front forwards the trace id in a new
 * traceparent (its own span id). "vthreads": the server runs each request
 * on a virtual thread (JDK 21+) and its work yields every ~0.3 ms, so with one
 * carrier (-Djdk.virtualThreadScheduler.parallelism=1) concurrent requests
 * alternate on it; then work is timed by the wall clock (a virtual thread
 * has no CPU time of its own) and /truth is not exact.
 */
public class CtxService {
    static final ThreadMXBean MX = ManagementFactory.getThreadMXBean();
    static volatile long sink;
    static boolean vthreads;
    static int backPort;
    static final ConcurrentHashMap<String, AtomicLong> TRUTH = new ConcurrentHashMap<>();
    static ExecutorService asyncPool;

    static long cpu() {
        return vthreads ? System.nanoTime() : MX.getCurrentThreadCpuTime();
    }

    static void spin(long ms) {
        long end = cpu() + ms * 1_000_000L, x = sink;
        while (cpu() < end)
            for (int i = 0; i < 5000; i++) x = x * 6364136223846793005L + 1442695040888963407L;
        sink = x;
    }

    /**
     * The back's work on virtual threads: ms of wall time, yielding every
     * ~0.3 ms so that concurrent requests alternate on one carrier. The loop
     * sits in the endpoint's own method: a resumed virtual thread's stack is
     * thawed lazily, so after a yield a sample sees only the top frames (this
     * method, not its callers).
     */
    static void priceVt(long ms) {
        long end = System.nanoTime() + ms * 1_000_000L, x = sink;
        while (System.nanoTime() < end) {
            long chunk = System.nanoTime() + 300_000L;
            while (System.nanoTime() < chunk)
                for (int i = 0; i < 2000; i++) x = x * 6364136223846793005L + 1442695040888963407L;
            Thread.yield();
        }
        sink = x;
    }

    static void bigPriceVt(long ms) {
        long end = System.nanoTime() + ms * 1_000_000L, x = sink;
        while (System.nanoTime() < end) {
            long chunk = System.nanoTime() + 300_000L;
            while (System.nanoTime() < chunk)
                for (int i = 0; i < 2000; i++) x = x * 6364136223846793005L + 1442695040888963407L;
            Thread.yield();
        }
        sink = x;
    }

    static void stockVt(long ms) {
        long end = System.nanoTime() + ms * 1_000_000L, x = sink;
        while (System.nanoTime() < end) {
            long chunk = System.nanoTime() + 300_000L;
            while (System.nanoTime() < chunk)
                for (int i = 0; i < 2000; i++) x = x * 6364136223846793005L + 1442695040888963407L;
            Thread.yield();
        }
        sink = x;
    }

    static void ordersWork() { spin(16); }
    static void ordersAsyncWork() { spin(2); }
    static void usersWork() { spin(4); }
    static void bigOrdersWork() { spin(300); }
    static void priceWork() { if (vthreads) priceVt(6); else spin(6); }
    static void stockWork() { if (vthreads) stockVt(6); else spin(6); }
    static void bigPriceWork() { if (vthreads) bigPriceVt(150); else spin(150); }

    static void account(String endpoint, long t0) {
        TRUTH.computeIfAbsent(endpoint, k -> new AtomicLong()).addAndGet(cpu() - t0);
    }

    static void reply(HttpExchange ex, int code, String body) throws java.io.IOException {
        byte[] b = body.getBytes("UTF-8");
        ex.sendResponseHeaders(code, b.length);
        try (OutputStream o = ex.getResponseBody()) {
            o.write(b);
        }
    }

    static String call(String path, String traceparent) throws java.io.IOException {
        HttpURLConnection c = (HttpURLConnection) new URL("http://127.0.0.1:" + backPort + path).openConnection();
        if (traceparent != null) c.setRequestProperty("traceparent", traceparent);
        try (InputStream in = c.getInputStream()) {
            return new String(in.readAllBytes(), "UTF-8");
        }
    }

    static String childTraceparent(HttpExchange ex) {
        String tp = ex.getRequestHeaders().getFirst("traceparent");
        if (tp == null || tp.length() < 55) return null;
        long span = Double.doubleToLongBits(Math.random()) ^ System.nanoTime();
        String s = Long.toHexString(span | 1L);
        return tp.substring(0, 36) + "0000000000000000".substring(s.length()) + s + tp.substring(52);
    }

    /** Whole handler, reply included: its thread's CPU is what the endpoint label covers. */
    static void front(HttpExchange ex) throws Exception {
        String p = ex.getRequestURI().getPath(), q = ex.getRequestURI().getQuery();
        boolean big = q != null && q.contains("big");
        long t0 = cpu();
        String endpoint;
        if (p.startsWith("/orders/")) {
            endpoint = "GET /orders/{n}";
            if (big) {
                bigOrdersWork();
            } else {
                ordersWork();
                asyncPool.submit(() -> {
                    long a0 = cpu();
                    ordersAsyncWork();
                    account("GET /orders/{n}", a0);
                }).get();
            }
            call("/price/" + p.substring(8) + (big ? "?big" : ""), childTraceparent(ex));
        } else if (p.startsWith("/users/")) {
            endpoint = "GET /users/{n}";
            usersWork();
            call("/stock/" + p.substring(7), childTraceparent(ex));
        } else {
            reply(ex, 404, "no");
            return;
        }
        reply(ex, 200, "ok");
        account(endpoint, t0);
    }

    static void back(HttpExchange ex) throws Exception {
        String p = ex.getRequestURI().getPath(), q = ex.getRequestURI().getQuery();
        boolean big = q != null && q.contains("big");
        long t0 = cpu();
        String endpoint;
        if (p.startsWith("/price/")) {
            endpoint = "GET /price/{n}";
            if (big) bigPriceWork();
            else priceWork();
        } else if (p.startsWith("/stock/")) {
            endpoint = "GET /stock/{n}";
            stockWork();
        } else {
            reply(ex, 404, "no");
            return;
        }
        reply(ex, 200, "ok");
        account(endpoint, t0);
    }

    public static void main(String[] a) throws Exception {
        boolean isFront = a[0].equals("front");
        if (isFront) backPort = Integer.parseInt(a[1]);
        vthreads = a[a.length - 1].equals("vthreads");
        HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
        s.createContext("/", ex -> {
            try {
                String p = ex.getRequestURI().getPath();
                if (p.equals("/truth")) {
                    StringBuilder b = new StringBuilder();
                    TRUTH.forEach((k, v) -> b.append(k).append('=').append(v.get() / 1000).append('\n'));
                    reply(ex, 200, b.toString());
                } else if (p.equals("/quit")) {
                    reply(ex, 200, "bye");
                    new Thread(() -> System.exit(0)).start();
                } else if (isFront) {
                    front(ex);
                } else {
                    back(ex);
                }
            } catch (Exception e) {
                e.printStackTrace();
                reply(ex, 500, String.valueOf(e));
            }
        });
        if (vthreads) {
            s.setExecutor((ExecutorService) Executors.class.getMethod("newVirtualThreadPerTaskExecutor").invoke(null));
        } else {
            s.setExecutor(Executors.newFixedThreadPool(2));   // one pool, requests alternate on its threads
        }
        asyncPool = Executors.newFixedThreadPool(1);
        s.start();
        System.out.println("port=" + s.getAddress().getPort());
        System.out.flush();
    }
}
