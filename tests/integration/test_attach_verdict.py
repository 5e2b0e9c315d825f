#!/usr/bin/env python3
"""`cprof attach` prints the agent's own verdict on each option, on every
JDK found (17 and 25 here).

HotSpot's attach answers only with Agent_OnAttach's return code; the agent
hands its verdict back through a file in the JVM's /tmp (jvmti/verdict.h).
A real JVM (tests/java/AttachTarget.java) and a real relay:

1. options the CLI's own check lets through but the agent refuses (a token
   file the JVM cannot read, a log file it cannot open): each is named with
   the agent's reason, exit 7, and the other options work (data arrives);
   the agent's `running:` log line names each setting once;
2. --no-check sends options unchecked (as to an agent of another version):
   the agent's own parser refuses cpu=bogus, relay=http://..., nonsense, with
   reasons; -v lists the option it applied and its state; a corrected
   attach exits 0 and prints nothing on stderr;
3. a second `cprof detach` says the agent was already detached (exit 0) and
   the agent logs no second "detached: ... flushed";
4. no verdict file is left in the JVM's /tmp;
5. an agent that writes no verdict (tests/integration/noverdict_agent.c, as
   agents before the verdict) still attaches: "the agent did not report a
   verdict", exit 0."""
import glob
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cplib import BUILD, CPROF, JDKS, Relay, check, jdk_name, log, main, share, skip  # noqa: E402
from attach_helpers import (check_no_crash, quiet_jvm_args, read_log, stop, target,  # noqa: E402
                            wait_ready)


def cli(*args):
    r = subprocess.run([CPROF] + [str(a) for a in args], capture_output=True, text=True, timeout=60)
    log("cprof", " ".join(str(a) for a in args), "->", r.returncode, (r.stdout + r.stderr).strip()[:600])
    return r.returncode, r.stdout, r.stderr


# the first attach counts the options of the JVM's environment too (it reads
# them; a reconfiguration does not): cplib gives every JVM CPROF_OVERHEAD=off
ENV_OPTS = sum(1 for k in ("CPROF_OVERHEAD", "CPROF_MEMORY") if os.environ.get(k))


def verdict_lines(err):
    return [l for l in err.splitlines() if l.startswith("cprof attach: the agent") or
            l.startswith("cprof attach: pid ") and "refused by the agent" in l]


def leftovers(pid):
    return glob.glob("/proc/%d/root/tmp/.cprof-verdict-*" % pid)


def run_jdk(relay, jdk):
    name = jdk_name(jdk)
    p = target().start(jdk, args=["90"], jvm_args=quiet_jvm_args(jdk))
    try:
        wait_ready(p)
        pid = p.pid
        app = "verdict-" + name

        # 1. refused by the agent only: the CLI does not check token=@FILE (the
        # file is read in the JVM's filesystem), and only the agent can open
        # its log file
        rc, out, err = cli("attach", pid, "relay=" + relay.ws, "app=" + app, "flush=1s", "loglevel=info",
                           "token=@/nonexistent/cprof-token", "log=/nonexistent-dir/agent.log")
        check(rc == 7, "attach with options the agent refuses: exit %d, want 7\n%s" % (rc, err))
        check("cprof: attached to pid %d" % pid in out, "the attach itself is reported: " + out)
        want = [
            "cprof attach: the agent refused option 'token=@/nonexistent/cprof-token': cannot read the token file",
            "cprof attach: the agent refused option 'log=/nonexistent-dir/agent.log': cannot open the file "
            "(No such file or directory); logging to stderr",
            "cprof attach: pid %d: 2 of %d option(s) refused by the agent; the others were applied" % (pid, 6 + ENV_OPTS),
        ]
        check(err.splitlines() == want, "stderr:\n%s\nwant:\n%s" % (err, "\n".join(want)))
        relay.wait_profile(app, "cpu", lambda t: share(t, "AttachTarget.hotLoop") > 0.3, timeout=30)
        log(name, "refused by the agent -> 7, the applied options work:\n" + err)

        # the running: line names each setting once (it printed app twice)
        running = [l for l in read_log(p).splitlines() if " info: running: " in l]
        check(running, "no running: line in the JVM's log")
        line = running[-1]
        check(line.count("app=") == 1 and ("app=%s " % app) in line and line.count("relay=") == 1,
              "running: line names app and relay once: %r" % line)

        # 2. --no-check: the agent's own parser judges
        bad_relay = "relay=http://127.0.0.1:%d" % relay.port
        rc, out, err = cli("attach", "-v", "--no-check", pid, "cpu=bogus", bad_relay, "nonsense", "label.phase=two")
        check(rc == 7, "--no-check with bad options: exit %d, want 7\n%s" % (rc, err))
        check("cprof: reconfigured the agent in pid %d" % pid in out, out)
        want = [
            "cprof attach: the agent refused option 'cpu=bogus': not a duration (10ms, 1ms, 500us) or off",
            "cprof attach: the agent refused option '%s': must start with ws:// or wss://; nothing will be sent "
            "until it is corrected" % bad_relay,
            "cprof attach: the agent refused option 'nonsense': expected key=value",
            "cprof attach: the agent applied option 'label.phase=two'",
            "cprof attach: the agent in pid %d is now running: %s app=%s cpu=10ms wall=off flush=1s "
            "buffer=8388608 labels=1" % (pid, bad_relay, app),
            "cprof attach: pid %d: 3 of 4 option(s) refused by the agent; the others were applied" % pid,
        ]
        got = verdict_lines(err)
        check(got == want, "verdict lines:\n%s\nwant:\n%s" % ("\n".join(got), "\n".join(want)))
        log(name, "--no-check cpu=bogus relay=http:// nonsense -> 7:\n" + "\n".join(got))
        rc, out, err = cli("attach", pid, "relay=" + relay.ws)
        check(rc == 0 and err == "" and "reconfigured" in out, "a corrected attach: %d %r" % (rc, err))

        # 3. detach twice
        rc, out, err = cli("detach", pid)
        check(rc == 0 and out == "cprof: detached the agent in pid %d (sampling stopped, data flushed)\n" % pid,
              "first detach: %d %r %r" % (rc, out, err))
        rc, out, err = cli("detach", pid)
        check(rc == 0 and out == "cprof: the agent in pid %d was already detached: nothing to stop or flush\n"
              % pid and err == "", "second detach: %d %r %r" % (rc, out, err))
        jlog = read_log(p)
        check(jlog.count("info: detached: sampling stopped") == 1,
              "the agent logged 'detached' %d times" % jlog.count("info: detached: sampling stopped"))
        check("detach: the agent is already detached; nothing to stop or flush" in jlog,
              "the agent says it was already detached")
        log(name, "second detach: " + out.strip())

        # 4. nothing left behind
        check(leftovers(pid) == [], "verdict files left in the JVM's /tmp: %s" % leftovers(pid))
        check(p.poll() is None, "JVM died")
        p.terminate()
        rc = p.wait(15)
        check(rc == 143, "JVM exit status after SIGTERM: %s" % rc)
        check_no_crash(p)
    finally:
        stop(p)


def old_agent(jdk):
    """An agent that knows nothing of verdicts still attaches and detaches."""
    lib = os.path.join(BUILD, "tests", "integration", "libcprof-jvm-noverdict.so")
    check(os.path.exists(lib), "missing " + lib)
    p = target().start(jdk, args=["60"], jvm_args=quiet_jvm_args(jdk))
    try:
        wait_ready(p)
        rc, out, err = cli("attach", "--agent", lib, p.pid, "app=old")
        check(rc == 0 and "cprof: attached to pid %d" % p.pid in out, "attach of an old agent: %d %s" % (rc, err))
        check(err == "cprof attach: the agent did not report a verdict (an agent older than this cprof?); its "
              "warnings, if any, are in the JVM's log\n", "stderr: %r" % err)
        said = err.strip()
        check("noverdict agent: options 'app=old,verdict=/tmp/.cprof-verdict-" in read_log(p),
              "the agent got the options and the verdict file's name")
        rc, out, err = cli("detach", p.pid)
        check(rc == 0 and "detached the agent in pid %d" % p.pid in out, "detach of an old agent: %d %s" % (rc, err))
        check(leftovers(p.pid) == [], "verdict files left: %s" % leftovers(p.pid))
        log("an agent without verdicts: attach exit 0 with: " + said)
    finally:
        stop(p)


def test():
    if not JDKS:
        skip("no JDK found")
    old_agent(JDKS[0])
    with Relay(name="attach-verdict") as relay:
        for jdk in JDKS:
            run_jdk(relay, jdk)


if __name__ == "__main__":
    main(test)
