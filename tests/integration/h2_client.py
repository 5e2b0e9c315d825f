"""h2_client.py - a minimal HTTP/2 client over TLS for the relay's tests
(Debian's python3-h2): several streams on one connection, so a test can
see whether something done on one stream costs the others."""
import socket
import ssl
import time

import h2.config
import h2.connection
import h2.events


class H2:
    def __init__(self, port, cafile):
        ctx = ssl.create_default_context(cafile=cafile)
        ctx.set_alpn_protocols(["h2"])
        self.port = port
        self.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5),
                                    server_hostname="127.0.0.1")
        if self.sock.selected_alpn_protocol() != "h2":
            raise AssertionError("ALPN chose %r, not h2" % self.sock.selected_alpn_protocol())
        self.conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.sock.sendall(self.conn.data_to_send())
        self.closed = False
        self.settings = {}
        self.pump(lambda evs: any(isinstance(e, h2.events.RemoteSettingsChanged) for e in evs))

    def pump(self, until, timeout=5):
        """Reads events until until(events) or timeout; "EOF" marks a closed connection."""
        evs = []
        end = time.time() + timeout
        while time.time() < end and not self.closed:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                break
            if not data:
                evs.append("EOF")
                self.closed = True
                break
            for e in self.conn.receive_data(data):
                evs.append(e)
                if isinstance(e, h2.events.RemoteSettingsChanged):
                    self.settings.update({int(k): v.new_value for k, v in e.changed_settings.items()})
            out = self.conn.data_to_send()
            if out:
                self.sock.sendall(out)
            if until(evs):
                break
        return evs

    def websocket(self, sid, path, protocol, origin):
        """An RFC 8441 websocket (extended CONNECT) on stream sid: its events."""
        hdrs = [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "https"), (":path", path),
                (":authority", "127.0.0.1:%d" % self.port), ("sec-websocket-version", "13"),
                ("sec-websocket-protocol", protocol)]
        if origin:
            hdrs.append(("origin", origin))
        self.conn.send_headers(sid, hdrs)
        self.sock.sendall(self.conn.data_to_send())
        return self.pump(lambda evs: any(isinstance(e, (h2.events.DataReceived, h2.events.StreamReset,
                                                        h2.events.ConnectionTerminated)) or e == "EOF"
                                         for e in evs))

    def get(self, sid, path):
        """GET path on stream sid: (status or None, body, events)."""
        self.conn.send_headers(sid, [(":method", "GET"), (":scheme", "https"), (":path", path),
                                     (":authority", "127.0.0.1:%d" % self.port)], end_stream=True)
        self.sock.sendall(self.conn.data_to_send())
        evs = self.pump(lambda evs: any((isinstance(e, h2.events.StreamEnded) and e.stream_id == sid) or
                                        isinstance(e, h2.events.ConnectionTerminated) or e == "EOF" for e in evs))
        status, body = None, b""
        for e in evs:
            if isinstance(e, h2.events.ResponseReceived) and e.stream_id == sid:
                status = int(dict(e.headers)[":status"])
            if isinstance(e, h2.events.DataReceived) and e.stream_id == sid:
                body += e.data
        return status, body, evs

    def close(self):
        self.sock.close()
