"""diffcal - calibration runs of the statistical diff (docs/diff.md) with
real JVMs: the short CI form (test_diff_calibration.py) and the long form
(scripts/calibrate-diff) share it.

A pair is 4 JVMs of tests/java/DiffWork.java started together with the
agent: 2 labelled side=base, 2 side=cmp, all pair=TAG. In an A/A pair all
four run the same code; in an A/B pair the cmp side's DiffWork.hot does
(1 + slow) times its work. Running the sides at the same time on the same
machine makes them share its noise, as two CI jobs on one runner would not:
the long form also runs sides one after the other (sequential=True).
The gate is the real `cprof diff --fail-on ... --format json`."""
import json
import subprocess
import time

from cplib import *

APP = "diffcal"
HOT = "DiffWork.hot"


def run_side_jvms(relay, java, jdk, tag, sides, seconds, cpu, cpu_seconds=None):
    extra = [cpu_seconds] if cpu_seconds else []
    procs = [java.start(jdk, agent="app=%s,label.pair=%s,label.side=%s,cpu=%s,flush=1s" % (APP, tag, side, cpu),
                        relay=relay, args=[seconds, slow] + extra) for side, slow in sides]
    for p in procs:
        rc = p.wait(seconds + 60)
        out = open(p.logpath, "rb").read().decode(errors="replace")
        check(rc == 0 and "hs_err" not in out, "DiffWork exited %d:\n%s" % (rc, out[-2000:]))


def run_pair(relay, java, jdk, tag, slow, seconds=8, cpu="1ms", sequential=False, cpu_seconds=None):
    """Runs one pair; returns (from, to) in unix seconds around it.
    cpu_seconds: each JVM runs until it used that much CPU (seconds is
    then a wall cap), so a busy machine gives the same samples."""
    t0 = time.time() - 1
    base, cmp = [("base", 0)] * 2, [("cmp", slow)] * 2
    if sequential:
        run_side_jvms(relay, java, jdk, tag, base, seconds, cpu, cpu_seconds)
        run_side_jvms(relay, java, jdk, tag, cmp, seconds, cpu, cpu_seconds)
    else:
        run_side_jvms(relay, java, jdk, tag, base + cmp, seconds, cpu, cpu_seconds)
    for side in ("base", "cmp"):
        wait_settled(relay, APP, frm=str(int(t0)), labels="pair=%s,side=%s" % (tag, side))
    return int(t0), int(time.time()) + 1


def gate(relay, tag, span, fail_on="5pp", warmup="2", extra=()):
    """cprof diff --fail-on: (exit code, the relay's JSON answer)."""
    f, t = span
    args = [CPROF, "diff", "--relay", relay.http, "--app", APP,
            "--base-labels", "pair=%s,side=base" % tag, "--cmp-labels", "pair=%s,side=cmp" % tag,
            "--base-from", str(f), "--base-to", str(t), "--cmp-from", str(f), "--cmp-to", str(t),
            "--fail-on", fail_on, "--warmup", warmup, "--format", "json", "--limit", "100000"] + list(extra)
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    check(r.returncode in (0, 1, 3), "cprof diff gate: exit %d\n%s" % (r.returncode, r.stderr))
    return r.returncode, json.loads(r.stdout)


def hot_row(doc):
    return next((m for m in doc["methods"] if m["name"] == HOT), None)


def true_delta(base_share, slow):
    """hot's inclusive share after its work grows by (1 + slow), minus before."""
    b = base_share
    return b * (1 + slow) / (1 + b * slow) - b


def describe(doc):
    st = doc["stats"]
    h = hot_row(doc) or {}
    return "%s: %s; hot %.2f%% -> %.2f%% (%+.2fpp, 95%% [%+.2f, %+.2f], q %s), windows %d/%d, samples %d/%d" % (
        st["verdict"], st["summary"], 100 * h.get("base", 0), 100 * h.get("cmp", 0), 100 * h.get("delta", 0),
        100 * (h.get("ci95") or [0, 0])[0], 100 * (h.get("ci95") or [0, 0])[1], h.get("q"),
        st["base"]["windows"], st["cmp"]["windows"], st["base"]["samples"], st["cmp"]["samples"])
