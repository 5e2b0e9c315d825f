"""test_relay_quality - /api/v1/instances quality counts dropped *samples*.

A test agent speaking the real wire protocol (relay_wire.FakeAgent) sends
batches to the real relay whose counters carry every kind of drop the agent
reports (docs/protocol.md "Counters"): samples (drop.ring,
drop.buffer_samples, drop.dict_samples), batches (drop.buffer, drop.dict),
threads (drop.threads), sent-but-unacknowledged batches (drop.unacked,
drop.unacked_samples: possibly stored) and wall signals not sent
(drop.wall_behind). quality.dropped must be the samples lost for sure,
quality.possibly_dropped the unacknowledged ones, and quality.drop every
drop counter by name, summed over the instance's batches."""
import time

from cplib import *
from relay_wire import FakeAgent

T = "java.lang.Thread.run"


def run():
    with Relay(name="relay_quality") as relay:
        now = int(time.time() * 1000)
        t0 = now - 60000
        a = FakeAgent(relay.ws, "quality", "inst-q", {"env": "test"})
        check(a.connect()[0] == "welcome", "agent welcomed")
        first = {"samples.cpu": 1000, "drop.ring": 2, "drop.buffer": 3, "drop.buffer_samples": 300,
                 "drop.dict": 1, "drop.dict_samples": 50, "drop.threads": 4,
                 "drop.unacked": 2, "drop.unacked_samples": 120, "drop.wall_behind": 9}
        second = {"samples.cpu": 500, "drop.ring": 5, "drop.buffer": 1, "drop.buffer_samples": 70,
                  "drop.threads": 1}
        stack = {(T, "app.Main.main", "app.A.foo"): 1000}
        check(a.send_batch(1, t0, t0 + 10000, stack, counters=first)[0] == "ack", "ack 1")
        check(a.send_batch(2, t0 + 10000, t0 + 20000, stack, counters=second)[0] == "ack", "ack 2")

        q = relay.get_json("/api/v1/instances", app="quality")["instances"][0]["quality"]
        log("quality: %r" % q)
        check(q["samples"] == 1500, "samples summed: %r" % q)
        # samples lost for sure: ring + buffer_samples + dict_samples
        check(q["dropped"] == (2 + 5) + (300 + 70) + 50,
              "dropped counts samples only (not batches, threads, unacked, wall_behind): %r" % q)
        check(q.get("possibly_dropped") == 120, "unacknowledged samples apart, as possibly dropped: %r" % q)
        want = {"ring": 7, "buffer": 4, "buffer_samples": 370, "dict": 1, "dict_samples": 50,
                "threads": 5, "unacked": 2, "unacked_samples": 120, "wall_behind": 9}
        check(q.get("drop") == want, "every drop counter by name: %r" % q.get("drop"))

        # an instance that dropped nothing says 0, with an empty breakdown
        b = FakeAgent(relay.ws, "quality", "inst-clean")
        check(b.connect()[0] == "welcome", "second agent welcomed")
        check(b.send_batch(1, t0, t0 + 10000, stack, counters={"samples.cpu": 10})[0] == "ack", "b ack 1")
        inst = {i["id"]: i["quality"] for i in relay.get_json("/api/v1/instances", app="quality")["instances"]}
        qb = inst["inst-clean"]
        check(qb["dropped"] == 0 and qb.get("possibly_dropped") == 0 and qb.get("drop") == {},
              "clean instance: %r" % qb)
        a.close()
        b.close()


main(run)
