"""relay_wire - a test-side agent that speaks the real cprof wire protocol v1
(common/wire.h) over a real websocket, for the relay's integration tests and
anything else that needs to feed a relay without a JVM.

Uses Debian's python3-msgpack and python3-websockets (asyncio API, v10).

    agent = FakeAgent(relay.ws, app="shop", instance="i-1", labels={"env": "prod"})
    welcome = agent.connect()                       # hello -> welcome dict
    ack = agent.send_batch(1, t0, t0 + 10000, {("Main.main", "A.hot"): 900})
"""
import asyncio
import struct
import time
import zlib

import msgpack
import websockets

HELLO, WELCOME, BATCH, ACK, HEARTBEAT, CONTROL, ERROR = 1, 2, 3, 4, 5, 6, 7
KIND_NAMES = {1: "hello", 2: "welcome", 3: "batch", 4: "ack", 5: "heartbeat", 6: "control", 7: "error"}


def envelope(kind, payload_obj, compress=True, raw_payload=None):
    payload = raw_payload if raw_payload is not None else msgpack.packb(payload_obj, use_bin_type=True)
    flags = 0
    body = payload
    if compress:
        body = zlib.compress(payload)
        flags = 1
    return b"CP" + bytes([1, kind, flags, 0, 0, 0]) + struct.pack(">I", len(payload)) + body


def decode(data):
    assert data[:2] == b"CP", data[:16]
    kind, flags = data[3], data[4]
    (n,) = struct.unpack(">I", data[8:12])
    body = data[12:]
    if flags & 1:
        body = zlib.decompress(body)
    obj = msgpack.unpackb(body, raw=False, strict_map_key=False)
    return kind, obj


class FakeAgent:
    """One agent connection. Keeps its own dictionary like the real agent:
    strings/frames/stacks get dense ids; each batch carries only new ones."""

    def __init__(self, ws_url, app, instance, labels=None, host="testhost", pid=1234, token=None, ssl=None):
        self.url = ws_url.rstrip("/") + "/ingest"
        self.ssl = ssl                  # an ssl.SSLContext for wss:// (CA, client certificate)
        self.app, self.instance, self.labels = app, instance, labels or {}
        self.host, self.pid, self.token = host, pid, token
        self.loop = asyncio.new_event_loop()
        self.ws = None
        self.reset_dict()

    def reset_dict(self):
        self.strs, self.frames, self.stacks = {}, {}, {}
        self.sent = [0, 0, 0]

    def _run(self, coro, timeout=20):
        asyncio.set_event_loop(self.loop)
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))

    def connect(self, hello_extra=None):
        self.reset_dict()
        asyncio.set_event_loop(self.loop)
        kw = {"ssl": self.ssl} if self.ssl else {}
        self.ws = self._run(websockets.connect(self.url, subprotocols=["cprof.v1"], max_size=None,
                                               ping_interval=None, **kw))
        hello = {1: 1, 2: self.app, 3: self.instance, 4: self.host, 5: self.pid,
                 6: int(time.time() * 1000), 7: "TestVendor", 8: "17.0.0", 9: "test-0.1",
                 10: self.labels, 11: ["cpu", "wall"], 13: "jvm"}
        if self.token is not None:
            hello[12] = self.token
        if hello_extra:
            hello.update(hello_extra)
        self.send_raw(envelope(HELLO, hello))
        return self.recv()

    def send_raw(self, data):
        self._run(self.ws.send(data))

    def recv(self, timeout=20):
        """Next message as (kind_name, payload dict); ('closed', reason) if closed."""
        try:
            data = self._run(self.ws.recv(), timeout)
        except websockets.ConnectionClosed as e:
            return ("closed", str(e))
        if isinstance(data, str):
            return ("text", data)
        kind, obj = decode(data)
        return (KIND_NAMES.get(kind, str(kind)), obj)

    def closed(self, timeout=5):
        """True once the relay closed this connection."""
        try:
            self._run(self.ws.recv(), timeout)
        except websockets.ConnectionClosed:
            return True
        except asyncio.TimeoutError:
            return False
        return self.closed(timeout)

    def close(self):
        if self.ws:
            try:
                self._run(self.ws.close(), 5)
            except Exception:
                pass
            self.ws = None

    def _sid(self, s):
        if s not in self.strs:
            self.strs[s] = len(self.strs)
        return self.strs[s]

    def _fid(self, name, kind):
        if "." in name and not name.startswith("["):
            cls, _, meth = name.rpartition(".")
        else:
            cls, meth = "", name
        key = (self._sid(cls), self._sid(meth), self._sid(""), 0, kind)
        if key not in self.frames:
            self.frames[key] = len(self.frames)
        return self.frames[key]

    def _stid(self, frames):
        if frames not in self.stacks:
            self.stacks[frames] = len(self.stacks)
        return self.stacks[frames]

    def batch_msg(self, seq, start_ms, end_ms, values, types=(("cpu", "ns"),), counters=None,
                  points=None, kind=0):
        """values: {(frame names root first...): value} or {(stack, type_index): value}."""
        vals = []
        for stack, v in values.items():
            ti = 0
            if len(stack) == 2 and isinstance(stack[1], int):
                stack, ti = stack
            fids = tuple(self._fid(f, 6 if f.startswith("[") else kind) for f in stack)
            vals += [self._stid(fids), ti, v]
        ss = sorted(self.strs.items(), key=lambda kv: kv[1])
        fs = sorted(self.frames.items(), key=lambda kv: kv[1])
        st = sorted(self.stacks.items(), key=lambda kv: kv[1])
        b = {1: seq, 2: start_ms, 3: end_ms, 4: 0, 5: [list(t) for t in types],
             6: [self.sent[0], [s for s, _ in ss[self.sent[0]:]]],
             7: [self.sent[1], [list(k) for k, _ in fs[self.sent[1]:]]],
             8: [self.sent[2], [list(k) for k, _ in st[self.sent[2]:]]],
             9: vals}
        if counters:
            b[10] = counters
        if points:
            b[11] = [[s, t, float(v)] for s, t, v in points]
        self.sent = [len(ss), len(fs), len(st)]
        return envelope(BATCH, b)

    def send_batch(self, seq, start_ms, end_ms, values, **kw):
        self.send_raw(self.batch_msg(seq, start_ms, end_ms, values, **kw))
        return self.recv()


# ---- an independent pprof reader (protobuf wire format by hand, stdlib) ----
def _varint(b, i):
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return r, i


def _fields(b):
    """Yields (field number, wire type, value) of one protobuf message."""
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 2:
            n, i = _varint(b, i)
            v = b[i:i + n]
            i += n
        elif wt == 1:
            v = b[i:i + 8]
            i += 8
        elif wt == 5:
            v = b[i:i + 4]
            i += 4
        else:
            raise ValueError("bad wire type %d" % wt)
        yield f, wt, v


def _packed(wt, v):
    if wt == 0:
        return [v]
    out, i = [], 0
    while i < len(v):
        x, i = _varint(v, i)
        out.append(x)
    return out


def pprof_decode(gz):
    """gzipped perftools.profiles.Profile -> (sample_types, {"a;b;c": value})."""
    import gzip
    data = gzip.decompress(gz)
    strings, samples, locs, funcs, stypes = [], [], {}, {}, []
    for f, wt, v in _fields(data):
        if f == 6:
            strings.append(v.decode())
        elif f == 1:
            d = {ff: vv for ff, _, vv in _fields(v)}
            stypes.append((d.get(1, 0), d.get(2, 0)))
        elif f == 2:
            loc, val = [], []
            for ff, w2, vv in _fields(v):
                if ff == 1:
                    loc += _packed(w2, vv)
                elif ff == 2:
                    val += _packed(w2, vv)
            samples.append((loc, val))
        elif f == 4:
            lid, fid = 0, []
            for ff, w2, vv in _fields(v):
                if ff == 1:
                    lid = vv
                elif ff == 4:
                    fid.append({a: c for a, _, c in _fields(vv)}.get(1, 0))
            locs[lid] = fid
        elif f == 5:
            d = {ff: vv for ff, _, vv in _fields(v)}
            funcs[d.get(1, 0)] = d.get(2, 0)
    check_ok = strings and strings[0] == ""
    if not check_ok:
        raise ValueError("string_table[0] must be empty")
    out = {}
    for loc, val in samples:
        names = []
        for l in reversed(loc):       # pprof: leaf first
            for fid in locs[l]:
                names.append(strings[funcs[fid]])
        k = ";".join(names)
        out[k] = out.get(k, 0) + val[0]
    return [(strings[a], strings[b]) for a, b in stypes], out


def otlp_decode(data):
    """OTLP ExportProfilesServiceRequest (opentelemetry-proto v1.10
    profiles, relay/proto/otlp_profiles.proto) -> list of profiles, each
    {"resource": {key: str}, "type": (type, unit), "time": ns, "duration": ns,
    "samples": {"a;b;c": value}} (stacks root first, as collapsed), and
    "detail": [(stack, {attribute key: str}, (trace hex, span hex) or None,
    value)] per sample (its attribute_indices and link_index resolved)."""
    import struct
    dic = {1: [], 2: [], 3: [], 4: [], 5: [], 6: [], 7: []}
    rps = []
    for f, _, v in _fields(data):
        if f == 1:
            rps.append(v)
        elif f == 2:
            for ff, _, vv in _fields(v):
                dic[ff].append(vv)
    strings = [s.decode() for s in dic[5]]
    if not strings or strings[0] != "":
        raise ValueError("string_table[0] must be empty")
    for t in (1, 2, 3, 6, 7):
        if not dic[t] or dic[t][0] != b"":
            raise ValueError("dictionary table %d: entry 0 must be the zero value" % t)
    if not dic[4] or any(any(v) for _, _, v in _fields(dic[4][0])):
        raise ValueError("link_table[0] must be the zero link")
    funcs = [{ff: vv for ff, _, vv in _fields(v)}.get(1, 0) for v in dic[3]]
    locs = []
    for v in dic[2]:
        fs = [{a: c for a, _, c in _fields(vv)}.get(1, 0) for ff, _, vv in _fields(v) if ff == 3]
        locs.append(fs)
    stacks = []
    for v in dic[7]:
        li = []
        for ff, wt, vv in _fields(v):
            if ff == 1:
                li += _packed(wt, vv)
        stacks.append(li)

    def anystr(b):
        return {ff: vv for ff, _, vv in _fields(b)}.get(1, b"").decode()

    attrs = []
    for v in dic[6]:
        d = {ff: vv for ff, _, vv in _fields(v)}
        attrs.append((strings[d.get(1, 0)], anystr(d.get(2, b""))))
    links = []
    for v in dic[4]:
        d = {ff: vv for ff, _, vv in _fields(v)}
        links.append((d.get(1, b"").hex(), d.get(2, b"").hex()))

    out = []
    for rp in rps:
        res, profs = {}, []
        for f, _, v in _fields(rp):
            if f == 1:
                for ff, _, kv in _fields(v):
                    if ff == 1:
                        d = {a: c for a, _, c in _fields(kv)}
                        res[d.get(1, b"").decode()] = anystr(d.get(2, b""))
            elif f == 2:
                profs += [vv for ff, _, vv in _fields(v) if ff == 2]
        for pb in profs:
            p = {"resource": res, "samples": {}, "detail": [], "time": 0, "duration": 0, "type": ("", "")}
            for f, wt, v in _fields(pb):
                if f == 1:
                    d = {a: c for a, _, c in _fields(v)}
                    p["type"] = (strings[d.get(1, 0)], strings[d.get(2, 0)])
                elif f == 3:
                    p["time"] = struct.unpack("<Q", v)[0]
                elif f == 4:
                    p["duration"] = v
                elif f == 2:
                    si, vals, ai, li = 0, [], [], 0
                    for ff, w2, vv in _fields(v):
                        if ff == 1:
                            si = vv
                        elif ff == 2:
                            ai += _packed(w2, vv)
                        elif ff == 3:
                            li = vv
                        elif ff == 4:
                            vals += _packed(w2, vv)
                    names = []
                    for l in reversed(stacks[si]):     # leaf first
                        for fi in reversed(locs[l]):   # inlined first, caller last
                            names.append(strings[funcs[fi]])
                    k = ";".join(names)
                    p["samples"][k] = p["samples"].get(k, 0) + vals[0]
                    p["detail"].append((k, dict(attrs[a] for a in ai), links[li] if li else None, vals[0]))
            out.append(p)
    return out


def function_totals(prof):
    """{"a;b;c": v} -> {function: (self, total)}, total counting each stack
    once per function (as /top does)."""
    out = {}
    for stack, v in prof.items():
        frames = stack.split(";")
        for fn in set(frames):
            s, t = out.get(fn, (0, 0))
            out[fn] = (s, t + v)
        s, t = out[frames[-1]]
        out[frames[-1]] = (s + v, t)
    return out


class OtlpReceiver:
    """An OTLP/HTTP profiles receiver on 127.0.0.1:port that can go down and
    come back on the same port."""

    def __init__(self):
        import socket
        with socket.socket() as so:
            so.bind(("127.0.0.1", 0))
            self.port = so.getsockname()[1]
        self.profiles, self.requests, self.bad = [], 0, []
        import threading
        self.lock = threading.Lock()
        self.srv = None

    def up(self):
        import http.server
        import threading
        rx = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with rx.lock:
                    if self.path != "/v1development/profiles" or \
                       self.headers.get("Content-Type") != "application/x-protobuf":
                        rx.bad.append((self.path, self.headers.get("Content-Type")))
                    try:
                        rx.profiles += otlp_decode(body)
                        rx.requests += 1
                    except Exception as e:   # noqa: BLE001 - reported by the test
                        rx.bad.append(repr(e))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def down(self):
        self.srv.shutdown()
        self.srv.server_close()
        self.srv = None

    def merged(self, app):
        out, windows = {}, set()
        with self.lock:
            for p in self.profiles:
                if p["resource"].get("service.name") != app:
                    continue
                windows.add((p["resource"].get("service.instance.id"), p["time"]))
                for k, v in p["samples"].items():
                    out[k] = out.get(k, 0) + v
        return out, windows
