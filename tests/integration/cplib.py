"""cplib - shared harness for cprof integration tests.

Every integration test is a plain Python 3 script (Debian's /usr/bin/python3,
stdlib only) that starts real parts: the `cprof relay` binary on a free
127.0.0.1 port with a real SQLite data dir, and real JVMs with the real
libcprof-jvm.so. meson runs each script with CPROF_BUILD (the build dir) and
CPROF_SOURCE set; exit 0 = pass, 77 = skip (meson's convention), else fail.

Typical use:

    from cplib import *
    with Relay() as relay:
        java = JavaProgram("CpuSplit")            # tests/java/CpuSplit.java
        p = java.run(jdk=JDKS[0], agent="app=split,cpu=10ms,flush=1s",
                     relay=relay, args=["3"])
        relay.wait_profile("split", "cpu", lambda t: "CpuSplit.burnA" in t)
"""
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

SOURCE = os.path.abspath(os.environ.get("CPROF_SOURCE",
                         os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.path.abspath(os.environ.get("CPROF_BUILD", os.path.join(SOURCE, "build")))
CPROF = os.path.join(BUILD, "cli", "cprof")
AGENT = os.path.join(BUILD, "jvmti", "libcprof-jvm.so")
SHIM_JAR = os.path.join(BUILD, "java-shim", "src", "cprof-shim.jar")
JAVA_SRC = os.path.join(SOURCE, "tests", "java")


def _jdks():
    env = os.environ.get("CPROF_JDKS")
    if env:
        return [j for j in env.split(":") if j]
    found = []
    for home in ("/usr/lib/jvm/java-17-openjdk-amd64", "/usr/lib/jvm/temurin-25-jdk-amd64"):
        if os.path.exists(os.path.join(home, "bin", "java")):
            found.append(home)
    return found


# Tests check sampling at the intervals they ask for: the agent's overhead
# budget (overhead=1% by default, jvmti/overhead.h) would stretch them on a
# busy machine. JVMs started here inherit fixed intervals; a test of the
# budget passes overhead=N% in its options (options win over CPROF_*).
os.environ.setdefault("CPROF_OVERHEAD", "off")

JDKS = _jdks()           # every JDK on this machine; tests loop over them
VERBOSE = os.environ.get("CPROF_TEST_VERBOSE") == "1"


def log(*a):
    print("#", *a, flush=True)


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL when the test process dies, so a
    test killed by meson's timeout leaves no relay or JVM behind."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class TestFailure(Exception):
    pass


def check(cond, msg):
    """Fails the test with msg unless cond holds."""
    if not cond:
        raise TestFailure(msg)


def skip(why):
    print("SKIP:", why, flush=True)
    sys.exit(77)


def main(fn):
    """Runs fn(); prints PASS/FAIL and exits with meson's codes."""
    t0 = time.time()
    try:
        fn()
    except TestFailure as e:
        print("FAIL:", e, flush=True)
        sys.exit(1)
    print("PASS (%.1fs)" % (time.time() - t0), flush=True)
    sys.exit(0)


def out_dir(name):
    """A folder for this test's artifacts (logs, screenshots), kept after the run."""
    d = os.environ.get("CPROF_TEST_OUT") or os.path.join(BUILD, "test-out")
    d = os.path.join(d, name)
    os.makedirs(d, exist_ok=True)
    return d


def free_port():
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_factor():
    """How much slower than an idle machine this one is now (1 to 4).

    Waits scale with it: a 2-core machine running other jobs starts JVMs
    several times slower. Latency *assertions* must not use it."""
    try:
        return min(4.0, max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1)))
    except OSError:
        return 1.0


class OtherWork:
    """The CPU the rest of the machine used while the block ran, in cores:
    all CPUs' busy time (/proc/stat) less this process' and its reaped
    children's (a JVM run to completion inside the block). For tests that
    judge a cost against the JVM's CPU and must know whether a neighbour
    took it: the load average cannot tell, it counts the test's own JVMs
    and lags a minute behind.

        with OtherWork() as other:
            out = java.run(...)
        if other.cores > 0.5: ..."""

    @staticmethod
    def _busy():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
        return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")   # less idle and iowait

    @staticmethod
    def _ours():
        a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime

    def __enter__(self):
        self.cores = 0.0
        self.t0, self.b0, self.o0 = time.time(), self._busy(), self._ours()
        return self

    def __exit__(self, *exc):
        wall = max(1e-3, time.time() - self.t0)
        self.cores = max(0.0, (self._busy() - self.b0) - (self._ours() - self.o0)) / wall
        return False


def wait_for(fn, timeout, what, interval=0.2):
    """Polls fn() until it returns something truthy; returns it or fails.

    timeout is for an idle machine; it is stretched by load_factor()."""
    timeout = timeout * load_factor()
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (OSError, urllib.error.URLError, ValueError) as e:
            last = e
        time.sleep(interval)
    raise TestFailure("timed out after %.0fs waiting for %s (last: %r)" % (timeout, what, last))


class HTTPError(Exception):
    def __init__(self, code, body):
        super().__init__("HTTP %d: %s" % (code, body[:300]))
        self.code = code
        self.body = body


def http_get(url, timeout=30, token=None):
    """Returns (status, headers, body bytes); never raises on HTTP errors.
    token: sent as "Authorization: Bearer" (relays with --auth)."""
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


_test_stores = {}


def test_store():
    """The store engine the tests run against: 'sqlite' (default) or
    'postgres' (CPROF_TEST_STORE=postgres)."""
    return os.environ.get("CPROF_TEST_STORE", "sqlite")


def test_store_url(data):
    """The --store URI of a relay on data dir `data`, None for SQLite."""
    if test_store() != "postgres":
        return None
    key = os.path.abspath(data)
    if key not in _test_stores:
        import pg
        if not pg.available():
            skip("CPROF_TEST_STORE=postgres but no PostgreSQL 15 server here (apt-get install postgresql-15)")
        _test_stores[key] = pg.shared().new_db()
    return _test_stores[key]


def store_rows(relay, sql):
    """Rows of one SQL query on the relay's store (SQLite file or the
    PostgreSQL database), for tests that look at tables directly."""
    if relay.store_url:
        import pg
        out = pg.shared().sql(sql, db=relay.store_url.rsplit("/", 1)[1])
        return [tuple(int(x) if x.lstrip("-").isdigit() else x for x in line.split("|"))
                for line in out.splitlines() if line]
    import sqlite3
    con = sqlite3.connect("file:%s/cprof.db?mode=ro" % relay.data, uri=True, timeout=10)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


class Relay:
    """A real `cprof relay` on 127.0.0.1:<free port> with its own data dir.

    Use as a context manager; kill9() and start() again to test durability.
    token: a read (or admin) token its own queries send, for relays with --auth."""

    def __init__(self, data=None, port=None, extra_args=(), name="relay", token=None):
        self.token = token
        self.tmp = None
        if data is None:
            self.tmp = tempfile.mkdtemp(prefix="cprof-relay-")
            data = os.path.join(self.tmp, "data")
        self.data = data
        # CPROF_TEST_STORE=postgres: the same tests on the PostgreSQL engine
        # (pg.py), one database per data dir on one cluster per process
        self.store_url = test_store_url(data)
        self.port = port or free_port()
        self.extra_args = list(extra_args)
        self.proc = None
        self.name = name
        self.logpath = os.path.join(out_dir(name), "relay-%d.log" % self.port)

    @property
    def http(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def ws(self):
        return "ws://127.0.0.1:%d" % self.port

    def start(self, wait=True):
        if self.proc and self.proc.poll() is None:
            # a second relay on the same data directory would be refused by the lock
            raise TestFailure("relay %s started twice (use either start() or with)" % self.name)
        self.log = open(self.logpath, "ab")
        self.proc = subprocess.Popen(
            [CPROF, "relay", "--listen", "127.0.0.1:%d" % self.port, "--data", self.data]
            + (["--store", self.store_url] if self.store_url else []) + self.extra_args, stdout=self.log, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent)
        if wait:
            wait_for(self._ready, 15, "relay to answer on %s" % self.http)
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise TestFailure("relay exited with %s; log %s:\n%s" % (
                self.proc.returncode, self.logpath, self.tail()))
        st, _, _ = http_get(self.http + "/api/v1/apps", timeout=2, token=self.token)
        return st == 200

    def tail(self, n=40):
        try:
            with open(self.logpath, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise TestFailure("relay did not exit within %ss of signal %d" % (timeout, sig))
        if self.proc:
            self.log.close()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def __enter__(self):
        # `with Relay(...).start() as r:` and `with Relay(...) as r:` both start one relay
        if self.proc and self.proc.poll() is None:
            return self
        return self.start()

    def __exit__(self, *exc):
        try:
            self.stop()
        finally:
            if self.tmp and not os.environ.get("CPROF_KEEP"):
                shutil.rmtree(self.tmp, ignore_errors=True)

    # --- query API -------------------------------------------------------
    def url(self, path, **params):
        q = urllib.parse.urlencode({k.replace("_", "."): v for k, v in params.items()
                                    if v is not None})
        return self.http + path + ("?" + q if q else "")

    def get(self, path, **params):
        """GET path?params; returns (status, body bytes). base_from → base.from."""
        st, _, body = http_get(self.url(path, **params), token=self.token)
        return st, body

    def get_json(self, path, **params):
        st, body = self.get(path, **params)
        if st != 200:
            raise HTTPError(st, body.decode(errors="replace"))
        return json.loads(body)

    def collapsed(self, app, type="cpu", frm="now-1h", to="now+1m", **params):
        """The merged profile as {stack: value} from format=collapsed."""
        st, body = self.get("/api/v1/profile", app=app, type=type, **{"from": frm}, to=to,
                            format="collapsed", **params)
        if st != 200:
            raise HTTPError(st, body.decode(errors="replace"))
        out = {}
        for line in body.decode().splitlines():
            if not line.strip():
                continue
            stack, _, val = line.rpartition(" ")
            out[stack] = out.get(stack, 0) + int(val)
        return out

    def wait_profile(self, app, type="cpu", pred=None, timeout=30, **params):
        """Waits until the collapsed profile is non-empty (and pred(text) holds)."""
        def probe():
            try:
                prof = self.collapsed(app, type, **params)
            except HTTPError as e:
                if e.code == 404:
                    return None
                raise
            if not prof:
                return None
            if pred and not pred(prof):
                return None
            return prof
        return wait_for(probe, timeout, "profile of app %s type %s" % (app, type))


def wait_settled(relay, app, type="cpu", timeout=20, quiet=1.5, **params):
    """The collapsed profile once it stops changing: a JVM that has exited
    may still have its last windows in flight (sent, not yet stored)."""
    last, since = None, time.time()
    deadline = time.time() + timeout * load_factor()
    while time.time() < deadline:
        try:
            cur = relay.collapsed(app, type, **params)
        except HTTPError:
            cur = None
        if cur != last:
            last, since = cur, time.time()
        elif cur and time.time() - since >= quiet:
            return cur
        time.sleep(0.3)
    raise TestFailure("profile of app %s type %s did not settle in %ss" % (app, type, timeout))


def share(prof, needle, leaf_only=False):
    """Fraction of the profile's total whose stack contains (or ends in) needle."""
    total = sum(prof.values()) or 1
    hit = 0
    for stack, v in prof.items():
        frames = stack.split(";")
        if (leaf_only and frames[-1].startswith(needle)) or \
           (not leaf_only and any(f.startswith(needle) for f in frames)):
            hit += v
    return hit / total


class JavaProgram:
    """A test program from tests/java/<Name>.java, compiled once per build."""

    def __init__(self, name, *more_sources, classpath=()):
        """classpath: jars to compile and run with (e.g. [SHIM_JAR])."""
        self.name = name
        self.extra_cp = list(classpath)
        self.classes = os.path.join(BUILD, "test-java-classes")
        srcs = [os.path.join(JAVA_SRC, n + ".java") for n in (name,) + more_sources]
        os.makedirs(self.classes, exist_ok=True)
        stamp = os.path.join(self.classes, name + ".class")
        if not os.path.exists(stamp) or any(os.path.getmtime(s) > os.path.getmtime(stamp)
                                            for s in srcs):
            javac = os.path.join(JDKS[0], "bin", "javac") if JDKS else "javac"
            extra = getattr(self, "extra_cp", [])   # subclasses made without JavaProgram.__init__
            cpargs = ["-cp", ":".join(extra)] if extra else []
            subprocess.run([javac, "--release", "11", "-nowarn", "-d", self.classes] + cpargs + srcs,
                           check=True)

    def cmd(self, jdk, agent=None, relay=None, args=(), jvm_args=()):
        java = os.path.join(jdk, "bin", "java")
        c = [java] + list(jvm_args)
        if agent is not None:
            opts = agent
            if relay is not None and "relay=" not in opts:
                opts = "relay=%s%s%s" % (relay.ws, "," if opts else "", opts)
            c.append("-agentpath:%s%s" % (AGENT, "=" + opts if opts else ""))
        c += ["-cp", ":".join([self.classes] + getattr(self, "extra_cp", [])), self.name] + [str(a) for a in args]
        return c

    def start(self, jdk, agent=None, relay=None, args=(), jvm_args=(), env=None, logname=None):
        """Starts the JVM; returns the Popen (stdout+stderr to a log file under out_dir)."""
        logname = logname or "%s-%s-%d.log" % (self.name, os.path.basename(jdk), time.time_ns())
        path = os.path.join(out_dir("java"), logname)
        f = open(path, "wb")
        e = dict(os.environ)
        e.update(env or {})
        p = subprocess.Popen(self.cmd(jdk, agent, relay, args, jvm_args), stdout=f,
                             stderr=subprocess.STDOUT, env=e, preexec_fn=_die_with_parent)
        p.logpath = path
        return p

    def run(self, jdk, agent=None, relay=None, args=(), jvm_args=(), env=None, timeout=120):
        """Runs to completion; fails the test on a non-zero exit; returns the output."""
        p = self.start(jdk, agent, relay, args, jvm_args, env)
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            raise TestFailure("%s did not finish in %ss (log %s)" % (self.name, timeout, p.logpath))
        out = open(p.logpath, "rb").read().decode(errors="replace")
        check(rc == 0, "%s exited %d (log %s):\n%s" % (self.name, rc, p.logpath, out[-3000:]))
        check("hs_err" not in out and "SIGSEGV" not in out, "JVM crash:\n" + out[-3000:])
        return out


def jdk_name(jdk):
    return os.path.basename(jdk.rstrip("/"))
