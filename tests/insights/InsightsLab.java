// InsightsLab - small programs that show one insights problem each (issue 16).
//
//   java InsightsLab RULE[,RULE...] [SECONDS]
//
// RULE is an insights rule id (docs/insights.md) or "clean". Each id runs the
// class named after the problem (regex-compile -> RegexCompile), which makes
// the mistake on purpose in a method whose name says so (RegexCompile.parseLine
// splits with a regular expression on every call). "clean" does healthy work
// (Clean.java). Several ids separated by commas run at once, one thread each
// (thread-growth,live-set-growth: the slow series rules share one JVM).
// SECONDS is a CPU budget: the work stops when the process has used that
// much CPU (or after ten times as long in wall time), so a loaded machine
// gives the same number of samples, only later. At the end one line per
// rule: "lab rule=ID ops=N ms=T cpu_ms=C".
// tests/integration/test_insights.py runs these under the agent and checks
// that /api/v1/insights finds each problem, and nothing in "clean".
import java.util.ArrayList;
import java.util.List;

public class InsightsLab {
    /** One problem: runs it for about `seconds`, returns how many operations it did. */
    interface Lab {
        long run(double seconds) throws Exception;
    }

    static volatile long sink;
    /** Set by the watchdog when the CPU budget is spent. */
    static volatile boolean spent;

    /** Keeps a result alive so the JIT cannot drop the work that made it. */
    static void consume(long v) {
        sink += v;
    }

    /** The wall-time cap of a run of `seconds` CPU seconds: ten times as long. */
    static long deadline(double seconds) {
        return System.nanoTime() + (long) (seconds * 10e9);
    }

    /** Work goes on: the CPU budget is not spent and the cap not reached. */
    static boolean before(long deadline) {
        return !spent && System.nanoTime() < deadline;
    }

    /** For threads that only coordinate (start workers, then wait). */
    static void awaitBudget(double seconds) throws InterruptedException {
        long end = deadline(seconds);
        while (before(end)) Thread.sleep(10);
    }

    /** Wall-clock runs (the growth rules, which need time, not CPU). */
    static long wallDeadline(double seconds) {
        return System.nanoTime() + (long) (seconds * 1e9);
    }

    static boolean beforeWall(long deadline) {
        return System.nanoTime() < deadline;
    }

    static long processCpuNs() {
        return ((com.sun.management.OperatingSystemMXBean)
                java.lang.management.ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }

    static void startWatchdog(double seconds) {
        long budget = (long) (seconds * 1e9);
        Thread w = new Thread(() -> {
            while (processCpuNs() < budget) {
                try {
                    Thread.sleep(10);
                } catch (InterruptedException e) {
                    return;
                }
            }
            spent = true;
        }, "lab-watchdog");
        w.setDaemon(true);
        w.start();
    }

    static Lab lab(String rule) {
        switch (rule) {
            case "hot-method": return HotMethod::run;
            case "regex-compile": return RegexCompile::run;
            case "exception-cost": return ExceptionCost::run;
            case "logging-cost": return LoggingCost::run;
            case "recreated-objects": return RecreatedObjects::run;
            case "string-format": return StringFormat::run;
            case "serialization": return Serialization::run;
            case "collection-misuse": return CollectionMisuse::run;
            case "reflection-after-warmup": return ReflectionAfterWarmup::run;
            case "tls-handshake": return TlsHandshake::run;
            case "boxing": return Boxing::run;
            case "alloc-hotspot": return AllocHotspot::run;
            case "lock-contention": return LockContention::run;
            case "legacy-sync": return LegacySync::run;
            case "thread-growth": return ThreadGrowth::run;
            case "gc-pause-ratio": return GcPauseRatio::run;
            case "long-gc": return LongGc::run;
            case "live-set-growth": return LiveSetGrowth::run;
            case "profile-quality": return ProfileQuality::run;
            case "clean": return Clean::run;
            default: throw new IllegalArgumentException("unknown rule " + rule);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: InsightsLab RULE[,RULE...] [SECONDS]");
            System.exit(2);
        }
        String[] rules = args[0].split(",");
        double seconds = args.length > 1 ? Double.parseDouble(args[1]) : 3;
        startWatchdog(seconds);
        List<Thread> threads = new ArrayList<>();
        List<String> lines = new ArrayList<>();
        Throwable[] failed = new Throwable[1];
        for (String rule : rules) {
            Lab lab = lab(rule);
            Thread t = new Thread(() -> {
                long t0 = System.nanoTime();
                try {
                    long ops = lab.run(seconds);
                    synchronized (lines) {
                        lines.add(String.format("lab rule=%s ops=%d ms=%d cpu_ms=%d", rule, ops,
                                                (System.nanoTime() - t0) / 1_000_000, processCpuNs() / 1_000_000));
                    }
                } catch (Throwable e) {
                    synchronized (lines) { failed[0] = e; }
                }
            }, "lab-" + rule);
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) t.join();
        for (String l : lines) System.out.println(l);
        if (failed[0] != null) {
            failed[0].printStackTrace();
            System.exit(1);
        }
    }
}
