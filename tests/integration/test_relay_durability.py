"""test_relay_durability - `kill -9` of the relay loses nothing it acked.

An agent pipelines batches (without waiting for each ack, as the real agent
does after a reconnect) while the relay is killed with SIGKILL mid-stream.
After a restart on the same data dir: every acked batch is there, none is
counted twice, the welcome's last_seq covers every ack, and resending what
was not acked makes the total exact."""
import time

from cplib import *
from relay_wire import FakeAgent

T = "java.lang.Thread.run"
N = 400


def value_of(seq):
    return 1000 + seq


def run():
    relay = Relay(name="relay_durability")
    relay.start()
    try:
        now = int(time.time() * 1000)
        t0 = now - 3600 * 1000
        a = FakeAgent(relay.ws, "dur", "i-1")
        check(a.connect()[0] == "welcome", "welcome")
        msgs = [a.batch_msg(s, t0 + s * 1000, t0 + s * 1000 + 1000,
                            {(T, "d.M.m%d" % (s % 50)): value_of(s)}) for s in range(1, N + 1)]
        # pipeline: send everything, then read acks; kill once half is acked
        acked = 0
        for m in msgs:
            a.send_raw(m)
        i = N - 1
        while acked < N // 2:
            k, v = a.recv()
            check(k == "ack", "ack, got %s %r" % (k, v))
            acked = max(acked, v[1])
        relay.kill9()
        log("killed after ack %d (sent %d)" % (acked, i + 1))
        check(acked >= N // 2, "acks flowed")

        relay.start()
        prof = relay.collapsed("dur", frm=str(t0 // 1000 - 10), to="now")
        total = sum(prof.values())
        want_min = sum(value_of(s) for s in range(1, acked + 1))
        sent_max = sum(value_of(s) for s in range(1, i + 2))
        check(total >= want_min, "every acked batch survived kill -9: %d < %d" % (total, want_min))
        check(total <= sent_max, "nothing counted twice: %d > %d" % (total, sent_max))

        b = FakeAgent(relay.ws, "dur", "i-1")
        k, w = b.connect()
        last = w[4]
        check(k == "welcome" and last >= acked, "welcome last_seq %s >= acked %d" % (w, acked))
        stored = sum(value_of(s) for s in range(1, last + 1))
        check(total == stored, "stored total matches last_seq exactly (%d vs %d)" % (total, stored))
        # resend everything (as an agent with a full buffer would): duplicates are dropped
        for s in range(1, N + 1):
            b.send_raw(b.batch_msg(s, t0 + s * 1000, t0 + s * 1000 + 1000,
                                   {(T, "d.M.m%d" % (s % 50)): value_of(s)}))
        seen = 0
        while seen < N:
            k, v = b.recv()
            check(k == "ack", "ack on resend, got %s %r" % (k, v))
            seen += 1
        check(v[1] == N, "final ack is %d" % N)
        prof = relay.collapsed("dur", frm=str(t0 // 1000 - 10), to="now")
        check(sum(prof.values()) == sum(value_of(s) for s in range(1, N + 1)),
              "after resend the total is exact: %d" % sum(prof.values()))
        b.close()
        # a clean stop and restart keeps it too
        relay.stop()
        relay.start()
        prof2 = relay.collapsed("dur", frm=str(t0 // 1000 - 10), to="now")
        check(prof2 == prof, "same profile after a clean restart")
    finally:
        relay.__exit__(None, None, None)


main(run)
