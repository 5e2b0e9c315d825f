// ProfileQuality - rule profile-quality: a profile whose samples mostly fail.
// Compiled code that allocates large arrays spends its time in a C2 runtime
// stub (the array is allocated and zeroed in the VM), where AsyncGetCallTrace
// cannot walk the stack; the agent's retries recover such samples, but the
// test runs this program with -Xcheck:jni, which turns them off (the crash
// guard they need is off under -Xcheck:jni, docs/agent.md). So most CPU
// samples end as [unknown_not_Java]: the profile cannot say where time goes.
public class ProfileQuality {
    static long run(double seconds) {
        long end = InsightsLab.deadline(seconds), ops = 0, n = 0;
        while (InsightsLab.before(end)) {
            n += allocateInStub((int) ops);
            ops++;
        }
        InsightsLab.consume(n);
        return ops;
    }

    static int allocateInStub(int i) {
        byte[] buf = new byte[256 * 1024];
        buf[i & 0xffff] = (byte) i;
        return buf[7] + buf.length;
    }
}
