"""test_diff_stats - /api/v1/diff's statistics (docs/diff.md) on a real relay
fed by test agents over the real wire protocol, with data whose answer is
known: two instances per side, 20 windows each, app.A.hot at 20% of samples
in version 1 and 30% in version 2 (jittered per window), a lambda whose
class number differs between the versions, the rest unchanged.

Checks: the old fields stay; app.A.hot is the one REGRESSION and its 95%
interval holds +10pp; the lambda is one method (not gone + new); warm-up
windows are skipped; an A/A comparison passes; thresholds, q and
normalisation change the verdict as documented; bad parameters are 400s."""
import json
import random
import subprocess
import time

from cplib import *
from relay_wire import FakeAgent

T = ("java.lang.Thread.run", "app.Main.main")
MS = 10_000_000   # one 10 ms sample, in ns


def window(rng, hot_share, lam):
    n = 1000
    hot = int(round(n * hot_share * rng.uniform(0.85, 1.15)))
    lam_n = int(round(n * 0.1 * rng.uniform(0.85, 1.15)))
    other = int(round((n - hot - lam_n) * rng.uniform(0.45, 0.55)))
    rest = n - hot - lam_n - other - 20
    v = {T + ("app.A.hot", "app.A.leaf:42"): hot * MS,
         T + (lam,): lam_n * MS,
         T + ("app.B.other",): other * MS,
         T + ("app.C.rest",): rest * MS}
    for i in range(20):   # a real profile's tail: stacks seen once a window
        v[T + ("app.C.rest", "app.Tail.t%d" % i)] = MS
    return v


def run():
    rng = random.Random(7)
    with Relay(name="diff_stats") as relay:
        agents = []
        for ver, names in (("1", ("b1", "b2")), ("2", ("c1", "c2"))):
            for name in names:
                a = FakeAgent(relay.ws, "gate", name, {"version": ver})
                check(a.connect()[0] == "welcome", "agent %s welcomed" % name)
                agents.append((ver, a))
        # the instances run 2 s (first to last_seen) before their windows
        # arrive; the first window starts at the earliest first_seen
        time.sleep(2.1)
        t0 = min(i["first_seen"] for i in relay.get_json("/api/v1/instances", app="gate")["instances"]) * 1000
        for ver, a in agents:
            hot = 0.2 if ver == "1" else 0.3
            lam = "app.A$$Lambda$12/0x0000000800c0b840.run" if ver == "1" else \
                  "app.A$$Lambda$15/0x0000000800d01000.run"
            for w in range(20):
                s = t0 + w * 10000
                gc = 5e6 if ver == "1" else 2e7   # GC pause ns a window: 0.05% / 0.2% of the time
                k, _ = a.send_batch(w + 1, s, s + 10000, window(rng, hot, lam),
                                    points=[("gc.pause_ns", s + 5000, gc)])
                check(k == "ack", "window acked")
        end = t0 // 1000 + 210

        def diff(**kw):
            p = {"app": "gate", "base.labels": "version=1", "cmp.labels": "version=2",
                 "base.from": str(t0 // 1000 - 5), "base.to": str(end),
                 "cmp.from": str(t0 // 1000 - 5), "cmp.to": str(end), "warmup": "0"}
            p.update(kw)
            return relay.get_json("/api/v1/diff", **p)

        d = diff()
        check(d["base"]["total"] == 40 * 1000 * MS and d["cmp"]["total"] == 40 * 1000 * MS,
              "totals of 40 windows a side: %r %r" % (d["base"], d["cmp"]))
        check("tree" in d and "functions" in d and d["names"][0] == "<root>", "the old fields stay")
        st = d["stats"]
        log("summary: %s; verdict %s" % (st["summary"], st["verdict"]))
        check(st["base"]["windows"] == 40 and st["base"]["instances"] == 2 and st["cmp"]["instances"] == 2,
              "40 windows of 2 instances a side: %r" % st["base"])
        check(abs(st["base"]["samples"] - 40000) < 1, "samples counted from the 10 ms unit: %r" % st["base"])
        check(st["verdict"] == "REGRESSION" and st["failing"] == 2, "app.A.hot and its callee fail the gate: %r" % st)
        m = {x["name"]: x for x in d["methods"]}
        hot = m.get("app.A.hot")
        check(hot and hot["verdict"] == "REGRESSION" and hot["change"] == "rise", "app.A.hot regressed: %r" % hot)
        se = (hot["ci95"][1] - hot["ci95"][0]) / 3.92
        check(hot["ci95"][0] < hot["delta"] < hot["ci95"][1] and abs(hot["delta"] - 0.1) < 3 * se and
              0.002 < se < 0.02 and hot["q"] <= 0.05, "+10pp within 3 standard errors: %r" % hot)
        check(m["app.A.leaf"]["verdict"] == "REGRESSION", "the line number is stripped: %r" % list(m))
        check(d["methods"][0]["name"] in ("app.A.hot", "app.A.leaf"), "regressions are listed first")
        names = [d["names"][i] for i in hot["frames"]]
        check(names == ["app.A.hot"], "frames point at the merged names: %r" % names)
        lam = m.get("app.A$$Lambda.run")
        check(lam and lam["verdict"] == "PASS" and lam["change"] == "none" and len(lam["frames"]) == 2,
              "the lambdas of both versions are one unchanged method: %r" % lam)
        check(st["summary"].startswith("%d significant regression" % st["regressions"]) and
              "methods unchanged" in st["summary"], "summary line: %r" % st["summary"])
        check(m["app.Main.main"]["change"] == "none", "a method in every stack does not change")
        check(abs(st["base"]["gc_pause_share"] - 0.0005) < 1e-6 and abs(st["cmp"]["gc_pause_share"] - 0.002) < 1e-6,
              "GC pause share of each side's time: %r %r" % (st["base"], st["cmp"]))
        check(st["base"]["lock_wait_share"] is None, "no lock data: null")

        # warm-up: the first second of each instance (its first window) is
        # skipped; a 60 s warm-up is kept, as the instances ran only ~2 s
        w = diff(warmup="1s")["stats"]
        check(w["base"]["skipped_warmup"] == 2 and w["base"]["windows"] == 38,
              "warm-up skips the first window of each instance: %r" % w["base"])
        w = diff(warmup="60")["stats"]
        check(w["base"]["kept_warmup"] == 12 and w["base"]["windows"] == 40,
              "a run shorter than twice the warm-up keeps it: %r" % w["base"])

        # thresholds: +10pp passes a 20pp gate, fails 10%rel
        check(diff(threshold="20pp")["stats"]["verdict"] == "PASS", "20pp: PASS")
        check(diff(threshold="40%rel")["stats"]["verdict"] == "REGRESSION", "+50%% rel fails a 40%%rel gate")
        ps = diff(normalize="per-second", threshold="10%rel")
        hp = {x["name"]: x for x in ps["methods"]}["app.A.hot"]
        check(abs(hp["base"] / 2e8 - 1) < 0.05, "per-second: 200 ms of CPU a second in base: %r" % hp)
        check(hp["verdict"] == "REGRESSION", "per-second sees it too: %r" % hp)

        # A/A: version 1 against itself, first half against second half
        mid = t0 // 1000 + 100
        aas = diff(**{"cmp.labels": "version=1", "base.to": str(mid), "cmp.from": str(mid)})["stats"]
        check(aas["verdict"] == "PASS" and aas["regressions"] == 0, "A/A passes: %r" % aas)

        # stats=off: the plain diff
        check("stats" not in diff(stats="off"), "stats=off leaves the statistics out")

        for bad in ({"threshold": "2"}, {"threshold": "-1pp"}, {"q": "2"}, {"normalize": "per-op"},
                    {"normalize": "per-second", "threshold": "2pp"}, {"warmup": "x"}):
            p = {"app": "gate", "base.from": "now-1h", **bad}
            status, body = relay.get("/api/v1/diff", **p)
            check(status == 400 and b"bad '" in body, "%r: 400 naming it, got %d %s" % (bad, status, body[:200]))
        # ---- the CLI gate: cprof diff --fail-on
        def gate(*extra, **kw):
            args = [CPROF, "diff", "--relay", relay.http, "--app", kw.get("app", "gate"),
                    "--base-labels", "version=1", "--cmp-labels", kw.get("cmp", "version=2"),
                    "--base-from", str(t0 // 1000 - 5), "--base-to", str(kw.get("bto", end)),
                    "--cmp-from", str(kw.get("cfrom", t0 // 1000 - 5)), "--cmp-to", str(end),
                    "--warmup", "0"] + list(extra)
            r = subprocess.run(args, capture_output=True, text=True, timeout=30)
            return r.returncode, r.stdout, r.stderr

        rc, out, err = gate("--fail-on", "2pp")
        log("cprof diff --fail-on 2pp (exit %d):\n%s" % (rc, "\n".join(out.splitlines()[:6])))
        check(rc == 1 and any(l.startswith("REGRESSION (threshold 2pp") for l in out.splitlines()) and
              "GC pauses 0.05% -> 0.2% of the time" in out and "app.A.hot" in out,
              "a regression exits 1 and names the method: %d\n%s%s" % (rc, out, err))
        check(gate("--fail-on", "20pp")[0] == 0, "a 20pp gate passes (exit 0)")
        check(gate("--fail-on", "40%rel", "--metric", "cpu", "--normalize", "per-second", "--q", "0.01")[0] == 1,
              "per-second with a relative threshold fails too")
        rc, out, _ = gate("--fail-on", "2pp", "--format", "md")
        check(rc == 1 and out.startswith("### ") and "**REGRESSION**" in out and "| REGRESSION | `app.A.hot` |" in out,
              "md is a pull-request comment: %s" % out[:600])
        rc, out, _ = gate("--fail-on", "2pp", "--format", "junit")
        import xml.etree.ElementTree as ET
        suite = ET.fromstring(out).find("testsuite")
        fails = [tc.get("name") for tc in suite.iter("testcase") if tc.find("failure") is not None]
        check(rc == 1 and "app.A.hot" in fails and any(f.startswith("gate") for f in fails)
              and int(suite.get("failures")) == len(fails), "junit lists the failures: %s" % out[:800])
        rc, out, _ = gate("--fail-on", "2pp", "--format", "json")
        check(rc == 1 and json.loads(out)["stats"]["verdict"] == "REGRESSION", "json is the relay's answer")
        # A/A with a gate no real change passes but noise can exceed: INCONCLUSIVE
        aa = dict(cmp="version=1", bto=mid, cfrom=mid)
        rc, out, _ = gate("--fail-on", "0.01pp", **aa)
        check(rc == 3 and "INCONCLUSIVE" in out and "the data" in out, "INCONCLUSIVE exits 3: %d\n%s" % (rc, out))
        check(gate("--fail-on", "0.01pp", "--inconclusive", "pass", **aa)[0] == 0, "--inconclusive pass: 0")
        check(gate("--fail-on", "0.01pp", "--inconclusive", "fail", **aa)[0] == 1, "--inconclusive fail: 1")
        check(gate("--fail-on", "2pp", **aa)[0] == 0, "A/A at 2pp: PASS")
        # nothing to judge is 2, not a verdict: an unknown app, or every
        # window inside the warm-up of instances that ran long enough to skip it
        rc, _, err = gate("--fail-on", "2pp", "--warmup", "1s", bto=t0 // 1000 + 1, cfrom=t0 // 1000 - 5)
        check(rc == 2 and "warm-up" in err, "no window after the warm-up exits 2: %d %s" % (rc, err))
        rc, _, err = gate("--fail-on", "2pp", app="nosuch")
        check(rc == 2 and "nosuch" in err, "an unknown app under --fail-on exits 2: %d %s" % (rc, err))
        for bad in (["--fail-on", "2"], ["--fail-on", "2pp", "--normalize", "per-op"],
                    ["--fail-on", "2pp", "--normalize", "per-second"], ["--fail-on", "2pp", "--q", "5"],
                    ["--fail-on", "2pp", "--format", "xml"], ["--inconclusive", "pass"],
                    ["--fail-on", "2pp", "--metric", "gc"]):
            rc, _, err = gate(*bad)
            check(rc == 2 and "cprof diff: " in err, "%r: usage error 2, got %d %s" % (bad, rc, err[:200]))
        # without --fail-on, cprof diff prints the table as before (exit 0)
        rc, out, _ = gate()
        check(rc == 0 and "delta" in out.splitlines()[3], "plain cprof diff unchanged: %s" % out[:300])
        for _, a in agents:
            a.close()


if __name__ == "__main__":
    main(run)
