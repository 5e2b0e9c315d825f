#!/usr/bin/env python3
"""What a detach leaves behind, on every JDK found (17 and 25 here).

A JVM started without the agent (tests/java/DetachTarget.java) gets
`cprof attach` with CPU, allocation profiling in instrument mode, lock and
GC reporting, then `cprof detach`. After the detach:
  - no cprof-* thread is left (/proc/PID/task/*/comm and jcmd Thread.print);
  - no instrumented bytecode calls the allocation shim any more: with
    dev.cprof.Alloc.on forced on, its countdown does not move while the
    program allocates (it does move while attached, so the probe works);
  - no JVMTI event the agent does not need fires: the program defines 30
    fresh classes, runs them until the JIT compiles them and calls
    System.gc(), and the re-attach reports zero ClassLoad, ClassPrepare,
    CompiledMethodLoad, GarbageCollection and ClassFileLoadHook callbacks
    received while detached.
The re-attach samples, sends (data with the new label reaches the relay)
and instruments again; after a last detach the JVM exits normally."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cplib import JDKS, Relay, check, jdk_name, log, main, skip, wait_for  # noqa: E402
from attach_helpers import (Controlled, check_no_crash, cprof, cprof_threads,  # noqa: E402
                            jcmd_threads, read_log, stop)


def hot(prof):
    return any("DetachTarget.hotLoop" in k for k in prof)


def run(relay, jdk):
    name = jdk_name(jdk)
    app = "detach-" + name
    t = Controlled(jdk, seconds=150, jvm_args=["-Xmx128m"])
    p = t.p
    opts = ["relay=" + relay.ws, "app=" + app, "flush=1s", "loglevel=info", "alloc=64k", "alloc.mode=instrument",
            "lock=1ms", "gc=on"]
    try:
        cprof("attach", p.pid, *opts, "label.phase=1")
        relay.wait_profile(app, "cpu", hot, timeout=40,
                           labels="phase=1")
        check(cprof_threads(p.pid), "no cprof-* thread while attached: the probe is blind")
        log("%s: attached, threads %s" % (name, cprof_threads(p.pid)))
        check(t.command("shim") == "moved=true",
              "the shim's countdown did not move while attached: the probe is blind")

        cprof("detach", p.pid)
        end = time.time() + 10
        while cprof_threads(p.pid) and time.time() < end:
            time.sleep(0.2)
        left = cprof_threads(p.pid)
        check(not left, "threads left after detach: %s" % left)
        dump = jcmd_threads(jdk, p.pid)
        check("cprof" not in dump, "jcmd Thread.print still lists agent threads:\n%s" %
              "\n".join(l for l in dump.splitlines() if "cprof" in l))
        moved = t.command("shim")
        check(moved == "moved=false", "instrumented bytecode still calls the shim after detach (%s)"
              % moved)
        t.command("classes 30")

        cprof("attach", p.pid, *opts, "label.phase=2")
        m = re.findall(r"re-attach: JVMTI callbacks while detached: (.*)", read_log(p))
        check(m, "no callback report at re-attach:\n%s" % read_log(p)[-3000:])
        counts = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", m[-1]))
        log("%s: callbacks while detached: %s" % (name, counts))
        check(len(counts) == 5 and not any(counts.values()),
              "JVMTI events left enabled after detach: %s" % counts)
        relay.wait_profile(app, "cpu", hot, timeout=40,
                           labels="phase=2")
        check(t.command("shim") == "moved=true", "re-attach did not instrument again")
        check("cprof-gc" in cprof_threads(p.pid), "no cprof-gc thread after re-attach: %s" %
              cprof_threads(p.pid))
        cprof("detach", p.pid)
        wait_for(lambda: not cprof_threads(p.pid), 10, "cprof-* threads to end again")
        t.quit()
        check_no_crash(p)
        log("%s: detach left no thread, no hook, no event; re-attach sent; JVM exited 0" % name)
    finally:
        stop(p)


def test():
    if not JDKS:
        skip("no JDK found")
    with Relay(name="attach-detach") as relay:
        for jdk in JDKS:
            run(relay, jdk)


if __name__ == "__main__":
    main(test)
