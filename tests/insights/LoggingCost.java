// LoggingCost - rule logging-cost: java.util.logging on every request, with a
// formatting handler (SimpleFormatter: caller lookup, String.format, dates).
import java.io.OutputStream;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;
import java.util.logging.StreamHandler;

public class LoggingCost {
    static final Logger LOG = Logger.getLogger("lab.requests");

    static long run(double seconds) {
        Handler h = new StreamHandler(OutputStream.nullOutputStream(), new SimpleFormatter());
        h.setLevel(Level.ALL);
        LOG.setUseParentHandlers(false);
        LOG.addHandler(h);
        LOG.setLevel(Level.ALL);
        long end = InsightsLab.deadline(seconds), ops = 0, n = 0;
        while (InsightsLab.before(end)) {
            n += handleRequest((int) ops);
            ops++;
        }
        h.flush();
        InsightsLab.consume(n);
        return ops;
    }

    /** The mistake: two formatted log records for a request that does almost nothing. */
    static int handleRequest(int i) {
        int result = (i * 31) ^ (i >>> 3);
        LOG.info("handling request " + i);
        LOG.log(Level.FINE, "request {0} result {1}", new Object[] {i, result});
        return result;
    }
}
