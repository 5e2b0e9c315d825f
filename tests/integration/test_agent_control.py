"""test_agent_control - a relay's `configure` control cannot inject options.

The real relay has no endpoint that sends controls yet, so a ws_proxy in
front of it adds one configure message after the welcome, as a relay (or
anyone who can speak as one) would. It carries:
  cpu = "1ms,relay=ws://127.0.0.1:<trap>"   (the agent used to format
        key=value and split it on commas again: this moved it to <trap>)
  token, log, tls.insecure, relay, command  (keys the relay may not change)
  wall = "10ms"                             (a legitimate change)
The agent must refuse the first two kinds with a warning, never connect to
the trap port, keep sending to the real relay, and apply the wall change
(wall samples reach the relay). One JVM per JDK, side by side."""
import socket
import threading
import time

from cplib import *
from relay_wire import CONTROL, envelope
from ws_proxy import WsProxy


def test():
    check(JDKS, "no JDK found")
    trap = socket.socket()
    trap.bind(("127.0.0.1", 0))
    trap.listen(8)
    trap_port = trap.getsockname()[1]
    trapped = []

    def trap_accept():
        while True:
            try:
                c, _ = trap.accept()
            except OSError:
                return
            trapped.append(time.time())
            c.close()
    threading.Thread(target=trap_accept, daemon=True).start()

    control = envelope(CONTROL, {1: "configure", 2: {
        "cpu": "1ms,relay=ws://127.0.0.1:%d" % trap_port,
        "token": "stolen", "log": "/tmp/cprof-injected.log", "tls.insecure": "true",
        "relay": "ws://127.0.0.1:%d" % trap_port, "command": "detach",
        "wall": "10ms"}})
    java = JavaProgram("CpuSplit")
    with Relay(name="relay-control") as relay:
        runs = []
        for jdk in JDKS:
            proxy = WsProxy(relay.port)
            proxy.mode = "inject"
            proxy.inject_bytes = control
            app = "control-" + jdk_name(jdk)
            p = java.start(jdk, agent="relay=%s,app=%s,flush=1s" % (proxy.ws, app), args=[8])
            runs.append((jdk, proxy, app, p))
        for jdk, proxy, app, p in runs:
            try:
                rc = p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
                raise TestFailure("JVM did not finish (log %s)" % p.logpath)
            out = open(p.logpath, "rb").read().decode(errors="replace")
            check(rc == 0 and "hs_err" not in out, "JVM failed (%d):\n%s" % (rc, out[-3000:]))
            check(proxy.count("inject") >= 1, "the proxy never injected the control")
            refused = [l for l in out.splitlines() if "refused" in l]
            log("%s: %d injected control(s); agent said:\n  %s" % (jdk_name(jdk), proxy.count("inject"),
                                                                  "\n  ".join(refused[:8])))
            check(not trapped, "%s: the agent connected to the relay named inside a configure value"
                  % jdk_name(jdk))
            check(any("cpu=1ms,relay=" in l for l in refused), "no warning for the injected cpu value:\n" + out[-2000:])
            for key in ("token", "log", "tls.insecure", "relay", "command"):
                check(any("'%s=" % key in l for l in refused), "no warning for key %s" % key)
            check(not os.path.exists("/tmp/cprof-injected.log"), "the log option was changed")
            cpu = relay.wait_profile(app, "cpu", lambda pr: sum(pr.values()) > 0, timeout=20)
            wall = relay.wait_profile(app, "wall", lambda pr: sum(pr.values()) > 0, timeout=20)
            log("%s: relay holds %.0f ms cpu, %.0f ms wall (wall turned on by the relay)"
                % (jdk_name(jdk), sum(cpu.values()) / 1e6, sum(wall.values()) / 1e6))
            proxy.stop()
    trap.close()


if __name__ == "__main__":
    main(test)
