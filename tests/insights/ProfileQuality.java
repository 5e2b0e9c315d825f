// ProfileQuality - rule profile-quality: a run far too short to say anything
// (a few CPU samples), e.g. a profile taken of a process that just started.
public class ProfileQuality {
    static long run(double seconds) {
        long end = InsightsLab.wallDeadline(Math.min(seconds, 0.15)), ops = 0, h = 1;
        while (InsightsLab.beforeWall(end)) {
            h = briefWork(h);
            ops++;
        }
        InsightsLab.consume(h);
        return ops;
    }

    static long briefWork(long h) {
        for (int i = 0; i < 10_000; i++) h = h * 31 + i;
        return h;
    }
}
