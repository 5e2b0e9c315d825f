"""test_relay_cluster - three stateless relays on one PostgreSQL, NATS for the
live view, haproxy in front (issue 20, docs/scaleout.md).

A throwaway PostgreSQL, a nats-server, 3 relays (`--store postgres://...
--nats ...`) and haproxy in TCP mode (the configuration of scripts/cluster).
Three real JVMs dial haproxy and spread over the relays. A live UI on relay
0 sees the windows of the JVMs that other relays hold. Then a relay holding
a JVM (not relay 0) is killed -9 mid-run:
  - its JVM (which sent batches to it while it was frozen for 1.5 s just
    before) reconnects through haproxy to another relay and resends what
    was not acknowledged;
  - a wire-level agent that sat on the killed relay (and never comes back)
    is marked gone in the registry of the surviving relays within a few
    heartbeats, while the moved JVM shows connected;
  - at the end, per JVM, the samples stored (the summed batch counters of
    its instance, /api/v1/instances quality.samples, asked through haproxy)
    equal the samples its agent took by its own exit counters: nothing
    lost, nothing stored twice (the accounting of scripts/faults: batches
    unacknowledged at a give-up or at exit may or may not be stored);
  - the live UI saw each window at most once.

`test_relay_cluster.py --long` (and scripts/faults, scenario cluster) runs
the long form: 75 s under a kill -9 of each of two relays (one frozen first),
PostgreSQL down for 5 s and nats-server down for 3 s, with the same
accounting and the time each fault took to heal."""
import json
import re
import shutil
import signal
import sys
import time

from cplib import *
import pg
from cluster import Haproxy, Live, Nats
from relay_wire import FakeAgent

APP = "clu"
RUN_S = 12
SAMPLE_KEYS = ("samples.cpu", "samples.wall", "samples.alloc", "samples.lock")


def exit_counters(p):
    text = open(p.logpath, "rb").read().decode(errors="replace")
    m = None
    for m in re.finditer(r"exit: counters:(.*)", text):
        pass
    if not m:
        return None
    return {k: int(v) for k, _, v in (kv.partition("=") for kv in m.group(1).split())}


def hellos(relay):
    """pids of the agents that said hello to this relay (its -v log)."""
    return {int(m) for m in re.findall(r"ingest: hello app=%s .*? pid=(\d+)" % APP, relay.tail(100000))}


def instances(where):
    st, _, body = http_get(where.http + "/api/v1/instances?app=" + APP, timeout=5)
    if st != 200:
        return None
    return {i["id"]: i for i in json.loads(body)["instances"]}


def metrics(relay):
    st, _, body = http_get(relay.http + "/api/v1/metrics?format=json", timeout=5)
    return json.loads(body) if st == 200 else {}


def skip_unless_ready():
    if not JDKS:
        skip("no JDK")
    for prog in ("nats-server", "haproxy"):
        if not shutil.which(prog):
            skip("no %s (scripts/setup installs it)" % prog)
    if not pg.available():
        skip("no PostgreSQL server (scripts/setup installs postgresql-15)")


class Cluster:
    """PostgreSQL + nats-server + n relays (-v: their logs name each hello)
    + haproxy, and a live UI on relay 0 subscribed to APP."""

    def __init__(self, name, n=3):
        self.tmp = out_dir(name)
        self.name, self.n = name, n

    def __enter__(self):
        self.db = pg.Postgres().start()
        self.nats = Nats(self.tmp).start()
        store = self.db.new_db()
        self.relays = [Relay(name=self.name, extra_args=["--store", store, "--nats", self.nats.url, "-v"])
                       for _ in range(self.n)]
        for r in self.relays:   # in parallel: each opens the store (schema, partitions)
            r.start(wait=False)
        for r in self.relays:
            wait_for(r._ready, 15, "relay to answer on %s" % r.http)
        self.lb = Haproxy(self.relays, self.tmp).start()
        self.ui = Live(self.relays[0], None, APP)
        self.ui.start()
        self.ui.ready.wait(10)
        check(self.ui.error is None, "live UI connected to relay 0: %r" % self.ui.error)
        time.sleep(0.3)   # its NATS subscription is made off the service thread
        self.jvms = []
        return self

    def start_jvms(self, n, seconds, jdk=None):
        prog = JavaProgram("WallDemo")
        for i in range(n):
            self.jvms.append(prog.start(jdk or JDKS[0], agent="relay=%s,app=%s,cpu=10ms,wall=20ms,flush=1s,"
                                        "loglevel=info,label.jvm=%d" % (self.lb.ws, APP, i), args=[str(seconds)]))
        return {p.pid for p in self.jvms}

    def account(self, timeout):
        """Waits for the JVMs to exit, then for the stored totals to settle;
        per JVM a dict: pid, taken (samples + drop.ring), stored (its
        instance's quality.samples), the agent's drops by cause: ring,
        buffer, dict (lost for sure), unacked, exit (sent, unacknowledged:
        maybe stored), and sure / maybe, their sums."""
        for p in self.jvms:
            rc = p.wait(timeout)
            out = open(p.logpath, "rb").read().decode(errors="replace")
            check(rc == 0 and "hs_err" not in out, "JVM %d exited %d:\n%s" % (p.pid, rc, out[-2000:]))
        want = {}
        for p in self.jvms:
            c = exit_counters(p)
            check(c is not None, "JVM %d printed its exit counters (log %s)" % (p.pid, p.logpath))
            d = {"pid": p.pid, "taken": sum(c.get(k, 0) for k in SAMPLE_KEYS) + c.get("drop.ring", 0),
                 "ring": c.get("drop.ring", 0), "buffer": c.get("drop.buffer_samples", 0),
                 "dict": c.get("drop.dict_samples", 0), "unacked": c.get("drop.unacked_samples", 0),
                 "exit": c.get("unacked.samples", 0)}
            d["sure"] = d["ring"] + d["buffer"] + d["dict"]
            d["maybe"] = d["unacked"] + d["exit"]
            want[p.pid] = d

        def stored():
            got = instances(self.lb)
            if not got:
                return None
            return {i["pid"]: i["quality"]["samples"] for i in got.values() if i["pid"] in want}

        last, since, deadline = None, time.time(), time.time() + 15 * load_factor()
        while time.time() < deadline:
            cur = stored()
            if cur and all(cur.get(pid, 0) >= d["taken"] - d["sure"] - d["maybe"] for pid, d in want.items()):
                if cur == last and time.time() - since > 1.5:
                    break
            if cur != last:
                last, since = cur, time.time()
            time.sleep(0.3)
        got = stored() or {}
        for pid, d in want.items():
            d["stored"] = got.get(pid, 0)
        return list(want.values())

    def ui_keys(self):
        return [(m["instance"], m["type"], m["start"], m["end"]) for _, m in self.ui.windows()]

    def __exit__(self, *exc):
        self.ui.stop = True
        for p in self.jvms:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.lb.stop()
        for r in self.relays:
            try:
                r.stop()
            except TestFailure:
                pass
        self.nats.kill9()
        self.db.destroy()


def check_accounting(rows, moved=()):
    for d in rows:
        pid, taken, sure, maybe, st = d["pid"], d["taken"], d["sure"], d["maybe"], d["stored"]
        lost = taken - sure - st
        log("JVM %d%s: taken %d, stored %d, dropped for sure %d, unacked at give-up/exit %d"
            % (pid, " (moved)" if pid in moved else "", taken, st, sure, maybe))
        check(st <= taken - sure, "JVM %d: nothing stored twice (stored %d > taken %d - dropped %d)"
              % (pid, st, taken, sure))
        check(lost <= maybe, "JVM %d: nothing lost (%d missing, %d unacknowledged)" % (pid, lost, maybe))
        check(taken > 100, "JVM %d sampled (%d)" % (pid, taken))


def run():
    skip_unless_ready()
    ghost = None
    with Cluster("relay_cluster") as cl:
        relays, ui = cl.relays, cl.ui
        try:
            pids = cl.start_jvms(3, RUN_S)
            t_start = time.time()
            where = wait_for(lambda: (lambda h: h if set().union(*h) >= pids else None)(
                [hellos(r) & pids for r in relays]), 20, "all JVMs welcomed by some relay")
            log("JVMs per relay: %s" % [sorted(h) for h in where])
            victims = [i for i in (1, 2) if where[i]]
            check(victims, "haproxy spread the JVMs: some relay other than 0 holds one (%s)" % where)
            v = victims[0]
            moved = set(where[v])
            # ---- a live UI on relay 0 sees the JVMs other relays hold
            def ui_instances():
                return {m["instance"] for _, m in ui.windows()}
            inst_pid = {}

            def registry():
                got = instances(relays[0])
                if not got:
                    return None
                for iid, i in got.items():
                    inst_pid[iid] = i.get("pid")
                conn = {i["pid"] for i in got.values() if i["connected"]}
                return conn if conn >= pids else None
            wait_for(registry, 10, "relay 0's /instances lists every JVM as connected")
            remote = {iid for iid, pid in inst_pid.items() if pid in moved}
            wait_for(lambda: ui_instances() & remote, 10,
                     "relay 0's live UI sees a JVM held by relay %d" % v)

            # ---- an agent that sits on the victim and never comes back
            ghost = FakeAgent(relays[v].ws, APP, "ghost-1", pid=999999)
            k, _ = ghost.connect()
            check(k == "welcome", "ghost agent welcomed by relay %d (%s)" % (v, k))
            now = int(time.time() * 1000)
            check(ghost.send_batch(1, now - 1000, now, {("java.lang.Thread.run", "Ghost.work"): 3})[0] == "ack",
                  "ghost's batch acked")
            wait_for(lambda: (instances(relays[2 if v == 1 else 1]) or {}).get("ghost-1", {}).get("connected"),
                     10, "ghost connected in another relay's registry")

            # ---- kill -9 the relay of the ghost and of a JVM, mid-run; frozen
            # first for 1.5 s, so its JVM has batches in flight, unacknowledged
            time.sleep(max(0, t_start + 3.5 - time.time()))
            relays[v].proc.send_signal(signal.SIGSTOP)
            time.sleep(1.5)
            relays[v].kill9()
            t_kill = time.time()
            log("killed relay %d (%d JVM(s)) %.1f s into the run" % (v, len(moved), t_kill - t_start))
            other = [i for i in range(3) if i != v]

            def moved_back():
                return all(any(p in hellos(relays[i]) for i in other) for p in moved)
            wait_for(moved_back, 10, "the victim's JVMs reconnected to another relay through haproxy")
            log("JVMs moved after %.1f s" % (time.time() - t_kill))

            def ghost_gone():
                i = (instances(relays[0]) or {}).get("ghost-1")
                return i is not None and not i["connected"]
            wait_for(ghost_gone, 12, "the killed relay's ghost agent marked gone")
            gone_s = time.time() - t_kill
            log("ghost marked gone %.1f s after the kill (heartbeat %d s, stale after %d s)" % (gone_s, 2, 6))
            check(gone_s < 6 + 2 * 2 + 2, "marked gone within a heartbeat or two of going stale (%.1f s)" % gone_s)
            conn = {i["pid"] for i in instances(relays[0]).values() if i["connected"]}
            check(moved <= conn, "the moved JVMs show connected: %s vs %s" % (moved, conn))

            # ---- every sample accounted for
            check_accounting(cl.account(RUN_S + 30), moved)
            dups = sum(metrics(relays[i]).get("dup_batches", 0) for i in other)
            log("batches resent after the kill and recognised as stored (dup_batches): %d" % dups)
            keys = cl.ui_keys()
            check(len(keys) == len(set(keys)), "the live UI saw no window twice (%d of %d unique)"
                  % (len(set(keys)), len(keys)))
            check(remote <= ui_instances(), "the live UI saw the moved JVM")
            for i in other:
                check(relays[i].proc.poll() is None, "relay %d still running" % i)
        finally:
            if ghost:
                try:
                    ghost.close()
                except Exception:
                    pass


def long_form(seconds=75, jdk=None):
    """The long form (scripts/faults, scenario 'cluster'): 3 JVMs for
    `seconds` through haproxy while, one after the other, relay 1 is killed
    -9 and restarted, relay 2 frozen 3 s then killed -9 and restarted,
    PostgreSQL stopped for 5 s (queries must answer 503 meanwhile) and
    nats-server killed for 3 s. Returns (per-JVM dicts of Cluster.account,
    [(fault, seconds until every JVM had a window on relay 0's live UI
    that started after the fault ended, or None)])."""
    recover = []
    with Cluster("relay_cluster_long") as cl:
        relays = cl.relays
        pids = cl.start_jvms(3, seconds, jdk)
        t0 = time.time()
        wait_for(lambda: set().union(*[hellos(r) & pids for r in relays]) >= pids, 20, "all JVMs welcomed")
        iid = {}

        def recovered(since):
            got = instances(cl.lb) or {}
            iid.update({i["id"]: i["pid"] for i in got.values() if i["pid"] in pids})
            seen = {iid.get(m["instance"]) for _, m in cl.ui.windows() if m["start"] >= since * 1000}
            return seen >= pids

        def at(t):
            time.sleep(max(0, t0 + t - time.time()))

        def measure(what):
            t = time.time()
            try:
                wait_for(lambda: recovered(t), 20, "every JVM live again after: " + what)
                recover.append((what, time.time() - t))
            except TestFailure:
                recover.append((what, None))
            log("%s: every JVM live again after %s" % (what, "%.1f s" % recover[-1][1] if recover[-1][1]
                                                         is not None else "never"))

        at(8)
        relays[1].kill9()
        time.sleep(3)
        relays[1].start()
        measure("relay 1 killed -9, back after 3 s")
        at(22)
        relays[2].proc.send_signal(signal.SIGSTOP)
        time.sleep(3)
        relays[2].kill9()
        relays[2].start()
        measure("relay 2 frozen 3 s, killed -9, restarted")
        at(36)
        cl.db.stop("immediate")
        time.sleep(1)
        st, _, _ = http_get(cl.lb.http + "/api/v1/profile?app=%s&type=cpu&from=now-5m" % APP, timeout=10)
        check(st == 503, "a query while PostgreSQL is down answers 503 (got %d)" % st)
        time.sleep(4)
        cl.db.start()
        measure("PostgreSQL down 5 s")
        at(50)
        cl.nats.kill9()
        time.sleep(3)
        cl.nats.start()
        measure("nats-server down 3 s")
        rows = cl.account(seconds + 60)
        keys = cl.ui_keys()
        check(len(keys) == len(set(keys)), "the live UI saw no window twice")
    return rows, recover


if __name__ == "__main__":
    if "--long" in sys.argv:
        def go():
            skip_unless_ready()
            rows, rec = long_form()
            check_accounting(rows)
            check(all(r is not None for _, r in rec), "every fault recovered: %s" % rec)
        main(go)
    main(run)
