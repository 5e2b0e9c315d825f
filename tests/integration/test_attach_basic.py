#!/usr/bin/env python3
"""Dynamic attach end to end, on every JDK found (17 and 25 here).

A JVM started WITHOUT the agent (tests/java/AttachTarget.java burns CPU in
AttachTarget.hotLoop) gets `cprof attach PID relay=... app=A`; the real relay
must then show hotLoop in app A. Attaching again with other options must
reconfigure the one agent (still one libcprof-jvm mapping; data shows up
under the new app with the new label). `cprof detach` must stop the data
(totals stop growing) while the JVM keeps running and exits normally.
A later attach starts the agent again. A class the JVM loads after the
attach (AttachTarget$Late) gets its frames named. Also the clear errors: a non-JVM
(left untouched), a missing pid, a JVM with -XX:+DisableAttachMechanism,
a hung (SIGSTOPped) JVM: timeout on time, and the JVM runs on after it."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cplib import JDKS, Relay, check, jdk_name, log, main, out_dir, share, skip, wait_for  # noqa: E402
from attach_helpers import (agent_maps, alive_ticks, check_no_crash, cprof, quiet_jvm_args,  # noqa: E402
                            stop, target, wait_ready)


def total(relay, app, **params):
    try:
        return sum(relay.collapsed(app, "cpu", **params).values())
    except Exception:
        return 0


def hot(t):
    return share(t, "AttachTarget.hotLoop") > 0.3   # half of the CPU once Late runs


def run_jdk(relay, jdk):
    name = jdk_name(jdk)
    prog = target()
    late = os.path.join(out_dir("attach_basic"), "late-" + name)
    if os.path.exists(late):
        os.unlink(late)
    p = prog.start(jdk, args=["90", "100", late], jvm_args=quiet_jvm_args(jdk))
    try:
        wait_ready(p)
        check(not agent_maps(p.pid), "agent mapped before any attach")

        # 1. attach to a JVM that runs without the agent
        app_a = "attach-a-" + name
        t0 = time.time()
        r = cprof("attach", p.pid, "relay=" + relay.ws, "app=" + app_a, "label.phase=one",
                  "cpu=10ms", "flush=1s")
        check("attached to pid %d" % p.pid in r.stdout, "unexpected output: " + r.stdout)
        prof = relay.wait_profile(app_a, "cpu", hot, timeout=30)
        log(name, "hotLoop in app %s after %.1fs: %.0f%% of %d" % (
            app_a, time.time() - t0, 100 * share(prof, "AttachTarget.hotLoop"), sum(prof.values())))
        paths = agent_maps(p.pid)
        check(len(paths) == 1, "expected one agent mapping, got %s" % paths)
        # a class loaded after the attach: its frames are named (ClassPrepare on)
        open(late, "w").close()
        relay.wait_profile(app_a, "cpu", lambda t: share(t, "AttachTarget$Late.burn") > 0.2, timeout=30)

        # 2. attach again, other options: reconfigure, not a second copy
        app_b = "attach-b-" + name
        r = cprof("attach", p.pid, "relay=" + relay.ws, "app=" + app_b, "label.phase=two",
                  "flush=1s")
        check("reconfigured" in r.stdout, "second attach did not reconfigure: " + r.stdout)
        check(agent_maps(p.pid) == paths, "second attach mapped another agent copy: %s" %
              agent_maps(p.pid))
        relay.wait_profile(app_b, "cpu", hot, timeout=30, labels="phase=two")
        inst = relay.get_json("/api/v1/instances", app=app_b)["instances"]
        check(inst and all(i.get("pid") == p.pid for i in inst), "instances of %s: %s" % (app_b, inst))
        check(any(i.get("labels", {}).get("phase") == "two" for i in inst),
              "new label not in effect: %s" % inst)

        # 3. detach: data stops, the JVM runs on
        r = cprof("detach", p.pid)
        check("detached" in r.stdout, r.stdout)
        time.sleep(2.5)               # a last window may still land
        before, ticks = total(relay, app_b), alive_ticks(p)
        time.sleep(3.5)
        after = total(relay, app_b)
        check(after == before, "samples still arriving after detach: %d -> %d" % (before, after))
        wait_for(lambda: alive_ticks(p) >= ticks + 3, 10, "JVM to keep running after detach")
        check(p.poll() is None, "JVM died after detach")

        # 4. attach after detach starts it again (same library)
        app_c = "attach-c-" + name
        r = cprof("attach", p.pid, "relay=" + relay.ws, "app=" + app_c, "flush=1s")
        relay.wait_profile(app_c, "cpu", hot, timeout=30)
        check(agent_maps(p.pid) == paths, "re-attach after detach mapped another copy")
        cprof("detach", p.pid)
        check(p.poll() is None, "JVM died")
        # and it still shuts down cleanly (shutdown hooks, VMDeath with a
        # detached agent): SIGTERM -> exit status 143, no crash report
        p.terminate()
        rc = p.wait(15)
        check(rc == 143, "JVM exit status after SIGTERM: %s (log %s)" % (rc, p.logpath))
        check_no_crash(p)
    finally:
        stop(p)


def errors(jdk):
    # a process that is not a JVM: clear error, and it is not signalled
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        r = cprof("attach", sleeper.pid, "app=x", expect=1)
        check("not a JVM" in r.stderr, r.stderr)
        time.sleep(0.3)
        check(sleeper.poll() is None, "attach killed a non-JVM process")
    finally:
        sleeper.kill()
        sleeper.wait()
    r = cprof("attach", 0x3ffffff0, expect=1)
    check("no process" in r.stderr, r.stderr)
    r = cprof("attach", "notapid", expect=2)
    r = cprof("detach", os.getpid(), expect=1)
    check("not a JVM" in r.stderr, r.stderr)

    # attach disabled: immediate, clear error; the JVM is unharmed
    p = target().start(jdk, args=["30"], jvm_args=["-XX:+DisableAttachMechanism"])
    try:
        wait_ready(p)
        t0 = time.time()
        r = cprof("attach", "--timeout", "5s", p.pid, "app=x", expect=1)
        check("DisableAttachMechanism" in r.stderr, r.stderr)
        check(time.time() - t0 < 3, "disabled attach took %.1fs" % (time.time() - t0))
        check(p.poll() is None and not agent_maps(p.pid), "JVM harmed")
        # detach of a JVM without agent: clear error
        r = cprof("detach", p.pid, expect=1)
        check("no cprof agent" in r.stderr, r.stderr)
    finally:
        stop(p)

    # a hung JVM (stopped): the attach times out with a clear message, on time
    p = target().start(jdk, args=["30"])
    try:
        wait_ready(p)
        os.kill(p.pid, signal.SIGSTOP)
        t0 = time.time()
        r = cprof("attach", "--timeout", "2s", p.pid, "app=x", expect=1)
        took = time.time() - t0
        check("no attach listener appeared" in r.stderr and "hung" in r.stderr, r.stderr)
        check(1.5 < took < 5, "timeout of 2s took %.1fs" % took)
        os.kill(p.pid, signal.SIGCONT)
        ticks = alive_ticks(p)
        wait_for(lambda: alive_ticks(p) >= ticks + 2, 10, "JVM to run on after SIGCONT")
        check(not agent_maps(p.pid), "agent loaded after a failed attach")
    finally:
        os.kill(p.pid, signal.SIGCONT)
        stop(p)


def test():
    if not JDKS:
        skip("no JDK found")
    errors(JDKS[0])
    with Relay(name="attach-basic") as relay:
        for jdk in JDKS:
            run_jdk(relay, jdk)


if __name__ == "__main__":
    main(test)
