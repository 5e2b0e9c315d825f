#!/usr/bin/env python3
"""Spark support without Spark (Debian has none): `cprof spark-conf` output
is parsed and used exactly as spark-submit would use it, on simulated
executors.

1. `cprof spark-conf --relay URL --app NAME [options]` in every format
   (args, lines, conf, pyspark, with --driver) parses to the flags Spark
   expects: --files <abs agent>, spark.executor.extraJavaOptions with
   -agentpath:./libcprof-jvm.so=relay=...,app=...; bad input is refused.
2. Shipping: each executor gets its own working directory holding a copy of
   the --files entry (what Spark's workers do), and is started as a Spark
   worker starts one: the extraJavaOptions, then the main class
   org.apache.spark.executor.CoarseGrainedExecutorBackend (a stand-in in
   tests/java) with --driver-url/--executor-id/--hostname/--cores/--app-id.
   Two executors start with the job, a third later (dynamic allocation).
3. The relay must show all three under the one app, each labelled
   spark.app.id, spark.executor.id and host by the agent itself, with the
   task method in the profile, and filterable by executor."""
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cplib import (AGENT, JDKS, JavaProgram, Relay, TestFailure, check, log, main,  # noqa: E402
                   out_dir, share, skip, wait_for)
from attach_helpers import check_no_crash, cprof, stop  # noqa: E402

MAIN = "org.apache.spark.executor.CoarseGrainedExecutorBackend"
TASK = "org.apache.spark.executor.CoarseGrainedExecutorBackend$TaskRunner.runTask"


def parse_args_format(text):
    """spark-submit words -> {'files': path, conf key: value}."""
    words = shlex.split(text)
    out = {"conf": {}}
    i = 0
    while i < len(words):
        w = words[i]
        if w == "--files":
            out["files"] = words[i + 1]
        elif w == "--conf":
            k, _, v = words[i + 1].partition("=")
            out["conf"][k] = v
        else:
            raise TestFailure("unexpected word %r in %r" % (w, text))
        i += 2
    return out


def check_conf_output(relay_url):
    agent = os.path.realpath(AGENT)
    r = cprof("spark-conf", "--relay", relay_url, "--app", "etl", "--agent", AGENT,
              "cpu=10ms", "label.team=data")
    check(r.stdout.count("\n") == 1, "args format must be one line: %r" % r.stdout)
    a = parse_args_format(r.stdout)
    check(a["files"] == agent, "--files %s, want %s" % (a.get("files"), agent))
    eo = a["conf"].get("spark.executor.extraJavaOptions", "")
    want = "-agentpath:./libcprof-jvm.so=relay=%s,app=etl,cpu=10ms,label.team=data" % relay_url
    check(eo == want, "executor options %r, want %r" % (eo, want))
    check("spark.driver.extraJavaOptions" not in a["conf"], "driver option without --driver")

    r = cprof("spark-conf", "--relay", relay_url, "--app", "etl", "--agent", AGENT, "--driver",
              "--format", "lines")
    a = parse_args_format(r.stdout.replace("\\\n", " "))
    dopt = a["conf"]["spark.driver.extraJavaOptions"]
    check(dopt.startswith("-agentpath:%s=relay=%s,app=etl" % (agent, relay_url)),
          "client driver must use the absolute path: %r" % dopt)
    r = cprof("spark-conf", "--relay", relay_url, "--app", "etl", "--agent", AGENT,
              "--driver=cluster", "--format", "conf")
    conf = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    check(conf.get("spark.files") == agent, "conf: %r" % conf)
    check(conf["spark.driver.extraJavaOptions"].startswith("-agentpath:./libcprof-jvm.so="),
          "cluster driver must use the shipped copy: %r" % conf)
    r = cprof("spark-conf", "--relay", relay_url, "--app", "etl", "--agent", AGENT,
              "--format", "pyspark")
    name, _, val = r.stdout.strip().partition("=")
    quoted = shlex.split(val)            # the shell removes one level of quotes
    check(len(quoted) == 1, "pyspark value must be one quoted word: %r" % val)
    words = shlex.split(quoted[0])      # PySpark splits the variable itself
    check(name == "PYSPARK_SUBMIT_ARGS" and words[-1] == "pyspark-shell" and
          parse_args_format(" ".join(shlex.quote(w) for w in words[:-1]))["files"] == agent,
          "pyspark format: %r" % r.stdout)
    # refused input
    cprof("spark-conf", "--app", "etl", expect=2)
    cprof("spark-conf", "--relay", "http://x", "--app", "etl", "--agent", AGENT, expect=2)
    cprof("spark-conf", "--relay", relay_url, "--app", "a b", "--agent", AGENT, expect=2)
    cprof("spark-conf", "--relay", relay_url, "--app", "a,b", "--agent", AGENT, expect=2)
    cprof("spark-conf", "--relay", relay_url, "--app", "x", "--agent", "/nonexistent.so", expect=1)


def start_executor(prog, jdk, flags, work, app_id, exec_id, host, seconds):
    """What a Spark worker does: copy --files into the executor's working
    dir, start the JVM there with extraJavaOptions and the backend args."""
    os.makedirs(work, exist_ok=True)
    shutil.copy(flags["files"], work)
    java_opts = shlex.split(flags["conf"]["spark.executor.extraJavaOptions"])
    cmd = [os.path.join(jdk, "bin", "java")] + java_opts + [
        "-Xmx256m", "-Dspark.driver.port=40000", "-cp", prog.classes, MAIN,
        "--driver-url", "spark://CoarseGrainedScheduler@127.0.0.1:40000",
        "--executor-id", exec_id, "--hostname", host, "--cores", "1",
        "--app-id", app_id, "--worker-url", "spark://Worker@%s:35711" % host,
        "--resourceProfileId", "0", "--seconds", str(seconds)]
    logpath = os.path.join(out_dir("attach-spark"), "executor-%s-%d.log" % (exec_id, time.time_ns()))
    f = open(logpath, "wb")
    p = subprocess.Popen(cmd, cwd=work, stdout=f, stderr=subprocess.STDOUT)
    p.logpath = logpath
    return p


def test():
    if not JDKS:
        skip("no JDK found")
    prog = JavaProgram("org/apache/spark/executor/CoarseGrainedExecutorBackend",
                       "org/apache/spark/api/python/PythonRunner")
    with Relay(name="attach-spark") as relay:
        check_conf_output(relay.ws)

        app = "spark-etl"
        r = cprof("spark-conf", "--relay", relay.ws, "--app", app, "--agent", AGENT, "flush=1s")
        flags = parse_args_format(r.stdout)
        app_id = "app-20261122013000-0042"
        tmp = tempfile.mkdtemp(prefix="cprof-spark-")
        execs = []
        try:
            for i, eid in enumerate(("1", "2")):
                jdk = JDKS[i % len(JDKS)]
                execs.append(start_executor(prog, jdk, flags,
                                            os.path.join(tmp, "work", app_id, eid),
                                            app_id, eid, "worker-%s" % eid, 25))
            # dynamic allocation: one more executor joins later
            time.sleep(3)
            execs.append(start_executor(prog, JDKS[-1], flags,
                                        os.path.join(tmp, "work", app_id, "3"),
                                        app_id, "3", "worker-3", 20))

            def all_three():
                inst = relay.get_json("/api/v1/instances", app=app)["instances"]
                ids = {i.get("labels", {}).get("spark.executor.id") for i in inst}
                return inst if {"1", "2", "3"} <= ids else None
            inst = wait_for(all_three, 30, "three executors under app %s" % app)
            for i in inst:
                lab = i.get("labels", {})
                eid = lab.get("spark.executor.id")
                check(lab.get("spark.app.id") == app_id, "spark.app.id of %s: %s" % (eid, lab))
                check(lab.get("host") == "worker-%s" % eid, "host label of %s: %s" % (eid, lab))
            log("executor labels:", [i.get("labels") for i in inst])
            for eid in ("1", "2", "3"):
                prof = relay.wait_profile(app, "cpu", lambda t: share(t, TASK) > 0.5, timeout=30,
                                          labels="spark.executor.id=" + eid)
                log("executor %s: runTask %.0f%% of %d" % (eid, 100 * share(prof, TASK),
                                                           sum(prof.values())))
            for p in execs:
                check(p.poll() is None or p.returncode == 0, "executor failed: " + p.logpath)
                check_no_crash(p)
        finally:
            for p in execs:
                stop(p)
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(test)
