"""test_agent_thread_start - a Java thread's CPU timer is armed by the
harvester, not in its ThreadStart (jvmti/sampler_cpu.c cp__cpu_arm_pending):
a JVM that starts and joins many short threads pays no timer for those that
end before the harvester's next pass, and a thread that lives on is still
sampled, with its CPU from before the arm counted.

tests/java/BudgetStorm.java churn: 2,000 threads started and joined one
after the other, then one thread burning burnA / burnB 7:3 for 4 s (cpu=10ms,
overhead=off). Asserted from the agent's windows (loglevel=debug):
  - cpu.armed (timers or perf events created) stays under a quarter of the
    threads started, and cpu.arm_skipped counts at least half of them (each
    churned thread lives ~0.1 ms; a pass comes every 2-50 ms);
  - the burning thread, armed late, is sampled: the CPU profile's A/B split
    is the program's 70/30 within 3 standard deviations (at least 5 points)
    of at least 10 samples' worth.
Asserts counts and shares only: bears a neighbour."""
import re

from cplib import *

N = 2000


def counters(out):
    res = []
    for line in out.splitlines():
        if "window seq=" in line:
            res.append({k: int(v) for k, v in re.findall(r" ([a-z_.A-Z]+)=(\d+)", line)})
    return res


def test():
    check(JDKS, "no JDK found")
    jdk = JDKS[0]
    java = JavaProgram("BudgetStorm")
    with Relay(name="relay-thread-start") as relay:
        app = "thread-start-%s" % jdk_name(jdk)
        out = java.run(jdk, agent="app=%s,cpu=10ms,overhead=off,flush=1s,loglevel=debug" % app, relay=relay,
                       args=["churn", 4, N], timeout=120)
        m = re.search(r"CHURN cpu_ms=\d+ churn_cpu_us=(\d+) threads=(\d+)", out)
        check(m, "no CHURN line:\n%s" % out[-2000:])
        w = counters(out)
        check(len(w) >= 3, "only %d windows:\n%s" % (len(w), out[-2000:]))
        armed = sum(x.get("cpu.armed", 0) for x in w)
        skipped = sum(x.get("cpu.arm_skipped", 0) for x in w)
        cb = sum(x.get("cpu.callback_ns", 0) for x in w)
        log("%d threads churned in %.1f ms of process CPU; cpu.armed %d, cpu.arm_skipped %d, callbacks %.1f ms"
            % (N, int(m.group(1)) / 1e3, armed, skipped, cb / 1e6))
        check(armed < N // 4, "cpu.armed %d for %d short threads: ThreadStart still arms a timer each" % (armed, N))
        check(skipped >= N // 2, "cpu.arm_skipped %d of %d short threads" % (skipped, N))

        prof = wait_settled(relay, app, "cpu")
        sa, sb = share(prof, "BudgetStorm.burnA"), share(prof, "BudgetStorm.burnB")
        split = sa / (sa + sb) if sa + sb else 0
        burn = sum(v for s, v in prof.items() if "BudgetStorm.burn" in s)
        n = max(1.0, burn / 10e6)
        tol = max(0.05, 3 * (0.21 / n) ** 0.5)
        log("burn thread: %.0f ms in the CPU profile, A/(A+B) %.3f (program 0.700, +-%.3f)" % (burn / 1e6, split, tol))
        check(abs(split - 0.70) <= tol, "the late-armed thread's split %.3f is not 0.70" % split)
        check(n >= 10, "the late-armed thread has %.0f ms in the CPU profile: not sampled" % (burn / 1e6))

        short = JavaProgram("ShortBurn")
        app2 = "thread-short-%s" % jdk_name(jdk)
        out = short.run(jdk, agent="app=%s,cpu=10ms,overhead=off,flush=1s" % app2, relay=relay,
                        args=[80, 20], timeout=120)
        m = re.search(r"SHORTBURN threads=(\d+) cpu_ms=(\d+)", out)
        check(m, "no SHORTBURN line:\n%s" % out[-2000:])
        used = int(m.group(2))
        prof = wait_settled(relay, app2, "cpu")
        got = sum(v for s, v in prof.items() if "ShortBurn.burn" in s) / 1e6
        log("80 short threads used %d ms of CPU; %.0f ms of it in the CPU profile (%.0f%%)"
            % (used, got, 100.0 * got / max(1, used)))
        check(got >= 0.7 * used, "short threads: %.0f of %d ms of CPU sampled" % (got, used))


if __name__ == "__main__":
    main(test)
