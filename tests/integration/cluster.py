"""cluster - the parts of a relay cluster for integration tests (issue 20):
a real nats-server and a real haproxy (TCP mode, the configuration
scripts/cluster and docs/scaleout.md use), each on a free 127.0.0.1 port,
started and killed like cplib.Relay, and a live-feed subscriber (Live).
PostgreSQL: pg.py.
Stdlib plus Debian's python3-websockets."""
import asyncio
import json
import os
import shutil
import socket
import subprocess
import threading
import time

import websockets

from cplib import TestFailure, free_port, wait_for
from cplib import _die_with_parent


def _listening(port, banner=None):
    try:
        with socket.create_connection(("127.0.0.1", port), 0.5) as s:
            return True if banner is None else s.recv(len(banner)) == banner
    except OSError:
        return False


class Nats:
    """A real nats-server on 127.0.0.1:port; kill9() and start() again on the
    same port."""

    def __init__(self, logdir, port=None):
        if not shutil.which("nats-server"):
            raise FileNotFoundError("nats-server")
        self.port, self.proc = port or free_port(), None
        self.logpath = os.path.join(logdir, "nats-%d.log" % self.port)

    @property
    def url(self):
        return "nats://127.0.0.1:%d" % self.port

    def start(self):
        self.proc = subprocess.Popen(["nats-server", "-a", "127.0.0.1", "-p", str(self.port)],
                                     stdout=open(self.logpath, "ab"), stderr=subprocess.STDOUT,
                                     preexec_fn=_die_with_parent)
        wait_for(lambda: self._up(), 10, "nats-server on port %d" % self.port)
        return self

    def _up(self):
        if self.proc.poll() is not None:
            raise TestFailure("nats-server exited %s (log %s)" % (self.proc.returncode, self.logpath))
        return _listening(self.port, b"INFO ")

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.kill9()


HAPROXY_CFG = """global
    maxconn 8000
defaults
    mode tcp
    timeout connect 2s
    timeout client  5m
    timeout server  5m
    timeout tunnel  1h
    option redispatch
    retries 3
frontend cprof
    bind 127.0.0.1:%(port)d
    default_backend relays
backend relays
    balance leastconn
    default-server check inter %(inter)s fall 2 rise 1
%(servers)s
"""


class Haproxy:
    """A real haproxy in TCP mode in front of relays (cplib.Relay objects):
    websockets pass through, least-connections balancing, a relay that
    stops answering is out of rotation after two failed checks."""

    def __init__(self, relays, logdir, inter="500ms"):
        if not shutil.which("haproxy"):
            raise FileNotFoundError("haproxy")
        self.port, self.proc = free_port(), None
        self.cfg = os.path.join(logdir, "haproxy-%d.cfg" % self.port)
        self.logpath = os.path.join(logdir, "haproxy-%d.log" % self.port)
        servers = "\n".join("    server relay%d 127.0.0.1:%d" % (i, r.port) for i, r in enumerate(relays))
        with open(self.cfg, "w") as f:
            f.write(HAPROXY_CFG % {"port": self.port, "inter": inter, "servers": servers})

    @property
    def ws(self):
        return "ws://127.0.0.1:%d" % self.port

    @property
    def http(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        self.proc = subprocess.Popen(["haproxy", "-f", self.cfg], stdout=open(self.logpath, "ab"),
                                     stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        wait_for(lambda: self._up(), 10, "haproxy on port %d" % self.port)
        return self

    def _up(self):
        if self.proc.poll() is not None:
            raise TestFailure("haproxy exited %s (log %s)" % (self.proc.returncode, self.logpath))
        return _listening(self.port)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Live(threading.Thread):
    """A live-feed subscriber: records (receive time, message)."""

    def __init__(self, relay, token, app):
        super().__init__(daemon=True)
        self.url, self.token, self.app = relay.ws + "/api/v1/live", token, app
        self.msgs, self.ready, self.stop = [], threading.Event(), False
        self.error = None

    def run(self):
        async def go():
            async with websockets.connect(self.url, subprotocols=["cprof.live"] + (
                    ["bearer." + self.token] if self.token else [])) as ws:
                await ws.send(json.dumps({"subscribe": {"app": self.app}}))
                self.ready.set()
                while not self.stop:
                    try:
                        m = await asyncio.wait_for(ws.recv(), 0.3)
                        self.msgs.append((time.time(), json.loads(m)))
                    except asyncio.TimeoutError:
                        pass
        try:
            asyncio.run(go())
        except Exception as e:   # reported by the test
            self.error = e
        self.ready.set()

    def windows(self, since=0):
        return [(t, m) for t, m in self.msgs if t >= since and m.get("kind") == "window"]
