"""test_agent_accuracy - the agent's CPU profile matches a known CPU split.

tests/java/CpuSplit.java alternates burnA and burnB and measures the true
split with per-call thread CPU time. The relay's merged profile must give
burnA's share of (burnA + burnB) within +-3 points of the truth, and the two
methods must hold >= 85% of the profile. Both leaves (mixA/mixB) are small
methods the JIT inlines: with the JIT's debug info at non-safepoints (the
agent sets DebugNonSafepoints, or with jit.kinds=on enables
CompiledMethodLoad) most samples must land in them; a control run with
-XX:-DebugNonSafepoints shows they would not otherwise.
Frame kinds: by default Java frames have kind "Java" (0): the JIT builds no
inline records (issue 14); with jit.kinds=on they are compiled/inlined.
Runs on every JDK found (JDKS): the first with the defaults, the others with
jit.kinds=on (with one JDK, a short extra jit.kinds=on run)."""
import re

from cplib import *


def shares(prof):
    total = sum(prof.values()) or 1
    a = sum(v for s, v in prof.items() if "CpuSplit.burnA" in s.split(";"))
    b = sum(v for s, v in prof.items() if "CpuSplit.burnB" in s.split(";"))
    leaf = sum(v for s, v in prof.items() if s.split(";")[-1] in ("CpuSplit.mixA", "CpuSplit.mixB"))
    return a, b, total, leaf


def run_one(relay, jdk, app, jvm_args=(), secs=10, extra=""):
    java = JavaProgram("CpuSplit")
    out = java.run(jdk, agent="app=%s,cpu=10ms,flush=1s%s" % (app, extra), relay=relay,
                   args=[secs], jvm_args=jvm_args, timeout=60)
    m = re.search(r"TRUE_SPLIT a=([0-9.]+)", out)
    check(m, "no TRUE_SPLIT line in output:\n" + out[-2000:])
    cpu_ms = int(re.search(r"CPU_MS=(\d+)", out).group(1))
    prof = relay.wait_profile(app, "cpu", lambda p: shares(p)[0] > 0, timeout=20)
    return float(m.group(1)), cpu_ms, prof


def test():
    check(JDKS, "no JDK found")
    with Relay() as relay:
        runs = [(jdk, "" if k == 0 else ",jit.kinds=on", 10) for k, jdk in enumerate(JDKS)]
        if len(JDKS) == 1:
            runs.append((JDKS[0], ",jit.kinds=on", 4))
        for jdk, extra, secs in runs:
            name = jdk_name(jdk) + (" jit.kinds=on" if extra else "")
            app = "accuracy-" + jdk_name(jdk) + ("-kinds" if extra else "")
            truth, cpu_ms, prof = run_one(relay, jdk, app, secs=secs, extra=extra)
            a, b, total, leaf = shares(prof)
            got = a / (a + b)
            both = (a + b) / total
            log("%s: true split %.3f, profile %.3f; burnA+burnB %.1f%% of %d ms sampled "
                "(%d ms measured); inlined leaves %.1f%%" %
                (name, truth, got, 100 * both, total // 1000000, cpu_ms, 100 * leaf / (a + b)))
            check(abs(got - truth) <= 0.03,
                  "%s: burnA share %.3f vs true %.3f (more than 3 points off)" % (name, got, truth))
            check(both >= 0.85, "%s: burnA+burnB only %.1f%% of the profile" % (name, 100 * both))
            # CPU accounted: samples x interval vs measured thread CPU (10ms sampling)
            sampled_ms = (a + b) / 1e6
            check(0.9 * cpu_ms <= sampled_ms <= 1.1 * cpu_ms,
                  "%s: profile holds %d ms of burn CPU, program measured %d ms" % (name, sampled_ms, cpu_ms))
            check(leaf / (a + b) >= 0.3,
                  "%s: only %.1f%% of samples in the inlined leaves: DebugNonSafepoints not in effect"
                  % (name, 100 * leaf / (a + b)))
            # frame kinds (wire: 0 Java, 2 compiled, 3 inlined)
            j = relay.get_json("/api/v1/profile", app=app, type="cpu", **{"from": "now-1h"}, to="now+1m",
                               format="json")
            kinds = {nm: k for nm, k in zip(j["names"], j["kinds"])}
            log("%s: frame kinds burnA=%s mixA=%s" % (name, kinds.get("CpuSplit.burnA"),
                                                      kinds.get("CpuSplit.mixA")))
            # The relay keeps one kind per frame name (the agent sends mixA both
            # as inlined into burnA and as its own compiled method), so only
            # "JIT code, not interpreted or unknown" can be asserted here;
            # tests/unit/jvmti/test_codemap.c checks the inlined split itself.
            for m in ("CpuSplit.burnA", "CpuSplit.mixA"):
                if extra:
                    check(kinds.get(m) in (2, 3), "%s: %s has frame kind %r, expected compiled (2) or "
                          "inlined (3)" % (name, m, kinds.get(m)))
                else:
                    check(kinds.get(m) == 0, "%s: %s has frame kind %r, expected Java (0): no inline "
                          "records without jit.kinds=on" % (name, m, kinds.get(m)))
        # control: with the flag forced off, inlined leaves get (almost) nothing
        jdk = JDKS[0]
        _, _, prof = run_one(relay, jdk, "accuracy-control", secs=4,
                             jvm_args=["-XX:+UnlockDiagnosticVMOptions", "-XX:-DebugNonSafepoints"])
        a, b, total, leaf = shares(prof)
        log("control (-DebugNonSafepoints): inlined leaves %.1f%%" % (100 * leaf / (a + b)))
        check(leaf / (a + b) < 0.1, "control run unexpectedly attributes %.1f%% to inlined leaves"
              % (100 * leaf / (a + b)))


main(test)
