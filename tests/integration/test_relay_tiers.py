"""test_relay_tiers - pre-merged minute/hour aggregates and retention.

The relay runs with short tiers (aggregate a minute once it is 1 s old, keep
full-resolution windows 30 min). Two instances with different labels send
3 hours of old windows plus recent ones. Checks: the profile is the same
before and after downsampling (answered from hour + minute rows + raw);
old raw windows are expired only once aggregated; label filters still work
on aggregates; late data for an aggregated minute is merged in (dirty
minute and hour recomputed); timeline with step=1h matches. Runs on SQLite,
and on PostgreSQL as relay_tiers_pg (CPROF_TEST_STORE=postgres)."""
import time

from cplib import *
from relay_wire import FakeAgent

T = "java.lang.Thread.run"


def db_state(relay):
    st = dict(store_rows(relay, "SELECT step, done_ms FROM agg_state"))
    nraw_old = store_rows(relay, "SELECT count(*) FROM windows WHERE start_ms < %d" %
                          (int(time.time() * 1000) - 40 * 60000))[0][0]
    if relay.store_url:   # PostgreSQL: one table per tier (relay/store_pg_int.h)
        nagg = dict(store_rows(relay, "SELECT 60000, count(*) FROM agg_m UNION ALL"
                                      " SELECT 3600000, count(*) FROM agg_h"))
    else:
        nagg = dict(store_rows(relay, "SELECT step, count(*) FROM agg GROUP BY step"))
    return st, nraw_old, nagg


def n_dirty(relay):
    return store_rows(relay, "SELECT count(*) FROM dirty")[0][0]


def run():
    with Relay(name="relay_tiers", extra_args=["--aggregate-after", "1s", "--retention-full", "30m"]) as relay:
        now = int(time.time() * 1000)
        h0 = (now - 4 * 3600 * 1000) // 3600000 * 3600000 + 17 * 1000   # not aligned on purpose
        a = FakeAgent(relay.ws, "tier", "i-a", {"env": "prod"})
        b = FakeAgent(relay.ws, "tier", "i-b", {"env": "dev"})
        a.connect()
        b.connect()
        seq = 0
        for t in range(h0, h0 + 3 * 3600 * 1000, 30000):            # 3 h of 30 s windows
            seq += 1
            i = seq % 37
            a.send_raw(a.batch_msg(seq, t, t + 30000, {(T, "t.A.m%d" % i): 10 + i, (T, "t.A.hot"): 100}))
            b.send_raw(b.batch_msg(seq, t, t + 30000, {(T, "t.B.m%d" % (i % 5)): 7}))
        for t in range(now - 5 * 60000, now, 10000):                  # recent, stays raw
            seq += 1
            a.send_raw(a.batch_msg(seq, t, t + 10000, {(T, "t.A.recent"): 3}))
        for ag, want in ((a, seq), (b, 360)):
            last = None
            while last != want:
                k, v = ag.recv()
                check(k == "ack", "ack: %s %r" % (k, v))
                last = v[1]
        frm, to = str((h0 - 60000) / 1000), "now"
        before = relay.collapsed("tier", frm=frm, to=to)
        before_prod = relay.collapsed("tier", frm=frm, to=to, labels="env=prod")
        tl_before = relay.get_json("/api/v1/timeline", app="tier", **{"from": frm}, to=to, step="1h")
        check(sum(before.values()) > 0 and before_prod != before, "profiles before aggregation")

        def aggregated():
            st, nraw_old, nagg = db_state(relay)
            return (st.get(60000, 0) >= now - 5 * 60000 and st.get(3600000, 0) >= now - 2 * 3600000
                    and nraw_old == 0 and (st, nagg))
        st = wait_for(aggregated, 40, "minute + hour aggregation and expiry of old raw windows")
        log("agg state %r" % (st,))

        after = relay.collapsed("tier", frm=frm, to=to)
        check(after == before, "same profile from aggregates: diff %r" %
              {k: (before.get(k), after.get(k)) for k in set(before) | set(after) if before.get(k) != after.get(k)})
        check(relay.collapsed("tier", frm=frm, to=to, labels="env=prod") == before_prod,
              "label filter on aggregates")
        tl_after = relay.get_json("/api/v1/timeline", app="tier", **{"from": frm}, to=to, step="1h")
        check(tl_after["points"] == tl_before["points"], "hourly timeline unchanged: %r vs %r" %
              (tl_before["points"], tl_after["points"]))
        # a sub-range answered from the hour tier in the middle
        mid = relay.collapsed("tier", frm=str((h0 + 3600000 - 17000) / 1000), to=str((h0 + 2 * 3600000 - 17000) / 1000))
        check(sum(mid.values()) == 120 * (100 + 7) + sum(10 + (s % 37) for s in range(121, 241)),
              "one whole hour from hour rows: %d" % sum(mid.values()))

        # late data for an already aggregated minute
        seq += 1
        k, v = a.send_batch(seq, h0 + 45 * 60000, h0 + 45 * 60000 + 1000, {(T, "t.A.late"): 4242})
        check(k == "ack", "late batch acked")
        # visible at once: the stale minute (and hour) are read from raw windows until recomputed
        log("dirty buckets right after the late ack: %d" % n_dirty(relay))
        now_p = relay.collapsed("tier", frm=frm, to=to)
        check(now_p.get(T + ";t.A.late") == 4242, "late window visible right after its ack")
        hour_p = relay.collapsed("tier", frm=str((h0 - 17000) / 1000), to=str((h0 + 3600000 - 17000) / 1000))
        check(hour_p.get(T + ";t.A.late") == 4242, "late window visible in a query answered by hour rows")

        def late_merged():
            p = relay.collapsed("tier", frm=frm, to=to)
            dirty = n_dirty(relay)
            return dirty == 0 and p.get(T + ";t.A.late") == 4242 and p
        p = wait_for(late_merged, 30, "late data merged into aggregates")
        check(p.get(T + ";t.A.late") == 4242, "late window visible")
        mid2 = relay.collapsed("tier", frm=str((h0 - 17000) / 1000), to=str((h0 + 3600000 - 17000) / 1000))
        check(mid2.get(T + ";t.A.late") == 4242, "late data reached the hour row")
        a.close()
        b.close()


main(run)
