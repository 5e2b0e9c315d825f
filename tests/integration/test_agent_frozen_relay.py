#!/usr/bin/env python3
"""A relay frozen (SIGSTOP) while the agent connects, for longer than the
agent's connect deadline: the agent gives up on that connection, keeps its
data, reconnects when the relay runs again, and the JVM never crashes.

The agent's 10 s connect/welcome deadline used to kill the connecting
websocket with lws_set_timeout(LWS_TO_KILL_ASYNC) while lws's own connect
timeout (also 10 s) was closing it: a use of the freed wsi, SIGSEGV in
lws_dll2_add_sorted on the agent's sender thread (found by scripts/faults,
freeze-connecting). The TCP handshake completes in the frozen relay's
listen backlog, so the agent sits in "connecting" until a deadline fires.
"""
import contextlib
import os
import re
import signal
import time

from cplib import *


def run():
    prog = JavaProgram("CpuSplit")
    with contextlib.ExitStack() as stack:
        # every JDK at once, each against its own frozen relay: the test is
        # mostly waiting for deadlines
        runs = []
        for jdk in JDKS:
            relay = stack.enter_context(Relay(name="frozen-" + jdk_name(jdk)))
            runs.append((jdk, relay, "frozen-" + jdk_name(jdk)))
        procs = []
        for jdk, relay, app in runs:
            os.kill(relay.proc.pid, signal.SIGSTOP)
        try:
            for jdk, relay, app in runs:
                procs.append(prog.start(jdk, agent="app=%s,flush=1s,loglevel=info" % app, relay=relay, args=["30"]))
            time.sleep(24)    # two connect deadlines pass while the relays are frozen
            for (jdk, relay, app), p in zip(runs, procs):
                check(p.poll() is None, "%s: the JVM died while the relay was frozen (rc %s):\n%s" % (
                    jdk_name(jdk), p.poll(), open(p.logpath, "rb").read().decode(errors="replace")[-3000:]))
        finally:
            for jdk, relay, app in runs:
                os.kill(relay.proc.pid, signal.SIGCONT)
        for (jdk, relay, app), p in zip(runs, procs):
            def stored():
                try:
                    return relay.collapsed(app, frm="now-5m", to="now+1m")
                except HTTPError:
                    return None     # 404 until the agent's hello arrives
            wait_for(stored, 20, "%s: profile after the relay thawed" % app)
            p.terminate()
            p.wait(30)
            out = open(p.logpath, "rb").read().decode(errors="replace")
            check("hs_err" not in out and "SIGSEGV" not in out, "%s: JVM crash:\n%s" % (jdk_name(jdk), out[-3000:]))
            m = re.search(r"net\.connect_failures=(\d+)", out)
            check(m and int(m.group(1)) >= 1,
                  "%s: the agent gave up on the frozen connection (net.connect_failures):\n%s" % (
                      jdk_name(jdk), out[-2000:]))
            log("%s: survived a frozen relay, data stored after the thaw" % jdk_name(jdk))


main(run)
