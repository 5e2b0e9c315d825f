"""test_relay_tiers_old - data older than raw retention (minute/hour rows only).

Real relay with short tiers (aggregate after 1 s, keep raw windows 30 min).
One instance sends an hour of windows that are 3 h old; once they are
aggregated and the raw windows expired:
  * a timeline over that hour with the automatic step (30 s for 1 h, not a
    multiple of a minute) has the data, as /profile does (it came back empty);
  * a late (or clock-skewed) window for a minute of that hour is added to
    the minute and hour aggregates, not recomputed from raw windows that
    expiry already deleted (which replaced the minute with the late window
    alone, losing what the minute held)."""
import sqlite3
import time

from cplib import *
from relay_wire import FakeAgent

T = "java.lang.Thread.run"


def db(relay, sql, *args):
    con = sqlite3.connect("file:%s/cprof.db?mode=ro" % relay.data, uri=True, timeout=10)
    try:
        return con.execute(sql, args).fetchone()[0]
    finally:
        con.close()


def run():
    with Relay(name="relay_tiers_old", extra_args=["--aggregate-after", "1s", "--retention-full", "30m"]) as relay:
        now = int(time.time() * 1000)
        h0 = (now - 3 * 3600 * 1000) // 3600000 * 3600000          # an hour, 2-3 h ago
        a = FakeAgent(relay.ws, "old", "i-1")
        check(a.connect()[0] == "welcome", "welcome")
        seq = 0
        for t in range(h0, h0 + 3600 * 1000, 60000):                  # one 60 s window a minute, value 10
            seq += 1
            a.send_raw(a.batch_msg(seq, t, t + 60000, {(T, "o.A.m"): 10}))
        last = None
        while last != seq:
            k, v = a.recv()
            check(k == "ack", "ack %s %r" % (k, v))
            last = v[1]
        frm, to = str(h0 // 1000), str((h0 + 3600 * 1000) // 1000)
        wait_for(lambda: db(relay, "SELECT count(*) FROM windows WHERE start_ms < ?", now - 40 * 60000) == 0
                 and (db(relay, "SELECT coalesce(max(done_ms),0) FROM agg_state WHERE step=3600000") or 0) > h0,
                 40, "aggregation and expiry of the old raw windows")
        total = sum(relay.collapsed("old", frm=frm, to=to).values())
        check(total == 600, "/profile answers the old hour from aggregates: %d" % total)
        for step in (None, "30s", "50s"):
            kw = {"from": frm, "to": to}
            if step:
                kw["step"] = step
            tl = relay.get_json("/api/v1/timeline", app="old", **kw)
            got = sum(p[1] for p in tl["points"])
            check(got == 600, "timeline (step %s -> %ss) over the old hour has the data: %d" % (step, tl["step"], got))

        # a late window for minute 10 of that hour, older than raw retention
        seq += 1
        t = h0 + 10 * 60000 + 5000
        k, v = a.send_batch(seq, t, t + 1000, {(T, "o.A.late"): 4242})
        check(k == "ack", "late window acked: %s %r" % (k, v))
        time.sleep(7)   # a maintenance pass (every ~5 s when idle) has run
        wait_for(lambda: db(relay, "SELECT count(*) FROM dirty") == 0, 20, "no dirty buckets left")
        prof = relay.collapsed("old", frm=frm, to=to)
        check(prof.get(T + ";o.A.m") == 600 and prof.get(T + ";o.A.late") == 4242,
              "the late window is added to what the minute held, nothing lost: %r" % prof)
        minute = relay.collapsed("old", frm=str((h0 + 10 * 60000) // 1000), to=str((h0 + 11 * 60000) // 1000))
        check(minute.get(T + ";o.A.m") == 10 and minute.get(T + ";o.A.late") == 4242,
              "minute 10 holds both: %r" % minute)
        tl = relay.get_json("/api/v1/timeline", app="old", **{"from": frm, "to": to, "step": "1h"})
        check(sum(p[1] for p in tl["points"]) == 600 + 4242, "the hour row holds both: %r" % tl["points"])
        a.close()


main(run)
