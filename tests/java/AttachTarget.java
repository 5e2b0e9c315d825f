/* AttachTarget - a JVM for the attach tests: started WITHOUT the agent, it
 * burns CPU in one recognisable method, AttachTarget.hotLoop, until it is
 * killed or `seconds` (arg 0, default 120) pass. Prints "ready" once running
 * and "alive N" every second so a test can tell it kept running after a
 * detach. */
public class AttachTarget {
    static volatile long sink;

    static long hotLoop(long n) {
        long x = 0;
        for (long i = 0; i < n; i++) {
            x += (i * 31) ^ (x >>> 3);
        }
        return x;
    }

    public static void main(String[] args) throws Exception {
        int seconds = args.length > 0 ? Integer.parseInt(args[0]) : 120;
        long end = System.currentTimeMillis() + seconds * 1000L;
        long nextTick = System.currentTimeMillis() + 1000;
        int ticks = 0;
        System.out.println("ready");
        System.out.flush();
        while (System.currentTimeMillis() < end) {
            sink += hotLoop(2_000_000);
            if (System.currentTimeMillis() >= nextTick) {
                nextTick += 1000;
                System.out.println("alive " + (++ticks));
                System.out.flush();
            }
        }
        System.out.println("done");
    }
}
