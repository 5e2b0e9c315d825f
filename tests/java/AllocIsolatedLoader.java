// AllocIsolatedLoader - a class loader that does not delegate to the boot
// class path except for java.* (like some OSGi/module systems). Classes it
// defines cannot see dev.cprof.Alloc, so alloc.mode=instrument must leave
// them alone instead of making them fail with NoClassDefFoundError.
// Prints "isolated ok <sum>" on success.
import java.io.InputStream;

public class AllocIsolatedLoader {
    public static class Payload {
        public static long run() {
            long s = 0;
            for (int i = 0; i < 100_000; i++) {
                int[] a = new int[i & 15];
                s += a.length + new StringBuilder().append(i).length();
            }
            return s;
        }
    }

    static final class Isolated extends ClassLoader {
        Isolated() { super(null); }       // parent = boot loader, but we filter it

        @Override
        protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
            synchronized (getClassLoadingLock(name)) {
                Class<?> c = findLoadedClass(name);
                if (c != null) return c;
                if (name.startsWith("java.")) return super.loadClass(name, resolve);
                String res = name.replace('.', '/') + ".class";
                try (InputStream in = AllocIsolatedLoader.class.getClassLoader().getResourceAsStream(res)) {
                    if (in == null) throw new ClassNotFoundException(name);
                    byte[] b = in.readAllBytes();
                    return defineClass(name, b, 0, b.length);
                } catch (java.io.IOException e) {
                    throw new ClassNotFoundException(name, e);
                }
            }
        }
    }

    public static void main(String[] args) throws Exception {
        Class<?> p = new Isolated().loadClass("AllocIsolatedLoader$Payload");
        long s = (Long) p.getMethod("run").invoke(null);
        System.out.println("isolated ok " + s);
    }
}
