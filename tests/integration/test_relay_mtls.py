"""test_relay_mtls - mutual-TLS client CA reload on SIGHUP, and HTTP/2
requests without a token, against a real relay with TLS (no JVM: test
agents speak the real wire protocol over wss, relay_wire.FakeAgent).

A server CA, two client CAs (old, new) and one agent certificate from each
are made with `openssl` in the test. The relay runs with --auth and
--tls-client-ca pointing at the old CA:
 - an agent with the old CA's certificate is welcomed and stays connected;
   one with the new CA's certificate is refused at the handshake;
 - the client-CA file is replaced by the new CA and the relay gets SIGHUP:
   the new CA's agent is now welcomed, a new connection with the old CA's
   certificate is refused, and the agent connected before keeps its
   connection (it still sends and is acked on it).
 - HTTP/2 (ALPN h2) without a token: GET on API paths -> 401, and a
   websocket over HTTP/2 (RFC 8441 extended CONNECT) to /api/v1/live gets
   a close frame saying 401 (it used to drop the whole connection without
   a word); with a read token, the HTTP/2 API answers 200."""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

from cplib import *
from relay_wire import FakeAgent

T = "java.lang.Thread.run"


def sh(*args, cwd):
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


def make_pki(d):
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    sh("openssl", "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=srv CA", "-days", "2",
       cwd=d)
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    sh("openssl", "req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=d)
    sh("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
       "-out", "server.pem", "-days", "2", "-extfile", "san.ext", cwd=d)
    for ca in ("old", "new"):
        sh("openssl", "req", "-x509", *ec, "-keyout", ca + "-ca.key", "-out", ca + "-ca.pem", "-subj",
           "/CN=client CA " + ca, "-days", "2", cwd=d)
        sh("openssl", "req", *ec, "-keyout", ca + "-agent.key", "-out", ca + "-agent.csr", "-subj",
           "/CN=agent " + ca, cwd=d)
        sh("openssl", "x509", "-req", "-in", ca + "-agent.csr", "-CA", ca + "-ca.pem", "-CAkey", ca + "-ca.key",
           "-CAcreateserial", "-out", ca + "-agent.pem", "-days", "2", cwd=d)
    shutil.copy(os.path.join(d, "old-ca.pem"), os.path.join(d, "client-ca.pem"))


def agent_ctx(pki, who):
    ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca.pem"))
    ctx.load_cert_chain(os.path.join(pki, who + "-agent.pem"), os.path.join(pki, who + "-agent.key"))
    return ctx


def try_agent(relay, pki, who, token, instance):
    """(FakeAgent, first answer) or (None, why it failed)."""
    a = FakeAgent("wss://127.0.0.1:%d" % relay.port, "mtls", instance, token=token, ssl=agent_ctx(pki, who))
    try:
        k, m = a.connect()
    except (OSError, ssl.SSLError, Exception) as e:     # handshake refused
        return None, repr(e)
    if k != "welcome":
        return None, "%s %r" % (k, m)
    return a, m


def h2_events(port, ca, headers):
    """One HTTP/2 request (TLS, ALPN h2, python3-h2); returns what came back."""
    import h2.config
    import h2.connection
    import h2.events
    ctx = ssl.create_default_context(cafile=ca)
    ctx.set_alpn_protocols(["h2"])
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname="127.0.0.1")
    check(s.selected_alpn_protocol() == "h2", "ALPN h2: %r" % s.selected_alpn_protocol())
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    c.initiate_connection()
    c.send_headers(1, headers, end_stream=headers[0][1] == "GET")
    s.sendall(c.data_to_send())
    out = {"status": None, "data": b"", "end": None}
    try:
        while out["end"] is None:
            d = s.recv(65536)
            if not d:
                out["end"] = "eof"
                break
            for e in c.receive_data(d):
                if isinstance(e, h2.events.ResponseReceived):
                    out["status"] = dict(e.headers).get(":status")
                elif isinstance(e, h2.events.DataReceived):
                    out["data"] += e.data
                    c.acknowledge_received_data(len(e.data), e.stream_id)
                elif isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset, h2.events.ConnectionTerminated)):
                    out["end"] = type(e).__name__
            s.sendall(c.data_to_send())
    except socket.timeout:
        out["end"] = "timeout"
    s.close()
    return out


def run():
    if not shutil.which("openssl"):
        skip("no openssl")
    pki = tempfile.mkdtemp(prefix="cprof-mtls-")
    make_pki(pki)
    auth = os.path.join(pki, "auth.txt")
    tok = {}
    for role in ("ingest", "read"):
        r = subprocess.run([CPROF, "token", "new", "--tenant", "t", "--role", role, "--auth", auth],
                           capture_output=True, text=True, timeout=10)
        check(r.returncode == 0, "token new: %s" % r.stderr)
        tok[role] = r.stdout.strip()
    ca = os.path.join(pki, "ca.pem")
    args = ["-v", "--auth", auth, "--tls-cert", os.path.join(pki, "server.pem"), "--tls-key",
            os.path.join(pki, "server.key"), "--tls-client-ca", os.path.join(pki, "client-ca.pem")]
    relay = Relay(name="relay_mtls", extra_args=args, token=tok["read"])
    relay._ready = lambda: relay.proc.poll() is None and subprocess.run(
        ["curl", "-s", "--cacert", ca, "-o", "/dev/null", "-w", "%{http_code}", "-H",
         "Authorization: Bearer " + tok["read"], "https://127.0.0.1:%d/api/v1/apps" % relay.port],
        capture_output=True, text=True).stdout == "200"
    with relay:
        # ---- client CA reload
        old, m = try_agent(relay, pki, "old", tok["ingest"], "i-old")
        check(old, "agent with the old CA's certificate welcomed: %s" % m)
        now = int(time.time() * 1000)
        check(old.send_batch(1, now - 2000, now - 1000, {(T, "a.A.a"): 5})[0] == "ack", "old agent acked")
        new, why = try_agent(relay, pki, "new", tok["ingest"], "i-new")
        check(new is None, "the new CA's agent got in before SIGHUP")
        log("before SIGHUP: new CA's agent refused (%s)" % why[:120])

        shutil.copy(os.path.join(pki, "new-ca.pem"), os.path.join(pki, "client-ca.pem"))
        relay.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "TLS client CA reloaded" in relay.tail(50), 10, "the client CA reload to be logged")
        new, m = try_agent(relay, pki, "new", tok["ingest"], "i-new")
        check(new, "after SIGHUP the new CA's agent is welcomed: %s" % m)
        again, why = try_agent(relay, pki, "old", tok["ingest"], "i-old2")
        check(again is None, "after SIGHUP a new connection with the old CA's certificate is refused")
        check(old.send_batch(2, now - 1000, now, {(T, "a.A.b"): 7})[0] == "ack",
              "the agent connected before SIGHUP keeps its connection")
        import json
        import urllib.request
        rq = urllib.request.Request("https://127.0.0.1:%d/api/v1/metrics?format=json" % relay.port,
                                    headers={"Authorization": "Bearer " + tok["read"]})
        with urllib.request.urlopen(rq, timeout=10, context=ssl.create_default_context(cafile=ca)) as resp:
            m = json.loads(resp.read())
        check(m["agents_now"] == 2, "both agents connected: %r" % m["agents_now"])
        log("after SIGHUP: new CA accepted, old CA refused for new connections, old connection kept")
        old.close()
        new.close()

        # ---- HTTP/2 without a token
        auth_hdr = [(":authority", "127.0.0.1:%d" % relay.port), (":scheme", "https")]
        for path in ("/api/v1/apps", "/api/v1/live", "/api/v1/profile?app=mtls"):
            r = h2_events(relay.port, ca, [(":method", "GET"), (":path", path)] + auth_hdr)
            check(r["status"] == "401" and b"token" in r["data"], "h2 GET %s without token: %r" % (path, r))
        r = h2_events(relay.port, ca, [(":method", "GET"), (":path", "/api/v1/apps")] + auth_hdr
                      + [("authorization", "Bearer " + tok["read"])])
        check(r["status"] == "200" and b"mtls" in r["data"], "h2 GET with a read token: %r" % r)
        r = h2_events(relay.port, ca, [(":method", "CONNECT"), (":protocol", "websocket"), (":path", "/api/v1/live")]
                      + auth_hdr + [("sec-websocket-version", "13"), ("sec-websocket-protocol", "cprof.live")])
        log("h2 websocket to /api/v1/live without a token: %r" % r)
        check(r["data"][:1] == b"\x88" and b"401" in r["data"],
              "h2 websocket without a token gets a close frame saying 401: %r" % r)
        check(relay.proc.poll() is None, "relay alive")
    shutil.rmtree(pki, ignore_errors=True)


main(run)
