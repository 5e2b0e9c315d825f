"""test_agent_crash_guard - a fault inside AsyncGetCallTrace does not kill the JVM.

AGCT has known crash sites on some JDK builds. The agent arms a jump buffer
around each AGCT call; its SIGSEGV/SIGBUS handler jumps back when the fault
is inside AGCT and otherwise hands the signal to the JVM's own handler. The
test hook CPROF_TEST_AGCT_FAULT=5 makes every 5th sample fault on purpose
inside the guarded region. tests/java/Soak.java (short scale) runs thread
churn, class loading, GC and implicit null checks (SIGSEGV the JVM must
still handle itself) at cpu=1ms: it must finish cleanly, and the relay's
profile must show the recovered samples as [crash_recovered].
Runs on every JDK found.

Then HotSpot's own faults inside a sample: AGCT checks stack words with
SafeFetch, whose faults HotSpot's handler resolves (the read returns an
error value). The agent's handler sees them first; it must hand them to
HotSpot (counted in guard.jvm_handled) rather than jump out of AGCT. With
CPROF_TEST_SAFEFETCH=<offset of SafeFetch32_impl in libjvm.so, from nm>
the hook calls HotSpot's SafeFetch on page 0 instead of faulting itself:
no sample may be lost as [crash_recovered], and the JVM must finish.
(Skipped for a libjvm without a symbol table.)"""
import re
import shutil

from cplib import *


def safefetch_offset(jdk):
    nm = shutil.which("nm")
    lib = os.path.join(jdk, "lib", "server", "libjvm.so")
    if not nm or not os.path.exists(lib):
        return None
    out = subprocess.run([nm, lib], capture_output=True, text=True).stdout
    m = re.search(r"^([0-9a-f]+) [tT] SafeFetch32_impl$", out, re.M)
    return "0x" + m.group(1) if m else None


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

            off = safefetch_offset(jdk)
            if not off:
                log("%s: no SafeFetch32_impl symbol in libjvm.so: SafeFetch case skipped" % name)
                continue
            app = "guard-safefetch-" + name
            out = JavaProgram("Soak").run(jdk, agent="app=%s,cpu=1ms,flush=1s,loglevel=info" % app, relay=relay,
                                          args=["0.25"], jvm_args=["-Xmx256m"],
                                          env={"CPROF_TEST_AGCT_FAULT": "5", "CPROF_TEST_SAFEFETCH": off},
                                          timeout=90)
            check("SOAK_DONE" in out, "%s: Soak did not finish:\n%s" % (name, out[-2000:]))
            line = next((l for l in out.splitlines() if "exit: counters:" in l), "")
            kv = dict(re.findall(r" ([a-zA-Z_.]+)=(\d+)", line))
            handled, crashed = int(kv.get("guard.jvm_handled", 0)), int(kv.get("fail.crash_recovered", 0))
            prof = relay.wait_profile(app, "cpu", timeout=20)
            rec = sum(v for s, v in prof.items() if "[crash_recovered]" in s)
            log("%s: SafeFetch faults inside the guard: guard.jvm_handled=%d, fail.crash_recovered=%d, "
                "[crash_recovered] weight in the profile %d" % (name, handled, crashed, rec))
            check(line, "%s: no exit counters:\n%s" % (name, out[-2000:]))
            check(handled > 0, "%s: no SafeFetch fault was handed to HotSpot" % name)
            check(crashed == 0 and rec == 0, "%s: %d SafeFetch faults jumped out of the sample" % (name, crashed))


main(test)
