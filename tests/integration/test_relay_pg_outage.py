"""test_relay_pg_outage - the PostgreSQL store goes away and comes back.

A relay on a throwaway PostgreSQL cluster (pg.py) takes batches from an
agent; the server is stopped mid-stream (immediate: a crash), while the
agent keeps sending. Checks: batches sent while the database is down are
not acked (the relay answers "retry later" or closes the connection);
queries answer 503; after the server is back, the agent reconnects,
learns the stored seq from the welcome, resends what was not acked, and
the stored total is exact: every acked batch is there, nothing twice."""
import time

from cplib import *
from relay_wire import FakeAgent
import pg

T = "java.lang.Thread.run"
N = 300


def value_of(seq):
    return 1000 + seq


def run():
    if not pg.available():
        skip("no PostgreSQL 15 server here")
    db = pg.Postgres().start()
    relay = Relay(name="relay_pg_outage", extra_args=["--store", db.url])
    relay.store_url = None   # this test names its own store
    relay.start()
    try:
        t0 = int(time.time() * 1000) - 600 * 1000
        a = FakeAgent(relay.ws, "out", "i-1")
        check(a.connect()[0] == "welcome", "welcome")

        def msg(ag, s):
            return ag.batch_msg(s, t0 + s * 1000, t0 + s * 1000 + 1000, {(T, "o.M.m%d" % (s % 40)): value_of(s)})

        acked = 0
        for s in range(1, N // 2 + 1):
            a.send_raw(msg(a, s))
        while acked < N // 2:
            k, v = a.recv()
            check(k == "ack", "ack before the outage, got %s %r" % (k, v))
            acked = v[1]
        check(relay.collapsed("out", frm=str(t0 // 1000 - 10), to="now"), "profile before the outage")

        db.stop("immediate")
        log("postgres stopped after ack %d" % acked)
        sent_down = 0
        for s in range(N // 2 + 1, N // 2 + 21):
            try:
                a.send_raw(msg(a, s))
            except Exception as e:   # told to resend later: the relay closed it
                log("send of seq %d: %s" % (s, type(e).__name__))
                break
            sent_down = s
            time.sleep(0.05)
        # nothing sent while the database is down is acked
        deadline = time.time() + 8
        answers = []
        while time.time() < deadline:
            k, v = a.recv(timeout=max(0.1, deadline - time.time()))
            answers.append(k)
            if k == "ack":
                check(v[1] <= acked, "no ack while the database is down: ack %r > %d" % (v, acked))
            if k in ("closed", "text", "error", "retry"):
                break
        log("answers while down: %r" % sorted(set(answers)))
        st, body = relay.get("/api/v1/profile", app="out", type="cpu", **{"from": str(t0 // 1000 - 10)}, to="now")
        check(st == 503, "profile query while the database is down: 503, got %d %r" % (st, body[:200]))
        st, _ = relay.get("/api/v1/apps")
        check(st == 503, "apps query while the database is down: 503, got %d" % st)
        a.close()

        db.start()
        log("postgres back")

        def answered():
            st, _ = relay.get("/api/v1/apps")
            return st == 200
        wait_for(answered, 15, "queries answered again once the database is back")
        b = FakeAgent(relay.ws, "out", "i-1")

        def welcome():
            k, w = b.connect()
            if k != "welcome":
                b.close()
                return None
            return w
        w = wait_for(welcome, 15, "a welcome once the database is back")
        last = w[4]
        check(acked <= last <= sent_down, "welcome last_seq %d within [acked %d, sent %d]" % (last, acked, sent_down))
        for s in range(1, N + 1):   # resend everything: duplicates are dropped
            b.send_raw(msg(b, s))
        got = 0
        while got < N:
            k, v = b.recv()
            check(k == "ack", "ack after the outage, got %s %r" % (k, v))
            got += 1
        check(v[1] == N, "final ack %d" % v[1])
        prof = relay.collapsed("out", frm=str(t0 // 1000 - 10), to="now")
        want = sum(value_of(s) for s in range(1, N + 1))
        check(sum(prof.values()) == want, "exact total after the outage: %d vs %d" % (sum(prof.values()), want))
        b.close()
    finally:
        relay.__exit__(None, None, None)
        db.destroy()


main(run)
