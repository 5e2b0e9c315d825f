#!/usr/bin/env python3
"""Attach across users and namespaces, on every JDK found.

1. A JVM running as another user (a system user created with useradd):
   `cprof attach` run as root switches to the JVM's uid/gid (the JVM checks
   the trigger file's owner and its peer's credentials) and the relay gets
   AttachTarget.hotLoop from it.
2. A JVM in its own mount and PID namespace with a private /tmp, running as
   the other user (what a container looks like to the attacher): it is
   pid 1 inside, its /tmp is not ours. A second such JVM, also pid 1 and in
   the same network namespace (host networking), is attached as well: the
   two agents must not take each other for a second copy. cprof reaches the socket through /proc/PID/root, tells the JVM
   its namespace pid, copies the agent into the container's /tmp, and the
   relay gets the profile; detach works there too.
Needs root (useradd, unshare); skips with a message otherwise."""
import copy
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cplib import AGENT, CPROF, JDKS, Relay, check, jdk_name, log, main, share, skip  # noqa: E402
from attach_helpers import (agent_maps, alive_ticks, check_no_crash, cprof, ensure_user,  # noqa: E402
                            find_java_child, quiet_jvm_args, start_wrapped, stop, target,
                            wait_for)


def hot(t):
    return share(t, "AttachTarget.hotLoop") > 0.5


def wait_ticks(p, n=1, timeout=20):
    wait_for(lambda: alive_ticks(p) >= n, timeout, "JVM %d to run" % p.pid, interval=0.1)


def other_user(relay, jdk, uid, gid):
    name = jdk_name(jdk)
    prog = target()
    paths = set()
    p = start_wrapped(prog, jdk, ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid,
                                  "--clear-groups"], args=["60"],
                      jvm_args=quiet_jvm_args(jdk), tag="user")
    try:
        wait_ticks(p)
        pid = find_java_child(p)
        with open("/proc/%d/status" % pid) as f:
            st = f.read()
        check("\t%d\t" % uid in st.split("Uid:")[1].split("\n")[0], "JVM not running as uid %d" % uid)
        # a non-root user may not attach to somebody else's JVM: clear error
        r = subprocess.run(["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--clear-groups",
                            CPROF, "attach", str(os.getpid())], capture_output=True, text=True)
        check(r.returncode == 1 and "permission denied" in r.stderr,
              "non-root attach to root's process: %d %r" % (r.returncode, r.stderr))
        # the agent sits where the JVM's user cannot read it (0700 dir): cprof
        # must copy it to /tmp for them
        private = tempfile.mkdtemp(prefix="cprof-private-")
        try:
            shutil.copy(AGENT, private)
            app = "attach-user-" + name
            r = cprof("attach", "--agent", os.path.join(private, "libcprof-jvm.so"), pid,
                      "relay=" + relay.ws, "app=" + app, "flush=1s")
        finally:
            shutil.rmtree(private)
        check("uid %d" % uid in r.stdout, r.stdout)
        paths = agent_maps(pid)
        check(len(paths) == 1 and list(paths)[0].startswith("/tmp/libcprof-jvm-"),
              "agent not copied for the other user: %s" % paths)
        relay.wait_profile(app, "cpu", hot, timeout=30)
        # the JVM's own (non-root) user may reconfigure and detach it too
        as_user = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--clear-groups", CPROF]
        r = subprocess.run(as_user + ["attach", str(pid), "relay=" + relay.ws, "app=" + app,
                                      "label.by=owner", "flush=1s"], capture_output=True, text=True)
        check(r.returncode == 0 and "reconfigured" in r.stdout,
              "attach by the JVM's own user: %d %r %r" % (r.returncode, r.stdout, r.stderr))
        relay.wait_profile(app, "cpu", hot, timeout=30, labels="by=owner")
        r = subprocess.run(as_user + ["detach", str(pid)], capture_output=True, text=True)
        check(r.returncode == 0, "detach by the JVM's own user: %r" % r.stderr)
        time.sleep(1)
        check(p.poll() is None, "JVM of the other user died")
        check_no_crash(p)
    finally:
        stop(p)
        for path in paths:
            if path.startswith("/tmp/libcprof-jvm-"):   # our copy; its JVM is gone
                try:
                    os.unlink(path)
                except OSError:
                    pass


def start_container(prog, jdk, uid=None, gid=None):
    """A JVM in its own mount + PID namespace with a private /tmp (as root, or
    as uid/gid); `exec` (sh, then setpriv) keeps java as pid 1 inside. The
    network namespace stays shared, as with host-networking containers."""
    if os.path.realpath(prog.classes).startswith("/tmp/"):
        # the container gets a fresh /tmp, which would hide a build tree
        # (and so the test classes) that lives under the host's /tmp
        visible = tempfile.mkdtemp(prefix="cprof-ns-classes-", dir="/var/tmp")
        shutil.copytree(prog.classes, visible, dirs_exist_ok=True)
        os.chmod(visible, 0o755)
        prog = copy.copy(prog)
        prog.classes = visible
    become = "setpriv --reuid=%d --regid=%d --clear-groups " % (uid, gid) if uid else ""
    inner = "mount -t tmpfs -o mode=1777 cprof-test-tmp /tmp && exec %s\"$@\"" % become
    p = start_wrapped(prog, jdk, ["unshare", "--mount", "--pid", "--fork", "--kill-child",
                                  "--mount-proc", "sh", "-c", inner, "sh"], args=["60", "40"],
                      jvm_args=quiet_jvm_args(jdk), tag="ns")
    p.java = None
    p.classes_copy = prog.classes if prog.classes.startswith("/var/tmp/cprof-ns-classes-") else None
    wait_ticks(p)
    p.java = find_java_child(p)
    return p


def end_container(p):
    # unshare --kill-child's parent-death signal does not survive setpriv's
    # uid change, so end the JVM itself (by its pid) before the wrapper
    if p.java:
        try:
            os.kill(p.java, signal.SIGKILL)
        except OSError:
            pass
    stop(p)
    if p.classes_copy:
        shutil.rmtree(p.classes_copy, ignore_errors=True)


def container(relay, jdk, uid, gid):
    name = jdk_name(jdk)
    prog = target()
    conts = []
    try:
        conts.append(start_container(prog, jdk, uid, gid))   # A: the other user
        conts.append(start_container(prog, jdk))             # B: root, also pid 1
        a, b = conts
        pid = a.java
        for c in conts:
            with open("/proc/%d/status" % c.java) as f:
                nstgid = [line for line in f if line.startswith("NStgid:")][0].split()
            check(len(nstgid) == 3 and nstgid[-1] == "1", "JVM not pid 1 in its namespace: %s" % nstgid)
        check(os.readlink("/proc/%d/ns/mnt" % pid) != os.readlink("/proc/self/ns/mnt"),
              "JVM shares our mount namespace")
        app = "attach-ns-" + name
        r = cprof("attach", pid, "relay=" + relay.ws, "app=" + app, "flush=1s")
        check("uid %d" % uid in r.stdout, "container JVM not seen as uid %d: %s" % (uid, r.stdout))
        paths = agent_maps(pid)
        check(len(paths) == 1 and list(paths)[0].startswith("/tmp/"),
              "agent not loaded from the container's /tmp: %s" % paths)
        check(os.path.exists("/proc/%d/root%s" % (pid, list(paths)[0])), "copy missing")
        # B is pid 1 too, in the same network namespace: its agent must not
        # mistake A's for "another copy in this JVM"
        cprof("attach", b.java, "relay=" + relay.ws, "app=" + app + "-b", "flush=1s")
        relay.wait_profile(app, "cpu", hot, timeout=30)
        relay.wait_profile(app + "-b", "cpu", hot, timeout=30)
        r = cprof("attach", pid, "relay=" + relay.ws, "app=" + app, "label.again=1", "flush=1s")
        check("reconfigured" in r.stdout and agent_maps(pid) == paths, "second copy in container")
        cprof("detach", pid)
        cprof("detach", b.java)
        ticks = alive_ticks(a)
        wait_for(lambda: alive_ticks(a) >= ticks + 2, 10, "containerised JVM to run on")
        for c in conts:
            check_no_crash(c)
        log(name, "container attach ok (two pid-1 JVMs), agent at", list(paths)[0])
    finally:
        for c in conts:
            end_container(c)


def test():
    if os.geteuid() != 0:
        skip("needs root: creates a user and namespaces (run the suite as root)")
    if not JDKS:
        skip("no JDK found")
    uid, gid = ensure_user()
    with Relay(name="attach-user") as relay:
        for jdk in JDKS:
            other_user(relay, jdk, uid, gid)
            container(relay, jdk, uid, gid)


if __name__ == "__main__":
    main(test)
