#!/usr/bin/env python3
"""Python stacks turned on for a while from the relay (issue 21 with fleet
control, issue 19): `python` is a key POST /api/v1/control may set.

An executor (the PySpark stand-in of test_python_spark) starts with the
agent's default python=off and runs 1 task thread x 10 tasks of ~0.35 s of
CPU each, one after the other. After its second task the test sends
{"set":{"python":"on"},"for":"2s"}. Checked:
  - the agent acknowledges it (applied, effective python=on), and again
    when the 2 s end (expired, effective python=off), by its own clock;
  - tasks that ended before the change have no Python samples; tasks that
    ran wholly inside it have (the agent reads the running workers from
    outside, so workers started before the change are seen); tasks that
    started after its end (+0.5 s: the sampler's last pass) have none;
  - a value outside on/children/off is refused by the agent, which says
    why in its acknowledgement and keeps python=off.
"""
import os
import pickle
import subprocess
import sys
import tempfile
import time
import shutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cplib import BUILD, JDKS, SOURCE, Relay, check, log, main, out_dir, wait_for  # noqa: E402
from attach_helpers import check_no_crash, stop  # noqa: E402
from control_api import acks_of, post  # noqa: E402
from test_python_spark import MAIN, PY, SHARES, ZIP, executor_program, python_stacks, truths  # noqa: E402

APP = "pyspark-control"
TASKS = 10


def start_executor(prog, relay, tmp, results):
    command = os.path.join(tmp, "command.pkl")
    with open(command, "wb") as f:
        pickle.dump(("module", "cpjob", [0.35, results, SHARES]), f, protocol=2)
    agent = "relay=%s,app=%s,cpu=10ms,flush=1s,loglevel=info" % (relay.ws, APP)   # python: off (default)
    cmd = [os.path.join(JDKS[-1], "bin", "java"),
           "-agentpath:%s=%s" % (os.path.join(BUILD, "jvmti", "libcprof-jvm.so"), agent),
           "-Xmx256m", "-Dspark.pyspark.python=" + PY, "-Dspark.python.daemon.module=cprof_pyspark.daemon",
           "-Dcprof.test.pythonpath=" + ":".join([ZIP, os.path.join(SOURCE, "tests", "python")]),
           "-Dcprof.test.command=" + command, "-Dcprof.test.records=1", "-Dcprof.test.tasks=%d" % TASKS,
           "-cp", prog.classes, MAIN,
           "--driver-url", "spark://CoarseGrainedScheduler@127.0.0.1:40000",
           "--executor-id", "1", "--hostname", "py-control-1", "--cores", "1",
           "--app-id", "app-20261204230000-0007", "--seconds", "60"]
    logpath = os.path.join(out_dir("python-control"), "executor-%d.log" % time.time_ns())
    p = subprocess.Popen(cmd, stdout=open(logpath, "wb"), stderr=subprocess.STDOUT)
    p.logpath = logpath
    return p


def test():
    prog = executor_program()
    tmp = tempfile.mkdtemp(prefix="cprof-pycontrol-")
    results = os.path.join(tmp, "results")
    os.makedirs(results)
    try:
        with Relay(name="python-control") as relay:
            p = start_executor(prog, relay, tmp, results)
            try:
                wait_for(lambda: len(os.listdir(results)) >= 2, 30, "the executor's first two tasks")
                t_on = time.time()
                st, ans = post(relay, {"app": APP, "set": {"python": "on"}, "for": "2s"})
                check(st == 200 and ans.get("id"), "control python=on: HTTP %s %s" % (st, ans))
                cid = ans["id"]
                applied = wait_for(lambda: acks_of(relay, APP, cid, "applied")[0], 10, "the agent's ack")
                ack = list(applied.values())[0]
                log("applied: %s" % ack)
                check(ack["effective"].get("python") == "on", "effective after the change: %s" % ack["effective"])
                expired = wait_for(lambda: acks_of(relay, APP, cid, "expired")[0], 15, "the change's end")
                ack = list(expired.values())[0]
                log("expired: %s" % ack)
                check(ack["effective"].get("python") == "off", "effective after the end: %s" % ack["effective"])
                t_off = t_on + 2.0
                st, ans = post(relay, {"app": APP, "set": {"python": "all"}, "for": "2s"})
                check(st == 200, "control python=all: HTTP %s %s" % (st, ans))
                bad = list(wait_for(lambda: acks_of(relay, APP, ans["id"], "applied")[0], 10, "the ack")
                           .values())[0]
                log("python=all: %s" % bad)
                check("python" in bad.get("refused", {}) and bad["effective"].get("python") == "off",
                      "python=all was not refused: %s" % bad)
                p.wait(45)
            finally:
                if p.poll() is None:
                    stop(p)
            out = open(p.logpath, errors="replace").read()
            check(p.returncode == 0, "executor failed (%s): %s\n%s" % (p.returncode, p.logpath, out[-2000:]))
            check_no_crash(p)
            truth = sorted(truths(results), key=lambda t: t["start"])
            check(len(truth) == TASKS, "%d task results, want %d" % (len(truth), TASKS))
            time.sleep(2)   # the last window (flush=1s)
            prof = relay.collapsed(APP, "cpu")
            by_pid = {}
            for _, pid, _, v in python_stacks(prof, ["run"]):
                by_pid[pid] = by_pid.get(pid, 0) + v
            before, inside, after = [], [], []
            for t in truth:
                ms = by_pid.get(t["pid"], 0) / 1e6
                where = ("before" if t["end"] < t_on else "inside" if t["start"] > t_on + 0.3 and t["end"] < t_off
                         else "after" if t["start"] > t_off + 0.5 else "straddles")
                log("task TID %d %.2f-%.2f s (%s the change): %.0f ms of Python samples, %.0f ms of CPU"
                    % (t["tid"], t["start"] - t_on, t["end"] - t_on, where, ms, t["run_cpu"] * 1e3))
                {"before": before, "inside": inside, "after": after}.get(where, []).append(ms)
            check(before and after, "no task wholly before or after the change (machine too slow?)")
            check(all(ms == 0 for ms in before + after), "Python samples outside the change: before %s after %s"
                  % (before, after))
            if inside:
                check(all(ms > 0 for ms in inside), "a task inside the change has no Python samples: %s" % inside)
            else:   # a loaded machine: a task straddled each edge; the window still held samples
                check(sum(by_pid.values()) > 0, "no Python samples at all while python=on")
            check("python: sampling" in out, "the agent never started its Python sampler:\n" + out[-2000:])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(test)
