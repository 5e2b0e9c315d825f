"""test_agent_deadlines - every sender state has a deadline, and once the
relay is healthy again the agent is sending within 10 s.

A real relay behind ws_proxy.WsProxy, one JVM per JDK (run side by side):
1. hang (22 s): the proxy completes the websocket upgrade, forwards the
   agent's hello, and swallows the relay's welcome. An agent without a
   deadline for the welcome stays connected and waiting forever (one
   connection); with it, it gives up after 10 s and reconnects (>= 2).
2. refuse (22 s): every connection is closed at once, so the reconnect
   backoff grows as far as it can in that time.
3. pass: the relay is reachable again. The agent's data must be in the
   relay within 10 s (backoff capped, with jitter), and when the JVM ends
   the profile holds all of its CPU (95-105% of what the program measured):
   nothing buffered during the outage is lost."""
import re
import time

from cplib import *
from ws_proxy import WsProxy

HANG_S, REFUSE_S = 22, 22
RECOVER_S = 10


def burn_ms(prof):
    return sum(v for s, v in prof.items()
               if "CpuSplit.burnA" in s.split(";") or "CpuSplit.burnB" in s.split(";")) / 1e6


def test():
    check(JDKS, "no JDK found")
    java = JavaProgram("CpuSplit")
    with Relay(name="relay-deadlines") as relay:
        runs = []
        for jdk in JDKS:
            proxy = WsProxy(relay.port)
            proxy.mode = "hang"
            app = "deadline-" + jdk_name(jdk)
            p = java.start(jdk, agent="relay=%s,app=%s,flush=1s,loglevel=info" % (proxy.ws, app),
                           args=[HANG_S + REFUSE_S + RECOVER_S + 6])
            runs.append((jdk, proxy, app, p))
        t0 = time.time()
        time.sleep(HANG_S)
        for jdk, proxy, app, p in runs:
            check(p.poll() is None, "JVM died (log %s)" % p.logpath)
            n = proxy.count("accept")
            log("%s: %d connection(s) in %d s behind a proxy that hangs after the upgrade"
                % (jdk_name(jdk), n, HANG_S))
            check(n >= 2, "%s: the agent waited %d s for a welcome without reconnecting (log %s)"
                  % (jdk_name(jdk), HANG_S, p.logpath))
            proxy.mode = "refuse"
            proxy.close_all()
        time.sleep(REFUSE_S)
        t_up = time.time()
        for jdk, proxy, app, p in runs:
            proxy.mode = "pass"
        for jdk, proxy, app, p in runs:
            prof = relay.wait_profile(app, "cpu", lambda pr: burn_ms(pr) > 0, timeout=RECOVER_S + 20)
            took = time.time() - t_up
            log("%s: data in the relay %.1f s after it became reachable (%d connections in all)"
                % (jdk_name(jdk), took, proxy.count("accept")))
            check(took <= RECOVER_S + 1.5, "%s: the agent took %.1f s to send after the relay came back"
                  % (jdk_name(jdk), took))
        for jdk, proxy, app, p in runs:
            try:
                rc = p.wait(90)
            except subprocess.TimeoutExpired:
                p.kill()
                raise TestFailure("JVM did not finish (log %s)" % p.logpath)
            out = open(p.logpath, "rb").read().decode(errors="replace")
            check(rc == 0 and "hs_err" not in out, "JVM failed (%d):\n%s" % (rc, out[-3000:]))
            cpu_ms = int(re.search(r"CPU_MS=(\d+)", out).group(1))
            prof = relay.wait_profile(app, "cpu", lambda pr: burn_ms(pr) >= 0.95 * cpu_ms, timeout=20)
            got = burn_ms(prof)
            log("%s: profile holds %d ms of burn CPU, program measured %d ms" % (jdk_name(jdk), got, cpu_ms))
            check(0.95 * cpu_ms <= got <= 1.05 * cpu_ms, "%s: lost or doubled data: %d ms vs %d ms"
                  % (jdk_name(jdk), got, cpu_ms))
            proxy.stop()


if __name__ == "__main__":
    main(test)
