// ControlTarget - a steady, light service for fleet-control tests (issue 19):
// allocates ~4 MB/s in ControlTarget.allocate (byte arrays and strings,
// kept briefly) and spins a little in ControlTarget.compute, for `seconds`
// (default 60). Light on CPU, so several run side by side on a small machine.
public class ControlTarget {
    static volatile Object sink;
    static volatile long acc;

    static void allocate() {
        Object[] keep = new Object[64];
        for (int i = 0; i < 64; i++)
            keep[i] = (i & 1) == 0 ? new byte[1024 + (i << 6)] : ("item-" + i + "-" + acc);
        sink = keep;
    }

    static void compute() {
        long x = acc;
        for (int i = 0; i < 20000; i++)
            x = x * 6364136223846793005L + 1442695040888963407L;
        acc = x;
    }

    public static void main(String[] args) throws Exception {
        double seconds = args.length > 0 ? Double.parseDouble(args[0]) : 60;
        long end = System.nanoTime() + (long) (seconds * 1e9);
        while (System.nanoTime() < end) {
            for (int i = 0; i < 50; i++)
                allocate();
            compute();
            Thread.sleep(1);
        }
    }
}
