// Soak - stresses the agent: thread churn, a class-loading storm with class
// unloading, a GC-heavy phase, and implicit null checks (SIGSEGV the JVM
// handles itself, through the agent's chained fault handler). Used by scripts/soak (not a unit test).
//
// Usage: java -Xmx256m Soak [SCALE]   (SCALE 1 = ~8 s on a quiet 2-core box)
// Prints "SOAK_DONE" at the end; any crash, hang or exception is a failure.
import java.io.InputStream;
import java.lang.invoke.CallSite;
import java.lang.invoke.LambdaMetafactory;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntUnaryOperator;

public class Soak {
    static final AtomicLong SINK = new AtomicLong();

    // Template for generated classes: each copy is defined by its own loader.
    public static class Gen {
        public static long work(int n) {
            long x = n;
            for (int i = 0; i < n; i++) x = x * 31 + (x >>> 7) + i;
            return x;
        }
    }

    static class OneShotLoader extends ClassLoader {
        OneShotLoader(ClassLoader parent) { super(parent); }
        Class<?> define(String name, byte[] b) { return defineClass(name, b, 0, b.length); }
    }

    static long cpu(int n) {
        long x = n;
        for (int i = 0; i < n; i++) x ^= (x << 13) ^ (x >>> 7) ^ i;
        return x;
    }

    static void threadChurn(int total) throws Exception {
        int batch = 20;
        for (int done = 0; done < total; done += batch) {
            List<Thread> ts = new ArrayList<>();
            for (int i = 0; i < batch; i++) {
                final int k = i;
                Thread t = new Thread(() -> {
                    SINK.addAndGet(cpu(1_000_000 + k * 1000));
                    byte[][] junk = new byte[64][];
                    for (int j = 0; j < junk.length; j++) junk[j] = new byte[1024];
                    SINK.addAndGet(junk.length);
                }, "churn-" + (done + i));
                t.start();
                ts.add(t);
            }
            for (Thread t : ts) t.join();
        }
    }

    static void classStorm(int rounds) throws Throwable {
        byte[] genBytes;
        try (InputStream in = Soak.class.getResourceAsStream("Soak$Gen.class")) {
            genBytes = in.readAllBytes();
        }
        MethodHandles.Lookup lookup = MethodHandles.lookup();
        MethodHandle target = lookup.findStatic(Soak.class, "cpuInt",
                MethodType.methodType(int.class, int.class));
        for (int r = 0; r < rounds; r++) {
            // generated classes, each in its own loader (unloadable after GC)
            OneShotLoader l = new OneShotLoader(Soak.class.getClassLoader());
            Class<?> c = l.define("Soak$Gen", genBytes);
            Method m = c.getMethod("work", int.class);
            SINK.addAndGet((Long) m.invoke(null, 20_000 + r));
            // lambdas: every metafactory call spins a new hidden class
            CallSite cs = LambdaMetafactory.metafactory(lookup, "applyAsInt",
                    MethodType.methodType(IntUnaryOperator.class), MethodType.methodType(int.class, int.class),
                    target, MethodType.methodType(int.class, int.class));
            IntUnaryOperator op = (IntUnaryOperator) cs.getTarget().invoke();
            SINK.addAndGet(op.applyAsInt(r));
            // proxies in fresh loaders
            Runnable p = (Runnable) Proxy.newProxyInstance(new OneShotLoader(Soak.class.getClassLoader()),
                    new Class<?>[] {Runnable.class}, (proxy, method, args) -> {
                        SINK.addAndGet(cpu(2_000));
                        return null;
                    });
            p.run();
            if (r % 200 == 0) System.gc();   // let classes unload while sampled
        }
    }

    static int cpuInt(int n) { return (int) cpu(1000 + (n & 1023)); }

    static void gcHeavy(double secs) {
        Random rnd = new Random(1);
        List<Object> keep = new ArrayList<>();
        long end = System.nanoTime() + (long) (secs * 1e9);
        while (System.nanoTime() < end) {
            for (int i = 0; i < 10_000; i++) {
                Object o = (i & 3) == 0 ? new byte[rnd.nextInt(4096)] : new long[rnd.nextInt(64)];
                if (rnd.nextInt(100) < 2) keep.add(o);
            }
            if (keep.size() > 200_000) keep.subList(0, 100_000).clear();
        }
        SINK.addAndGet(keep.size());
    }

    static final class Box { int v; }
    static Box maybeNull(int i) { return (i & 7) == 0 ? null : new Box(); }

    // Implicit null checks: compiled code turns these into SIGSEGV handled by
    // the JVM, so they prove the agent's fault handler passes signals on.
    static void npes(int n) {
        long caught = 0;
        for (int i = 0; i < n; i++) {
            try {
                SINK.addAndGet(maybeNull(i).v);
            } catch (NullPointerException e) {
                caught++;
            }
        }
        SINK.addAndGet(caught);
    }

    public static void main(String[] args) throws Throwable {
        double scale = args.length > 0 ? Double.parseDouble(args[0]) : 1;
        long t0 = System.nanoTime();
        threadChurn(200);
        long t1 = System.nanoTime();
        classStorm((int) (1500 * scale));
        long t2 = System.nanoTime();
        gcHeavy(3 * scale);
        npes((int) (2_000_000 * scale));
        long t3 = System.nanoTime();
        System.out.printf("SOAK_DONE threads=%.1fs classes=%.1fs gc=%.1fs sink=%d%n",
                (t1 - t0) / 1e9, (t2 - t1) / 1e9, (t3 - t2) / 1e9, SINK.get() & 0xff);
    }
}
