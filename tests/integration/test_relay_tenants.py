"""test_relay_tenants - tenant isolation on a relay with --auth, with real JVMs.

Tenants acme and beta each run a real JVM under the same app name
"checkout" (acme: CpuSplit, beta: CpuDeflate, so the profiles differ); beta
also has an app of its own ("beta-only", a wire-level agent). Live-feed
subscribers of both tenants listen over real websockets while the JVMs run.
Then, for each tenant's read token, every endpoint must show only that
tenant's data: apps, instances, profile (json, collapsed, pprof,
speedscope), top, timeline, diff, the live messages, error texts ("unknown
app" for another tenant's app reads exactly like a name nobody has), and
`cprof query --token`. No answer may carry a tenant-qualified name."""
import asyncio
import hashlib
import json
import os
import subprocess
import threading
import time

import websockets

from cplib import *
from relay_wire import FakeAgent, pprof_decode

T = "java.lang.Thread.run"


def token_new(auth, tenant, role):
    out = subprocess.run([CPROF, "token", "new", "--tenant", tenant, "--role", role, "--auth", auth],
                         capture_output=True, text=True, timeout=10)
    check(out.returncode == 0, "cprof token new: %s" % out.stderr)
    return out.stdout.strip()


class LiveListener(threading.Thread):
    """A live-feed subscriber on its own thread (bearer subprotocol entry)."""

    def __init__(self, relay, token, app):
        super().__init__(daemon=True)
        self.url, self.token, self.app = relay.ws + "/api/v1/live", token, app
        self.msgs, self.ready, self.stop_at = [], threading.Event(), None
        self.error = None

    def run(self):
        async def go():
            async with websockets.connect(self.url, subprotocols=["cprof.live", "bearer." + self.token]) as ws:
                await ws.send(json.dumps({"subscribe": {"app": self.app}}))
                self.ready.set()
                while not self.stop_at or time.time() < self.stop_at:
                    try:
                        m = await asyncio.wait_for(ws.recv(), 0.5)
                        self.msgs.append(json.loads(m))
                    except asyncio.TimeoutError:
                        pass
        try:
            asyncio.run(go())
        except Exception as e:   # reported by the test
            self.error = e
            self.ready.set()


def run():
    if not JDKS:
        skip("no JDK")
    tmp = out_dir("relay_tenants")
    auth = os.path.join(tmp, "auth-%d.txt" % os.getpid())
    if os.path.exists(auth):
        os.unlink(auth)
    tok = {(t, r): token_new(auth, t, r) for t in ("acme", "beta") for r in ("ingest", "read")}
    admin = token_new(auth, "ops", "admin")
    jdk = JDKS[0]
    with Relay(name="relay_tenants", extra_args=["--auth", auth], token=admin) as relay:
        def get(tenant, path, **params):
            st, _, body = http_get(relay.url(path, **params), token=tok[(tenant, "read")])
            text = b"" if body[:2] == b"\x1f\x8b" else body   # pprof: binary, its names checked decoded
            check(b"\\u001f" not in text and b"\x1f" not in text,
                  "%s %s %r: a tenant-qualified name leaked: %r" % (tenant, path, params, body[:300]))
            return st, body

        live = {t: LiveListener(relay, tok[(t, "read")], "checkout") for t in ("acme", "beta")}
        for l in live.values():
            l.start()
            l.ready.wait(10)
            check(l.error is None, "live subscriber connected: %r" % l.error)

        split, deflate = JavaProgram("CpuSplit"), JavaProgram("CpuDeflate")
        pa = split.start(jdk, agent="app=checkout,cpu=10ms,flush=1s,token=" + tok[("acme", "ingest")],
                         relay=relay, args=["6", "9", "1"])
        pb = deflate.start(jdk, agent="app=checkout,cpu=10ms,flush=1s,token=" + tok[("beta", "ingest")],
                           relay=relay, args=["6"])
        other = FakeAgent(relay.ws, "beta-only", "bo-1", token=tok[("beta", "ingest")])
        k, _ = other.connect()
        check(k == "welcome", "beta's wire agent welcomed (%s)" % k)
        now = int(time.time() * 1000)
        check(other.send_batch(1, now - 10000, now, {(T, "beta.Secret.method"): 500})[0] == "ack", "beta-only ack")
        for p in (pa, pb):
            rc = p.wait(90)
            out = open(p.logpath, "rb").read().decode(errors="replace")
            check(rc == 0 and "hs_err" not in out, "JVM exited %d:\n%s" % (rc, out[-2000:]))
            check("relay error" not in out, "agent was accepted:\n%s" % out[-2000:])
        for l in live.values():
            l.stop_at = time.time() + 3
        prof = {}
        for t in ("acme", "beta"):
            relay.token = tok[(t, "read")]
            prof[t] = wait_settled(relay, "checkout", frm="now-1h", to="now+1m")
        relay.token = admin
        other.close()
        for l in live.values():
            l.join(15)

        # ---- profiles differ by tenant, each holds only its own JVM
        sa, sb = share(prof["acme"], "CpuSplit."), share(prof["beta"], "CpuDeflate.")
        log("acme: CpuSplit share %.2f; beta: CpuDeflate share %.2f" % (sa, sb))
        check(sa > 0.5 and share(prof["acme"], "CpuDeflate") == 0, "acme sees its CpuSplit only")
        check(sb > 0.3 and share(prof["beta"], "CpuSplit") == 0, "beta sees its CpuDeflate only")

        # ---- apps
        for t, want in (("acme", ["checkout"]), ("beta", ["beta-only", "checkout"])):
            st, body = get(t, "/api/v1/apps")
            names = sorted(a["name"] for a in json.loads(body)["apps"])
            check(st == 200 and names == want, "%s apps: %s" % (t, names))
        st, body = relay.get("/api/v1/apps")
        check(json.loads(body)["apps"] == [], "tenant ops has no apps: %s" % body)

        # ---- instances: one JVM each, the right pid
        for t, p in (("acme", pa), ("beta", pb)):
            st, body = get(t, "/api/v1/instances", app="checkout")
            inst = json.loads(body)["instances"]
            check(st == 200 and len(inst) == 1 and inst[0]["pid"] == p.pid and inst[0]["app"] == "checkout",
                  "%s instances: %s" % (t, body[:400]))
        iid = {t: json.loads(get(t, "/api/v1/instances", app="checkout")[1])["instances"][0]["id"]
               for t in ("acme", "beta")}

        # ---- another tenant's app reads exactly like an app nobody has
        for path in ("/api/v1/instances", "/api/v1/profile", "/api/v1/top", "/api/v1/timeline"):
            st1, b1 = get("acme", path, app="beta-only", **{"from": "now-1h"})
            st2, b2 = get("acme", path, app="no-such-app", **{"from": "now-1h"})
            check(st1 == st2 == 404 and b1.replace(b"beta-only", b"X") == b2.replace(b"no-such-app", b"X"),
                  "%s: other tenant's app vs unknown app: %s %s / %s %s" % (path, st1, b1, st2, b2))
        st, body = get("acme", "/api/v1/diff", app="beta-only", base_from="now-1h", cmp_from="now-1h")
        check(st == 404 and b"unknown app 'beta-only'" in body, "diff on beta's app: %s %s" % (st, body))
        # a forged qualified name is refused, not resolved
        for forged in ("beta\x1fcheckout", "beta\x1fbeta-only"):
            st, body = get("acme", "/api/v1/profile", app=forged, **{"from": "now-1h"})
            check(st == 400, "forged qualified app name refused: %s %s" % (st, body))

        # ---- every format and endpoint, per tenant
        mine, theirs = {"acme": "CpuSplit", "beta": "CpuDeflate"}, {"acme": "CpuDeflate", "beta": "CpuSplit"}
        for t in ("acme", "beta"):
            st, body = get(t, "/api/v1/profile", app="checkout", **{"from": "now-1h"}, to="now+1m")
            js = json.loads(body)
            check(st == 200 and js["app"] == "checkout", "%s json profile names the app plainly" % t)
            text = body.decode()
            check(mine[t] in text and theirs[t] not in text, "%s json profile holds only its frames" % t)
            st, body = get(t, "/api/v1/profile", app="checkout", **{"from": "now-1h"}, to="now+1m",
                           format="pprof")
            _, pp = pprof_decode(body)
            check(st == 200 and pp == prof[t], "%s pprof == its collapsed profile" % t)
            st, h, body = http_get(relay.url("/api/v1/profile", app="checkout", **{"from": "now-1h"},
                                             format="speedscope"), token=tok[(t, "read")])
            names = [f["name"] for f in json.loads(body)["shared"]["frames"]]
            check(st == 200 and any(mine[t] in n for n in names) and not any(theirs[t] in n for n in names),
                  "%s speedscope frames" % t)
            check('filename="checkout-cpu' in h.get("content-disposition", h.get("Content-Disposition", "")),
                  "%s download name is plain: %r" % (t, h))
            st, body = get(t, "/api/v1/profile", app="checkout", **{"from": "now-1h"}, format="collapsed")
            check(st == 200 and mine[t] in body.decode() and theirs[t] not in body.decode(), "%s collapsed" % t)
            st, body = get(t, "/api/v1/top", app="checkout", **{"from": "now-1h"}, to="now+1m")
            fns = [f["name"] for f in json.loads(body)["functions"]]
            check(st == 200 and any(mine[t] in f for f in fns) and not any(theirs[t] in f for f in fns),
                  "%s top: %s" % (t, fns[:5]))
            st, body = get(t, "/api/v1/timeline", app="checkout", **{"from": "now-1h"}, to="now+1m")
            tl = json.loads(body)
            check(st == 200 and sum(v for _, v in tl["points"]) == sum(prof[t].values()),
                  "%s timeline sums to its own profile (%d vs %d)" % (t, sum(v for _, v in tl["points"]),
                                                                     sum(prof[t].values())))
            st, body = get(t, "/api/v1/diff", app="checkout", base_from="now-1h", cmp_from="now-1h",
                           base_to="now+1m", cmp_to="now+1m")
            d = json.loads(body)
            check(st == 200 and d["base"]["total"] == sum(prof[t].values()), "%s diff totals are its own" % t)
            check(not any(theirs[t] in f["name"] for f in d["functions"]), "%s diff frames" % t)
            out = subprocess.run([CPROF, "query", "--relay", relay.http, "--app", "checkout", "--from", "now-1h",
                                  "--collapsed", "--token", tok[(t, "read")]], capture_output=True, text=True,
                                 timeout=30)
            check(out.returncode == 0 and mine[t] in out.stdout and theirs[t] not in out.stdout,
                  "%s cprof query --token:\n%s%s" % (t, out.stdout[:2000], out.stderr))
        log("every endpoint and format answers per tenant")

        # ---- live messages: only the subscriber's tenant
        for t in ("acme", "beta"):
            msgs = live[t].msgs
            insts = {m.get("instance") for m in msgs}
            log("%s live: %d messages from %s" % (t, len(msgs), insts))
            check(msgs and insts == {iid[t]}, "%s live feed carries only its instance: %s" % (t, insts))
            check(all(m["app"] == "checkout" for m in msgs), "%s live app names are plain" % t)

        # ---- an agent may not use control characters (no forged tenant)
        evil = FakeAgent(relay.ws, "acme\x1fcheckout", "evil-1", token=tok[("beta", "ingest")])
        k, e = evil.connect()
        check(k == "error" and "control characters" in e[2] and evil.closed(),
              "control characters in app refused: %s %r" % (k, e))
        relay.token = tok[("acme", "read")]
        check(sorted(a["name"] for a in relay.get_json("/api/v1/apps")["apps"]) == ["checkout"],
              "acme's apps unchanged")
        relay.token = admin


main(run)
