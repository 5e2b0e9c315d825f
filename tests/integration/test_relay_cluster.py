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
  - the live UI saw each window at most once."""
import json
import re
import shutil
import signal
import subprocess
import time

from cplib import *
import pg
from cluster import Haproxy, Live, Nats
from relay_wire import FakeAgent

APP = "clu"
RUN_S = 13
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


def run():
    if not JDKS:
        skip("no JDK")
    for prog in ("nats-server", "haproxy"):
        if not shutil.which(prog):
            skip("no %s (scripts/setup installs it)" % prog)
    if not pg.available():
        skip("no PostgreSQL server (scripts/setup installs postgresql-15)")
    helptext = subprocess.run([CPROF, "relay", "--help"], capture_output=True, text=True).stdout
    if "--store" not in helptext:
        skip("this relay has no --store (PostgreSQL engine)")
    tmp = out_dir("relay_cluster")
    with pg.Postgres() as db, Nats(tmp) as nats:
        store = db.new_db()
        relays = [Relay(name="relay_cluster", extra_args=["--store", store, "--nats", nats.url, "-v"])
                  for _ in range(3)]
        for r in relays:
            r.start()
        lb = Haproxy(relays, tmp).start()
        ui = Live(relays[0], None, APP)
        jvms = []
        ghost = None
        try:
            ui.start()
            ui.ready.wait(10)
            check(ui.error is None, "live UI connected to relay 0: %r" % ui.error)
            time.sleep(0.3)   # its NATS subscription is made off the service thread

            prog = JavaProgram("WallDemo")
            for i in range(3):
                jvms.append(prog.start(JDKS[0], agent="relay=%s,app=%s,cpu=10ms,wall=20ms,flush=1s,"
                                       "loglevel=info,label.jvm=%d" % (lb.ws, APP, i), args=[str(RUN_S)]))
            t_start = time.time()
            pids = {p.pid for p in jvms}
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
            for p in jvms:
                rc = p.wait(RUN_S + 30)
                out = open(p.logpath, "rb").read().decode(errors="replace")
                check(rc == 0 and "hs_err" not in out, "JVM %d exited %d:\n%s" % (p.pid, rc, out[-2000:]))
            want = {}
            for p in jvms:
                c = exit_counters(p)
                check(c is not None, "JVM %d printed its exit counters (log %s)" % (p.pid, p.logpath))
                taken = sum(c.get(k, 0) for k in SAMPLE_KEYS) + c.get("drop.ring", 0)
                sure = c.get("drop.ring", 0) + c.get("drop.buffer_samples", 0) + c.get("drop.dict_samples", 0)
                maybe = c.get("drop.unacked_samples", 0) + c.get("unacked.samples", 0)
                want[p.pid] = (taken, sure, maybe)

            def stored():
                got = instances(lb)
                if not got:
                    return None
                return {i["pid"]: i["quality"]["samples"] for i in got.values() if i["pid"] in want}

            last, since, deadline = None, time.time(), time.time() + 15 * load_factor()
            while time.time() < deadline:
                cur = stored()
                if cur and all(cur.get(pid, 0) >= t - s - m for pid, (t, s, m) in want.items()):
                    if cur == last and time.time() - since > 1.5:
                        break
                if cur != last:
                    last, since = cur, time.time()
                time.sleep(0.3)
            got = stored()
            for pid, (taken, sure, maybe) in want.items():
                st = got.get(pid, 0)
                lost = taken - sure - st
                log("JVM %d%s: taken %d, stored %d, dropped for sure %d, unacked at give-up/exit %d"
                    % (pid, " (moved)" if pid in moved else "", taken, st, sure, maybe))
                check(st <= taken - sure, "JVM %d: nothing stored twice (stored %d > taken %d - dropped %d)"
                      % (pid, st, taken, sure))
                check(lost <= maybe, "JVM %d: nothing lost (%d missing, %d unacknowledged)" % (pid, lost, maybe))
                check(taken > 100, "JVM %d sampled (%d)" % (pid, taken))

            dups = sum(metrics(relays[i]).get("dup_batches", 0) for i in other)
            log("batches resent after the kill and recognised as stored (dup_batches): %d" % dups)
            keys = [(m["instance"], m["type"], m["start"], m["end"]) for _, m in ui.windows()]
            check(len(keys) == len(set(keys)), "the live UI saw no window twice (%d of %d unique)"
                  % (len(set(keys)), len(keys)))
            check(remote <= ui_instances(), "the live UI saw the moved JVM")
            for i in other:
                check(relays[i].proc.poll() is None, "relay %d still running" % i)
        finally:
            ui.stop = True
            if ghost:
                try:
                    ghost.close()
                except Exception:
                    pass
            for p in jvms:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            lb.stop()
            for r in relays:
                try:
                    r.stop()
                except TestFailure:
                    pass


if __name__ == "__main__":
    main(run)
