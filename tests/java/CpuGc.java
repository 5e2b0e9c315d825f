import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/** GC-heavy load for test_cpu_gc (issue 8): allocates for args[0] seconds
 * while keeping a large rotating live set (args[1] objects), so young
 * collections copy a lot and GC threads burn a real share of the CPU.
 * At the end prints the kernel's CPU accounting of the JVM's GC worker
 * threads (/proc/self/task/N/stat utime+stime of threads whose name marks
 * them as GC threads) as GC_THREADS_CPU_MS, and the process CPU as
 * PROCESS_CPU_MS (the test compares them with the profile). */
public class CpuGc {
    static Object[] keep;

    public static void main(String[] args) throws Exception {
        double seconds = args.length > 0 ? Double.parseDouble(args[0]) : 4;
        int live = args.length > 1 ? Integer.parseInt(args[1]) : 400_000;
        keep = new Object[live];
        long end = System.nanoTime() + (long) (seconds * 1e9);
        long n = 0, chk = 0;
        while (System.nanoTime() < end) {
            for (int i = 0; i < 10_000; i++) {
                int[] b = new int[8 + (int) (n & 31)];
                b[0] = (int) n;
                chk += b.length;
                if ((n & 3) == 0)
                    keep[(int) ((n >>> 2) % live)] = b;
                n++;
            }
        }
        long gc = 0, all = 0;
        long tick = 10; // ms per clock tick (USER_HZ = 100)
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(Paths.get("/proc/self/task"))) {
            for (Path t : ds) {
                String comm, stat;
                try {
                    comm = new String(Files.readAllBytes(t.resolve("comm"))).trim();
                    stat = new String(Files.readAllBytes(t.resolve("stat")));
                } catch (java.io.IOException e) {
                    continue;
                }
                String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                long ms = (Long.parseLong(f[11]) + Long.parseLong(f[12])) * tick;  // utime, stime
                all += ms;
                if (comm.startsWith("GC Thread") || comm.startsWith("G1 ") || comm.startsWith("VM Thread"))
                    gc += ms;
            }
        }
        System.out.println("allocated=" + n + " chk=" + (chk & 7));
        System.out.println("GC_THREADS_CPU_MS=" + gc + " PROCESS_CPU_MS=" + all);
    }
}
