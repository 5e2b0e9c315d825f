// ReflectionAfterWarmup - rule reflection-after-warmup: a method looked up by
// name and invoked through reflection on every request, long after start-up.
// The first half second is warm-up (plain calls), then every call reflects.
import java.lang.reflect.Method;

public class ReflectionAfterWarmup {
    public static final class Service {
        private int calls;

        public int status() {
            return ++calls & 7;
        }
    }

    static long run(double seconds) throws Exception {
        Service svc = new Service();
        long end = InsightsLab.deadline(seconds), warm = InsightsLab.wallDeadline(0.5);
        long ops = 0, n = 0;
        while (InsightsLab.beforeWall(warm) && InsightsLab.before(end)) {
            n += svc.status();
            ops++;
        }
        while (InsightsLab.before(end)) {
            n += callByName(svc, "status");
            ops++;
        }
        InsightsLab.consume(n);
        return ops;
    }

    /** The mistake: Class.getMethod + Method.invoke per call instead of a direct call. */
    static int callByName(Object target, String name) throws Exception {
        Method m = target.getClass().getMethod(name);
        return (Integer) m.invoke(target);
    }
}
