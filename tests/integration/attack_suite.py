"""attack_suite - hostile clients against a real relay that is also ingesting
from two real JVMs with the agent (scripts/attack runs the long form by
hand; test_relay_attack runs the short form in CI).

Attacks, one after the other: idle TCP connections, slowloris headers,
bogus hellos with 64 KiB labels, a zlib bomb, a batch before hello, huge
and overflowing time ranges, concurrent slow queries, a flood of new app
names. While they run, a probe asks for a normal /profile every 0.5 s
(its worst latency is reported); the real agents keep sending. At the end
the JVMs exit and their own counters (exit log: samples.cpu, unacked
samples, drop.*) are compared with what the relay stored for them
(instances' quality.samples): "lost" must be 0. The relay's RSS after the
attacks (and a settle pause) must be within 10% of before.

Output: a table attack | relay answered | cost (CPU s, RSS MB) | real agents
lost, and a dict of the figures for the caller."""
import asyncio
import collections
import os
import re
import resource
import socket
import threading
import time
import zlib

import msgpack
import websockets

from cplib import *
from relay_wire import envelope, decode, HELLO, BATCH

LONG = dict(idle=5000, slowloris=300, hellos=1000, queries=100, apps=1500, jvm_s=150, settle=12,
            relay_args=[])
SHORT = dict(idle=400, slowloris=40, hellos=100, queries=100, apps=150, jvm_s=45, settle=6,
             relay_args=["--header-timeout", "3s", "--hello-timeout", "3s", "--max-apps", "100"])


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def proc_cost(pid):
    """(CPU seconds, RSS MB) of a process."""
    with open("/proc/%d/stat" % pid) as f:
        st = f.read().rsplit(")", 1)[1].split()
    cpu = (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")
    with open("/proc/%d/status" % pid) as f:
        rss = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024.0
    return cpu, rss


class Probe(threading.Thread):
    """A normal /profile query of a real app every 0.5 s; worst latency per window."""

    def __init__(self, relay, app):
        super().__init__(daemon=True)
        self.relay, self.app = relay, app
        self.stop = False
        self.worst = 0.0
        self.bad = []
        self.all = []

    def take(self):
        w, self.worst = self.worst, 0.0
        return w

    def run(self):
        while not self.stop:
            t = time.time()
            try:
                st, _, _ = http_get(self.relay.url("/api/v1/profile", app=self.app, **{"from": "now-5m"}),
                                    timeout=30)
            except OSError as e:
                st = type(e).__name__
            dt = time.time() - t
            self.worst = max(self.worst, dt)
            self.all.append(dt)
            if st != 200:
                self.bad.append(st)
            time.sleep(0.5)


def hello_msg(app, inst, labels=None):
    return envelope(HELLO, {1: 1, 2: app, 3: inst, 4: "attacker", 5: 1, 6: int(time.time() * 1000),
                            7: "x", 8: "x", 9: "x", 10: labels or {}, 11: ["cpu"], 13: "jvm"})


async def ws_try(url, first, timeout=20):
    """Connects, sends `first`, returns the relay's answer: an error code, 'welcome', or 'closed'."""
    try:
        async with websockets.connect(url, subprotocols=["cprof.v1"], max_size=None, ping_interval=None,
                                      open_timeout=timeout, close_timeout=2) as ws:
            await ws.send(first)
            data = await asyncio.wait_for(ws.recv(), timeout)
            kind, obj = decode(data)
            if kind == 7:
                return obj.get(1)
            return {2: "welcome"}.get(kind, kind)
    except (websockets.ConnectionClosed, asyncio.TimeoutError, OSError) as e:
        return "closed:" + type(e).__name__


async def ws_many(url, msgs, conc=100):
    sem = asyncio.Semaphore(conc)

    async def one(m):
        async with sem:
            return await ws_try(url, m)
    return await asyncio.gather(*(one(m) for m in msgs))


def run_ws(url, msgs, conc=100):
    loop = asyncio.new_event_loop()
    try:
        return collections.Counter(loop.run_until_complete(ws_many(url, msgs, conc)))
    finally:
        loop.close()


def relay_sockets(pid):
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            n += os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:")
        except OSError:
            pass
    return n


def kernel_deferred(port):
    """Connections the kernel keeps from the relay (SYN_RECV on its port)."""
    n = 0
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(f).readlines()[1:]
        except OSError:
            continue
        for line in lines:
            x = line.split()
            n += x[3] == "03" and int(x[1].rsplit(":", 1)[1], 16) == port
    return n


def attack_idle(relay, n, cfg):
    """n idle connections. The relay sets TCP_DEFER_ACCEPT (= its header
    timeout), so the kernel hands it a connection only when bytes arrive, or
    once that time is up; then the header timeout closes it. Done when the
    relay holds none of them and the kernel keeps none for it (it may drop
    a deferred one without telling the client: those stay open here)."""
    pid = relay.proc.pid
    base = relay_sockets(pid)
    socks = []
    refused = 0
    for _ in range(n):
        try:
            socks.append(socket.create_connection(("127.0.0.1", relay.port), timeout=5))
        except OSError:
            refused += 1
    t = time.time()
    left, peak = list(socks), 0
    while left and time.time() - t < 90:
        nxt = []
        for s in left:
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    s.close()
                    continue
            except BlockingIOError:
                pass
            except OSError:
                s.close()
                continue
            nxt.append(s)
        left = nxt
        held = relay_sockets(pid) - base
        peak = max(peak, held)
        if held <= 2 and not kernel_deferred(relay.port):
            break
        time.sleep(0.2)
    for s in left:
        s.close()
    return "%d connected; the relay held at most %d at once, closed %d (%d open: dropped by the kernel unannounced); %s%s" % (
        len(socks), peak, len(socks) - len(left), len(left),
        "none held after %.1f s" % (time.time() - t) if relay_sockets(pid) - base <= 2 else "STILL HELD after 90 s",
        ", %d refused at connect" % refused if refused else "")


def attack_slowloris(relay, n, cfg):
    socks = [socket.create_connection(("127.0.0.1", relay.port)) for _ in range(n)]
    for s in socks:
        s.sendall(b"GET /api/v1/apps HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    t = time.time()
    alive = list(socks)
    while alive and time.time() - t < 60:
        nxt = []
        for s in alive:
            try:
                s.sendall(b"X-a: b\r\n")   # one header line a second, never the end
                nxt.append(s)
            except OSError:
                s.close()
        alive = nxt
        time.sleep(1)
    for s in alive:
        s.close()
    return "%d slow header senders cut after %.0f s%s" % (n, time.time() - t,
                                                         "" if not alive else " (%d still open!)" % len(alive))


def attack_bogus_hellos(relay, n, cfg):
    import base64
    big = {"k": base64.b64encode(os.urandom(49200)).decode()}   # one 64 KiB label value
    msgs = [hello_msg("bogus", "b%d" % i, big) for i in range(n)]
    res = run_ws(relay.ws + "/ingest", msgs)
    return "errors %s" % dict(res)


def attack_zlib_bomb(relay, n, cfg):
    bomb = zlib.compress(b"\0" * (64 << 20), 9)          # 64 MiB of zeros in ~64 KB
    import struct
    raw = b"CP" + bytes([1, HELLO, 1, 0, 0, 0]) + struct.pack(">I", 64 << 20) + bomb
    small = zlib.compress(b"\0" * (16 << 20), 9)         # under the first-message size, inflates 16 MiB
    raw2 = b"CP" + bytes([1, BATCH, 1, 0, 0, 0]) + struct.pack(">I", 16 << 20) + small
    res = run_ws(relay.ws + "/ingest", [raw, raw2] * 10)
    return "errors %s (%d B and %d B compressed)" % (dict(res), len(raw), len(raw2))


def attack_batch_first(relay, n, cfg):
    b = envelope(BATCH, {1: 1, 2: 1, 3: 2, 5: [["cpu", "ns"]], 9: []})
    res = run_ws(relay.ws + "/ingest", [b] * 50)
    return "errors %s" % dict(res)


def attack_ranges(relay, n, cfg):
    codes = collections.Counter()
    for frm in ("now-3000000000000h", "now-10000000000000m", "now-1e300y", "now-3y", "nan", "now-9999999d"):
        for path in ("/api/v1/profile", "/api/v1/timeline", "/api/v1/top"):
            st, _, _ = http_get(relay.url(path, app="attack-a", **{"from": frm}), timeout=30)
            codes[st] += 1
    st, _, _ = http_get(relay.url("/api/v1/timeline", app="attack-a", **{"from": "now-700d"}, step="1"), timeout=30)
    codes[st] += 1
    return "HTTP %s" % dict(codes)


def attack_slow_queries(relay, n, cfg):
    res = collections.Counter()

    def q(i):
        st, _, _ = http_get(relay.url("/api/v1/profile", app="attack-%s" % "ab"[i % 2], **{"from": "now-729d"},
                                      labels="run=%s" % (i % 2)), timeout=60)
        res[st] += 1
    th = [threading.Thread(target=q, args=(i,)) for i in range(n)]
    for x in th:
        x.start()
    for x in th:
        x.join()
    return "HTTP %s" % dict(res)


def attack_app_flood(relay, n, cfg):
    msgs = [hello_msg("flood-%06d" % i, "f") for i in range(n)]
    res = run_ws(relay.ws + "/ingest", msgs, conc=50)
    return "answers %s" % dict(res)


ATTACKS = [
    ("idle TCP connections", "idle", attack_idle),
    ("slowloris headers", "slowloris", attack_slowloris),
    ("bogus hellos, 64 KiB labels", "hellos", attack_bogus_hellos),
    ("zlib bomb (64 MiB, 16 MiB)", None, attack_zlib_bomb),
    ("batch before hello", None, attack_batch_first),
    ("huge/overflowing time ranges", None, attack_ranges),
    ("concurrent slow queries", "queries", attack_slow_queries),
    ("flood of new app names", "apps", attack_app_flood),
]


def agent_counters(logpath):
    out = open(logpath, "rb").read().decode(errors="replace")
    m = re.search(r"exit: counters:(.*?) unacked\.batches=(\d+) unacked\.samples=(\d+)", out)
    if not m:
        return None
    c = {k: int(v) for k, v in re.findall(r"(\S+)=(\d+)", m.group(1))}
    c["unacked.batches"], c["unacked.samples"] = int(m.group(2)), int(m.group(3))
    return c


def run_suite(long_form=False):
    cfg = LONG if long_form else SHORT
    if not JDKS:
        skip("no JDK")
    have = raise_nofile(cfg["idle"] + cfg["slowloris"] + 2000)
    if have < cfg["idle"] + cfg["slowloris"] + 500:
        cfg = dict(cfg, idle=max(100, have - cfg["slowloris"] - 600))
    java = JavaProgram("CpuSplit")
    rows = []
    with Relay(name="attack", extra_args=["--sync", "normal"] + cfg["relay_args"]) as relay:
        pid = relay.proc.pid
        jvms = []
        for i, app in enumerate(("attack-a", "attack-b")):
            jdk = JDKS[i % len(JDKS)]
            jvms.append((app, java.start(jdk, agent="app=%s,label.run=%d,cpu=10ms,flush=1s,loglevel=info" % (app, i),
                                         relay=relay, args=[str(cfg["jvm_s"]), "1", "1"])))
        relay.wait_profile("attack-a")
        relay.wait_profile("attack-b")
        # warm-up: what a UI does (apps, instances, profiles, timelines) so the
        # baseline has its caches filled, as a relay in use has
        for _ in range(10):
            for app in ("attack-a", "attack-b"):
                relay.get("/api/v1/apps")
                relay.get("/api/v1/instances", app=app)
                relay.get("/api/v1/profile", app=app, **{"from": "now-729d"})
                relay.get("/api/v1/timeline", app=app, **{"from": "now-1h"}, step="10")
            time.sleep(0.3)
        cpu0, rss0 = proc_cost(pid)
        log("relay before: cpu %.2f s, rss %.1f MB" % (cpu0, rss0))
        probe = Probe(relay, "attack-a")
        probe.start()
        t_start = time.time()
        for title, key, fn in ATTACKS:
            n = cfg[key] if key else 0
            c0, _ = proc_cost(pid)
            probe.take()
            t = time.time()
            answered = fn(relay, n, cfg)
            dt = time.time() - t
            c1, r1 = proc_cost(pid)
            worst = probe.take()
            rows.append({"attack": ("%s x%d" % (title, n)) if n else title, "answered": answered,
                         "cpu": c1 - c0, "rss": r1, "secs": dt, "probe": worst})
            log("%-32s %5.1fs cpu %.2fs rss %.1fMB probe %.2fs: %s" % (title, dt, c1 - c0, r1, worst, answered))
            check(relay.proc.poll() is None, "relay died during %s:\n%s" % (title, relay.tail()))
        # the real agents finish their run; their own counters against the store
        for app, p in jvms:
            rc = p.wait(cfg["jvm_s"] + 120)
            check(rc == 0, "JVM of %s exited %d" % (app, rc))
        probe.stop = True
        time.sleep(cfg["settle"])
        cpu2, rss2 = proc_cost(pid)
        m = relay.get_json("/api/v1/metrics", format="json")
        lost_total = 0
        agents = []
        for app, p in jvms:
            c = agent_counters(p.logpath)
            check(c is not None, "agent exit counters in %s" % p.logpath)
            inst = relay.get_json("/api/v1/instances", app=app)["instances"]
            stored = sum(i["quality"]["samples"] for i in inst)
            sent = c.get("samples.cpu", 0)
            lost = sent - stored + c.get("drop.buffer", 0) + c.get("drop.dict", 0)
            agents.append((app, sent, stored, c.get("unacked.samples"), c.get("net.rate_limited", 0),
                           c.get("net.batches_resent", 0)))
            lost_total += max(0, lost)
        for r in rows:
            r["lost"] = lost_total
        print()
        print("| attack | relay answered | cost (CPU s, RSS MB) | real agents lost |")
        print("|---|---|---|---|")
        for r in rows:
            print("| %s | %s; normal /profile worst %.2f s | %.2f s, %.0f MB | %d |" % (
                r["attack"], r["answered"], r["probe"], r["cpu"], r["rss"], r["lost"]))
        print()
        for a in agents:
            print("agent %s: samples.cpu sent %d, stored %d, unacked %s, rate_limited %d, resent %d" % a)
        print("relay RSS before %.1f MB, after %.1f MB (%+.1f%%); CPU for the whole run %.1f s; %.0f s of attacks"
              % (rss0, rss2, (rss2 - rss0) * 100 / rss0, cpu2 - cpu0, time.time() - t_start))
        print("relay metrics: %s" % {k: v for k, v in m.items() if v})
        print("normal /profile latency: worst %.2f s over %d probes, median %.3f s" % (
            max(probe.all), len(probe.all), sorted(probe.all)[len(probe.all) // 2]))
        return {"probe_all": probe.all, "rows": rows, "agents": agents, "rss0": rss0, "rss2": rss2, "lost": lost_total,
                "probe_bad": probe.bad, "metrics": m}
