#!/usr/bin/env python3
"""The agent adds no wait to a JVM's exit, and the last window still reaches
the relay (issue 14).

1. HotSpot's exit waits up to 300 ms for every Java thread still in native
   code; the agent's sender thread (in poll()) was one, so every JVM with the
   agent ended ~300 ms late. Best of 3 alternated runs, the time from main's
   last line to the process's end with the agent is within 150 ms of the
   bare JVM's, and nothing is left unacknowledged; the exit line counts the
   agent's own CPU in its threads, signal handlers and JVMTI callbacks.
2. A JVM that ends while the agent's connection is still being set up (the
   relay answers the upgrade 0.6 s late, through a proxy) waits for it, so
   its window is delivered: the exit used to give up at once when not yet
   connected and lose it.
3. A relay that refuses: the exit is not held up (best of 3 within 150 ms
   of bare) and the loss is said.
4. In 1 and 3, no agent thread is still a live Java thread when VMDeath
   returns. JDK 17's exit polls every 10 ms while any Java thread is in
   native; the sender (nice +10) said "done" to VMDeath and was preempted
   before it left native, so about half the exits paid a 10 ms tick (seen
   in a perf sched trace of the VM Thread). Without the agent's wait for its
   threads to terminate, the sender was still alive at that point in 8 of 8
   exits."""
import re
import time

from cplib import JDKS, JavaProgram, Relay, check, free_port, jdk_name, log, main, skip
from ws_proxy import WsProxy


def exit_ms(java, jdk, agent=None, relay=None, args=("200",)):
    """Runs QuickExit; -> (ms from its 'end' line to the process's end, output)."""
    p = java.start(jdk, agent=agent, relay=relay, args=args)
    rc = p.wait(120)
    t1 = time.monotonic_ns()
    out = open(p.logpath, "rb").read().decode(errors="replace")
    check(rc == 0, "JVM exited %d:\n%s" % (rc, out[-2000:]))
    m = re.search(r"(?m)^end (\d+)$", out)
    check(m, "no end line:\n" + out[-2000:])
    return (t1 - int(m.group(1))) / 1e6, out


def threads_gone(name, out):
    m = re.search(r"exit: agent threads: (\d+) alive as Java threads", out)
    check(m and m.group(1) == "0", "%s: an agent thread is still a live Java thread (maybe in native) when VMDeath "
          "returns:\n%s" % (name, out[-2000:]))


def run():
    if not JDKS:
        skip("no JDK")
    java = JavaProgram("QuickExit")
    for jdk in JDKS:
        name = jdk_name(jdk)
        with Relay(name="agent-exit") as relay:
            app = "exit-" + name
            bare, agent = [], []
            for i in range(3):
                bare.append(exit_ms(java, jdk)[0])
                ms, out = exit_ms(java, jdk, agent="app=%s,cpu=1ms,loglevel=info" % app, relay=relay)
                check("never acknowledged" not in out, "%s: windows lost at exit:\n%s" % (name, out[-2000:]))
                threads_gone(name, out)
                agent.append(ms)
                # the agent counts its own CPU in all three places (cost.h)
                m = re.search(r"agent cost: threads ([0-9.]+) ms \+ signal handlers ([0-9.]+) ms \+ JVMTI callbacks "
                              r"([0-9.]+) ms(?: \+ signal delivery [0-9.]+ ms)? = ([0-9.]+)% of the JVM's (\d+) ms CPU", out)
                check(m and float(m.group(1)) > 0 and float(m.group(2)) > 0 and float(m.group(3)) > 0,
                      "%s: the exit line does not count threads, handlers and callbacks:\n%s" % (name, out[-2000:]))
            log("%s: exit after main: bare %s ms, agent %s ms" % (name, [round(x) for x in bare],
                                                                     [round(x) for x in agent]))
            check(min(agent) - min(bare) < 150,
                  "%s: the agent delays the JVM's exit: best %.0f ms vs bare %.0f ms" % (name, min(agent), min(bare)))
            relay.wait_profile(app)

            # 2. the upgrade is answered 0.6 s after the JVM's main has returned
            proxy = WsProxy(relay.port)
            proxy.mode = "delay"
            proxy.delay_s = 0.6
            try:
                app2 = "exit-slow-" + name
                ms, out = exit_ms(java, jdk, agent="app=%s,cpu=1ms,relay=%s" % (app2, proxy.ws), args=("50",))
                check("never acknowledged" not in out,
                      "%s: the window was given up while the connection was being set up:\n%s" % (name, out[-2000:]))
                check(ms < 1800, "%s: exit waited %.0f ms, beyond the 1.5 s bound" % (name, ms))
                relay.wait_profile(app2)
            finally:
                proxy.stop()

        # 3. nothing listens: no wait, and the loss is said
        url = "ws://127.0.0.1:%d" % free_port()
        down = []
        for i in range(3):
            ms, out = exit_ms(java, jdk, agent="app=exit-down,cpu=1ms,loglevel=info,relay=" + url)
            check("never acknowledged by the relay at %s" % url in out,
                  "%s: the loss is not said:\n%s" % (name, out[-2000:]))
            threads_gone(name, out)
            down.append(ms)
        check(min(down) - min(bare) < 150,
              "%s: a refusing relay delays the exit: best %.0f ms vs bare %.0f ms" % (name, min(down), min(bare)))
        log("%s: exit not delayed (bare best %.0f ms, agent %.0f ms, relay down %.0f ms); a late upgrade is "
            "waited for and delivered" % (name, min(bare), min(agent), min(down)))


if __name__ == "__main__":
    main(run)
