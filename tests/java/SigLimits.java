// SigLimits - loads for test_cpu_siglimits: the CPU sampler against the
// process' resource limits (RLIMIT_NOFILE, RLIMIT_SIGPENDING).
//
//   java SigLimits fds THREADS
//       starts THREADS sleeping threads, waits 2 s (the agent arms a CPU
//       event for each), then opens /dev/null until 256 are open or open()
//       fails; prints "FDS_OPENED=<n>" and "FDS_ERROR=<message|none>".
//   java SigLimits busy SECONDS IDLE
//       starts IDLE sleeping threads, then burns CPU in SigLimits.burn on a
//       new thread for SECONDS (thread CPU time); prints "CPU_MS=<ms>".
// Both end with "SIGLIMITS_DONE".
import java.io.FileInputStream;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;

public class SigLimits {
    static volatile long sink;

    static long burn(long n) {
        long x = n;
        for (long i = 0; i < n; i++) x ^= (x << 13) ^ (x >>> 7) ^ i;
        return x;
    }

    static CountDownLatch sleepers(int n) {
        CountDownLatch end = new CountDownLatch(1);
        for (int i = 0; i < n; i++) {
            Thread t = new Thread(() -> {
                try { end.await(); } catch (InterruptedException e) { }
            }, "sleeper-" + i);
            t.setDaemon(true);
            t.start();
        }
        return end;
    }

    public static void main(String[] args) throws Exception {
        if (args[0].equals("fds")) {
            CountDownLatch end = sleepers(Integer.parseInt(args[1]));
            Thread.sleep(2000);
            List<FileInputStream> open = new ArrayList<>();
            String err = "none";
            try {
                while (open.size() < 256) open.add(new FileInputStream("/dev/null"));
            } catch (Exception e) {
                err = e.toString();
            }
            System.out.println("FDS_OPENED=" + open.size());
            System.out.println("FDS_ERROR=" + err);
            for (FileInputStream f : open) f.close();
            end.countDown();
        } else {
            double secs = Double.parseDouble(args[1]);
            CountDownLatch end = sleepers(Integer.parseInt(args[2]));
            Thread.sleep(1500);
            ThreadMXBean mx = ManagementFactory.getThreadMXBean();
            long[] cpu = new long[1];
            Thread busy = new Thread(() -> {
                long stop = System.nanoTime() + (long) (secs * 1e9);
                long t0 = mx.getCurrentThreadCpuTime();
                while (System.nanoTime() < stop) sink += burn(200_000);
                cpu[0] = mx.getCurrentThreadCpuTime() - t0;
            }, "busy");
            busy.start();
            busy.join();
            System.out.println("CPU_MS=" + cpu[0] / 1000000);
            end.countDown();
        }
        String fd0;
        try {
            fd0 = java.nio.file.Files.readSymbolicLink(java.nio.file.Paths.get("/proc/self/fd/0")).toString();
        } catch (Exception e) {
            fd0 = "(closed)";
        }
        System.out.println("FD0=" + fd0);   // the test starts us with stdin = a pipe
        System.out.println("SIGLIMITS_DONE");
    }
}
