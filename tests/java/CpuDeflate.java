import java.util.Random;
import java.util.zip.Deflater;

/** Native-heavy load for test_cpu_native: deflates pseudo-random text with
 * java.util.zip.Deflater (zlib, in native code) for args[0] seconds from
 * one thread. Prints CPU_MS (the thread's CPU time). */
public class CpuDeflate {
    public static void main(String[] args) throws Exception {
        long secs = args.length > 0 ? Long.parseLong(args[0]) : 5;
        byte[] in = new byte[1 << 20];
        Random r = new Random(42);
        String words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu ";
        for (int i = 0; i < in.length; i++)
            in[i] = (byte) (r.nextInt(8) == 0 ? 'a' + r.nextInt(26) : words.charAt(i % words.length()));
        byte[] out = new byte[in.length + 1024];
        java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
        long t0 = mx.getCurrentThreadCpuTime();
        long end = System.nanoTime() + secs * 1_000_000_000L;
        long total = 0;
        while (System.nanoTime() < end) {
            total += deflateOnce(in, out);
        }
        long cpu = (mx.getCurrentThreadCpuTime() - t0) / 1_000_000;
        System.out.println("BYTES=" + total + " CPU_MS=" + cpu);
    }

    static int deflateOnce(byte[] in, byte[] out) {
        Deflater d = new Deflater(9);
        d.setInput(in);
        d.finish();
        int n = 0;
        while (!d.finished())
            n += d.deflate(out, 0, out.length);
        d.end();
        return n;
    }
}
