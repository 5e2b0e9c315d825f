"""test_relay_idle - websocket pings and the idle timeout (--ping,
--idle-timeout), against a real relay on loopback.

Two silent peers (a raw TCP socket that upgraded to /ingest and said a
valid hello, and one that upgraded to /api/v1/live, then neither sends
anything nor answers the relay's pings) are pinged after --ping and dropped
after --idle-timeout, each counted in /api/v1/metrics (idle_timeouts).
Meanwhile a healthy idle agent and a healthy idle live client (Python
websockets, which answer pings, sending nothing else) stay connected well
past the timeout, and the agent's connection still works afterwards."""
import asyncio
import socket
import threading
import time

import websockets

from cplib import *
from relay_wire import HELLO, FakeAgent, envelope

PING, IDLE = 1, 3


def raw_upgrade(port, path, proto, first=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Protocol: %s\r\n\r\n" % (path, port, proto)).encode())
    r = s.recv(4096)
    check(b" 101 " in r.split(b"\r\n")[0], "%s upgrade: %r" % (path, r[:100]))
    if first is not None:    # one masked binary frame (mask 0: payload as is)
        n = len(first)
        hdr = bytes([0x82]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big"))
        s.sendall(hdr + b"\0\0\0\0" + first)
    return s


def watch_closed(socks, limit):
    """Reads (never answers) every socket until the relay closes it; returns
    {name: (seconds until closed, saw a ping frame)}."""
    t0 = time.time()
    out, pinged = {}, {n: False for n in socks}
    for s in socks.values():
        s.settimeout(0.2)
    while len(out) < len(socks) and time.time() - t0 < limit:
        for name, s in socks.items():
            if name in out:
                continue
            try:
                d = s.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                d = b""
            if d == b"":
                out[name] = (time.time() - t0, pinged[name])
            elif b"\x89\x0acprof-idle" in d:   # the relay's unmasked ping (its payload: budget.h)
                pinged[name] = True
    return out


class Background:
    """Runs an asyncio loop in a thread, so websockets answers pings."""

    def __init__(self, loop):
        self.loop = loop
        self.t = threading.Thread(target=loop.run_forever, daemon=True)
        self.t.start()

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.t.join(5)


def run():
    args = ["-v", "--ping", "%ds" % PING, "--idle-timeout", "%ds" % IDLE, "--hello-timeout", "10s"]
    with Relay(name="relay_idle", extra_args=args) as relay:
        m0 = relay.get_json("/api/v1/metrics", format="json")
        check("idle_timeouts" in m0, "/api/v1/metrics has idle_timeouts: %r" % sorted(m0))

        # healthy, idle: a welcomed agent and a live UI that send nothing but pongs
        agent = FakeAgent(relay.ws, "idle", "healthy")
        check(agent.connect()[0] == "welcome", "healthy agent welcomed")
        ui_loop = asyncio.new_event_loop()
        asyncio.set_event_loop(ui_loop)
        ui = ui_loop.run_until_complete(websockets.connect(relay.ws + "/api/v1/live", subprotocols=["cprof.live"],
                                                           ping_interval=None))
        bg_agent, bg_ui = Background(agent.loop), Background(ui_loop)

        # silent: TCP open, upgraded, nothing more (an agent after its hello)
        hello = envelope(HELLO, {1: 1, 2: "idle", 3: "silent", 4: "h", 5: 1, 6: int(time.time() * 1000),
                                 7: "v", 8: "17", 9: "t", 10: {}, 11: ["cpu"], 13: "jvm"})
        silent_agent = raw_upgrade(relay.port, "/ingest", "cprof.v1", hello)
        silent_ui = raw_upgrade(relay.port, "/api/v1/live", "cprof.live")
        wait_for(lambda: relay.get_json("/api/v1/metrics", format="json")["agents_now"] == 2, 10,
                 "both agents welcomed")

        closed = watch_closed({"agent": silent_agent, "live": silent_ui}, 3 * IDLE + 10)
        log("silent peers closed after: %r" % closed)
        for name in ("agent", "live"):
            check(name in closed, "silent %s not closed within %ds" % (name, 3 * IDLE + 10))
            secs, pinged = closed[name]
            check(pinged, "silent %s was pinged before being closed" % name)
            check(IDLE - 0.5 <= secs <= IDLE + 2, "silent %s closed after %.1fs, want ~%ds (--idle-timeout)"
                  % (name, secs, IDLE))
        # agents_now drops when the store worker has taken the close job: wait for both
        m = wait_for(lambda: (lambda m: m if m["idle_timeouts"] == 2 and m["agents_now"] <= 1 else None)(
            relay.get_json("/api/v1/metrics", format="json")), 5, "idle_timeouts = 2")
        check(m["agents_now"] == 1, "the healthy agent is still counted: %r" % m["agents_now"])
        check("no message or pong for %d s (--idle-timeout)" % IDLE in relay.tail(200),
              "the relay logs why it closed the silent agent")

        # the healthy ones stayed connected past two timeouts
        time.sleep(max(0.0, 2 * IDLE + 1 - closed["agent"][0]))
        bg_agent.stop()
        bg_ui.stop()
        check(ui.open, "the healthy live client was closed")
        check(agent.ws.open, "the healthy agent was closed")
        k, _ = agent.send_batch(1, int(time.time() * 1000) - 1000, int(time.time() * 1000),
                                {("Main.main", "A.idle"): 5})
        check(k == "ack", "the healthy agent still sends after %ds idle: %s" % (2 * IDLE + 1, k))
        m = relay.get_json("/api/v1/metrics", format="json")
        check(m["idle_timeouts"] == 2, "only the silent peers were timed out: %r" % m["idle_timeouts"])
        log("healthy agent and live client kept; idle_timeouts=%d" % m["idle_timeouts"])
        asyncio.set_event_loop(ui_loop)
        ui_loop.run_until_complete(ui.close())
        agent.close()


main(run)
