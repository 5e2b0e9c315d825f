"""test_relay_tls - TLS on the relay's one port, with real JVM agents.

A CA, two server certificates (SAN IP:127.0.0.1) and a client CA with one
client certificate are made with `openssl` inside the test. Checks:
 - https API answers (with HSTS) and a real agent with
   relay=wss://127.0.0.1:PORT,tls.ca=ca.pem sends profiles;
 - without tls.ca the agent refuses the relay: a clear warning, counted,
   and nothing arrives; with tls.insecure=true it connects and warns;
 - SIGHUP with a new certificate: the connected agent's connection stays
   (no new ingest connection, its data keeps arriving) and a new handshake
   sees the new certificate (fingerprint via Python's ssl);
 - --tls-client-ca: an agent without a client certificate is refused, one
   with tls.cert/tls.key is accepted; the https API stays open to clients
   without one (they use tokens, not certificates);
 - cprof query works against the https relay with --ca (and not without);
 - an agent sending to a plain ws:// relay (without libwebsockets or
   OpenSSL mapped: the plain transport) and re-attached with this relay's
   wss:// address switches to a libwebsockets context and its data arrives;
   with CPROF_TRANSPORT=lws, ws:// goes through libwebsockets."""
import hashlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request

from cplib import *
from h2_client import H2
from attach_helpers import cprof


def sh(*args, cwd):
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


def make_pki(d):
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=cprof test CA", "-days", "2", cwd=d)
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    for name in ("srv1", "srv2"):
        sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
           "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=127.0.0.1", cwd=d)
        sh("openssl", "x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
           "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", "san.ext", cwd=d)
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", "cca.key", "-out", "cca.pem", "-subj", "/CN=cprof test client CA", "-days", "2", cwd=d)
    sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", "agent.key", "-out", "agent.csr", "-subj", "/CN=agent-1", cwd=d)
    sh("openssl", "x509", "-req", "-in", "agent.csr", "-CA", "cca.pem", "-CAkey", "cca.key",
       "-CAcreateserial", "-out", "agent.pem", "-days", "2", cwd=d)
    # the relay reads these two paths; srv1/srv2 are copied over them
    shutil.copy(os.path.join(d, "srv1.pem"), os.path.join(d, "server.pem"))
    shutil.copy(os.path.join(d, "srv1.key"), os.path.join(d, "server.key"))


def der_fingerprint(pem_path):
    with open(pem_path) as f:
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()


def served_fingerprint(port, ca):
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
            return hashlib.sha256(t.getpeercert(binary_form=True)).hexdigest()


class TLSRelay(Relay):
    def __init__(self, pki, extra=(), name="relay_tls"):
        self.pki = pki
        super().__init__(extra_args=["-v", "--tls-cert", os.path.join(pki, "server.pem"),
                                     "--tls-key", os.path.join(pki, "server.key")] + list(extra), name=name)
        self.ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca.pem"))

    @property
    def http(self):
        return "https://127.0.0.1:%d" % self.port

    @property
    def ws(self):
        return "wss://127.0.0.1:%d" % self.port

    def fetch(self, url):
        try:
            with urllib.request.urlopen(url, timeout=10, context=self.ctx) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def _ready(self):
        if self.proc.poll() is not None:
            raise TestFailure("relay exited with %s:\n%s" % (self.proc.returncode, self.tail()))
        return self.fetch(self.http + "/api/v1/apps")[0] == 200

    def get(self, path, **params):
        st, _, body = self.fetch(self.url(path, **params))
        return st, body

    def apps(self):
        st, body = self.get("/api/v1/apps")
        check(st == 200, "apps: %d %s" % (st, body[:200]))
        return body.decode()

    def logtext(self):
        with open(self.logpath, "rb") as f:
            return f.read().decode(errors="replace")


def agent_log(p):
    with open(p.logpath, "rb") as f:
        return f.read().decode(errors="replace")


def mapped(p):
    """The file names mapped into process p (its /proc/PID/maps)."""
    with open("/proc/%d/maps" % p.pid) as f:
        return sorted({l.split(None, 5)[5].strip() for l in f if len(l.split(None, 5)) == 6})


def stop_jvm(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run():
    if not JDKS:
        skip("no JDK")
    if not shutil.which("openssl"):
        skip("no openssl")
    pki = tempfile.mkdtemp(prefix="cprof-pki-")
    make_pki(pki)
    ca = os.path.join(pki, "ca.pem")
    java = JavaProgram("CpuSplit")
    jdk2 = JDKS[-1]

    with TLSRelay(pki) as relay:
        st, hdrs, _ = relay.fetch(relay.http + "/api/v1/apps")
        hsts = {k.lower(): v for k, v in hdrs.items()}.get("strict-transport-security", "")
        check(st == 200 and "max-age=" in hsts, "https API answers with HSTS: %d %r" % (st, hdrs))
        fp1 = served_fingerprint(relay.port, ca)
        check(fp1 == der_fingerprint(os.path.join(pki, "srv1.pem")), "relay serves srv1")

        # an upgrade with the Origin older agents sent (http://host:port, over wss) is accepted,
        # a foreign one is not
        for origin, want in (("http://127.0.0.1:%d" % relay.port, " 101 "), ("https://evil.example", " 403 ")):
            with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as s0:
                with relay.ctx.wrap_socket(s0, server_hostname="127.0.0.1") as t:
                    t.sendall(("GET /ingest HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                               "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: cprof.v1\r\n"
                               "Origin: %s\r\n\r\n" % (relay.port, origin)).encode())
                    first = t.recv(4096).decode(errors="replace").split("\r\n")[0]
            check(want in first + " ", "wss upgrade with Origin %s: %s" % (origin, first))

        # HTTP/2 (RFC 8441) websockets: a foreign Origin closes that stream alone (1008 and
        # the reason), not the connection with the other streams on it
        h = H2(relay.port, ca)
        check(h.settings.get(8) == 1, "h2 SETTINGS_ENABLE_CONNECT_PROTOCOL: %r" % h.settings)
        for sid, path, proto in ((1, "/ingest", "cprof.v1"), (5, "/api/v1/live", "cprof.live")):
            evs = h.websocket(sid, path, proto, "https://evil.example")
            data = b"".join(e.data for e in evs if getattr(e, "stream_id", 0) == sid and hasattr(e, "data"))
            check(not h.closed, "h2 websocket %s with a foreign Origin closed the whole connection: %r" % (path, evs))
            check(data[:1] == b"\x88" and data[2:4] == b"\x03\xf0" and b"cross-origin" in data,
                  "h2 websocket %s with a foreign Origin: a 1008 close with the reason, got %r" % (path, evs))
            st, body, evs = h.get(sid + 2, "/api/v1/apps")
            check(st == 200 and b"apps" in body, "GET on the same h2 connection after the refusal: %s %r" % (st, evs))
        log("h2 websockets with a foreign Origin: closed alone (1008), the connection goes on")
        h.close()

        # plain http on the TLS port is not served
        try:
            st, _, _ = http_get("http://127.0.0.1:%d/api/v1/apps" % relay.port, timeout=3)
        except (OSError, Exception) as e:
            st = repr(e)
        check(st != 200, "plain http answered on the TLS port: %r" % (st,))

        common = "cpu=10ms,flush=1s,loglevel=info"
        # runs until stopped (300 s cap): the SIGHUP step below needs it alive, and on
        # a loaded machine the steps before it outlasted a 40 s run
        good = java.start(JDKS[0], agent="relay=%s,tls.ca=%s,app=tls-good,%s" % (relay.ws, ca, common),
                          args=["300"])
        noca = java.start(jdk2, agent="relay=%s,app=tls-noca,%s" % (relay.ws, common), args=["12"])
        try:
            relay.wait_profile("tls-good", "cpu", timeout=60)
            log("agent with tls.ca: profile arrives over wss")

            # without the CA: refuses, says so, counts; nothing arrives
            wait_for(lambda: "TLS connection to the relay failed" in agent_log(noca), 40,
                     "the agent without tls.ca to warn")
            w = [l for l in agent_log(noca).splitlines() if "TLS connection to the relay failed" in l]
            log("agent without tls.ca: " + w[0].strip())
            check("certificate" in w[0] or "cert" in w[0], "the warning names the certificate: %s" % w[0])
            check("tls.ca=FILE" in w[0] and "so far" in w[0], "the warning names the fix and counts: %s" % w[0])
            check("tls-noca" not in relay.apps(), "an unverified relay got data")
            check(noca.wait(60) == 0, "JVM without tls.ca still exits cleanly:\n" + agent_log(noca)[-2000:])
            check("tls-noca" not in relay.apps(), "an unverified relay got data")

            # tls.insecure=true: connects, warns
            ins = java.start(jdk2, agent="relay=%s,tls.insecure=true,app=tls-insecure,%s" % (relay.ws, common),
                             args=["8"])
            relay.wait_profile("tls-insecure", "cpu", timeout=60)
            check(ins.wait(60) == 0, "insecure JVM exit")
            check("tls.insecure=true: the relay's certificate is NOT verified" in agent_log(ins),
                  "tls.insecure warns:\n" + agent_log(ins)[-2000:])
            log("tls.insecure=true: connects and warns")

            # a JVM sending to a plain ws:// relay (the plain transport: no libwebsockets,
            # no OpenSSL loaded) re-attached to this wss:// relay: a new connection context
            # through libwebsockets, and its data arrives here
            with Relay(name="relay_tls_plain") as plain:
                # both JVMs run until stopped (300 s cap): their maps are read while they
                # live, however slowly a loaded machine starts them
                sw = java.start(JDKS[0], agent="relay=%s,app=tls-switch,%s" % (plain.ws, common), args=["300"])
                # the way around the plain transport: ws:// through libwebsockets
                viaw = java.start(jdk2, agent="relay=%s,app=ws-lws,%s" % (plain.ws, common), args=["300"],
                                  env={"CPROF_TRANSPORT": "lws"})
                try:
                    plain.wait_profile("ws-lws", "cpu", timeout=90)
                    check(viaw.poll() is None, "the CPROF_TRANSPORT=lws JVM ended early (%r):\n%s" % (
                        viaw.returncode, agent_log(viaw)[-2000:]))
                    check(any("libwebsockets" in l for l in mapped(viaw)), "CPROF_TRANSPORT=lws did not load libwebsockets:\n%s" %
                          agent_log(viaw)[-2000:])
                    stop_jvm(viaw)
                    check("CPROF_TRANSPORT=lws: ws:// through libwebsockets" in agent_log(viaw),
                          "CPROF_TRANSPORT=lws:\n" + agent_log(viaw)[-2000:])
                    plain.wait_profile("tls-switch", "cpu", timeout=90)
                    check(sw.poll() is None, "the ws:// JVM ended early (%r):\n%s" % (
                        sw.returncode, agent_log(sw)[-2000:]))
                    libs = [l for l in mapped(sw) if "libcrypto" in l or "libssl" in l or "libwebsockets" in l]
                    check(not libs, "a ws:// agent loaded OpenSSL or libwebsockets: %s\n%s" % (
                        libs, agent_log(sw)[-2000:]))
                    cprof("attach", sw.pid, "relay=" + relay.ws, "tls.ca=" + ca)
                    relay.wait_profile("tls-switch", "cpu", timeout=90)
                    check("relay URL switched between ws:// and wss://" in agent_log(sw),
                          "the switch is logged:\n" + agent_log(sw)[-2000:])
                finally:
                    stop_jvm(sw)
                    stop_jvm(viaw)
            log("ws:// (plain transport, no OpenSSL mapped) -> re-attach to wss://: profile arrives over wss")

            # SIGHUP with a new certificate while the good agent stays connected
            check(good.poll() is None, "the wss:// agent JVM ended before the SIGHUP step (%r):\n%s" % (
                good.returncode, agent_log(good)[-2000:]))
            opened = relay.logtext().count("opened")
            before = sum(relay.collapsed("tls-good").values())
            shutil.copy(os.path.join(pki, "srv2.pem"), os.path.join(pki, "server.pem"))
            shutil.copy(os.path.join(pki, "srv2.key"), os.path.join(pki, "server.key"))
            relay.proc.send_signal(signal.SIGHUP)
            fp2 = der_fingerprint(os.path.join(pki, "srv2.pem"))
            wait_for(lambda: served_fingerprint(relay.port, ca) == fp2, 10, "the new certificate after SIGHUP")
            log("after SIGHUP a new handshake sees srv2 (%s...)" % fp2[:16])
            wait_for(lambda: sum(relay.collapsed("tls-good").values()) > before * 1.2 + 1, 30,
                     "the connected agent's data to keep arriving")
            check(good.poll() is None, "the agent JVM is still running (%r):\n%s" % (
                good.returncode, agent_log(good)[-2000:]))
            check(relay.logtext().count("opened") == opened,
                  "SIGHUP made agents reconnect:\n" + relay.tail())
            check("TLS certificate reloaded" in relay.logtext(), "the relay logs the reload")
            inst = relay.get("/api/v1/instances", app="tls-good")
            log("same connection kept across SIGHUP; instances: %s" % inst[1][:200])

            # a bad new key: the running certificate stays, the reload says why
            with open(os.path.join(pki, "server.key"), "w") as f:
                f.write("not a key\n")
            relay.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "TLS reload failed" in relay.logtext(), 10, "a failed reload to be logged")
            check(served_fingerprint(relay.port, ca) == fp2, "a failed reload keeps the certificate")

            # cprof query over https: --ca works, no CA fails clearly
            q = subprocess.run([CPROF, "query", "--relay", relay.http, "--ca", ca, "--app", "tls-good",
                                "--from", "now-1h", "--top", "3"], capture_output=True, text=True, timeout=30)
            check(q.returncode == 0 and "CpuSplit" in q.stdout, "cprof query --ca over https:\n%s%s" % (q.stdout, q.stderr))
            # the address the agents were given (wss://.../ingest) works as well
            q = subprocess.run([CPROF, "query", "--relay", relay.http.replace("https://", "wss://") + "/ingest",
                                "--ca", ca, "--app", "tls-good", "--from", "now-1h", "--top", "3"],
                               capture_output=True, text=True, timeout=30)
            check(q.returncode == 0 and "CpuSplit" in q.stdout, "cprof query --relay wss://:\n%s%s" % (q.stdout, q.stderr))
            q = subprocess.run([CPROF, "query", "--relay", relay.http, "--app", "tls-good"],
                               capture_output=True, text=True, timeout=30)
            check(q.returncode == 1 and "certificate" in q.stderr, "cprof query without --ca: %s" % q.stderr)
            log("cprof query over https: ok with --ca; without: %s" % q.stderr.strip())
        finally:
            for p in (good, noca):
                stop_jvm(p)
        shutil.copy(os.path.join(pki, "srv1.key"), os.path.join(pki, "server.key"))
        shutil.copy(os.path.join(pki, "srv1.pem"), os.path.join(pki, "server.pem"))

    # mutual TLS: agents must show a certificate of --tls-client-ca
    with TLSRelay(pki, extra=["--tls-client-ca", os.path.join(pki, "cca.pem")], name="relay_mtls") as relay:
        st, _, _ = relay.fetch(relay.http + "/api/v1/apps")
        check(st == 200, "the https API stays open to clients without a certificate: %d" % st)
        common = "tls.ca=%s,cpu=10ms,flush=1s,loglevel=info" % ca
        nocert = java.start(JDKS[0], agent="relay=%s,app=mtls-nocert,%s" % (relay.ws, common), args=["10"])
        withcert = java.start(jdk2, agent="relay=%s,app=mtls-cert,tls.cert=%s,tls.key=%s,%s" % (
            relay.ws, os.path.join(pki, "agent.pem"), os.path.join(pki, "agent.key"), common), args=["8"])
        try:
            relay.wait_profile("mtls-cert", "cpu", timeout=60)
            log("agent with a client certificate: accepted")
            wait_for(lambda: "agents must present a client certificate" in relay.logtext(), 30,
                     "the relay to refuse the agent without a certificate")
            check(nocert.wait(60) == 0 and withcert.wait(60) == 0, "mTLS JVMs exit cleanly")
            check("mtls-nocert" not in relay.apps(), "an agent without a client certificate got in")
            check("give this agent tls.cert=FILE,tls.key=FILE" in agent_log(nocert),
                  "the agent without a certificate says what to do:\n" + agent_log(nocert)[-1500:])
            log("agent without a client certificate: refused (403 on /ingest)")
        finally:
            for p in (nocert, withcert):
                stop_jvm(p)

    # the poll(2) loop (CPROF_RELAY_POLL=1) reloads on SIGHUP too; HTTP/2
    # requests (ALPN h2, :authority) get the Host check
    os.environ["CPROF_RELAY_POLL"] = "1"
    try:
        with TLSRelay(pki, name="relay_tls_poll") as relay:
            check(served_fingerprint(relay.port, ca) == der_fingerprint(os.path.join(pki, "srv1.pem")),
                  "poll relay serves srv1")
            shutil.copy(os.path.join(pki, "srv2.pem"), os.path.join(pki, "server.pem"))
            shutil.copy(os.path.join(pki, "srv2.key"), os.path.join(pki, "server.key"))
            relay.proc.send_signal(signal.SIGHUP)
            fp2 = der_fingerprint(os.path.join(pki, "srv2.pem"))
            wait_for(lambda: served_fingerprint(relay.port, ca) == fp2, 10, "poll loop: new certificate after SIGHUP")
            log("poll loop: SIGHUP reload works")
            if shutil.which("curl"):
                for host, want in (("evil.example", "2 421"), ("127.0.0.1:%d" % relay.port, "2 200")):
                    r = subprocess.run(["curl", "-s", "--http2", "--cacert", ca, "-o", "/dev/null", "-w",
                                        "%{http_version} %{http_code}", "-H", "Host: " + host,
                                        relay.http + "/api/v1/apps"], capture_output=True, text=True, timeout=20)
                    log("HTTP/2 Host %s -> %s" % (host, r.stdout))
                    check(r.stdout == want, "HTTP/2 Host %s: %r, want %r" % (host, r.stdout, want))
    finally:
        del os.environ["CPROF_RELAY_POLL"]
    h2_token_refusal(pki, ca)
    shutil.rmtree(pki, ignore_errors=True)


class AuthTLSRelay(TLSRelay):
    def _ready(self):
        if self.proc.poll() is not None:
            raise TestFailure("relay exited with %s:\n%s" % (self.proc.returncode, self.tail()))
        return self.fetch(self.http + "/api/v1/apps")[0] == 401


def h2_token_refusal(pki, ca):
    """--auth: an HTTP/2 live-feed websocket without a token is closed alone
    (1008 and the reason), the connection and its other streams go on."""
    auth = os.path.join(pki, "tokens")
    out = subprocess.run([CPROF, "token", "new", "--tenant", "acme", "--role", "read", "--auth", auth],
                         capture_output=True, text=True, timeout=10)
    check(out.returncode == 0, "cprof token new: %s" % out.stderr)
    with AuthTLSRelay(pki, extra=["--auth", auth], name="relay_tls_auth") as relay:
        h = H2(relay.port, ca)
        evs = h.websocket(1, "/api/v1/live", "cprof.live", None)
        data = b"".join(e.data for e in evs if getattr(e, "stream_id", 0) == 1 and hasattr(e, "data"))
        check(not h.closed, "h2 live websocket without a token closed the whole connection: %r" % evs)
        check(data[:1] == b"\x88" and data[2:4] == b"\x03\xf0" and b"401 Unauthorized" in data,
              "h2 live websocket without a token: a 1008 close saying 401, got %r" % evs)
        st, body, evs = h.get(3, "/api/v1/apps")
        check(st == 401 and not h.closed, "GET on the same h2 connection after the refusal: %s %r" % (st, evs))
        h.close()
        log("h2 live websocket without a token: closed alone (1008, 401), the connection goes on")


main(run)
