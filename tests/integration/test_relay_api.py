"""test_relay_api - the real relay fed by test agents speaking the real wire
protocol over real websockets (relay_wire.FakeAgent), checked through the
real HTTP API: merging of instances, label filters, every output format,
top/timeline/diff, 404/400 errors, duplicate batches, the live websocket,
and bad input closing only the offending connection."""
import asyncio
import json
import time

import websockets

from cplib import *
from relay_wire import FakeAgent, envelope, pprof_decode, BATCH

T = "java.lang.Thread.run"


def run():
    with Relay(name="relay_api", extra_args=["--token", "s3cret", "--max-message", "65536"]) as relay:
        now = int(time.time() * 1000)
        t0 = now - 120000
        a = FakeAgent(relay.ws, "shop", "inst-a", {"env": "prod", "zone": "a"}, token="s3cret")
        b = FakeAgent(relay.ws, "shop", "inst-b", {"env": "canary", "zone": "b"}, token="s3cret")
        k, w = a.connect()
        check(k == "welcome" and w[4] == 0, "welcome with last_seq 0, got %s %r" % (k, w))
        check(b.connect()[0] == "welcome", "second agent welcomed")

        # bad token: error + close, other agents unaffected
        bad = FakeAgent(relay.ws, "shop", "inst-x", token="wrong")
        k, e = bad.connect()
        check(k == "error" and "token" in e[2], "bad token answered with error, got %s %r" % (k, e))
        check(bad.closed(), "bad-token connection closed")

        # a: hot A.foo in the base period; b: canary
        base = {(T, "app.Main.main", "app.A.foo"): 9000, (T, "app.Main.main", "app.A.bar"): 1000}
        k, ack = a.send_batch(1, t0, t0 + 10000, base,
                              counters={"samples.cpu": 1000, "fail.unknown_Java": 7, "drop.ring": 2,
                                        "rate.cpu_mhz": 99500},
                              points=[("gc.pause_ns", t0 + 1000, 5e6)])
        check(k == "ack" and ack[1] == 1, "ack 1, got %s %r" % (k, ack))
        k, ack = b.send_batch(1, t0, t0 + 10000, {(T, "app.Main.main", "app.A.foo"): 3000})
        check(k == "ack" and ack[1] == 1, "b ack 1")
        # duplicate: acked, not counted twice
        k, ack = a.send_raw(a.batch_msg(1, t0, t0 + 10000, base)) or a.recv()
        check(k == "ack" and ack[1] == 1, "duplicate batch acked, got %s %r" % (k, ack))
        # later period on a: hot method moves to A.bar (for diff)
        cmpv = {(T, "app.Main.main", "app.A.foo"): 1000, (T, "app.Main.main", "app.A.bar"): 9000}
        check(a.send_batch(2, t0 + 60000, t0 + 70000, cmpv)[0] == "ack", "ack 2")

        # live websocket subscriber sees the next window within 2 s
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        ws = loop.run_until_complete(websockets.connect(relay.ws + "/api/v1/live", subprotocols=["cprof.live"]))
        loop.run_until_complete(ws.send(json.dumps({"subscribe": {"app": "shop", "type": "cpu",
                                                                  "labels": "env=prod"}})))
        time.sleep(0.3)
        t_send = time.time()
        check(b.send_batch(2, t0 + 60000, t0 + 70000, {(T, "x.Y.z"): 5})[0] == "ack", "b ack 2")
        check(a.send_batch(3, t0 + 70000, t0 + 80000, {(T, "app.Main.main", "app.A.bar"): 77})[0] == "ack",
              "ack 3")
        asyncio.set_event_loop(loop)
        msg = json.loads(loop.run_until_complete(asyncio.wait_for(ws.recv(), 5)))
        lat = time.time() - t_send
        check(msg["kind"] == "window" and msg["instance"] == "inst-a" and msg["total"] == 77,
              "live push is a's window (b is filtered out by env=prod): %r" % msg)
        check(lat < 2.0, "live push within 2 s (%.3fs)" % lat)
        log("live push after %.0f ms" % (lat * 1000))
        loop.run_until_complete(ws.close())

        # ---- apps / instances
        apps = relay.get_json("/api/v1/apps")["apps"]
        shop = [x for x in apps if x["name"] == "shop"]
        check(shop and shop[0]["instances"] == 2 and shop[0]["connected"] == 2 and shop[0]["types"] == ["cpu"],
              "apps lists shop with 2 connected instances: %r" % apps)
        check(shop[0]["first_sample"] == {"cpu": t0 // 1000},
              "apps gives the first sample of each type (%d): %r" % (t0 // 1000, shop[0]))
        inst = {i["id"]: i for i in relay.get_json("/api/v1/instances", app="shop")["instances"]}
        qa = inst["inst-a"]
        check(qa["labels"] == {"env": "prod", "zone": "a"} and qa["connected"] and qa["jvm"] == "TestVendor 17.0.0",
              "instance a registry: %r" % qa)
        check(qa["quality"]["samples"] == 1000 and qa["quality"]["fail"] == {"unknown_Java": 7}
              and qa["quality"]["failed"] == 7 and qa["quality"]["dropped"] == 2
              and abs(qa["quality"]["rate_hz"] - 99.5) < 0.01, "quality counters: %r" % qa["quality"])

        # ---- merged profile over both instances, in every format
        rng = dict(frm=str((t0 - 1000) / 1000), to="now")
        prof = relay.collapsed("shop", **rng)
        want = {T + ";app.Main.main;app.A.foo": 9000 + 3000 + 1000,
                T + ";app.Main.main;app.A.bar": 1000 + 9000 + 77, T + ";x.Y.z": 5}
        check(prof == want, "collapsed merges both instances, duplicates once: %r" % prof)
        js = relay.get_json("/api/v1/profile", app="shop", type="cpu", **{"from": rng["frm"]}, to="now")
        tree, names = js["tree"], js["names"]
        check(len(tree) % 4 == 0 and tree[0:2] == [-1, 0] and names[0] == "<root>", "json tree shape")
        check(js["total"] == sum(want.values()) and tree[3] == js["total"], "json total")
        check(len(js["kinds"]) == len(names), "kinds per name")
        # rebuild stacks from the tree and compare with collapsed
        n = len(tree) // 4
        paths, rebuilt = {}, {}
        for i in range(n):
            p, nm, self_, tot = tree[4 * i:4 * i + 4]
            check(p < i, "pre-order: parent before child")
            paths[i] = (paths[p] + [names[nm]]) if p >= 0 else []
            if self_:
                rebuilt[";".join(paths[i])] = self_
        check(rebuilt == want, "json tree == collapsed: %r" % rebuilt)
        # children by descending total
        kids = {}
        for i in range(n):
            kids.setdefault(tree[4 * i], []).append(tree[4 * i + 3])
        check(all(v == sorted(v, reverse=True) for k, v in kids.items() if k >= 0), "children sorted by total")

        st, body = relay.get("/api/v1/profile", app="shop", **{"from": rng["frm"]}, format="pprof")
        check(st == 200, "pprof 200")
        stypes, pp = pprof_decode(body)
        check(stypes == [("cpu", "ns")] and pp == want, "pprof decodes to the same profile: %r %r" % (stypes, pp))

        st, body = relay.get("/api/v1/profile", app="shop", **{"from": rng["frm"]}, format="speedscope")
        ss = json.loads(body)
        fr = [f["name"] for f in ss["shared"]["frames"]]
        p0 = ss["profiles"][0]
        check(p0["type"] == "sampled" and p0["unit"] == "nanoseconds", "speedscope sampled profile")
        sp = {}
        for s, wgt in zip(p0["samples"], p0["weights"]):
            sp[";".join(fr[i] for i in s)] = wgt
        check(sp == want and p0["endValue"] == sum(want.values()), "speedscope == collapsed: %r" % sp)

        # ---- labels filter
        canary = relay.collapsed("shop", **rng, labels="env=canary")
        check(canary == {T + ";app.Main.main;app.A.foo": 3000, T + ";x.Y.z": 5}, "labels=env=canary: %r" % canary)
        both = relay.collapsed("shop", **rng, labels="env=prod,zone=a")
        check(sum(both.values()) == 9000 + 1000 + 1000 + 9000 + 77, "labels with two keys")
        check(relay.collapsed("shop", **rng, labels="env=none") == {}, "non-matching label filter is empty")

        # ---- top
        top = relay.get_json("/api/v1/top", app="shop", **{"from": rng["frm"]}, to="now", limit=2)
        fn = top["functions"]
        check(len(fn) == 2 and fn[0]["name"] == "app.A.foo" and fn[0]["self"] == 13000
              and fn[1]["name"] == "app.A.bar" and top["total"] == sum(want.values()), "top: %r" % top)
        t2 = relay.get_json("/api/v1/top", app="shop", **{"from": rng["frm"]}, to="now")
        main_ = [f for f in t2["functions"] if f["name"] == "app.Main.main"][0]
        check(main_["self"] == 0 and main_["total"] == 13000 + 10077, "total of a caller: %r" % main_)

        # ---- timeline
        tl = relay.get_json("/api/v1/timeline", app="shop", **{"from": str(t0 // 1000)},
                            to=str((t0 + 90000) // 1000), step="10")
        pts = dict((p[0], p[1]) for p in tl["points"])
        check(tl["step"] == 10 and pts[t0 // 10000 * 10] == 13000, "timeline bucket of the first windows: %r" % pts)
        check(sum(pts.values()) == sum(want.values()), "timeline sums to the profile total: %r" % tl)
        check("gc.pause_ns" in tl["series"] and tl["series"]["gc.pause_ns"][0][1] == 5e6,
              "GC series: %r" % tl["series"])

        # ---- diff: hot method moved from A.foo to A.bar on instance a
        d = relay.get_json("/api/v1/diff", app="shop", labels="env=prod",
                           base_from=str(t0 // 1000), base_to=str((t0 + 30000) // 1000),
                           cmp_from=str((t0 + 50000) // 1000), cmp_to=str((t0 + 65000) // 1000))
        check(d["base"]["total"] == 10000 and d["cmp"]["total"] == 10000, "diff totals: %r" % d["base"])
        fns = {f["name"]: f for f in d["functions"]}
        check(abs(fns["app.A.bar"]["delta_pct"] - 80.0) < 1e-6 and abs(fns["app.A.foo"]["delta_pct"] + 80.0) < 1e-6,
              "diff shows the hot method change: %r" % d["functions"])
        check(d["functions"][0]["name"] in ("app.A.bar", "app.A.foo"), "sorted by |delta|")
        check(len(d["tree"]) % 6 == 0 and d["tree"][3] == 10000 and d["tree"][5] == 10000, "diff tree root")

        # ---- errors
        for path, params, code in [
                ("/api/v1/profile", dict(app="nope"), 404),
                ("/api/v1/profile", dict(app="shop", type="lock"), 404),
                ("/api/v1/profile", dict(app="shop", **{"from": "yesterday"}), 400),
                ("/api/v1/profile", dict(app="shop", format="svg"), 400),
                ("/api/v1/profile", dict(), 400),
                ("/api/v1/profile", dict(app="shop", labels="novalue"), 400),
                ("/api/v1/timeline", dict(app="shop", step="0"), 400),
                ("/api/v1/top", dict(app="shop", limit="-1"), 400),
                ("/api/v1/instances", dict(app="nope"), 404),
                ("/api/v1/nosuch", dict(), 404)]:
            st, body = relay.get(path, **params)
            check(st == code and "error" in json.loads(body), "%s %r -> %d %s" % (path, params, st, body))
        # times: RFC 3339 and relative
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((t0 - 1000) / 1000))
        check(relay.collapsed("shop", frm=iso, to="now") == want, "RFC 3339 from")

        # ---- bad input closes only that connection
        evil = FakeAgent(relay.ws, "shop", "inst-evil", token="s3cret")
        evil.connect()
        evil.send_raw(b"XX\x01\x03garbage-garbage")
        k, e = evil.recv()
        check(k == "error" and evil.closed(), "garbage -> error + close (%s %r)" % (k, e))
        evil2 = FakeAgent(relay.ws, "shop", "inst-evil2", token="s3cret")
        evil2.connect()
        # batch referring to a stack id that was never defined
        evil2.send_raw(envelope(BATCH, {1: 1, 2: now, 3: now + 1, 5: [["cpu", "ns"]], 9: [42, 0, 1]}))
        k, e = evil2.recv()
        check(k == "error" and evil2.closed(), "dangling stack id -> error + close (%s %r)" % (k, e))
        evil3 = FakeAgent(relay.ws, "shop", "inst-evil3", token="s3cret")
        evil3.connect()
        evil3.send_raw(evil3.batch_msg(1, now, now + 1, {(T,): 1}))
        evil3.recv()
        evil3.send_raw(envelope(1, {1: 1, 2: "shop", 3: "again"}))   # second hello
        k, e = evil3.recv()
        check(k == "error" and evil3.closed(), "second hello -> error + close")
        # an agent that never said hello
        import websockets as _w
        evil4 = FakeAgent(relay.ws, "shop", "inst-evil4")
        asyncio.set_event_loop(evil4.loop)
        evil4.ws = evil4._run(_w.connect(evil4.url, subprotocols=["cprof.v1"], max_size=None))
        evil4.send_raw(evil4.batch_msg(1, now, now + 1, {(T,): 1}))
        k, e = evil4.recv()
        check(k == "error" and evil4.closed(), "batch before hello -> error + close")
        # oversized message (over --max-message)
        evil5 = FakeAgent(relay.ws, "shop", "inst-evil5", token="s3cret")
        evil5.connect()
        evil5.send_raw(os.urandom(100000))
        k, e = evil5.recv()
        check(k == "error" and "65536" in e[2] and evil5.closed(), "oversized -> error + close (%s %r)" % (k, e))
        # the good agents keep working
        check(a.send_batch(4, now - 5000, now, {(T, "ok.Still.alive"): 1})[0] == "ack", "a still acked")
        check(b.send_batch(3, now - 5000, now, {(T, "ok.Still.alive"): 1})[0] == "ack", "b still acked")
        log("relay log:\n" + relay.tail(12))
        check("closing connection" in relay.tail(40), "reasons are logged")

        # reconnect: welcome carries the stored seq
        a.close()
        time.sleep(0.3)
        a2 = FakeAgent(relay.ws, "shop", "inst-a", token="s3cret")
        k, w = a2.connect()
        check(k == "welcome" and w[4] == 4, "reconnect welcome last_seq 4: %r" % (w,))
        inst = {i["id"]: i for i in relay.get_json("/api/v1/instances", app="shop")["instances"]}
        check(inst["inst-a"]["connected"], "reconnected instance is connected")
        a2.close()
        b.close()
        time.sleep(0.5)
        inst = {i["id"]: i for i in relay.get_json("/api/v1/instances", app="shop")["instances"]}
        check(not inst["inst-a"]["connected"] and not inst["inst-b"]["connected"],
              "gone instances stay, marked disconnected")


main(run)
