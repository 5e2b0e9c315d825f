// WallPool - a thread pool that sleeps, and a main thread that causes GC
// pauses, for the wall-clock attach test (test_agent_wall_attach).
//
// Usage: java WallPool SECONDS [THREADS [busy] [nogc]]
// Starts THREADS (default 8) "pool-N" threads looping in WallPool.poolWait
// (Thread.sleep 2 ms), or in WallPool.poolBurn with "busy", before anything
// can attach; main calls System.gc() every 100 ms unless "nogc". Prints
// "ready" once the pool runs and "alive N" every second (attach_helpers'
// wait_ready). Also the load for the ring-overflow measurements (500 wall
// threads, 25 busy threads at cpu=1ms).
public class WallPool {
    static volatile long sink;

    static void poolWait() throws InterruptedException {
        Thread.sleep(2);
    }

    static long poolBurn(long x) {
        for (int i = 0; i < 100000; i++)
            x = x * 6364136223846793005L + 1442695040888963407L;
        return x;
    }

    public static void main(String[] args) throws Exception {
        int seconds = args.length > 0 ? Integer.parseInt(args[0]) : 60;
        int threads = args.length > 1 ? Integer.parseInt(args[1]) : 8;
        boolean busy = java.util.Arrays.asList(args).contains("busy");
        boolean gc = !java.util.Arrays.asList(args).contains("nogc");
        for (int i = 0; i < threads; i++) {
            Thread t = new Thread(() -> {
                try {
                    long x = 1;
                    for (;;) {
                        if (busy)
                            sink += (x = poolBurn(x));
                        else
                            poolWait();
                    }
                } catch (InterruptedException e) {
                    return;
                }
            }, "pool-" + i);
            t.setDaemon(true);
            t.start();
        }
        System.out.println("ready");
        System.out.flush();
        long end = System.currentTimeMillis() + seconds * 1000L;
        long nextTick = System.currentTimeMillis() + 1000;
        int ticks = 0;
        while (System.currentTimeMillis() < end) {
            byte[][] junk = new byte[64][];
            for (int i = 0; i < junk.length; i++)
                junk[i] = new byte[16 << 10];
            sink += junk.length;
            if (gc)
                System.gc();
            Thread.sleep(100);
            if (System.currentTimeMillis() >= nextTick) {
                System.out.println("alive " + (++ticks));
                System.out.flush();
                nextTick += 1000;
            }
        }
    }
}
