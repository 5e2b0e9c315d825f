"""A throwaway PostgreSQL cluster for tests (issue 20: the relay's
PostgreSQL store).

Postgres().start() runs `initdb` in a temp dir and starts the server on a
free loopback port with its unix socket in that dir; stop() tears it down
(also at interpreter exit). The server refuses to run as root: as root the
cluster runs as the `postgres` user (runuser), the temp dir is handed to
it. Durability settings are relaxed for speed (fsync off): a server
restarted with stop()/start() keeps every commit, only an OS crash would not.

    with Postgres() as pg:
        relay = Relay(extra_args=["--store", pg.url])

CPROF_TEST_STORE=postgres makes cplib.Relay start every relay on one
cluster of this process (shared(); each Relay gets its own database)."""

import atexit
import shlex
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

PG_BIN = "/usr/lib/postgresql/15/bin"


def available():
    """Are the server binaries installed?"""
    return os.path.exists(os.path.join(PG_BIN, "initdb"))


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Postgres:
    def __init__(self, port=None):
        self.port = port or _free_port()
        self.tmp = tempfile.mkdtemp(prefix="cprof-pg-")
        self.data = os.path.join(self.tmp, "data")
        self.log = os.path.join(self.tmp, "server.log")
        self.user = None
        if os.geteuid() == 0:
            self.user = "postgres"
            pw = pwd.getpwnam(self.user)
            os.chown(self.tmp, pw.pw_uid, pw.pw_gid)
        self.running = False
        self._dbs = 0
        atexit.register(self.destroy)

    @property
    def url(self):
        """libpq URI of the database 'postgres'."""
        return "postgres://postgres@127.0.0.1:%d/postgres" % self.port

    def db_url(self, name):
        return "postgres://postgres@127.0.0.1:%d/%s" % (self.port, name)

    def _run(self, args, check=True, timeout=60):
        if self.user:
            args = ["runuser", "-u", self.user, "--"] + args
        return subprocess.run(args, check=check, timeout=timeout, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)

    def _template(self):
        """An initdb'ed cluster kept in the temp dir for the next tests
        (initdb takes ~3 s here, a copy ~0.5 s)."""
        tpl = os.path.join(tempfile.gettempdir(), "cprof-pg-template-15-%s" % (self.user or os.getuid()))
        if os.path.exists(os.path.join(tpl, "PG_VERSION")):
            return tpl
        work = tempfile.mkdtemp(prefix="cprof-pg-tpl-")
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(work, pw.pw_uid, pw.pw_gid)
        self._run([os.path.join(PG_BIN, "initdb"), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                   "--locale=C", "--no-sync", "-D", os.path.join(work, "d")])
        try:
            os.rename(os.path.join(work, "d"), tpl)
        except OSError:
            pass   # another test made it meanwhile
        shutil.rmtree(work, ignore_errors=True)
        return tpl

    def start(self):
        if not os.path.exists(self.data):
            self._run(["cp", "-a", self._template(), self.data])
        opts = ("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
                " -c shared_buffers=64MB -c max_connections=200 -c log_min_messages=fatal"
                % (self.port, self.tmp))
        r = self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l", self.log, "-o", opts,
                       "-w", "-t", "30", "start"], check=False)
        if r.returncode != 0:
            raise RuntimeError("postgres did not start: %s\n%s" % (r.stdout.decode(errors="replace"),
                                                                   self.tail()))
        self.running = True
        self._watch()
        return self

    def _watch(self):
        """A detached watchdog that stops the cluster and removes its files
        once this process is gone, however it ended (a meson timeout or a ^C
        kills it before atexit runs, and the server would run on, its
        autovacuum busy, beside later tests and benchmarks)."""
        ctl = "%s -D %s -m immediate -w stop" % (os.path.join(PG_BIN, "pg_ctl"), shlex.quote(self.data))
        if self.user:
            ctl = "runuser -u %s -- %s" % (self.user, ctl)
        keep = "" if not os.environ.get("CPROF_KEEP") else "#"
        script = ("while kill -0 %d 2>/dev/null && [ -d %s ]; do sleep 1; done; "
                  "if [ -f %s/postmaster.pid ]; then %s >/dev/null 2>&1; fi; %srm -rf %s"
                  % (os.getpid(), shlex.quote(self.data), shlex.quote(self.data), ctl, keep,
                     shlex.quote(self.tmp)))
        subprocess.Popen(["sh", "-c", script], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)

    def stop(self, mode="fast"):
        """Stops the server (mode 'immediate' is a crash: no shutdown checkpoint)."""
        if self.running:
            self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", mode, "-w", "stop"],
                      check=False)
            self.running = False

    def sql(self, query, db="postgres"):
        """Runs one SQL text with psql; returns its unaligned output."""
        r = subprocess.run(["psql", "-X", "-A", "-t", "-h", "127.0.0.1", "-p", str(self.port), "-U",
                            "postgres", "-d", db, "-c", query], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        if r.returncode:
            raise RuntimeError("psql: %s" % r.stderr.decode(errors="replace"))
        return r.stdout.decode().strip()

    def new_db(self):
        """A fresh empty database; returns its URI."""
        self._dbs += 1
        name = "cprof%d_%d" % (os.getpid(), self._dbs)
        self.sql("CREATE DATABASE %s" % name)
        return self.db_url(name)

    def tail(self, n=30):
        try:
            with open(self.log, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""

    def destroy(self):
        self.stop("immediate")
        if not os.environ.get("CPROF_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.destroy()


_shared = None


def shared():
    """One cluster for this process, started on first use."""
    global _shared
    if _shared is None:
        _shared = Postgres().start()
    return _shared


def wait_ready(pg, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            pg.sql("SELECT 1")
            return
        except RuntimeError:
            time.sleep(0.1)
    raise RuntimeError("postgres not ready")
