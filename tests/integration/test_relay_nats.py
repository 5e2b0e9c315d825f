"""test_relay_nats - live fan-out across relays through NATS (issue 20).

Two relays, each with its own SQLite store, both started with --nats and one
real nats-server, and the same --auth file (tenants acme and beta). A real
JVM (tenant acme, app "fan") sends to relay A only. Live subscribers:
acme's reader on relay B must see the JVM's windows within 2 s of relay A's
own subscriber, each window exactly once on each relay (no echo of local
windows); beta's reader on B, subscribed to the same app name, must see
only beta's own agent (a wire-level agent on A under the same app name),
never a subject of acme.

Then nats-server is killed -9: both relays keep ingesting (A's local feed
goes on, A still acks), the loss is logged once per relay however long it
lasts (nats_disconnects = 1); a nats-server restarted on the same port is
found again without help and the fan-out resumes."""
import json
import os
import re
import shutil
import subprocess
import time

from cplib import *
from cluster import Live, Nats
from relay_wire import FakeAgent

T = "java.lang.Thread.run"


def token_new(auth, tenant, role):
    out = subprocess.run([CPROF, "token", "new", "--tenant", tenant, "--role", role, "--auth", auth],
                         capture_output=True, text=True, timeout=10)
    check(out.returncode == 0, "cprof token new: %s" % out.stderr)
    return out.stdout.strip()


def key(m):
    return (m["instance"], m["type"], m["labels"], m["start"], m["end"])


def metrics(relay):
    return relay.get_json("/api/v1/metrics", format="json")


def run():
    if not JDKS:
        skip("no JDK")
    if not shutil.which("nats-server"):
        skip("no nats-server (scripts/setup installs it)")
    tmp = out_dir("relay_nats")
    auth = os.path.join(tmp, "auth-%d.txt" % os.getpid())
    if os.path.exists(auth):
        os.unlink(auth)
    tok = {(t, r): token_new(auth, t, r) for t in ("acme", "beta") for r in ("ingest", "read")}
    admin = token_new(auth, "ops", "admin")
    nats = Nats(tmp).start()
    args = ["--auth", auth, "--nats", nats.url]
    with Relay(name="relay_nats", extra_args=args, token=admin) as ra, \
            Relay(name="relay_nats", extra_args=args, token=admin) as rb:
        wait_for(lambda: all(metrics(r).get("nats_connected") == 1 for r in (ra, rb)), 10,
                 "both relays connected to NATS")
        a_acme = Live(ra, tok[("acme", "read")], "fan")
        b_acme = Live(rb, tok[("acme", "read")], "fan")
        b_beta = Live(rb, tok[("beta", "read")], "fan")
        for l in (a_acme, b_acme, b_beta):
            l.start()
            l.ready.wait(10)
            check(l.error is None, "live subscriber connected: %r" % l.error)
        beta = FakeAgent(ra.ws, "fan", "beta-1", token=tok[("beta", "ingest")])
        jvm = None
        try:
            k, _ = beta.connect()
            check(k == "welcome", "beta's agent welcomed on A (%s)" % k)
            # relay B subscribes off its service thread, in the order its UIs
            # subscribed: once beta's window crossed, acme's subscription is on
            for seq in range(1, 40):
                now = int(time.time() * 1000)
                check(beta.send_batch(seq, now - 1000, now, {(T, "beta.Secret.run"): 7})[0] == "ack", "beta ack")
                if b_beta.windows():
                    break
                time.sleep(0.25)
            check(b_beta.windows(), "relay B's UI got beta's window through NATS")
            jvm = JavaProgram("WallDemo").start(
                JDKS[0], agent="app=fan,cpu=off,wall=20ms,flush=1s,token=" + tok[("acme", "ingest")],
                relay=ra, args=["40"])

            # ---- relay B sees A's JVM, soon after A's own UI does
            wait_for(lambda: len(b_acme.windows()) >= 4, 20, "JVM windows on relay B's live feed")
            t0 = time.time()
            time.sleep(2.5)   # what A sent by t0 reaches B by now
            a_at = {key(m): t for t, m in a_acme.windows() if t < t0}
            b_at = {key(m): t for t, m in b_acme.windows()}
            lag = sorted(b_at[k] - a_at[k] for k in a_at if k in b_at)
            missing = [k for k in a_at if k not in b_at]
            log("relay B got %d of A's %d windows; lag behind A's own UI: median %.0f ms, max %.0f ms"
                % (len(lag), len(a_at), 1000 * lag[len(lag) // 2] if lag else -1, 1000 * max(lag or [0])))
            check(not missing, "every window A's UI saw reached B: missing %s" % missing[:3])
            check(max(lag) < 2.0, "B saw each window within 2 s of A's UI (max %.2f s)" % max(lag))
            for name, l in (("A", a_acme), ("B", b_acme)):
                ks = [key(m) for _, m in l.windows()]
                check(len(ks) == len(set(ks)), "relay %s: no window twice (%d of %d unique)"
                      % (name, len(set(ks)), len(ks)))
            pid_inst = {m["instance"] for _, m in b_acme.windows()}
            check(len(pid_inst) == 1 and "beta-1" not in pid_inst,
                  "acme's UI on B sees acme's JVM only: %s" % pid_inst)
            beta_seen = {m["instance"] for _, m in b_beta.windows()}
            check(beta_seen == {"beta-1"}, "beta's UI on B sees beta's agent only: %s" % beta_seen)
            check(all(m["app"] == "fan" for _, m in b_acme.windows() + b_beta.windows()),
                  "live app names are plain")
            check(not rb.get_json("/api/v1/metrics", format="json").get("nats_bad"), "no bad NATS messages")

            # ---- NATS killed: ingest goes on, fan-out pauses, logged once
            nats.kill9()
            wait_for(lambda: all(metrics(r).get("nats_connected") == 0 for r in (ra, rb)), 10,
                     "both relays noticed NATS is gone")
            t_down = time.time()
            a0 = len(a_acme.windows())
            time.sleep(3)   # six reconnect attempts
            check(len(a_acme.windows()) > a0, "relay A's own UI still gets windows without NATS")
            check(jvm.poll() is None, "JVM still running")
            b_down = [m for t, m in b_acme.windows(since=t_down + 0.5)]
            check(not b_down, "nothing crosses relays while NATS is down: %d" % len(b_down))
            m_a = metrics(ra)
            check(m_a["batches"] > 0 and m_a["store_failures"] == 0, "A stored through the outage: %s" % m_a)

            # ---- NATS back on the same port: fan-out resumes by itself
            nats.start()
            t_up = time.time()
            wait_for(lambda: all(metrics(r).get("nats_connected") == 1 for r in (ra, rb)), 10,
                     "both relays reconnected to NATS")
            wait_for(lambda: b_acme.windows(since=t_up), 10, "fan-out to relay B after NATS came back")
            log("fan-out resumed %.1f s after nats-server restarted" % (b_acme.windows(since=t_up)[0][0] - t_up))
            for r, name in ((ra, "A"), (rb, "B")):
                m = metrics(r)
                check(m["nats_disconnects"] == 1, "relay %s counted one disconnect: %s" % (name, m))
                lost = len(re.findall(r"nats: lost", r.tail(400)))
                back = len(re.findall(r"nats: reconnected", r.tail(400)))
                check(lost == 1 and back == 1, "relay %s logged the outage once (lost %d, back %d)"
                      % (name, lost, back))
            ks = [key(m) for _, m in b_acme.windows()]
            check(len(ks) == len(set(ks)), "relay B: no window twice after the reconnect")
            sizes = [len(json.dumps(m, separators=(",", ":"))) for _, m in b_acme.windows()]
            log("live message: %.0f bytes on average" % (sum(sizes) / len(sizes)))
            log("metrics A: published %d dropped %d; B: received %d"
                % (metrics(ra)["nats_published"], metrics(ra)["nats_dropped"], metrics(rb)["nats_received"]))
        finally:
            beta.close()
            if jvm:
                jvm.kill()
                jvm.wait()
            for l in (a_acme, b_acme, b_beta):
                l.stop = True
            nats.kill9()


if __name__ == "__main__":
    main(run)
