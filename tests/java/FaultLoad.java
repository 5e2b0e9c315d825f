// FaultLoad - real work for a fixed time, for scripts/faults (the fault suite).
//
//   java -cp CLASSES:/usr/share/java/h2.jar FaultLoad h2 SECONDS SCRIPT.sql
//   java -cp CLASSES FaultLoad javac SECONDS OUTDIR PATCHDIR SRC.java...
//   java -cp CLASSES FaultLoad threads SECONDS N
//
// h2: runs H2's own org.h2.tools.RunScript (Debian's libh2-java) on an
//     in-memory database again and again until SECONDS have passed.
// javac: compiles the given JDK sources (of java.base, rooted at PATCHDIR)
//     with the JDK's own compiler (javax.tools) again and again until
//     SECONDS have passed.
// threads: N threads (wall mode's worst case): most park in short sleeps,
//     one in 16 computes; plus one busy main loop.
// With -Dfaultload.stop=FILE it also ends (after the current round) as soon
// as FILE exists, so a test can end it a set time after a fault.
// Prints "FAULTLOAD_DONE <mode> <rounds>" at the end and exits 0; a fault
// in the profiler must never change that (no crash, no hang).
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

public class FaultLoad {
    static final AtomicLong SINK = new AtomicLong();

    static long burn(long n) {
        long x = n;
        for (long i = 0; i < n; i++) x ^= (x << 13) ^ (x >>> 7) ^ i;
        return x;
    }

    static final String STOP = System.getProperty("faultload.stop");

    static boolean more(long end) {
        return System.currentTimeMillis() < end && (STOP == null || !new java.io.File(STOP).exists());
    }

    public static void main(String[] args) throws Exception {
        String mode = args[0];
        long end = System.currentTimeMillis() + Long.parseLong(args[1]) * 1000L;
        long rounds = 0;
        if (mode.equals("h2")) {
            Method run = Class.forName("org.h2.tools.RunScript").getMethod("main", String[].class);
            while (more(end)) {
                String url = "jdbc:h2:mem:fault" + rounds;
                run.invoke(null, (Object) new String[] {"-url", url, "-script", args[2]});
                rounds++;
            }
        } else if (mode.equals("javac")) {
            javax.tools.JavaCompiler jc = javax.tools.ToolProvider.getSystemJavaCompiler();
            List<String> a = new ArrayList<>();
            a.add("-d");
            a.add(args[2]);
            a.add("-proc:none");
            a.add("-nowarn");
            a.add("--patch-module");
            a.add("java.base=" + args[3]);
            for (int i = 4; i < args.length; i++) a.add(args[i]);
            String[] argv = a.toArray(new String[0]);
            while (more(end)) {
                jc.run(null, null, new java.io.ByteArrayOutputStream(), argv);
                rounds++;
            }
        } else if (mode.equals("threads")) {
            int n = Integer.parseInt(args[2]);
            AtomicBoolean stop = new AtomicBoolean();
            List<Thread> ts = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                final boolean busy = i % 16 == 0;
                Thread t = new Thread(() -> {
                    while (!stop.get()) {
                        if (busy) SINK.addAndGet(burn(20000));
                        try {
                            Thread.sleep(busy ? 1 : 20);
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                }, "fault-worker-" + i);
                t.setDaemon(true);
                t.start();
                ts.add(t);
            }
            while (more(end)) {
                SINK.addAndGet(burn(200000));
                rounds++;
            }
            stop.set(true);
            for (Thread t : ts) t.join(5000);
        } else {
            throw new IllegalArgumentException("mode " + mode);
        }
        System.out.println("FAULTLOAD_DONE " + mode + " " + rounds);
    }
}
