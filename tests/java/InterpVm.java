// InterpVm - Java code that keeps calling from the interpreter (or compiled
// code) into the VM, for test_agent_agct_anchor (issues 3 and 8).
//
// Usage: java InterpVm SECONDS [arrays|classes|mixed|big]
// arrays:  small arrays of every kind in a loop. Run with -Xint, every
//          `newarray`/`anewarray`/`multianewarray` bytecode is a call into
//          the VM (InterpreterRuntime::newarray & co), made with a frame
//          anchor that has last_Java_sp but no last_Java_pc: AGCT answers
//          unknown_not_Java (-3) for samples that land there.
// classes: short-lived classes (a java.lang.reflect.Proxy class in a fresh
//          class loader per round) and reflection on them: class definition,
//          linking and resolution run in the VM.
// mixed:   both, alternating every ~50 ms.
// big:     256 KiB arrays from compiled code (JIT on): each is allocated
//          outside the TLAB through C2's _new_array_Java runtime stub and
//          zeroed in the VM; C2's stubs leave last_Java_pc and fp unset, so
//          even a walkable anchor names the stub, not the Java caller.
// Prints "DONE rounds=N" at the end.
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;

public class InterpVm {
    static volatile long sink;

    public interface Shape { int area(int k); }

    static long arrays(long until) {
        long n = 0;
        while (System.nanoTime() < until) {
            for (int i = 0; i < 2000; i++) {
                int k = (i & 15) + 1;
                int[] a = new int[k];
                long[] b = new long[k];
                Object[] c = new Object[k];
                byte[][] d = new byte[2][k];
                a[0] = i;
                b[0] = a[0];
                c[0] = d;
                sink += a.length + b.length + c.length + d[1].length + b[0];
            }
            n++;
        }
        return n;
    }

    static int bigBuffer(int i) {
        byte[] buf = new byte[256 * 1024];
        for (int k = 0; k < buf.length; k += 512)
            buf[k] = (byte) (i + k);
        return buf[i & 0xffff] + buf.length;
    }

    static long big(long until) {
        long n = 0;
        while (System.nanoTime() < until)
            sink += bigBuffer((int) n++);
        return n;
    }

    static long classes(long until) {
        long n = 0;
        InvocationHandler h = (proxy, m, args) -> args == null ? 0 : ((Integer) args[0]) * 2;
        while (System.nanoTime() < until) {
            ClassLoader cl = new ClassLoader(InterpVm.class.getClassLoader()) { };
            Shape s = (Shape) Proxy.newProxyInstance(cl, new Class<?>[] {Shape.class}, h);
            sink += s.area((int) n);
            for (Method m : s.getClass().getDeclaredMethods())
                sink += m.getName().length();
            n++;
        }
        return n;
    }

    public static void main(String[] args) throws Exception {
        double secs = args.length > 0 ? Double.parseDouble(args[0]) : 5;
        String mode = args.length > 1 ? args[1] : "mixed";
        long end = System.nanoTime() + (long) (secs * 1e9);
        long rounds = 0;
        while (System.nanoTime() < end) {
            long slice = Math.min(end, System.nanoTime() + 50_000_000L);
            if (mode.equals("big"))
                big(slice);
            else if (mode.equals("arrays") || (mode.equals("mixed") && (rounds & 1) == 0))
                arrays(slice);
            else
                classes(slice);
            rounds++;
        }
        System.out.println("DONE rounds=" + rounds + " sink=" + (sink & 1));
    }
}
