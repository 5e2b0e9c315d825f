#!/usr/bin/env python3
"""The agent's own account of its CPU explains what sampling really adds
(issue 14).

A CPU-bound program (FixedWork: the same loop every run, timing its own
thread's CPU over the loop alone) runs bare and with the agent at cpu=1ms
(perf engine: one signal per ms of the thread's CPU; overhead=off so the
rate stays), alternated in pairs. What sampling costs the sampled thread
is measured as the loop's CPU with the agent minus without (median of the
pairs) and accounted by the agent as signals x (its handler's probed cost,
cpu.handler_ns per signal, + the kernel's part of each signal,
calibrated at run time: jvmti/sigcost.h, the exit line's "signal
delivery"). The account must explain at least 80% of the measured cost
and not claim more than 2.5 times it: of the median of the pairs, or,
when 9 pairs still put it out of bounds, of the median's one-sided 95%
bootstrap bound (CI's host read pairs of 35..176 ms around 143, 87 ms
counted: 61% of the median, within what its pairs allow). The handler alone explained ~30% on this
project's VMs: the kernel spends 26-43 us on each perf signal, twice the
handler's own time (CPROF_NO_SIGCOST=1 shows it fail). The calibrated cost
per signal must be plausible (2-500 us). The whole process' CPU overhead
against the exit line's total is logged (start-up costs the JVM pays for
an agent, which the agent does not see, are outside this check).

3 pairs (~20 s on a quiet machine); while the ratio falls outside the
bounds, more, up to 9, and the judgement is made on all of them: one
run's loop CPU moves by a few percent, i.e. by as much as the cost
measured (pairs of one failed run: 104, 162, 227, -19, 152 ms). Runs alone
(meson.build alone_tests): a neighbour changes the CPU a run takes.
CPROF_ACCOUNTING_PAIRS=N runs exactly N pairs (a quiet machine's figure)."""
import os
import random
import re
import statistics

from cplib import JDKS, JavaProgram, Relay, check, jdk_name, load_factor, log, main, skip

PAIRS = int(os.environ.get("CPROF_ACCOUNTING_PAIRS", "0"))   # the lead's quiet-machine figure: that many, no early stop
WORK = "450"   # millions of iterations: ~1.6 s of CPU, ~1,600 CPU signals at 1 ms
PERIOD_NS = 1000000
COST = re.compile(r"agent cost: threads ([0-9.]+) ms \+ signal handlers ([0-9.]+) ms \+ JVMTI callbacks ([0-9.]+) ms"
                  r"(?: \+ signal delivery ([0-9.]+) ms)? = ")
PER_SIGNAL = re.compile(r"signal delivery \(kernel, sigcost.h\): (\d+) cpu signals x ([0-9.]+) us")


def run_cpu(java, jdk, agent=None, relay=None, env=None):
    """-> (process CPU s, the loop's thread CPU ns, output) of one FixedWork run."""
    p = java.start(jdk, agent=agent, relay=relay, args=(WORK,), env=env)
    _, status, ru = os.wait4(p.pid, 0)
    out = open(p.logpath, "rb").read().decode(errors="replace")
    m = re.search(r"WORK_CPU_NS=(\d+)", out)
    check(os.waitstatus_to_exitcode(status) == 0 and m, "FixedWork failed:\n" + out[-2000:])
    return ru.ru_utime + ru.ru_stime, int(m.group(1)), out


def run():
    if not JDKS:
        skip("no JDK")
    jdk = JDKS[0]
    java = JavaProgram("FixedWork")
    env = {"CPROF_NO_SIGCOST": "1"} if os.environ.get("CPROF_NO_SIGCOST") else None   # to see it fail
    log("load factor %.2f" % load_factor())
    with Relay(name="agent-accounting") as relay:
        opts = "app=accounting-%s,cpu=1ms,overhead=off,loglevel=info" % jdk_name(jdk)
        loop_diffs, loop_counted, proc_diffs, proc_counted = [], [], [], []
        n = PAIRS or 9
        for i in range(n):
            runs = {}
            for agent in ((None, opts) if i % 2 == 0 else (opts, None)):
                runs[agent] = run_cpu(java, jdk, agent=agent, relay=relay if agent else None, env=env)
            (bare, bare_loop, _), (cpu, loop, out) = runs[None], runs[opts]
            m, ps = COST.search(out), PER_SIGNAL.search(out)
            check(m and ps, "no agent cost or signal delivery line in the exit report:\n" + out[-3000:])
            if "cpu engine perf" not in out:
                skip("perf engine unavailable: the loop's signals cannot be counted from its CPU")
            parts = [float(x) if x else 0.0 for x in m.groups()]
            signals, kernel_us = int(ps.group(1)), float(ps.group(2))
            handler_us = parts[1] * 1000 / max(signals, 1)
            if i == 0 and not env:   # (CPROF_NO_SIGCOST: 0 us, to show the ratio fail)
                check(2 <= kernel_us <= 500, "implausible calibrated cost per CPU signal: %.1f us" % kernel_us)
            loop_diffs.append((loop - bare_loop) / 1e6)
            loop_counted.append(loop / PERIOD_NS * (handler_us + kernel_us) / 1000)
            proc_diffs.append((cpu - bare) * 1000)
            proc_counted.append(sum(parts))
            log("pair %d: loop %.1f -> %.1f ms CPU: %+.1f ms measured, %.1f ms counted (%.0f signals x (handler %.1f us "
                "+ kernel %.1f us)); process %+.1f ms measured, %.1f ms counted (threads %.1f, handlers %.1f, "
                "callbacks %.1f, signal delivery %.1f)" %
                (i + 1, bare_loop / 1e6, loop / 1e6, loop_diffs[-1], loop_counted[-1], loop / PERIOD_NS, handler_us,
                 kernel_us, proc_diffs[-1], proc_counted[-1], parts[0], parts[1], parts[2], parts[3]))
            if i < 2 and i + 1 < n:
                continue
            measured, counted = statistics.median(loop_diffs), statistics.median(loop_counted)
            ratio = counted / measured if measured > 0 else float("inf")
            pm, pc = statistics.median(proc_diffs), statistics.median(proc_counted)
            log("after %d pairs: sampling's cost to the loop %.1f ms measured, %.1f ms counted = %.0f%%; "
                "whole process %.1f ms measured, %.1f ms counted = %.0f%%" %
                (i + 1, measured, counted, 100 * ratio, pm, pc, 100 * pc / pm if pm > 0 else float("inf")))
            if (0.8 <= ratio <= 2.5 and not PAIRS) or i + 1 == n:
                break
        check(measured > 0, "no measured overhead at cpu=1ms: %s" % loop_diffs)
        if PAIRS or 0.8 <= ratio <= 2.5:
            lo, hi = measured, measured
        else:
            # 9 pairs and the point estimate is out of bounds: judge what the
            # pairs show, not their median alone (one pair moves by as much as
            # the cost: CI once read 35..176 ms around a median of 143)
            lo, hi = median_bounds(loop_diffs)
            log("the median's one-sided 95%% bounds: %.1f .. %.1f ms (the account needs %.1f .. %.1f)" %
                (lo, hi, counted / 2.5, counted / 0.8))
        check(counted >= 0.8 * lo, "the agent's account explains only %.0f%% of what sampling costs the sampled "
              "thread (%.1f of %.1f ms, and of %.1f ms at the least; pairs %s)" %
              (100 * ratio, counted, measured, lo, [round(d) for d in loop_diffs]))
        check(counted <= 2.5 * hi, "the agent's account claims %.0f%% of what sampling costs the sampled thread "
              "(%.1f of %.1f ms, and of %.1f ms at the most)" % (100 * ratio, counted, measured, hi))


def median_bounds(xs, reps=4000):
    """One-sided 95% bounds of the median of xs (bootstrap, seeded)."""
    rng = random.Random(1)
    meds = sorted(statistics.median(rng.choices(xs, k=len(xs))) for _ in range(reps))
    return meds[int(0.05 * reps)], meds[int(0.95 * reps) - 1]


main(run)
