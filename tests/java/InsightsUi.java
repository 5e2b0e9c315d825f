// InsightsUi - an app with one problem the insights rules name, and its
// calm twin, for the UI and CLI tests of insights
// (tests/browser/ui_insights.mjs, tests/integration/test_cli_insights.py).
//
// Usage: java InsightsUi SECONDS [regex|calm]
// regex (default): parseLine() splits each line with String.split("[,;]");
// a pattern of more than one character is compiled again on every call
// (rule regex-compile), and that compile dominates the CPU.
// calm: the same lines split with one precompiled Pattern, the work spread
// over a few small methods, and half of the time asleep.
// Prints "LINES=<n>" at the end.
import java.util.regex.Pattern;

public class InsightsUi {
    static final Pattern SEP = Pattern.compile("[,;]");
    static volatile long sink;

    static int parseLine(String line) {
        String[] parts = line.split("[,;]");
        int n = 0;
        for (String p : parts) n += p.length();
        return n;
    }

    static int parseLineOnce(String line) {
        String[] parts = SEP.split(line);
        int n = 0;
        for (String p : parts) n += p.length();
        return n;
    }

    static long checksum(int i) {
        long x = i;
        for (int k = 0; k < 40; k++) x = x * 6364136223846793005L + 1442695040888963407L;
        return x;
    }

    static long mixA(long x) { for (int k = 0; k < 60; k++) x ^= (x << 13) ^ (x >>> 7) ^ k; return x; }
    static long mixB(long x) { for (int k = 0; k < 60; k++) x += Long.rotateLeft(x, 11) ^ k; return x; }
    static long mixC(long x) { for (int k = 0; k < 60; k++) x *= 0x9e3779b97f4a7c15L + k; return x; }

    public static void main(String[] args) throws InterruptedException {
        boolean calm = args.length > 1 && args[1].equals("calm");
        long end = System.nanoTime() + (long) (Double.parseDouble(args[0]) * 1e9);
        long lines = 0, acc = 0;
        while (System.nanoTime() < end) {
            long t0 = System.nanoTime();
            for (int i = 0; i < 1000; i++) {
                String line = "id" + i + ",name;" + (i * 7) + ",x";
                if (calm) acc += parseLineOnce(line) + mixA(i) + mixB(i) + mixC(i);
                else acc += parseLine(line) + checksum(i);
                lines++;
            }
            if (calm) Thread.sleep(Math.max(1, (System.nanoTime() - t0) / 1000000));
        }
        sink = acc;
        System.out.println("LINES=" + lines);
    }
}
