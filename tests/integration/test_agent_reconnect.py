"""test_agent_reconnect - the agent survives a missing and a crashing relay.

1. Relay absent at start: the JVM starts with the agent pointing at a port
   nobody listens on; the relay comes up 4 s later. No crash, and the data
   of the first seconds (buffered by the agent) arrives too.
2. Relay killed with SIGKILL mid-run and restarted on the same data dir and
   port: unacked batches are resent after the reconnect, and none is
   counted twice.
Both are checked against CpuSplit's own CPU accounting: the burn CPU in the
profile must be within 95-105% of the CPU the program measured (a batch
counted twice, or lost, would break it at flush=1s).
3. Relay frozen (SIGSTOP) while the JVM exits: the agent's exit flush is
   bounded, so the JVM is gone within ~2 s of main() returning.
Runs on every JDK found (part 3 on the first one).""" 
import re
import signal
import time

from cplib import *


def burn_ms(prof):
    return sum(v for s, v in prof.items()
               if "CpuSplit.burnA" in s.split(";") or "CpuSplit.burnB" in s.split(";")) / 1e6


def finish(p, timeout=60):
    try:
        rc = p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        raise TestFailure("JVM did not finish (log %s)" % p.logpath)
    out = open(p.logpath, "rb").read().decode(errors="replace")
    check(rc == 0, "JVM exited %d:\n%s" % (rc, out[-3000:]))
    check("hs_err" not in out and "SIGSEGV" not in out, "JVM crash:\n" + out[-3000:])
    return out


def check_cpu(relay, app, out, what):
    cpu_ms = int(re.search(r"CPU_MS=(\d+)", out).group(1))
    prof = relay.wait_profile(app, "cpu", lambda p: burn_ms(p) >= 0.95 * cpu_ms, timeout=20)
    got = burn_ms(prof)
    log("%s: profile holds %d ms of burn CPU, program measured %d ms" % (what, got, cpu_ms))
    check(0.95 * cpu_ms <= got <= 1.05 * cpu_ms,
          "%s: profile holds %d ms of burn CPU, program measured %d ms" % (what, got, cpu_ms))


def test():
    check(JDKS, "no JDK found")
    java = JavaProgram("CpuSplit")
    for jdk in JDKS:
        name = jdk_name(jdk)
        # 1. relay absent at start
        port = free_port()
        relay = Relay(port=port, name="relay-late")
        app = "late-" + name
        p = java.start(jdk, agent="relay=ws://127.0.0.1:%d,app=%s,flush=1s" % (port, app), args=[9])
        time.sleep(4)
        check(p.poll() is None, "JVM died while the relay was absent (log %s)" % p.logpath)
        with relay:
            out = finish(p)
            check_cpu(relay, app, out, name + " relay started late")

        # 2. relay killed mid-run and restarted on the same data and port
        relay = Relay(name="relay-kill")
        relay.start()
        try:
            app = "killed-" + name
            p = java.start(jdk, agent="app=%s,flush=1s" % app, relay=relay, args=[11])
            time.sleep(4)
            relay.kill9()
            time.sleep(2.5)
            check(p.poll() is None, "JVM died when the relay was killed (log %s)" % p.logpath)
            relay.start()
            out = finish(p)
            check_cpu(relay, app, out, name + " relay killed and restarted")
        finally:
            relay.stop()
            if relay.tmp:
                shutil.rmtree(relay.tmp, ignore_errors=True)

    # 3. frozen relay at exit: bounded shutdown
    jdk = JDKS[0]
    with Relay(name="relay-frozen") as relay:
        p = java.start(jdk, agent="app=frozen,flush=1s", relay=relay, args=[4])
        time.sleep(3)
        relay.proc.send_signal(signal.SIGSTOP)
        try:
            done_at = None
            deadline = time.time() + 40
            while time.time() < deadline and p.poll() is None:
                if done_at is None and "CPU_MS=" in open(p.logpath, errors="replace").read():
                    done_at = time.time()
                time.sleep(0.05)
            check(p.poll() is not None, "JVM hangs at exit with a frozen relay (log %s)" % p.logpath)
            exit_s = time.time() - (done_at or time.time())
            log("exit with a frozen relay took %.2fs after main() returned" % exit_s)
            check(exit_s < 3.5, "JVM took %.2fs to exit with a frozen relay" % exit_s)
        finally:
            relay.proc.send_signal(signal.SIGCONT)


main(test)
