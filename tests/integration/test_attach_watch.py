#!/usr/bin/env python3
"""`cprof watch` discovers new JVMs and attaches, with a real relay.

watch runs with --match '^watch-me' --interval 1s. Started after it:
three matching JVMs (-Dcprof.app=watch-me-N, spread over the JDKs found),
two non-matching ones (-Dcprof.app=ignore-me-N), and one matching JVM that
already has the agent from -agentpath; and, before watch starts, a matching
JVM that hangs (SIGSTOP), whose attach must fail after --timeout without
delaying the others (attaches run in parallel workers). Each matching JVM
must have the agent
within 5 s of its start, and its profile must reach the relay under its app
with labels host and pid; the others must stay untouched, and the log must
say why each was skipped. SIGTERM ends watch cleanly. Reports the attach
latencies and watch's CPU time: under 5% with its attach workers, under 1%
between JVMs (scans only)."""
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cplib import CPROF, JDKS, Relay, check, log, main, out_dir, share, skip  # noqa: E402
from attach_helpers import (agent_maps, check_no_crash, quiet_jvm_args, stop, target,  # noqa: E402
                            wait_for, wait_ready)


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15])    # utime stime cutime cstime (workers)


def run_ns(pid):
    """CPU time of the process's main thread, in ns (not its workers)."""
    with open("/proc/%d/schedstat" % pid) as f:
        return int(f.read().split()[0])


def test():
    if not JDKS:
        skip("no JDK found")
    prog = target()
    logpath = os.path.join(out_dir("attach-watch"), "watch-%d.log" % time.time_ns())
    jvms = []
    with Relay(name="attach-watch") as relay, open(logpath, "w+") as wlog:
        # a matching JVM that hangs (SIGSTOP) before watch starts: its attach
        # times out (--timeout 4s) without delaying the others
        hung = prog.start(JDKS[0], args=["60", "10"], jvm_args=["-Dcprof.app=watch-me-hung"])
        jvms.append(hung)
        wait_ready(hung)
        os.kill(hung.pid, signal.SIGSTOP)
        watch = subprocess.Popen([CPROF, "watch", "--match", "^watch-me", "--interval", "1s",
                                  "--timeout", "4s", "relay=" + relay.ws, "flush=1s"],
                                 stdout=wlog, stderr=subprocess.STDOUT)

        def wtext():
            with open(logpath) as f:
                return f.read()
        try:
            wait_for(lambda: "watching for JVMs" in wtext(), 10, "watch to start")
            start_cpu = cpu_ticks(watch.pid)
            t_watch = time.time()

            # a matching JVM that already runs the agent
            pre = prog.start(JDKS[0], agent="app=watch-me-preloaded,flush=1s", relay=relay,
                             args=["40", "20"], jvm_args=["-Dcprof.app=watch-me-preloaded"])
            jvms.append(pre)
            started = []
            for i in range(3):
                jdk = JDKS[i % len(JDKS)]
                for kind in (("watch-me-%d" % i, True),) + ((("ignore-me-%d" % i, False),) if i < 2 else ()):
                    app, want = kind
                    p = prog.start(jdk, args=["40", "20"],
                                   jvm_args=["-Dcprof.app=" + app] + quiet_jvm_args(jdk))
                    p.app, p.want, p.t0 = app, want, time.time()
                    jvms.append(p)
                    started.append(p)
                time.sleep(0.7)

            latencies = {}
            for p in [q for q in started if q.want]:
                deadline = p.t0 + 5.0
                while time.time() < deadline and not agent_maps(p.pid):
                    time.sleep(0.05)
                check(agent_maps(p.pid), "%s (pid %d) has no agent %.1fs after its start; log:\n%s" % (
                    p.app, p.pid, time.time() - p.t0, wtext()))
                latencies[p.app] = time.time() - p.t0
            log("attach latency from JVM start (s):",
                ", ".join("%s %.2f" % kv for kv in sorted(latencies.items())))
            check(max(latencies.values()) <= 5.0, "too slow: %s" % latencies)

            # a few more scans with nothing new: the steady cost of watching
            idle_ns, idle_t = run_ns(watch.pid), time.time()
            time.sleep(2.5)
            idle = (run_ns(watch.pid) - idle_ns) / 1e9 / (time.time() - idle_t)
            log("watch CPU between JVMs: %.3f%% (scans of %d processes)" % (
                100 * idle, len(os.listdir("/proc"))))
            check(idle < 0.01, "watch used %.2f%% CPU scanning" % (100 * idle))
            for p in [q for q in started if not q.want]:
                check(not agent_maps(p.pid), "%s got the agent but does not match" % p.app)

            host = socket.gethostname()
            for p in [q for q in started if q.want]:
                relay.wait_profile(p.app, "cpu", lambda t: share(t, "AttachTarget.hotLoop") > 0.3,
                                   timeout=30)
                inst = relay.get_json("/api/v1/instances", app=p.app)["instances"]
                labels = inst[0].get("labels", {}) if inst else {}
                check(labels.get("pid") == str(p.pid) and labels.get("host") == host,
                      "labels of %s: %s" % (p.app, inst))
            text = wtext()
            for p in started:
                if p.want:
                    check("attached pid %d (%s" % (p.pid, p.app) in text, "no attach line for " + p.app)
                else:
                    check("skip pid %d (%s): does not match" % (p.pid, p.app) in text,
                          "no skip line for %s:\n%s" % (p.app, text))
            check("skip pid %d (watch-me-preloaded): the cprof agent already runs" % pre.pid in text,
                  "preloaded JVM not reported as skipped:\n" + text)
            check(len(agent_maps(pre.pid)) == 1, "second agent in the preloaded JVM")

            used = (cpu_ticks(watch.pid) - start_cpu) / os.sysconf("SC_CLK_TCK")
            span = time.time() - t_watch
            log("watch CPU: %.2fs over %.1fs (%.2f%%)" % (used, span, 100 * used / span))
            check(used / span < 0.05, "watch used %.1f%% CPU" % (100 * used / span))

            t0 = time.time()
            watch.send_signal(signal.SIGTERM)
            rc = watch.wait(10)
            check(rc == 0, "watch exited %d on SIGTERM" % rc)
            check(time.time() - t0 < 3, "watch took %.1fs to stop" % (time.time() - t0))
            check("stopping: 3 attached" in wtext() and "1 failed" in wtext(),
                  "summary line:\n" + wtext()[-500:])
            check("failed pid %d (watch-me-hung): no attach listener appeared" % hung.pid in wtext(),
                  "hung JVM not reported:\n" + wtext())
            os.kill(hung.pid, signal.SIGCONT)
            for p in jvms:
                check(p.poll() is None, "a JVM died: %s" % p.logpath)
                check_no_crash(p)
        finally:
            os.kill(hung.pid, signal.SIGCONT)
            if watch.poll() is None:
                watch.kill()
                watch.wait()
            for p in jvms:
                stop(p)


if __name__ == "__main__":
    main(test)
