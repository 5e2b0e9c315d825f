// WallPool - a thread pool that sleeps, and a main thread that causes GC
// pauses, for the wall-clock attach test (test_agent_wall_attach).
//
// Usage: java WallPool SECONDS
// Starts 8 "pool-N" threads looping in WallPool.poolWait (Thread.sleep 2 ms)
// before anything can attach; main calls System.gc() every 100 ms. Prints
// "ready" once the pool runs and "alive N" every second (attach_helpers'
// wait_ready).
public class WallPool {
    static volatile long sink;

    static void poolWait() throws InterruptedException {
        Thread.sleep(2);
    }

    public static void main(String[] args) throws Exception {
        int seconds = args.length > 0 ? Integer.parseInt(args[0]) : 60;
        for (int i = 0; i < 8; i++) {
            Thread t = new Thread(() -> {
                try {
                    for (;;)
                        poolWait();
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
