#!/usr/bin/env python3
"""Python workers that sample themselves where the agent may not read them
(issue 21's in-process fallback, docs/pyspark.md).

The executor stand-in of test_python_spark runs under noreadv.py: a seccomp
filter, as a container runtime's profile installs one, makes
process_vm_readv fail with EPERM in the JVM and in everything it starts
(the agent runs as root here, so neither another uid nor a non-dumpable
worker would refuse it). cprof_pyspark.daemon asks the agent at start-up,
learns that it cannot read it, and every worker it forks samples itself
and hands its stacks to the agent (jvmti/pyfb.h).

Checks, on 2 task threads x 2 tasks of ~0.6 s CPU each:
  - the refusal really happened: the agent says so and counts py.refused;
  - each worker sampled itself (py.fallback, py.fallback_samples,
    py.fallback_cost_ns in the agent's exit counters);
  - the CPU split between cpjob's three functions (12/70/18, one of them
    inside sum(), a C call holding the GIL) is within 5 points of what the
    workers measured themselves;
  - every Python sample of a task sits under the JVM thread of its TID,
    then "[python] <its worker pid>", with its CPU within 75-110% of the
    worker's own clock, and labels tid=N select that task's worker.
Without the fallback no Python sample reaches the relay: the test fails.
"""
import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cplib import JDKS, JavaProgram, Relay, check, log, main, skip  # noqa: E402
import test_python_spark as tps  # noqa: E402

NOREADV = os.path.join(os.path.dirname(os.path.abspath(__file__)), "noreadv.py")


def counters(out):
    m = re.search(r"exit: counters:(.*)", out)
    return {k: int(v) for k, v in re.findall(r"(\S+)=(\d+)", m.group(1))} if m else {}


def test():
    if not JDKS:
        skip("no JDK found")
    if not os.path.exists(tps.PY):
        skip("no " + tps.PY)
    if not os.path.exists(tps.ZIP):
        skip("no " + tps.ZIP + " (build it)")
    if os.uname().machine not in ("x86_64", "aarch64"):
        skip("noreadv.py knows x86-64 and aarch64 only")
    prog = JavaProgram("org/apache/spark/executor/CoarseGrainedExecutorBackend",
                       "org/apache/spark/api/python/PythonRunner")
    tmp = tempfile.mkdtemp(prefix="cprof-pyfb-")
    try:
        results = os.path.join(tmp, "results")
        os.makedirs(results)
        with Relay(name="python-fallback") as relay:
            t0 = time.time()
            out = tps.run_executor(prog, relay, "pyspark-fb", tmp, results, cores=2, tasks=2, budget=0.6,
                                   name="fb", wrap=[sys.executable, NOREADV], cpu="2ms")
            truth = tps.truths(results)
            check(len(truth) == 4, "4 task results, got %d" % len(truth))
            check("cannot read the memory of Python process" in out,
                  "the agent was not refused (seccomp filter not in force?)")
            check("python: sampling process" not in out, "the agent read a worker it should not be able to read")
            c = counters(out)
            log("agent counters: %s" % {k: v for k, v in c.items() if k.startswith(("py.", "drop.py"))})
            check(c.get("py.refused", 0) >= 1, "py.refused not counted")
            check(c.get("py.fallback", 0) >= 4, "py.fallback=%s, want one per worker (4)" % c.get("py.fallback"))
            check(c.get("py.fallback_samples", 0) > 0 and c.get("py.fallback_cost_ns", 0) > 0,
                  "no fallback samples or cost counted")
            prof = tps.wait_python_cpu(relay, "pyspark-fb", 0.75 * sum(t["run_cpu"] for t in truth) * 1e9)
            rows = tps.python_stacks(prof)
            log("executor ran 4 tasks in %.1f s" % (time.time() - t0))

            by_fn = {f: sum(r[3] for r in rows if r[2] == f) for f in tps.FUNCS}
            tot = sum(by_fn.values())
            total_truth = sum(sum(t[f] for f in tps.FUNCS) for t in truth)
            for f in tps.FUNCS:
                got, want = 100.0 * by_fn[f] / tot, 100.0 * sum(t[f] for t in truth) / total_truth
                log("  %-10s profile %5.1f%%  truth %5.1f%%" % (f, got, want))
                check(abs(got - want) <= 5.0, "%s: profile %.1f%% vs truth %.1f%% (more than 5 points)"
                      % (f, got, want))

            tid_of_pid = {t["pid"]: t["tid"] for t in truth}
            misplaced, per_tid = 0, {}
            for root, pid, fn, v in tps.python_stacks(prof, ["run"]):
                m = tps.ROOT_RE.match(root)
                if not m or pid not in tid_of_pid or int(m.group(2)) != tid_of_pid[pid]:
                    misplaced += v
                    continue
                per_tid[int(m.group(2))] = per_tid.get(int(m.group(2)), 0) + v
            check(misplaced <= 0.01 * sum(per_tid.values()),
                  "%.1f%% of the Python CPU is not under its task's JVM thread" % (100.0 * misplaced / tot))
            for t in truth:
                mine, spent = per_tid.get(t["tid"], 0) / 1e9, t["run_cpu"]
                log("  TID %d (worker %d): profile %.3f s, measured %.3f s" % (t["tid"], t["pid"], mine, spent))
                check(0.75 * spent <= mine <= 1.10 * spent,
                      "TID %d: %.3f s in the profile for %.3f s measured" % (t["tid"], mine, spent))
            kinds = tps.kinds_of(relay, "pyspark-fb")
            pyk = {n: k for n, k in kinds.items() if n.startswith("cpjob.")}
            check(pyk and all(k == 10 for k in pyk.values()), "Python frames' kinds: %s" % pyk)
            tps.check_labels(relay, "pyspark-fb", truth)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(test)
