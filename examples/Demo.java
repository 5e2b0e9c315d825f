import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * The sample program `scripts/run` profiles: a tiny "checkout service" with a
 * few request handlers whose costs differ, so the flame graph has a clear
 * story. Runs for DURATION seconds (first argument, default 30).
 *
 *  - pricing: JSON-ish string building (allocation-heavy)
 *  - search:  a linear scan that should have been a hash lookup (the hot spot)
 *  - audit:   waits on a lock shared by all workers (shows in wall/lock)
 */
public class Demo {
    static final Object AUDIT_LOCK = new Object();
    static final List<String> CATALOG = new ArrayList<>();
    static volatile long sink;

    public static void main(String[] args) throws Exception {
        int seconds = args.length > 0 ? Integer.parseInt(args[0]) : 30;
        for (int i = 0; i < 20_000; i++)
            CATALOG.add("sku-" + Integer.toHexString(i * 2654435761L > 0 ? i * 31 : i));
        ExecutorService pool = Executors.newFixedThreadPool(4);
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        long requests = 0;
        System.out.println("demo: serving requests for " + seconds + " s");
        while (System.nanoTime() < end) {
            final long r = requests++;
            pool.submit(() -> handle(r));
            if (requests % 64 == 0)
                Thread.sleep(1);
        }
        pool.shutdown();
        pool.awaitTermination(30, TimeUnit.SECONDS);
        System.out.println("demo: served " + requests + " requests (sink " + sink + ")");
    }

    static void handle(long r) {
        switch ((int) (r % 4)) {
            case 0: case 1: search("sku-" + Long.toHexString(r % 25_000)); break;
            case 2: price(r); break;
            default: audit(r); break;
        }
    }

    /** The hot spot: O(n) scan over the catalog. */
    static void search(String sku) {
        int hits = 0;
        for (String s : CATALOG)
            if (s.equals(sku))
                hits++;
        sink += hits;
    }

    static void price(long r) {
        Map<String, Double> prices = new HashMap<>();
        StringBuilder sb = new StringBuilder("{");
        for (int i = 0; i < 200; i++) {
            prices.put("item" + i, (r % 97) * 1.07 + i);
            sb.append('"').append("item").append(i).append("\":").append(prices.get("item" + i)).append(',');
        }
        sink += sb.length();
    }

    static void audit(long r) {
        synchronized (AUDIT_LOCK) {
            long x = r;
            for (int i = 0; i < 20_000; i++)
                x = x * 6364136223846793005L + 1442695040888963407L;
            sink += x;
        }
    }
}
