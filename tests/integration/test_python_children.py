#!/usr/bin/env python3
"""python=children: the Python processes any profiled JVM starts, not only
PySpark's (issue 21), are sampled from outside like PySpark workers.

A JVM (tests/java/PyChild) starts `python3.11 tests/python/pyburn.py 5`,
a plain script that spends 5 s of CPU, 3/4 of its calls in hot_loop and 1/4
in cool_loop, and waits for it. Checked:
  - with python=children the profile holds the child's stacks under
    "[python] <its pid>", with kind python frames for both functions, and
    their split is the one the script measured (within 6 points: one look
    every 10 ms gives ~500 looks, a standard error of ~1.7 points; beside a
    busy neighbour the looks thin out, and 2 s runs, ~2.7 points, read
    77.6-84.0% for 82.5%, and 75.1% once in CI);
  - with python=on (PySpark only) the same child is not sampled: its
    command line names no pyspark module;
  - a child whose work is in step with the 10 ms interval (`pyburn.py 5
    phased`: hot_loop in the first 5 ms of every 10 ms of CLOCK_MONOTONIC,
    cool_loop in the second) is still split right, within 10 points: the
    sampler's looks are jittered. Looks exactly 10 ms apart saw one phase
    only (hot_loop 0% or 100%)."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cplib import JDKS, SOURCE, JavaProgram, Relay, check, log, main, skip, wait_for  # noqa: E402

PY = "/usr/bin/python3.11"
SCRIPT = os.path.join(SOURCE, "tests", "python", "pyburn.py")


def python_ms(relay, app):
    """{function: ms} of the stacks under a [python] frame, and the pids."""
    try:
        prof = relay.collapsed(app, "cpu")
    except Exception:
        return {}, set()
    out, pids = {}, set()
    for stack, v in prof.items():
        frames = stack.split(";")
        py = [f for f in frames if f.startswith("[python] ")]
        if not py:
            continue
        pids.add(int(py[0].split()[1].split("/")[0]))
        for fn in ("hot_loop", "cool_loop"):
            if any(re.match(r"(\[py\] )?pyburn\.%s \(" % fn, f) for f in frames):
                out[fn] = out.get(fn, 0) + v / 1e6
    return out, pids


def test():
    if not JDKS:
        skip("no JDK found")
    if not os.path.exists(PY):
        skip("no " + PY)
    java = JavaProgram("PyChild")
    with Relay(name="python-children") as relay:
        for mode in ("children", "phased", "on"):
            app = "pychild-" + mode
            args = {"children": ["5"], "phased": ["5", "phased"], "on": ["2"]}[mode]
            out = java.run(JDKS[-1], agent="app=%s,python=%s,cpu=10ms,flush=1s,loglevel=info"
                           % (app, "on" if mode == "on" else "children"), relay=relay, args=[PY, SCRIPT] + args,
                           timeout=60)
            m = re.search(r"pyburn hot_loop=([\d.]+) cool_loop=([\d.]+)", out)
            check(m and "child exit 0" in out, "the child did not run:\n" + out[-2000:])
            hot, cool = float(m.group(1)), float(m.group(2))
            if mode != "on":
                # the agent finds a new child at its next scan (every 500 ms):
                # the child's first moments may be missed
                got, pids = wait_for(lambda: (lambda r: r if sum(r[0].values()) >= 0.5 * (hot + cool) * 1e3 else None)(
                    python_ms(relay, app)), 15, "the child's Python samples at the relay")
                share, truth = got.get("hot_loop", 0) / sum(got.values()), hot / (hot + cool)
                log("python=children (%s): %s ms over pids %s; hot_loop %.1f%% of the profile, %.1f%% measured"
                    % (mode, {k: round(v) for k, v in got.items()}, pids, share * 100, truth * 100))
                check(len(pids) == 1, "one Python child, got pids %s" % pids)
                bound = 0.06 if mode == "children" else 0.10   # phased: 1/2 each, a larger standard error
                check(abs(share - truth) <= bound, "%s: hot_loop %.3f of the profile, %.3f measured"
                      % (mode, share, truth))
            else:
                relay.wait_profile(app, "cpu", lambda t: True, timeout=15)
                got, pids = python_ms(relay, app)
                log("python=on: Python samples %s" % got)
                check(not pids, "python=on sampled a non-PySpark child: pids %s" % pids)


if __name__ == "__main__":
    main(test)
