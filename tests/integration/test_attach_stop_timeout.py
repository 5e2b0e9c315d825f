#!/usr/bin/env python3
"""A detach whose stop times out, then a re-attach, on every JDK found.

The relay is frozen (SIGSTOP) while an attached agent sends and the agent
is made to reconnect (new labels), so its connection hangs in the upgrade
and the detach cannot close it: the sender stop times out (logged) and the
sender thread is still running when `cprof attach` comes again a moment
later. The re-attach must start sampling and sending again: once the relay
thaws, data with the new label reaches it. Nothing may crash or hang, and
the JVM exits normally afterwards."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cplib import JDKS, Relay, check, jdk_name, log, main, skip  # noqa: E402
from attach_helpers import Controlled, check_no_crash, cprof, read_log, stop  # noqa: E402


def hot(prof):
    return any("DetachTarget.hotLoop" in k for k in prof)


def run(relay, jdk):
    name = jdk_name(jdk)
    app = "stoptimeout-" + name
    t = Controlled(jdk, seconds=150, jvm_args=["-Xmx128m"])
    p = t.p
    opts = ["relay=" + relay.ws, "app=" + app, "flush=1s", "loglevel=info"]
    try:
        cprof("attach", p.pid, *opts, "label.phase=1")
        relay.wait_profile(app, "cpu", hot, timeout=40,
                           labels="phase=1")
        os.kill(relay.proc.pid, signal.SIGSTOP)
        try:
            # new labels: the agent reconnects, and the frozen relay leaves
            # it in CONNECTING (TCP accepted by the kernel, upgrade
            # unanswered), where a close cannot complete in the stop's 1 s
            cprof("attach", p.pid, *opts, "label.phase=1b")
            time.sleep(1.5)
            t0 = time.time()
            cprof("detach", p.pid)
            secs = time.time() - t0
            check("sender thread did not stop" in read_log(p),
                  "the sender stop did not time out: the fault was not injected")
            cprof("attach", p.pid, *opts, "label.phase=2")
            log("%s: detach took %.1fs (stop timed out); re-attached %.1fs after it" % (
                name, secs, time.time() - t0 - secs))
            time.sleep(1)
        finally:
            os.kill(relay.proc.pid, signal.SIGCONT)
        t1 = time.time()
        relay.wait_profile(app, "cpu", hot, timeout=30,
                           labels="phase=2")
        log("%s: data of the re-attach stored %.1fs after the relay thawed" % (name, time.time() - t1))
        check(p.poll() is None, "JVM died")
        cprof("detach", p.pid)
        t.quit()
        check_no_crash(p)
    finally:
        stop(p)


def test():
    if not JDKS:
        skip("no JDK found")
    with Relay(name="attach-stop-timeout") as relay:
        for jdk in JDKS:
            run(relay, jdk)


if __name__ == "__main__":
    main(test)
