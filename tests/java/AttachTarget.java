/* AttachTarget - a JVM for the attach tests: started WITHOUT the agent, it
 * burns CPU in one recognisable method, AttachTarget.hotLoop.
 *
 *   java AttachTarget [SECONDS [BUSY_PERCENT [LATE_FILE]]]
 *
 * Once the file LATE_FILE exists, half of each busy slice goes to
 * AttachTarget$Late.burn, a class first loaded then: after an attach, its
 * frames are named only if the agent prepares the classes loaded since.
 * Runs SECONDS (default 120), busy BUSY_PERCENT (default 100) of every
 * 100 ms and asleep the rest, so several targets can share two cores.
 * Prints "ready" once running and "alive N" every second, so a test can
 * tell it kept running after a detach. */
public class AttachTarget {
    static volatile long sink;

    static final class Late {
        static long burn(long n) {
            long x = 1;
            for (long i = 0; i < n; i++) {
                x = x * 6364136223846793005L + (i ^ (x >>> 29));
            }
            return x;
        }
    }

    static long hotLoop(long n) {
        long x = 0;
        for (long i = 0; i < n; i++) {
            x += (i * 31) ^ (x >>> 3);
        }
        return x;
    }

    public static void main(String[] args) throws Exception {
        int seconds = args.length > 0 ? Integer.parseInt(args[0]) : 120;
        int busy = args.length > 1 ? Integer.parseInt(args[1]) : 100;
        java.io.File lateFile = args.length > 2 ? new java.io.File(args[2]) : null;
        boolean late = false;
        long end = System.currentTimeMillis() + seconds * 1000L;
        long nextTick = System.currentTimeMillis() + 1000;
        int ticks = 0;
        System.out.println("ready");
        System.out.flush();
        while (System.currentTimeMillis() < end) {
            long sliceEnd = System.currentTimeMillis() + busy;
            while (System.currentTimeMillis() < sliceEnd) {
                sink += hotLoop(200_000);
                if (late)
                    sink += Late.burn(200_000);
            }
            if (!late && lateFile != null && lateFile.exists())
                late = true;
            if (busy < 100) {
                Thread.sleep(100 - busy);
            }
            if (System.currentTimeMillis() >= nextTick) {
                nextTick += 1000;
                System.out.println("alive " + (++ticks));
                System.out.flush();
            }
        }
        System.out.println("done");
    }
}
