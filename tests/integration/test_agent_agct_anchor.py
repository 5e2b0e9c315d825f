"""test_agent_agct_anchor - fewer failed AsyncGetCallTrace samples (issues 3, 8).

tests/java/InterpVm.java keeps calling from Java code into the VM: with
-Xint every array allocation is a call from the interpreter into
InterpreterRuntime, made with a frame anchor that has last_Java_sp but no
last_Java_pc. AGCT answers unknown_not_Java (-3) for samples there; the
agent makes the anchor walkable for one retry (offsets from HotSpot's
VMStructs, jvmti/vmstructs.h). Per JDK:
  - off (CPROF_NO_VMSTRUCTS=1, the agent before the fix): at least 15% of
    the Java-thread samples fail with unknown_not_Java (measured 35-49%);
  - on: under 1% of them fail (measured 0-0.1%), the retry counter is
    non-zero, and >= 85% of the CPU profile sits under InterpVm.arrays;
  - JIT on, arrays and short-lived Proxy classes alternating: under 5% fail;
  - JIT on, 256 KiB arrays (C2's _new_array_Java stub, the array zeroed in
    the VM; C2 stubs set neither last_Java_pc nor fp): before the C2-stub
    retry 88% of the samples failed with unknown_not_Java (async-profiler
    puts 99% under the allocating method); now under 5% fail and >= 80% of
    the profile is under InterpVm.bigBuffer.
Counters add up in every run: the agent's exit line (samples, failures
per kind, their sum) matches what the relay stored for that instance, and
the profile's failure frames carry the failed samples' kinds.
Runs on every JDK found."""
import re

from cplib import *

FAILS = ("[no_class_load]", "[GC_active]", "[unknown_not_Java]", "[not_walkable_not_Java]",
         "[unknown_Java]", "[not_walkable_Java]", "[unknown_state]", "[thread_exit]", "[deopt]",
         "[safepoint]", "[crash_recovered]", "[agct_error]")


def run_case(relay, java, jdk, app, mode, jvm_args=(), env=None, secs=3):
    out = java.run(jdk, agent="app=%s,cpu=1ms,flush=1s,loglevel=info" % app, relay=relay,
                   args=[secs, mode], jvm_args=list(jvm_args), env=env, timeout=90)
    check("DONE rounds=" in out, "%s: InterpVm did not finish:\n%s" % (app, out[-2000:]))
    m = re.search(r"samples cpu=(\d+) wall=\d+ no_java_thread=(\d+), failed=(\d+)", out)
    check(m, "%s: no exit summary in the agent log:\n%s" % (app, out[-2000:]))
    cpu, nojava, failed = (int(x) for x in m.groups())
    k = re.search(r"failures by kind:(.*)", out)
    kinds = {n: int(v) for n, v in re.findall(r"fail\.(\w+)=(\d+)", k.group(1))} if k else {}
    rec = {n: int(v) for n, v in re.findall(r"recovered\.(\w+)=(\d+)", out)}
    # counters add up: kinds sum to the failed total, and the relay stored the same
    check(sum(kinds.values()) == failed, "%s: failures by kind %r do not sum to %d" % (app, kinds, failed))
    prof = wait_settled(relay, app, "cpu")
    q = wait_for(lambda: (lambda i: i[0]["quality"] if i and i[0]["quality"]["samples"] >= cpu else None)(
        relay.get_json("/api/v1/instances", app=app)["instances"]), 15, "%s: counters at the relay" % app)
    check(q["samples"] == cpu and q["failed"] == failed and q["fail"] == kinds,
          "%s: relay counters %r differ from the agent's (samples %d, failed %d, %r)" % (app, q, cpu, failed, kinds))
    # every failure kind counted shows up as a failure frame in the profile, and nothing else
    frames = {f.strip("[]") for s in prof for f in s.split(";") if f in FAILS}
    check(frames == set(kinds), "%s: failure frames %r vs counted kinds %r" % (app, frames, kinds))
    java_n = cpu - nojava
    share = failed / max(java_n, 1)
    log("%s: %d CPU samples, %d on Java threads, failed %d = %.2f%% %r, recovered %r" %
        (app, cpu, java_n, failed, 100.0 * share, kinds, rec))
    check(java_n >= 300, "%s: only %d Java-thread samples" % (app, java_n))
    return out, prof, java_n, kinds, rec, share


def test():
    check(JDKS, "no JDK found")
    java = JavaProgram("InterpVm")
    with Relay() as relay:
        for jdk in JDKS:
            name = jdk_name(jdk)
            # before: the agent without the VMStructs fix
            _, _, java_n, kinds, _, _ = run_case(relay, java, jdk, "anchor-off-" + name, "arrays", ["-Xint"],
                                                 env={"CPROF_NO_VMSTRUCTS": "1"})
            check(kinds.get("unknown_not_Java", 0) >= 0.15 * java_n,
                  "%s: the program no longer hits unknown_not_Java (%r of %d)" % (name, kinds, java_n))
            # with the fix
            out, prof, java_n, kinds, rec, share = run_case(relay, java, jdk, "anchor-on-" + name, "arrays",
                                                            ["-Xint"])
            check("checked on two threads" in out, "%s: VMStructs offsets not in use:\n%s" % (name, out[-2000:]))
            check(rec.get("unknown_not_Java_anchor", 0) > 0, "%s: no anchor retries counted: %r" % (name, rec))
            check(share < 0.01, "%s: %.1f%% of Java-thread samples still fail with the fix" % (name, 100 * share))
            total = sum(prof.values())
            under = sum(v for s, v in prof.items() if "InterpVm.arrays" in s)
            log("%s: %.1f%% of the CPU profile under InterpVm.arrays" % (name, 100.0 * under / total))
            check(under >= 0.85 * total, "%s: only %.1f%% of the profile under InterpVm.arrays" %
                  (name, 100.0 * under / total))
            # JIT on: compiled code, C1/C2 stubs, class definition
            _, prof, java_n, kinds, rec, share = run_case(relay, java, jdk, "anchor-jit-" + name, "mixed")
            check(share < 0.05, "%s (JIT): %.1f%% of Java-thread samples fail" % (name, 100 * share))
            # JIT on, big arrays: the slow path through a C2 runtime stub
            _, prof, java_n, kinds, rec, share = run_case(relay, java, jdk, "anchor-big-" + name, "big")
            total = sum(prof.values())
            under = sum(v for s, v in prof.items() if "InterpVm.bigBuffer" in s)
            log("%s (big arrays): %.1f%% of the CPU profile under InterpVm.bigBuffer, recovered %r" %
                (name, 100.0 * under / total, rec))
            check(share < 0.05, "%s (big arrays): %.1f%% of Java-thread samples fail: %r" % (name, 100 * share, kinds))
            check(under >= 0.80 * total, "%s (big arrays): only %.1f%% of the profile under InterpVm.bigBuffer" %
                  (name, 100.0 * under / total))


main(test)
