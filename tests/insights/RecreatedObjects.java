// RecreatedObjects - rule recreated-objects: costly, reusable objects
// (SimpleDateFormat, SecureRandom) built again on every call.
import java.security.SecureRandom;
import java.text.SimpleDateFormat;
import java.util.Date;
import java.util.Locale;

public class RecreatedObjects {
    static long run(double seconds) {
        long end = InsightsLab.deadline(seconds), ops = 0, n = 0, t = 1_700_000_000_000L;
        while (InsightsLab.before(end)) {
            n += formatTimestamp(t + ops * 1000).length();
            if ((ops & 1) == 0) n += newSessionToken();
            ops++;
        }
        InsightsLab.consume(n);
        return ops;
    }

    /** The mistake: a new SimpleDateFormat (calendar, symbols, number format) per call. */
    static String formatTimestamp(long ms) {
        return new SimpleDateFormat("yyyy-MM-dd", Locale.ROOT).format(new Date(ms));
    }

    /** The mistake: a new SecureRandom (provider lookup, seeding) per token. */
    static int newSessionToken() {
        return new SecureRandom().nextInt();
    }
}
