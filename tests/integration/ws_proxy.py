"""ws_proxy - a TCP proxy between real agents and a real relay that can
misbehave the way networks and middleboxes do, for fault tests.

    proxy = WsProxy(relay.port)            # listens on a free port
    proxy.mode = "hang"                    # next connections: upgrade, then silence
    ... agent connects to ws://127.0.0.1:<proxy.port> ...
    proxy.mode = "pass"
    proxy.events                           # [(t, conn_no, "accept"|"upgrade"|"message"|"inject")]

Modes (read when a connection is accepted):
  pass    forward both ways.
  hang    forward the agent's bytes and the relay's HTTP upgrade response,
          then swallow everything the relay sends (a proxy or relay that
          completes the upgrade and then hangs: the agent never sees its
          welcome). The socket stays open.
  refuse  accept and close at once (relay down behind a load balancer).
  delay   forward both ways, but reach the relay only `delay_s` seconds
          after the accept (a slow network or TLS: the agent's upgrade is
          answered late).
  inject  forward both ways; after the relay's first websocket message (the
          welcome), send `inject_bytes` to the agent as one more binary
          message, as if the relay had sent it.
The relay -> agent stream is parsed as websocket frames (server frames are
never masked) so "message" events count whole messages. Stdlib only."""
import socket
import struct
import threading
import time


def ws_frame(payload, opcode=2):
    """One unmasked (server -> client) websocket frame, FIN set."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


class WsProxy:
    def __init__(self, upstream_port, upstream_host="127.0.0.1"):
        self.up = (upstream_host, upstream_port)
        self.mode = "pass"
        self.inject_bytes = b""
        self.delay_s = 0.5
        self.events = []
        self._mu = threading.Lock()
        self._n = 0
        self._socks = []
        self._stop = False
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        self.ws = "ws://127.0.0.1:%d" % self.port
        threading.Thread(target=self._accept, daemon=True).start()

    def _ev(self, conn, what):
        with self._mu:
            self.events.append((time.time(), conn, what))

    def count(self, what, since=0.0):
        with self._mu:
            return sum(1 for t, _, w in self.events if w == what and t >= since)

    def first(self, what, since=0.0):
        with self._mu:
            ts = [t for t, _, w in self.events if w == what and t >= since]
        return min(ts) if ts else None

    def close_all(self):
        """Drops every open connection (a partition that resets)."""
        with self._mu:
            socks, self._socks = self._socks, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def stop(self):
        self._stop = True
        self.ls.close()
        self.close_all()

    def _accept(self):
        while not self._stop:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            with self._mu:
                self._n += 1
                n = self._n
            mode = self.mode
            self._ev(n, "accept")
            if mode == "refuse":
                c.close()
                continue
            if mode == "delay":
                threading.Thread(target=self._serve, args=(c, n, "pass", self.delay_s), daemon=True).start()
            else:
                self._serve(c, n, mode, 0)

    def _serve(self, c, n, mode, delay_s):
        time.sleep(delay_s)
        try:
            u = socket.create_connection(self.up, timeout=5)
            u.settimeout(None)
        except OSError:
            c.close()
            return
        with self._mu:
            self._socks += [c, u]
        threading.Thread(target=self._pump_up, args=(c, u), daemon=True).start()
        threading.Thread(target=self._pump_down, args=(n, u, c, mode), daemon=True).start()

    @staticmethod
    def _pump_up(c, u):
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                u.sendall(b)
        except OSError:
            pass
        for s in (u, c):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _pump_down(self, n, u, c, mode):
        buf = b""
        upgraded = False
        injected = False
        try:
            while True:
                b = u.recv(65536)
                if not b:
                    break
                if mode == "pass":
                    c.sendall(b)
                    continue
                buf += b
                if not upgraded:
                    i = buf.find(b"\r\n\r\n")
                    if i < 0:
                        continue
                    c.sendall(buf[:i + 4])
                    buf = buf[i + 4:]
                    upgraded = True
                    self._ev(n, "upgrade")
                if mode == "hang":
                    buf = b""
                    continue
                # inject: forward whole frames, count messages
                while len(buf) >= 2:
                    b1 = buf[1] & 0x7F
                    hl = 2 + (2 if b1 == 126 else 8 if b1 == 127 else 0)
                    if len(buf) < hl:
                        break
                    ln = b1 if b1 < 126 else struct.unpack("!H" if b1 == 126 else "!Q", buf[2:hl])[0]
                    if len(buf) < hl + ln:
                        break
                    fin = buf[0] & 0x80
                    c.sendall(buf[:hl + ln])
                    buf = buf[hl + ln:]
                    if fin:
                        self._ev(n, "message")
                        if not injected and self.inject_bytes:
                            injected = True
                            c.sendall(ws_frame(self.inject_bytes))
                            self._ev(n, "inject")
        except OSError:
            pass
        for s in (u, c):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
