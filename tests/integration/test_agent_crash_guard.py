"""test_agent_crash_guard - a fault inside AsyncGetCallTrace does not kill the JVM.

AGCT has known crash sites on some JDK builds. The agent arms a jump buffer
around each AGCT call; its SIGSEGV/SIGBUS handler jumps back when the fault
is inside AGCT and otherwise hands the signal to the JVM's own handler. The
test hook CPROF_TEST_AGCT_FAULT=5 makes every 5th sample fault on purpose
inside the guarded region. tests/java/Soak.java (short scale) runs thread
churn, class loading, GC and implicit null checks (SIGSEGV the JVM must
still handle itself) at cpu=1ms: it must finish cleanly, and the relay's
profile must show the recovered samples as [crash_recovered].
Runs on every JDK found."""
from cplib import *


def test():
    check(JDKS, "no JDK found")
    with Relay() as relay:
        for jdk in JDKS:
            name = jdk_name(jdk)
            app = "guard-" + name
            out = JavaProgram("Soak").run(jdk, agent="app=%s,cpu=1ms,flush=1s" % app, relay=relay,
                                          args=["0.25"], jvm_args=["-Xmx256m"],
                                          env={"CPROF_TEST_AGCT_FAULT": "5"}, timeout=90)
            check("SOAK_DONE" in out, "%s: Soak did not finish:\n%s" % (name, out[-2000:]))
            prof = relay.wait_profile(app, "cpu", lambda p: any("[crash_recovered]" in s for s in p),
                                      timeout=20)
            rec = sum(v for s, v in prof.items() if "[crash_recovered]" in s)
            total = sum(prof.values())
            log("%s: %.1f%% of CPU samples recovered from a fault in AGCT, JVM finished cleanly"
                % (name, 100.0 * rec / total))
            check(rec > 0, "%s: no recovered samples" % name)


main(test)
