#!/usr/bin/env python3
"""Python stacks of PySpark workers, joined to their JVM tasks (issue 21).

Spark is not installable here; the Python side is real. The executor is
the CoarseGrainedExecutorBackend stand-in (tests/java), which does what
Spark's PythonWorkerFactory and PythonRunner do: starts
`python -m cprof_pyspark.daemon` (spark.python.daemon.module; the module
comes from the build's cprof_pyspark.zip, as --py-files would ship it),
opens a connection per task, sends the task header (stage, partition,
attempt, TID, SQL execution id), and waits on the socket. Its task threads
are named as Spark names them ("Executor task launch worker for task P.0
in stage 1.0 (TID N)"); the daemon forks a worker per task, which runs
tests/python/cpjob.py and ends with os._exit. The agent runs with
python=on.

Checks, on 2 task threads x 3 tasks of ~0.5 s CPU each:
  - the CPU split between cpjob's three functions (12/70/18, one of them
    inside sum(), a C call holding the GIL) is within 3 points of the
    truth the workers measured themselves (thread_time);
  - tasks ran two at a time, and every Python sample of a task sits under
    the JVM thread of its TID, then "[python] <its worker pid>";
  - workers ended with os._exit, yet each task's samples are all there
    (profile CPU under cpjob.run 85-110% of the worker's own CPU clock
    over run());
  - the samples carry the labels runtime=python, stage, partition, tid
    (checked through labels= where the relay stores sample labels);
  - Python frames have kind 10 (python) on a current relay; a relay that
    does not accept "pykind1" (an older one) gets them as kind 4 with a
    "[py] " class and stores the batch.
"""
import glob
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cplib import (BUILD, CPROF, JDKS, HTTPError, JavaProgram, Relay, SOURCE, check, log, main,  # noqa: E402
                   out_dir, skip, wait_for)
from attach_helpers import check_no_crash, stop  # noqa: E402

MAIN = "org.apache.spark.executor.CoarseGrainedExecutorBackend"
PY = "/usr/bin/python3.11"
ZIP = os.path.join(BUILD, "jvmti", "cprof_pyspark.zip")
FUNCS = ["py_loop", "c_sum", "py_strings"]
SHARES = [0.12, 0.70, 0.18]
ROOT_RE = re.compile(r"^Executor task launch worker for task (\d+)\.0 in stage 1\.0 \(TID (\d+)\)$")


def run_executor(prog, relay, app, tmp, results, cores, tasks, budget, name, wrap=(), cpu="1ms"):
    """wrap: a command the JVM runs under (test_python_fallback: noreadv.py)."""
    command = os.path.join(tmp, "command-%s.pkl" % name)
    with open(command, "wb") as f:
        pickle.dump(("module", "cpjob", [budget, results, SHARES]), f, protocol=2)
    pypath = ":".join([ZIP, os.path.join(SOURCE, "tests", "python")])
    # cpu=1ms: ~3,000 Python samples over the run, for a +-3 point check
    agent = "relay=%s,app=%s,python=on,cpu=%s,flush=1s,loglevel=info" % (relay.ws, app, cpu)
    cmd = list(wrap) + [os.path.join(JDKS[-1], "bin", "java"),
           "-agentpath:%s=%s" % (os.path.join(BUILD, "jvmti", "libcprof-jvm.so"), agent),
           "-Xmx256m", "-Dspark.pyspark.python=" + PY,
           "-Dspark.python.daemon.module=cprof_pyspark.daemon",
           "-Dcprof.test.pythonpath=" + pypath, "-Dcprof.test.command=" + command,
           "-Dcprof.test.records=1", "-Dcprof.test.tasks=%d" % tasks,
           # the agent finds a new daemon within 0.5 s (pysample.c); CPU of
           # workers before that is not charged, and this test counts it all
           "-Dcprof.test.warmup_ms=700",
           "-cp", prog.classes, MAIN,
           "--driver-url", "spark://CoarseGrainedScheduler@127.0.0.1:40000",
           "--executor-id", "1", "--hostname", "py-worker-1", "--cores", str(cores),
           "--app-id", "app-20261204101500-0021", "--seconds", "40"]
    logpath = os.path.join(out_dir("python-spark"), "executor-%s-%d.log" % (name, time.time_ns()))
    p = subprocess.Popen(cmd, stdout=open(logpath, "wb"), stderr=subprocess.STDOUT)
    p.logpath = logpath
    try:
        p.wait(35)
    except subprocess.TimeoutExpired:
        stop(p)
        check(False, "executor did not finish its tasks in 35 s: " + logpath)
    out = open(logpath, errors="replace").read()
    check(p.returncode == 0, "executor failed (%s): %s\n%s" % (p.returncode, logpath, out[-2000:]))
    check_no_crash(p)
    check(out.count("task done TID") == cores * tasks, "not every task ran: " + logpath)
    if not wrap:
        check("python: sampling process" in out, "the agent never attached to a Python worker: " + logpath)
    return out


def truths(results):
    out = []
    for path in glob.glob(os.path.join(results, "*.json")):
        with open(path) as f:
            out.append(json.load(f))
    return out


def python_stacks(prof, funcs=FUNCS):
    """[(root, pid, func, value)] of every stack holding a cpjob function."""
    rows = []
    for stack, v in prof.items():
        frames = stack.split(";")
        pyf = [i for i, f in enumerate(frames) if f.startswith("[python] ")]
        fn = [f for f in funcs if any(fr.startswith("cpjob.%s (" % f) or fr.startswith("[py] cpjob.%s (" % f)
                                      for fr in frames)]
        if not fn:
            continue
        check(pyf, "a cpjob frame outside a [python] stack: " + stack)
        i = pyf[0]
        rows.append((frames[i - 1] if i > 0 else "", int(frames[i].split()[1].split("/")[0]), fn[0], v))
    return rows


def wait_python_cpu(relay, app, want_ns):
    def enough():
        try:
            prof = relay.collapsed(app, "cpu")
        except HTTPError as e:
            if e.code == 404:
                return None
            raise
        got = sum(r[3] for r in python_stacks(prof, ["run"]))
        return prof if got >= want_ns else None
    return wait_for(enough, 15, "the Python samples of every task at the relay")


def kinds_of(relay, app):
    j = relay.get_json("/api/v1/profile", app=app, type="cpu", **{"from": "now-1h"}, to="now+1m")
    return {n: k for n, k in zip(j.get("names", []), j.get("kinds", []))}


def check_labels(relay, app, truth):
    """Python samples carry runtime=python, stage, partition, tid (sample
    labels, docs/context.md): labels=tid=N gives that task's stacks only.
    Checked where the relay stores sample labels (GET /api/v1/labels)."""
    try:
        keys = relay.get_json("/api/v1/labels", app=app)
    except HTTPError as e:
        if e.code == 404:
            log("relay has no GET /api/v1/labels yet: sample labels not checked at the relay")
            return
        raise
    log("labels at the relay: %s" % json.dumps(keys)[:300])
    t = truth[0]
    prof = relay.collapsed(app, "cpu", labels="tid=%d" % t["tid"])
    pids = {r[1] for r in python_stacks(prof, ["run"])}
    check(pids == {t["pid"]}, "labels=tid=%d: workers %s, want %d" % (t["tid"], pids, t["pid"]))
    prof = relay.collapsed(app, "cpu", labels="runtime=python")
    check(prof and all("[python] " in s for s in prof), "labels=runtime=python gave non-Python stacks")


def check_spark_conf():
    """cprof spark-conf --python: what the executors above were given."""
    agent = os.path.join(BUILD, "jvmti", "libcprof-jvm.so")
    r = subprocess.run([CPROF, "spark-conf", "--relay", "ws://relay:7070", "--app", "scoring", "--agent", agent,
                        "--python", "--format", "lines"], capture_output=True, text=True)
    check(r.returncode == 0, "spark-conf --python: %s" % r.stderr)
    want = ["--files " + os.path.realpath(agent), "app=scoring,python=on",
            "--py-files " + os.path.realpath(ZIP), "--conf spark.python.daemon.module=cprof_pyspark.daemon",
            "--conf spark.executorEnv.PYTHONPATH=cprof_pyspark.zip"]
    for w in want:
        check(w in r.stdout, "spark-conf --python lacks %r:\n%s" % (w, r.stdout))
    r = subprocess.run([CPROF, "spark-conf", "--relay", "ws://relay:7070", "--app", "scoring", "--agent", agent,
                        "--python", "--format", "conf"], capture_output=True, text=True)
    check("spark.python.daemon.module cprof_pyspark.daemon" in r.stdout and "spark.submit.pyFiles " in r.stdout,
          "spark-conf --python --format conf:\n" + r.stdout)


def executor_program():
    """The executor stand-in, compiled; skips the test without a JDK,
    CPython 3.11 or the built cprof_pyspark.zip."""
    if not JDKS:
        skip("no JDK found")
    if not os.path.exists(PY):
        skip("no " + PY)
    if not os.path.exists(ZIP):
        skip("no " + ZIP + " (build it)")
    return JavaProgram("org/apache/spark/executor/CoarseGrainedExecutorBackend",
                       "org/apache/spark/api/python/PythonRunner")


def test():
    prog = executor_program()
    check_spark_conf()
    tmp = tempfile.mkdtemp(prefix="cprof-pyspark-")
    try:
        # ---- a current relay: kind 10, the split, the join, os._exit ----
        results = os.path.join(tmp, "results")
        os.makedirs(results)
        with Relay(name="python-spark") as relay:
            t0 = time.time()
            out = run_executor(prog, relay, "pyspark-py", tmp, results, cores=2, tasks=3, budget=0.5, name="cur")
            truth = truths(results)
            check(len(truth) == 6, "6 task results, got %d" % len(truth))
            total_truth = sum(sum(t[f] for f in FUNCS) for t in truth)
            prof = wait_python_cpu(relay, "pyspark-py", 0.85 * sum(t["run_cpu"] for t in truth) * 1e9)
            rows = python_stacks(prof)
            log("executor ran 6 tasks in %.1f s; workers measured %.2f s of CPU" % (time.time() - t0, total_truth))

            # the split, against the workers' own measurement
            by_fn = {f: sum(r[3] for r in rows if r[2] == f) for f in FUNCS}
            tot = sum(by_fn.values())
            true_fn = {f: sum(t[f] for t in truth) for f in FUNCS}
            for f in FUNCS:
                got, want = 100.0 * by_fn[f] / tot, 100.0 * true_fn[f] / total_truth
                log("  %-10s profile %5.1f%%  truth %5.1f%%" % (f, got, want))
                check(abs(got - want) <= 3.0, "%s: profile %.1f%% vs truth %.1f%% (more than 3 points)"
                      % (f, got, want))

            # two tasks at once, each under its own JVM task thread, by TID
            spans = sorted((t["start"], t["end"]) for t in truth)
            overlap = any(spans[i + 1][0] < spans[i][1] for i in range(len(spans) - 1))
            check(overlap, "no two tasks ran at the same time: %s" % spans)
            tid_of_pid = {t["pid"]: t["tid"] for t in truth}
            misplaced = 0
            per_tid = {}
            for root, pid, fn, v in python_stacks(prof, ["run"]):
                m = ROOT_RE.match(root)
                if not m or pid not in tid_of_pid or int(m.group(2)) != tid_of_pid[pid]:
                    misplaced += v
                    continue
                per_tid[int(m.group(2))] = per_tid.get(int(m.group(2)), 0) + v
            check(misplaced <= 0.01 * sum(per_tid.values()), "%.1f%% of the Python CPU is not under its task's JVM thread "
                  "(roots: %s)" % (100.0 * misplaced / tot, sorted({r[0] for r in rows})[:5]))
            # os._exit: every task's samples arrived, though its worker is gone
            for t in truth:
                check(not os.path.exists("/proc/%d" % t["pid"]), "worker %d still alive" % t["pid"])
                mine = per_tid.get(t["tid"], 0) / 1e9
                spent = t["run_cpu"]
                log("  TID %d (worker %d): profile %.3f s, measured %.3f s" % (t["tid"], t["pid"], mine, spent))
                check(0.85 * spent <= mine <= 1.10 * spent,
                      "TID %d: %.3f s in the profile for %.3f s measured" % (t["tid"], mine, spent))
            kinds = kinds_of(relay, "pyspark-py")
            pyk = {n: k for n, k in kinds.items() if n.startswith("cpjob.")}
            check(pyk and all(k == 10 for k in pyk.values()), "Python frames' kinds: %s" % pyk)
            check("[python] " in "".join(kinds), "no [python] frame")
            left = [t["pid"] for t in truth if os.path.exists("/dev/shm/cprof-py-%d" % t["pid"])]
            check(not left, "task buffers left in /dev/shm by workers %s" % left)
            check_labels(relay, "pyspark-py", truth)

        # ---- an older relay (no "pykind1"): kind 4, "[py] " class, batches stored ----
        results2 = os.path.join(tmp, "results2")
        os.makedirs(results2)
        old = os.environ.get("CPROF_RELAY_ENC")
        os.environ["CPROF_RELAY_ENC"] = "zdict1,compact1,strtab1"
        try:
            relay2 = Relay(name="python-spark-old").start()
        finally:
            if old is None:
                os.environ.pop("CPROF_RELAY_ENC", None)
            else:
                os.environ["CPROF_RELAY_ENC"] = old
        with relay2:
            run_executor(prog, relay2, "pyspark-old", tmp, results2, cores=1, tasks=1, budget=0.3, name="old")
            spent = sum(t["run_cpu"] for t in truths(results2))
            wait_python_cpu(relay2, "pyspark-old", 0.7 * spent * 1e9)
            kinds = kinds_of(relay2, "pyspark-old")
            pyk = {n: k for n, k in kinds.items() if "cpjob." in n}
            check(pyk and all(n.startswith("[py] cpjob.") and k == 4 for n, k in pyk.items()),
                  "an older relay's Python frames: %s" % pyk)
            log("older relay: %d Python frames as native '[py] ...'" % len(pyk))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(test)
