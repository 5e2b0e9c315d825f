#!/usr/bin/env python3
"""PySpark, simulated faithfully enough for the JVM side (Debian has no
PySpark): the flags come from `cprof spark-conf --format pyspark` (the
PYSPARK_SUBMIT_ARGS a Python program would export), and the executor JVM
(the CoarseGrainedExecutorBackend stand-in in PySpark mode) starts
`python -m pyspark.daemon` (tests/python/pyspark), which forks a Python
worker per task; the JVM streams records to it and blocks reading pickled
results, as real PySpark executors do (shared/FACTS.md).

Checks: the executor is labelled (spark.app.id, spark.executor.id, host)
like a Scala job's; with wall=20ms its task threads show up waiting in
PythonRunner$ReaderIterator.read (the off-CPU time that CPU sampling
misses), and the writer thread streams in WriterThread.run; the Python
processes are not touched. Reports the JVM's CPU vs wall samples."""
import os
import pickle
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cplib import (AGENT, JDKS, HTTPError, JavaProgram, Relay, SOURCE, check, log, main,  # noqa: E402
                   out_dir, skip, wait_for)
from attach_helpers import agent_maps, check_no_crash, cprof, stop  # noqa: E402

MAIN = "org.apache.spark.executor.CoarseGrainedExecutorBackend"
READ = "org.apache.spark.api.python.PythonRunner$ReaderIterator.read"
WRITE = "org.apache.spark.api.python.PythonRunner$WriterThread.run"
TASK = "org.apache.spark.executor.CoarseGrainedExecutorBackend$TaskRunner.run"
PY = "/usr/bin/python3"


def flags_from_pyspark_env(text):
    name, _, val = text.strip().partition("=")
    check(name == "PYSPARK_SUBMIT_ARGS", text)
    words = shlex.split(shlex.split(val)[0])
    check(words[-1] == "pyspark-shell", text)
    out = {"conf": {}}
    for i in range(0, len(words) - 1, 2):
        if words[i] == "--files":
            out["files"] = words[i + 1]
        else:
            k, _, v = words[i + 1].partition("=")
            out["conf"][k] = v
    return out


def frac(prof, needle, within):
    """Share of the samples of stacks containing `within` that also contain `needle`."""
    tot = sum(v for s, v in prof.items() if within in s)
    hit = sum(v for s, v in prof.items() if within in s and needle in s)
    return hit / tot if tot else 0.0, tot


def test():
    if not JDKS:
        skip("no JDK found")
    if not os.path.exists(PY):
        skip("no " + PY)
    prog = JavaProgram("org/apache/spark/executor/CoarseGrainedExecutorBackend",
                       "org/apache/spark/api/python/PythonRunner")
    app, app_id = "pyspark-scoring", "app-20261122014500-0099"
    tmp = tempfile.mkdtemp(prefix="cprof-pyspark-")
    with Relay(name="attach-pyspark") as relay:
        r = cprof("spark-conf", "--relay", relay.ws, "--app", app, "--agent", AGENT,
                  "--format", "pyspark", "wall=20ms", "flush=1s")
        flags = flags_from_pyspark_env(r.stdout)
        work = os.path.join(tmp, "work", app_id, "1")
        os.makedirs(work)
        shutil.copy(flags["files"], work)            # what Spark does with --files
        command = os.path.join(tmp, "command.pkl")   # the pickled function the driver ships
        with open(command, "wb") as f:
            pickle.dump(("sumsq", 20000), f, protocol=2)
        jdk = JDKS[-1]
        cmd = [os.path.join(jdk, "bin", "java")] + \
            shlex.split(flags["conf"]["spark.executor.extraJavaOptions"]) + [
            "-Xmx256m", "-Dspark.pyspark.python=" + PY,
            "-Dcprof.test.pythonpath=" + os.path.join(SOURCE, "tests", "python"),
            "-Dcprof.test.command=" + command, "-cp", prog.classes, MAIN,
            "--driver-url", "spark://CoarseGrainedScheduler@127.0.0.1:40000",
            "--executor-id", "1", "--hostname", "py-worker-1", "--cores", "2",
            "--app-id", app_id, "--resourceProfileId", "0", "--seconds", "25"]
        logpath = os.path.join(out_dir("attach-pyspark"), "executor-%d.log" % time.time_ns())
        p = subprocess.Popen(cmd, cwd=work, stdout=open(logpath, "wb"), stderr=subprocess.STDOUT)
        p.logpath = logpath
        try:
            wait_for(lambda: "python daemon listening" in open(logpath).read(), 20,
                     "the executor to start its python daemon")
            daemons = subprocess.run(["pgrep", "-f", "pyspark.daemon", "-P", str(p.pid)],
                                     capture_output=True, text=True).stdout.split()
            check(daemons, "no pyspark.daemon child of the executor")
            check(not agent_maps(int(daemons[0])), "agent in a python process")

            def labelled():
                inst = relay.get_json("/api/v1/instances", app=app)["instances"]
                return inst if inst and inst[0].get("labels", {}).get("spark.executor.id") else None
            inst = wait_for(labelled, 30, "labelled executor under app " + app)
            lab = inst[0]["labels"]
            check(lab.get("spark.app.id") == app_id and lab.get("host") == "py-worker-1",
                  "labels: %s" % lab)

            def waiting():
                try:
                    prof = relay.collapsed(app, "wall")
                except HTTPError as e:          # no wall window stored yet
                    if e.code == 404:
                        return None
                    raise
                share, tot = frac(prof, READ, TASK)
                # values are ns of wall time: want >= 20 samples' worth at 20 ms
                return (prof, share, tot) if tot >= 20 * 20e6 and share > 0.6 else None
            prof, share, tot = wait_for(waiting, 40, "task threads waiting on python in wall")
            wshare, wtot = frac(prof, WRITE, "stdout writer for python")
            cpu = relay.collapsed(app, "cpu")
            cpu_task = sum(v for s, v in cpu.items() if TASK in s)
            log("wall: %.0f%% of %.2fs of task-thread time in ReaderIterator.read; writer thread "
                "%.2fs (%.0f%% in WriterThread.run); CPU time in task threads: %.3fs" % (
                    100 * share, tot / 1e9, wtot / 1e9, 100 * wshare, cpu_task / 1e9))
            check(wtot == 0 or wshare > 0.5, "writer thread samples outside WriterThread.run")
            check(p.poll() is None or p.returncode == 0, "executor failed: " + logpath)
            check_no_crash(p)
        finally:
            stop(p)
            shutil.rmtree(tmp, ignore_errors=True)
        # the daemon follows the JVM (stdin closed)
        wait_for(lambda: not subprocess.run(["pgrep", "-f", "-P", str(p.pid), "pyspark.daemon"],
                                            capture_output=True).stdout, 10, "daemon to exit")


if __name__ == "__main__":
    main(test)
