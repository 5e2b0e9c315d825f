// AllocHotspot - rule alloc-hotspot: one method allocates a fresh large buffer
// per call (most of the program's allocated bytes) instead of reusing one.
public class AllocHotspot {
    static long run(double seconds) {
        long end = InsightsLab.deadline(seconds), ops = 0, n = 0;
        while (InsightsLab.before(end)) {
            n += buildResponseBuffer((int) ops);
            ops++;
        }
        InsightsLab.consume(n);
        return ops;
    }

    /** The mistake: a new 256 KiB buffer per response. */
    static int buildResponseBuffer(int i) {
        byte[] buf = new byte[256 * 1024];
        for (int k = 0; k < buf.length; k += 512) buf[k] = (byte) (i + k);
        return buf[i & 0xffff] + buf.length;
    }
}
