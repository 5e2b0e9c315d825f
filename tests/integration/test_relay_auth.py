"""test_relay_auth - tokens and roles on a real relay with --auth, real JVMs.

- `cprof token new`: prints the token alone, appends "TENANT ROLE SHA256"
  (hash only) to a 0600 file; a malformed file stops the relay at start-up
  with FILE:LINE.
- Each role on each endpoint: HTTP API (401 + WWW-Authenticate without or
  with an unknown token, 403 for an ingest token), the live websocket
  (Authorization header or "bearer.TOKEN" subprotocol entry), ingest from
  real JVMs (ingest and admin tokens accepted; a read token and an unknown
  token refused with a clear error in the agent's log, counted).
- The service thread peeks each connection's first message: a batch before
  hello, a big first message, a missing token are refused before the store.
- SIGHUP reload while agents stay connected: a new token works, a removed one
  stops working for new requests, the agent refused for an unknown token is
  let in once its token is added and its buffered data arrives; a broken
  file keeps the old table and says why.
- `cprof query` / `cprof diff` with --token, --token @FILE and CPROF_TOKEN."""
import asyncio
import hashlib
import json
import os
import re
import signal
import stat
import subprocess
import time

import websockets

from cplib import *
from relay_wire import FakeAgent, envelope, BATCH

API = ["/api/v1/apps", "/api/v1/instances", "/api/v1/profile", "/api/v1/top", "/api/v1/timeline",
       "/api/v1/diff"]


def token_new(auth, tenant, role):
    out = subprocess.run([CPROF, "token", "new", "--tenant", tenant, "--role", role, "--auth", auth],
                         capture_output=True, text=True, timeout=10)
    check(out.returncode == 0, "cprof token new: %s" % out.stderr)
    return out.stdout.strip()


def live_status(relay, subprotocols, headers=None):
    """HTTP status of a live-feed upgrade: 101 when accepted."""
    async def go():
        try:
            ws = await websockets.connect(relay.ws + "/api/v1/live", subprotocols=subprotocols,
                                          extra_headers=headers or {})
        except websockets.InvalidStatusCode as e:
            return e.status_code, e.headers.get("WWW-Authenticate")
        check(ws.subprotocol == "cprof.live", "the relay answers with cprof.live only: %r" % ws.subprotocol)
        await ws.close()
        return 101, None
    return asyncio.run(go())


def cli(*args, env=None):
    e = dict(os.environ)
    e.pop("CPROF_TOKEN", None)
    e.update(env or {})
    return subprocess.run([CPROF] + list(args), capture_output=True, text=True, timeout=30, env=e)


def run():
    if not JDKS:
        skip("no JDK")
    tmp = out_dir("relay_auth")
    auth = os.path.join(tmp, "auth-%d.txt" % os.getpid())
    for f in (auth,):
        if os.path.exists(f):
            os.unlink(f)

    # ---- cprof token new: the token alone on stdout, its hash in a 0600 file
    out = subprocess.run([CPROF, "token", "new", "--tenant", "acme", "--role", "ingest", "--auth", auth],
                         capture_output=True, text=True, timeout=10)
    check(out.returncode == 0 and re.fullmatch(r"cpt_[A-Za-z0-9_-]{43}\n", out.stdout),
          "token new prints one token line: %r %r" % (out.stdout, out.stderr))
    ingest = out.stdout.strip()
    text = open(auth).read()
    check(re.fullmatch(r"acme ingest [0-9a-f]{64}\n", text), "auth file line format: %r" % text)
    check(text.split()[2] == hashlib.sha256(ingest.encode()).hexdigest() and ingest not in text,
          "the file holds the token's SHA-256, never the token")
    check(stat.S_IMODE(os.stat(auth).st_mode) == 0o600, "auth file created 0600")
    admin, read1 = token_new(auth, "acme", "admin"), token_new(auth, "acme", "read")
    check(len(open(auth).read().splitlines()) == 3, "each token new appends one line")
    bad = cli("token", "new", "--tenant", "acme", "--role", "writer", "--auth", auth)
    check(bad.returncode == 2 and "bad role" in bad.stderr, "bad role refused: %s" % bad.stderr)
    unknown = "cpt_" + "x" * 43          # never in the file (until the reload below)

    # ---- a malformed file stops the relay at start-up, naming FILE:LINE
    broken = os.path.join(tmp, "broken-%d.txt" % os.getpid())
    with open(broken, "w") as f:
        f.write("# ok\nacme ingest %s\nacme reader %s\n" % ("a" * 64, "b" * 64))
    r = subprocess.run([CPROF, "relay", "--listen", "127.0.0.1:%d" % free_port(), "--data",
                        os.path.join(tmp, "d-broken"), "--auth", broken], capture_output=True, text=True,
                       timeout=20)
    check(r.returncode == 1 and "%s:3: unknown role 'reader'" % broken in r.stderr,
          "malformed auth file: exit 1 naming file:line (%d %r)" % (r.returncode, r.stderr))

    jdk = JDKS[0]
    java = JavaProgram("CpuSplit")
    with Relay(name="relay_auth", extra_args=["--auth", auth, "-v"], token=admin) as relay:
        agent = lambda app, tok, secs: java.start(
            jdk, agent="app=%s,cpu=10ms,flush=1s,token=%s" % (app, tok), relay=relay, args=[str(secs), "9", "1"])
        j_ingest = agent("auth-ingest", ingest, 18)      # stays connected through the reloads
        j_admin = agent("auth-admin", admin, 4)
        j_read = agent("auth-read", read1, 4)
        j_late = agent("auth-late", unknown, 18)         # refused until its token is added

        # ---- HTTP: each role on each endpoint
        params = dict(app="nothing-yet", base_from="now-1h", cmp_from="now-1h")
        for path in API:
            st, h, body = http_get(relay.url(path, **params))
            check(st == 401 and h.get("www-authenticate", h.get("WWW-Authenticate")) == 'Bearer realm="cprof"'
                  and "token" in json.loads(body)["error"], "%s without token: %d %r %s" % (path, st, h, body))
            st, _, body = http_get(relay.url(path, **params), token=unknown)
            check(st == 401, "%s unknown token: %d" % (path, st))
            st, _, body = http_get(relay.url(path, **params), token=ingest)
            check(st == 403 and "may not read" in json.loads(body)["error"], "%s ingest token: %d %s" % (path, st, body))
            for tok in (read1, admin):
                st, _, body = http_get(relay.url(path, **params), token=tok)
                check(st == (200 if path == "/api/v1/apps" else 404), "%s read/admin token: %d %s" % (path, st, body))
        st, _, body = http_get(relay.http + "/")
        check(st == 200 and b"<html" in body.lower(), "the UI's static files need no token")
        # the live feed: header or subprotocol entry; ingest token 403
        check(live_status(relay, ["cprof.live"]) == (401, 'Bearer realm="cprof"'), "live without token -> 401")
        check(live_status(relay, ["cprof.live", "bearer." + unknown])[0] == 401, "live unknown token -> 401")
        check(live_status(relay, ["cprof.live", "bearer." + ingest])[0] == 403, "live ingest token -> 403")
        check(live_status(relay, ["cprof.live", "bearer." + read1])[0] == 101, "live read token (subprotocol)")
        check(live_status(relay, ["cprof.live"], {"Authorization": "Bearer " + admin})[0] == 101,
              "live admin token (header)")

        # ---- the first ingest message is peeked: only a small hello with a good token
        def refused(fa, what, *send):
            asyncio.set_event_loop(fa.loop)
            fa.ws = fa._run(websockets.connect(fa.url, subprotocols=["cprof.v1"], max_size=None))
            for m in send:
                fa.send_raw(m)
            k, e = fa.recv()
            check(k == "error" and what in e[2] and fa.closed(), "%s: %s %r" % (what, k, e))
            log("refused: %s" % e[2])
        now = int(time.time() * 1000)
        fa = FakeAgent(relay.ws, "wire", "w-1", token=ingest)
        refused(fa, "before hello", fa.batch_msg(1, now, now + 1, {("a.B.c",): 1}))
        refused(FakeAgent(relay.ws, "wire", "w-2"), "a small hello", os.urandom(100 * 1024))
        k, e = FakeAgent(relay.ws, "wire", "w-3").connect()
        check(k == "error" and "missing token" in e[2], "hello without token: %s %r" % (k, e))
        k, e = FakeAgent(relay.ws, "wire", "w-4", token=read1).connect()
        check(k == "error" and "'read' token may not send profiles" in e[2], "read token on ingest: %r" % (e,))
        fa = FakeAgent(relay.ws, "wire", "w-5", token=admin)
        check(fa.connect()[0] == "welcome", "admin token may ingest")
        fa.close()

        # ---- real JVMs: ingest and admin accepted, read and unknown refused and told
        relay.token = read1
        relay.wait_profile("auth-ingest", "cpu", timeout=40, frm="now-1h")
        check(j_admin.wait(60) == 0, "admin-token JVM ran")
        relay.wait_profile("auth-admin", "cpu", timeout=20, frm="now-1h")
        check(j_read.wait(60) == 0, "read-token JVM ran (the agent never harms its JVM)")
        out = open(j_read.logpath, "rb").read().decode(errors="replace")
        check("may not send profiles" in out, "the read-token agent's log says why:\n%s" % out[-1500:])
        wait_for(lambda: "unknown token" in open(j_late.logpath, "rb").read().decode(errors="replace"), 20,
                 "the unknown-token agent's log to say so")
        apps = [a["name"] for a in relay.get_json("/api/v1/apps")["apps"]]
        check("auth-read" not in apps and "auth-late" not in apps, "refused agents stored nothing: %s" % apps)

        # ---- SIGHUP: add a token and the late agent's, remove read1, while agents stay connected
        before = sum(relay.collapsed("auth-ingest", frm="now-1h").values())
        read2 = token_new(auth, "acme", "read")
        lines = [l for l in open(auth).read().splitlines()
                 if l.split()[2] != hashlib.sha256(read1.encode()).hexdigest()]
        lines.append("acme ingest %s   # the late agent" % hashlib.sha256(unknown.encode()).hexdigest())
        with open(auth, "w") as f:
            f.write("\n".join(lines) + "\n")
        t_fix = time.time()
        relay.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "auth: reloaded" in relay.tail(20), 10, "the reload to be logged")
        st, _, _ = http_get(relay.url("/api/v1/apps"), token=read1)
        check(st == 401, "a removed token stops working for new requests (%d)" % st)
        relay.token = read2
        check(relay.get("/api/v1/apps")[0] == 200, "a new token works after SIGHUP")
        check(live_status(relay, ["cprof.live", "bearer." + read1])[0] == 401, "removed token: live refused")
        check(live_status(relay, ["cprof.live", "bearer." + read2])[0] == 101, "new token: live accepted")
        # the late agent is let in at its next attempt, with what it buffered meanwhile
        relay.wait_profile("auth-late", "cpu", timeout=30, frm="now-1h")
        tl = relay.get_json("/api/v1/timeline", app="auth-late", **{"from": "now-2m"}, step="1s")
        early = sum(v for t, v in tl["points"] if t < t_fix - 1)
        log("late agent: %d ns of samples from before its token was added" % early)
        check(early > 0, "the refused agent kept its data and sent it once let in")
        # the ingest JVM stayed connected through the reload: one hello, data still arriving
        wait_for(lambda: sum(relay.collapsed("auth-ingest", frm="now-1h").values()) > before, 20,
                 "auth-ingest data after the reload")
        inst = relay.get_json("/api/v1/instances", app="auth-ingest")["instances"]
        hellos = relay.tail(400).count("hello app=auth-ingest")
        check(len(inst) == 1 and hellos == 1, "one connection for the whole run (%d hellos, %r)" % (hellos, inst))

        # ---- a broken file on SIGHUP keeps the previous table and says why
        with open(auth, "a") as f:
            f.write("acme ingest not-a-hash\n")
        relay.proc.send_signal(signal.SIGHUP)
        n = len(open(auth).read().splitlines())
        wait_for(lambda: "reload failed, keeping the previous" in relay.tail(10), 10, "failed reload logged")
        check("%s:%d: bad hash" % (auth, n) in relay.tail(10), "the log names file:line:\n" + relay.tail(5))
        check(relay.get("/api/v1/apps")[0] == 200, "tokens still work after a failed reload")

        # ---- cprof query / diff with a token
        url = relay.http
        q = ["query", "--relay", url, "--app", "auth-ingest", "--from", "now-1h", "--collapsed"]
        r = cli(*q)
        check(r.returncode == 1 and "401" in r.stderr and "wants a token" in r.stderr,
              "query without token: %d %s" % (r.returncode, r.stderr))
        r = cli(*q, "--token", ingest)
        check(r.returncode == 1 and "403" in r.stderr, "query with ingest token: %s" % r.stderr)
        r = cli(*q, "--token", read2)
        check(r.returncode == 0 and "CpuSplit" in r.stdout, "query --token TOKEN: %s" % r.stderr)
        tf = os.path.join(tmp, "read-token-%d" % os.getpid())
        with open(tf, "w") as f:
            f.write(read2 + "\n")
        r = cli(*q, "--token", "@" + tf)
        check(r.returncode == 0 and "CpuSplit" in r.stdout, "query --token @FILE: %s" % r.stderr)
        r = cli(*q, env={"CPROF_TOKEN": read2})
        check(r.returncode == 0 and "CpuSplit" in r.stdout, "query with CPROF_TOKEN: %s" % r.stderr)
        r = cli("diff", "--relay", url, "--app", "auth-ingest", "--base-from", "now-1h", "--cmp-from", "now-1h",
                "--token", admin)
        check(r.returncode == 0 and "CpuSplit" in r.stdout, "diff --token: %s %s" % (r.stdout, r.stderr))
        check(read2 not in relay.tail(1000) and admin not in relay.tail(1000), "no token in the relay's log")

        for j in (j_ingest, j_late):
            check(j.wait(60) == 0, "JVM exit")
        relay.stop()
        stats = [l for l in relay.tail(20).splitlines() if "stats:" in l][-1]
        log(stats)
        m = dict(re.findall(r"(\w+)=(\d+)", stats))
        check(int(m["auth_denied"]) >= 5 and int(m["hello_rejected"]) >= 2, "refusals are counted: %s" % stats)


main(run)
