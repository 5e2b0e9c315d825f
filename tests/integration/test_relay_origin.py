"""test_relay_origin - browser safety: Host and Origin on a real relay.

 - a cross-origin websocket upgrade to /api/v1/live (a page on another
   origin, or another port of localhost) is refused with 403; the relay's
   own origin is accepted (101); so is an upgrade without Origin (agents,
   CLI); /ingest gets the same check;
 - DNS rebinding: a foreign Host on /api/v1/apps and on the static UI is
   refused (421, with a body that names --public-url); loopback names and IP
   literals are accepted; a keep-alive connection cannot switch Host;
 - --public-url: its host is accepted as Host, its origin as Origin;
 - security headers (CSP) stay on every answer."""
import socket

from cplib import *

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def raw(port, req, timeout=5):
    """Sends req on a new connection; returns (status, head+body text)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(req.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.settimeout(0.5)
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            pass
    finally:
        s.close()
    text = data.decode(errors="replace")
    try:
        return int(text.split(" ", 2)[1]), text
    except (IndexError, ValueError):
        return None, text


def upgrade(port, path, proto, origin=None, host=None):
    h = ["GET %s HTTP/1.1" % path, "Host: %s" % (host or "127.0.0.1:%d" % port),
         "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: " + KEY,
         "Sec-WebSocket-Version: 13", "Sec-WebSocket-Protocol: " + proto]
    if origin is not None:
        h.append("Origin: " + origin)
    return raw(port, "\r\n".join(h) + "\r\n\r\n")


def get(port, path, host=None, origin=None, extra=""):
    h = ["GET %s HTTP/1.1" % path, "Connection: close"]
    if host is not False:
        h.append("Host: %s" % (host or "127.0.0.1:%d" % port))
    if origin:
        h.append("Origin: " + origin)
    return raw(port, "\r\n".join(h) + "\r\n" + extra + "\r\n")


def run():
    with Relay(name="relay_origin", extra_args=["--public-url", "https://profiler.example.com"]) as relay:
        port = relay.port
        own = "http://127.0.0.1:%d" % port

        # websocket upgrades
        cases = [
            ("/api/v1/live", "cprof.live", "http://evil.example", 403),
            ("/api/v1/live", "cprof.live", "http://localhost:%d" % (port + 1), 403),   # another local app
            ("/api/v1/live", "cprof.live", "https://127.0.0.1", 403),       # another server on this host (443)
            ("/ingest", "cprof.v1", "http://127.0.0.1:%d" % port, 101),   # agents before 2026-12 sent this
            ("/api/v1/live", "cprof.live", "null", 403),
            ("/api/v1/live", "cprof.live", own, 101),
            ("/api/v1/live", "cprof.live", None, 101),
            ("/api/v1/live", "cprof.live", "https://profiler.example.com", 101),
            ("/ingest", "cprof.v1", "http://evil.example", 403),
            ("/ingest", "cprof.v1", "127.0.0.1:%d" % port, 101),   # older agents sent host:port
            ("/ingest", "cprof.v1", None, 101),
        ]
        for path, proto, origin, want in cases:
            st, text = upgrade(port, path, proto, origin)
            log("upgrade %s Origin %r -> %s" % (path, origin, st))
            check(st == want, "upgrade %s with Origin %r: %s, want %d\n%s" % (path, origin, st, want, text[:400]))
            if want == 403:
                check("cross-origin" in text or "null" in text, "the 403 says why: %s" % text[:400])
        # an agent dialing the relay by some DNS name: no Origin, any Host
        st, _ = upgrade(port, "/ingest", "cprof.v1", None, host="relay.internal.example:%d" % port)
        check(st == 101, "agent upgrade by another name: %s" % st)
        # the machine's own name is accepted as Host
        st, _ = get(port, "/api/v1/apps", host="%s:%d" % (socket.gethostname(), port))
        check(st == 200, "Host = this machine's name: %s" % st)
        # a rebinding page: same "origin" as its own Host, but the Host is foreign
        st, _ = upgrade(port, "/api/v1/live", "cprof.live", "http://evil.example:%d" % port,
                        host="evil.example:%d" % port)
        check(st in (403, 421), "rebinding websocket upgrade refused: %s" % st)

        # HTTP: Host
        for host, want in [("evil.example:%d" % port, 421), ("evil.example", 421),
                           ("127.0.0.1:%d" % port, 200), ("localhost:%d" % port, 200), ("[::1]:%d" % port, 200),
                           ("app.localhost:%d" % port, 200), ("profiler.example.com", 200),
                           ("10.1.2.3:%d" % port, 200), (False, 200)]:
            st, text = get(port, "/api/v1/apps", host=host)
            log("GET /api/v1/apps Host %r -> %s" % (host, st))
            check(st == want, "Host %r: %s, want %d\n%s" % (host, st, want, text[:300]))
            if want == 421:
                check("--public-url" in text and "evil.example" in text, "the 421 names the fix: %s" % text)
            check("content-security-policy" in text.lower(), "CSP header kept: %s" % text[:600])
        st, _ = get(port, "/", host="evil.example")
        check(st == 421, "the static UI checks Host too: %s" % st)
        st, _ = get(port, "/", host="127.0.0.1:%d" % port)
        check(st in (200, 404), "static UI with a good Host: %s" % st)

        # HTTP: a foreign Origin on an API request
        st, _ = get(port, "/api/v1/apps", origin="http://evil.example")
        check(st == 403, "cross-origin API request: %s" % st)
        st, _ = get(port, "/api/v1/apps", origin=own)
        check(st == 200, "same-origin API request: %s" % st)

        # keep-alive: the second request on the same connection is checked too
        ka = socket.create_connection(("127.0.0.1", port), timeout=5)
        answers = []
        for host in ("127.0.0.1:%d" % port, "evil.example"):
            ka.sendall(("GET /api/v1/apps HTTP/1.1\r\nHost: %s\r\n\r\n" % host).encode())
            data = b""
            while b"\r\n\r\n" not in data:
                data += ka.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            clen = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
            while clen and len(body) < clen[0]:      # the whole answer before the next request
                body += ka.recv(65536)
            answers.append(data.decode(errors="replace").split("\r\n")[0])
        ka.close()
        log("keep-alive, second request with a foreign Host: %s" % answers)
        check(answers[0].startswith("HTTP/1.1 200") and " 421" in answers[1], "keep-alive Host switch: %s" % answers)
        check(relay.proc.poll() is None, "relay alive")


main(run)
