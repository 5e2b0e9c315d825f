#!/usr/bin/env python3
"""Attach then detach 50 times on one JVM (CPROF_ATTACH_CYCLES to change),
with a real relay: no crash, the JVM keeps running, still exactly one agent
mapping, and RSS does not keep growing. RSS is taken after cycle 5 (agent
warmed up: thread stacks, ring, dictionaries) and after the last cycle; the
growth must stay under 16 MB (CPROF_ATTACH_RSS_MB), so a per-cycle leak of
more than ~350 KB fails. Reports the figures. Runs on the first JDK (and
on every JDK with CPROF_ATTACH_ALL_JDKS=1)."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cplib import JDKS, Relay, check, jdk_name, log, main, share, skip  # noqa: E402
from attach_helpers import (agent_maps, alive_ticks, check_no_crash, cprof, quiet_jvm_args,  # noqa: E402
                            rss_kb, stop, target, wait_for, wait_ready)

CYCLES = int(os.environ.get("CPROF_ATTACH_CYCLES", "50"))
LIMIT_MB = float(os.environ.get("CPROF_ATTACH_RSS_MB", "16"))


def run(relay, jdk):
    name = jdk_name(jdk)
    app = "attach-repeat-" + name
    p = target().start(jdk, args=["300", "50"], jvm_args=quiet_jvm_args(jdk) + ["-Xmx128m"])
    try:
        wait_ready(p)
        rss0 = rss_kb(p.pid)
        base = None
        t0 = time.time()
        for i in range(1, CYCLES + 1):
            cprof("attach", p.pid, "relay=" + relay.ws, "app=" + app, "flush=1s",
                  "label.cycle=%d" % i)
            if i == 1:
                relay.wait_profile(app, "cpu", lambda t: share(t, "AttachTarget.hotLoop") > 0.3,
                                   timeout=30)
            cprof("detach", p.pid)
            check(p.poll() is None, "JVM died in cycle %d (log %s)" % (i, p.logpath))
            if i == 5:
                base = rss_kb(p.pid)
        secs = time.time() - t0
        end = rss_kb(p.pid)
        paths = agent_maps(p.pid)
        check(len(paths) == 1, "agent mappings after %d cycles: %s" % (CYCLES, paths))
        ticks = alive_ticks(p)
        wait_for(lambda: alive_ticks(p) >= ticks + 2, 10, "JVM to run on after the cycles")
        check_no_crash(p)
        growth = (end - base) / 1024.0
        log("%s: %d attach/detach cycles in %.1fs; RSS before agent %.1f MB, after cycle 5 "
            "%.1f MB, after cycle %d %.1f MB: growth %.2f MB (%.0f KB/cycle)" % (
                name, CYCLES, secs, rss0 / 1024.0, base / 1024.0, CYCLES, end / 1024.0,
                growth, (end - base) / max(1, CYCLES - 5)))
        check(growth < LIMIT_MB, "RSS grew %.1f MB over %d cycles" % (growth, CYCLES - 5))
    finally:
        stop(p)


def test():
    if not JDKS:
        skip("no JDK found")
    jdks = JDKS if os.environ.get("CPROF_ATTACH_ALL_JDKS") == "1" else JDKS[:1]
    with Relay(name="attach-repeat") as relay:
        for jdk in jdks:
            run(relay, jdk)


if __name__ == "__main__":
    main(test)
