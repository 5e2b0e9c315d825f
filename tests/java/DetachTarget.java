/* DetachTarget - a JVM for the detach tests (test_attach_detach.py,
 * test_attach_stop_timeout.py): started WITHOUT the agent; burns CPU and
 * allocates in main, and obeys commands appended to a control file
 * (args: seconds, control file), one per line, answering "ok <command> ...":
 *   shim       did instrumented bytecode call the allocation shim? Turns
 *              dev.cprof.Alloc.on on for a moment and reports whether its
 *              countdown (Alloc.left) moved while this thread allocated:
 *              "ok shim moved=true|false" ("absent" if never loaded).
 *   classes N  defines N fresh classes (one loader each) and runs each one's
 *              method until the JIT compiles it, then System.gc(): every
 *              JVMTI event the agent might have left on fires.
 *   quit       ends main normally ("done", exit code 0). */
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.lang.reflect.Field;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.function.LongUnaryOperator;

public class DetachTarget {
    static volatile long sink;
    static volatile Object keep;
    static volatile boolean quit;

    static long hotLoop(long n) {
        long x = 0;
        for (long i = 0; i < n; i++) {
            x += (i * 31) ^ (x >>> 3);
        }
        return x;
    }

    static Object allocate(int n) {
        return new int[n];
    }

    /** Loaded afresh by each PayloadLoader: a new class every time. */
    public static class Payload implements LongUnaryOperator {
        public long applyAsLong(long v) {
            long x = v;
            for (int i = 0; i < 50; i++) x = x * 6364136223846793005L + 1442695040888963407L;
            return x;
        }
    }

    static final class PayloadLoader extends ClassLoader {
        private final byte[] bytes;
        PayloadLoader(byte[] bytes) {
            super(DetachTarget.class.getClassLoader());
            this.bytes = bytes;
        }
        @Override
        protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
            if (name.equals(Payload.class.getName())) {
                synchronized (getClassLoadingLock(name)) {
                    Class<?> c = findLoadedClass(name);
                    if (c == null) c = defineClass(name, bytes, 0, bytes.length);
                    return c;
                }
            }
            return super.loadClass(name, resolve);
        }
    }

    static byte[] payloadBytes() throws Exception {
        String res = Payload.class.getName().replace('.', '/') + ".class";
        try (InputStream in = DetachTarget.class.getClassLoader().getResourceAsStream(res)) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] b = new byte[4096];
            for (int n; (n = in.read(b)) > 0; ) out.write(b, 0, n);
            return out.toByteArray();
        }
    }

    static String classes(int n) throws Exception {
        byte[] bytes = payloadBytes();
        long x = 0;
        for (int i = 0; i < n; i++) {
            Class<?> c = new PayloadLoader(bytes).loadClass(Payload.class.getName());
            LongUnaryOperator op = (LongUnaryOperator) c.getDeclaredConstructor().newInstance();
            for (int k = 0; k < 30000; k++) x += op.applyAsLong(k);
        }
        sink += x;
        System.gc();
        return "defined=" + n;
    }

    static String shim() throws Exception {
        Class<?> c;
        try {
            c = Class.forName("dev.cprof.Alloc", false, null);
        } catch (ClassNotFoundException e) {
            return "absent";
        }
        Field on = c.getDeclaredField("on");
        Field left = c.getDeclaredField("left");
        on.setAccessible(true);
        left.setAccessible(true);
        long[] countdown = (long[]) left.get(null);
        boolean was = on.getBoolean(null);
        on.setBoolean(null, true);
        long before = sum(countdown);
        for (int i = 0; i < 20000; i++) keep = allocate(16 + (i & 7));
        long after = sum(countdown);
        on.setBoolean(null, was);
        return "moved=" + (before != after);
    }

    static long sum(long[] a) {
        long s = 0;
        for (long v : a) s = s * 31 + v;
        return s;
    }

    static void control(Path file) {
        int done = 0;
        while (!quit) {
            try {
                Thread.sleep(100);
                if (!Files.exists(file)) continue;
                List<String> lines = Files.readAllLines(file);
                for (; done < lines.size(); done++) {
                    String[] cmd = lines.get(done).trim().split("\\s+");
                    String answer;
                    if (cmd[0].equals("shim")) answer = shim();
                    else if (cmd[0].equals("classes")) answer = classes(Integer.parseInt(cmd[1]));
                    else if (cmd[0].equals("quit")) { quit = true; answer = ""; }
                    else answer = "unknown";
                    System.out.println("ok " + cmd[0] + " " + answer);
                    System.out.flush();
                }
            } catch (Exception e) {
                System.out.println("error " + e);
                System.out.flush();
            }
        }
    }

    public static void main(String[] args) throws Exception {
        int seconds = Integer.parseInt(args[0]);
        Path ctl = Paths.get(args[1]);
        Thread t = new Thread(() -> control(ctl), "control");
        t.setDaemon(true);
        t.start();
        long end = System.currentTimeMillis() + seconds * 1000L;
        long nextTick = System.currentTimeMillis() + 1000;
        int ticks = 0;
        System.out.println("ready");
        System.out.flush();
        while (!quit && System.currentTimeMillis() < end) {
            long sliceEnd = System.currentTimeMillis() + 50;
            while (System.currentTimeMillis() < sliceEnd) {
                sink += hotLoop(200_000);
                keep = allocate(64);
            }
            Thread.sleep(50);
            if (System.currentTimeMillis() >= nextTick) {
                nextTick += 1000;
                System.out.println("alive " + (++ticks));
                System.out.flush();
            }
        }
        System.out.println("done");
    }
}
