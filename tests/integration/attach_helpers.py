"""attach_helpers - shared bits of the test_attach_*.py integration tests
(dynamic attach, watch, Spark). Builds on cplib; real relay, real JVMs."""
import os
import re
import subprocess
import time

from cplib import (CPROF, JDKS, JavaProgram, TestFailure, check, log, out_dir,  # noqa: F401
                   wait_for)


def cprof(*args, timeout=60, expect=0):
    """Runs `cprof ARGS`; returns the CompletedProcess; fails unless the exit
    code is `expect` (None: any)."""
    r = subprocess.run([CPROF] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout)
    log("cprof", " ".join(str(a) for a in args), "->", r.returncode,
        (r.stdout + r.stderr).strip()[:400])
    if expect is not None and r.returncode != expect:
        raise TestFailure("cprof %s exited %d (expected %d):\n%s%s" % (
            " ".join(map(str, args)), r.returncode, expect, r.stdout, r.stderr))
    return r


def agent_maps(pid):
    """Distinct libcprof-jvm*.so paths mapped in pid (empty set if none/gone)."""
    paths = set()
    try:
        with open("/proc/%d/maps" % pid) as f:
            for line in f:
                m = re.search(r"(/\S*libcprof-jvm[^/\s]*\.so)", line)
                if m:
                    paths.add(m.group(1))
    except OSError:
        pass
    return paths


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def read_log(p):
    with open(p.logpath, "rb") as f:
        return f.read().decode(errors="replace")


def wait_ready(p, timeout=20):
    """Waits for AttachTarget's "ready" line (the JVM is up, its SIGQUIT
    handler installed) and a first "alive" tick."""
    def probe():
        if p.poll() is not None:
            raise TestFailure("JVM exited early (%s):\n%s" % (p.returncode, read_log(p)[-2000:]))
        return "alive 1" in read_log(p)
    wait_for(probe, timeout, "JVM pid %d to run" % p.pid, interval=0.1)


def alive_ticks(p):
    ticks = re.findall(r"^alive (\d+)$", read_log(p), re.M)
    return int(ticks[-1]) if ticks else 0


def check_no_crash(p):
    out = read_log(p)
    check("hs_err" not in out and "SIGSEGV" not in out and "# A fatal error" not in out,
          "JVM crash in %s:\n%s" % (p.logpath, out[-3000:]))


def stop(p, timeout=10):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def target():
    """The AttachTarget program (tests/java/AttachTarget.java)."""
    return JavaProgram("AttachTarget")


def jdk_major(jdk):
    try:
        with open(os.path.join(jdk, "release")) as f:
            m = re.search(r'JAVA_VERSION="(\d+)', f.read())
            return int(m.group(1)) if m else 0
    except OSError:
        return 0


def quiet_jvm_args(jdk):
    """JDK 21+ warns on every dynamic agent load unless this flag is set; the
    tests run once with it absent elsewhere, here we keep logs readable."""
    return ["-XX:+EnableDynamicAgentLoading"] if jdk_major(jdk) >= 21 else []


def now():
    return time.time()


def start_wrapped(prog, jdk, prefix, args=(), jvm_args=(), tag="wrapped"):
    """Starts prog like JavaProgram.start, but behind a command prefix
    (setpriv for another user, unshare for another namespace). Returns the
    Popen of the prefix; its .logpath holds the JVM's output."""
    path = os.path.join(out_dir("java"), "%s-%s-%s-%d.log" % (
        prog.name, tag, os.path.basename(jdk), time.time_ns()))
    f = open(path, "wb")
    os.chmod(path, 0o666)
    p = subprocess.Popen(list(prefix) + prog.cmd(jdk, args=args, jvm_args=jvm_args),
                         stdout=f, stderr=subprocess.STDOUT)
    p.logpath = path
    return p


def find_java_child(p, timeout=10):
    """The pid of the java process started under wrapper p (p itself if it
    exec'd java, else its descendant)."""
    def probe():
        todo = [p.pid]
        while todo:
            pid = todo.pop()
            try:
                with open("/proc/%d/comm" % pid) as f:
                    if f.read().strip() == "java":
                        return pid
                with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                    todo += [int(x) for x in f.read().split()]
            except OSError:
                pass
        return None
    return wait_for(probe, timeout, "java under pid %d" % p.pid, interval=0.1)


def ensure_user(name="cprofattach"):
    """Creates a system user for the other-user test (root only); returns
    (uid, gid)."""
    import pwd
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", name], check=True)
        pw = pwd.getpwnam(name)
    return pw.pw_uid, pw.pw_gid


def cprof_threads(pid):
    """Names of the agent's threads (cprof-*) still in pid, from /proc."""
    names = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                    n = f.read().strip()
            except OSError:
                continue
            if n.startswith("cprof"):
                names.append(n)
    except OSError:
        pass
    return sorted(names)


def jcmd_threads(jdk, pid):
    """`jcmd PID Thread.print` output (the JVM's own list of its threads)."""
    r = subprocess.run([os.path.join(jdk, "bin", "jcmd"), str(pid), "Thread.print"],
                       capture_output=True, text=True, timeout=60)
    return r.stdout + r.stderr


class Controlled:
    """A tests/java/DetachTarget JVM driven through its control file."""

    def __init__(self, jdk, seconds=120, jvm_args=()):
        self.ctl = os.path.join(out_dir("detach"), "ctl-%s-%d" % (os.path.basename(jdk),
                                                                  time.time_ns()))
        self.p = JavaProgram("DetachTarget").start(
            jdk, args=[str(seconds), self.ctl], jvm_args=quiet_jvm_args(jdk) + list(jvm_args))
        wait_ready(self.p)

    def command(self, line, timeout=90):
        """Appends a command; returns its answer (the text after "ok CMD ")."""
        word = line.split()[0]
        before = len(re.findall(r"^ok %s.*$" % word, read_log(self.p), re.M))
        with open(self.ctl, "a") as f:
            f.write(line + "\n")

        def probe():
            if self.p.poll() is not None:
                raise TestFailure("JVM exited (%s):\n%s" % (self.p.returncode, read_log(self.p)[-2000:]))
            got = re.findall(r"^ok %s ?(.*)$" % word, read_log(self.p), re.M)
            return got[before] if len(got) > before else None
        ans = wait_for(probe, timeout, "answer to '%s'" % line, interval=0.1)
        log("command", line, "->", ans)
        return ans

    def quit(self, timeout=30):
        """Ends main normally; fails unless the JVM exits 0 in time."""
        with open(self.ctl, "a") as f:
            f.write("quit\n")
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure("JVM did not exit within %d s of quit (hang)" % timeout)
        check(rc == 0 and "done" in read_log(self.p),
              "JVM exit code %s after quit:\n%s" % (rc, read_log(self.p)[-2000:]))
