"""test_relay_insights - GET /api/v1/insights on a real relay with --auth,
fed by test agents over the real wire protocol (relay_wire.FakeAgent): a
regex compiled per call in one of two instances is a WARN finding with its
evidence (share and interval, user-code caller, stack, worst window,
instances 1 of 2, saving, links), `type=` narrows the answer, and the
errors read as /profile's: 400 for bad parameters, 404 for an unknown app
or type, the other tenant's app is unknown, 401 without a token. The
problem programs of every rule run on real JVMs in test_insights.py."""
import os
import subprocess
import time

from cplib import *
from relay_wire import FakeAgent

MS10 = 10_000_000
ROOT = ("[Java] main", "java.lang.Thread.run", "com.acme.App.main")
REGEX = ROOT + ("com.acme.Parser.parse", "java.lang.String.split", "java.util.regex.Pattern.compile")


def token_new(auth, tenant, role):
    out = subprocess.run([CPROF, "token", "new", "--tenant", tenant, "--role", role, "--auth", auth],
                         capture_output=True, text=True, timeout=10)
    check(out.returncode == 0, "cprof token new: %s" % out.stderr)
    return out.stdout.strip()


def window(regex):
    """One 10 s window of 1,000 CPU samples: `regex` of them compiling a
    regex, the rest spread over healthy methods, a few seen once."""
    v = {REGEX: regex * MS10} if regex else {}
    for i in range(12):
        v[("[JIT] C2 CompilerThre", "[c2] phase%d" % i)] = MS10
    rest = 1000 - regex - 12
    for i in range(8):
        v[ROOT + ("com.acme.Work.part%d" % i,)] = (rest // 8 + (rest % 8 if i == 0 else 0)) * MS10
    return v


def run():
    tmp = out_dir("relay_insights")
    auth = os.path.join(tmp, "auth-%d.txt" % os.getpid())
    if os.path.exists(auth):
        os.unlink(auth)
    tok = {(t, r): token_new(auth, t, r) for t in ("acme", "beta") for r in ("ingest", "read")}
    with Relay(name="relay_insights", extra_args=["--auth", auth], token=tok[("acme", "read")]) as relay:
        now = int(time.time() * 1000)
        t0 = now - 120000
        a = FakeAgent(relay.ws, "shop", "inst-a", {"env": "prod"}, token=tok[("acme", "ingest")])
        b = FakeAgent(relay.ws, "shop", "inst-b", {"env": "prod"}, token=tok[("acme", "ingest")])
        check(a.connect()[0] == "welcome" and b.connect()[0] == "welcome", "agents welcomed")
        # inst-a compiles regexes, most in its second window; inst-b does not
        for seq, regex in ((1, 150), (2, 600), (3, 150)):
            k, _ = a.send_batch(seq, t0 + (seq - 1) * 10000, t0 + seq * 10000, window(regex))
            check(k == "ack", "a batch %d acked" % seq)
            k, _ = b.send_batch(seq, t0 + (seq - 1) * 10000, t0 + seq * 10000, window(0))
            check(k == "ack", "b batch %d acked" % seq)
        frm, to = str((t0 - 1000) // 1000), str((now + 1000) // 1000)

        d = relay.get_json("/api/v1/insights", app="shop", **{"from": frm}, to=to)
        check(d["app"] == "shop" and d["labels"] == "", "document names the app as asked: %r" % d["app"])
        check(set(d["types"]) == {"cpu"}, "only the types the app has: %r" % d["types"])
        check(abs(d["types"]["cpu"]["samples"] - 6000) <= 60, "6,000 cpu samples: %r" % d["types"]["cpu"])
        check(d["elapsed_ms"] >= d["rules_ms"] >= 0 and d["fetch_ms"] >= 0, "timings: %r" % d)
        f = [x for x in d["findings"] if x["rule"] == "regex-compile"]
        check(len(f) == 1, "one regex-compile finding: %r" % [x["rule"] for x in d["findings"]])
        f = f[0]
        log("finding", json.dumps(f)[:400])
        check(f["severity"] == "WARN" and f["type"] == "cpu", "WARN on cpu: %r" % f["severity"])
        check(abs(f["share"] - 900 / 6000) < 1e-6, "share 15%%: %r" % f["share"])
        check(f["ci95"][0] < f["share"] < f["ci95"][1] and f["ci95"][1] - f["ci95"][0] < 0.02,
              "Wilson interval around the share: %r" % f["ci95"])
        check(abs(f["samples"] - 900) <= 9, "900 matched samples: %r" % f["samples"])
        check(f["frames"] == ["java.util.regex.Pattern.compile"], "matched frames: %r" % f["frames"])
        check(f["callers"][0]["name"] == "com.acme.Parser.parse", "caller charged to user code: %r" % f["callers"])
        check(f["stack"] == list(REGEX), "example stack root first: %r" % f["stack"])
        ww = f["worst_window"]
        check(ww and abs(ww["from"] - (t0 + 10000) / 1000) < 0.01 and abs(ww["share"] - 0.6) < 1e-6,
              "worst window = inst-a's second (60%%): %r" % ww)
        check(f["instances"] == {"with": 1, "of": 2}, "instances: %r" % f["instances"])
        check(f["saving"]["unit"] == "cores" and f["saving"]["value"] > 0, "saving in cores: %r" % f["saving"])
        check("static final Pattern" in f["fix"], "fix text: %r" % f["fix"])
        check(f["thresholds"] == {"info": 0.02, "warn": 0.05}, "thresholds: %r" % f["thresholds"])
        check(f["link"] == "/api/v1/profile?app=shop&type=cpu&from=%s&to=%s" % (frm, to), "link: %r" % f["link"])
        check(f["ui"].startswith("/#app=shop&type=cpu&"), "ui route: %r" % f["ui"])
        st, body = relay.get(f["link"])
        check(st == 200, "the finding's link answers: %d" % st)
        ranks = [x["rank"] for x in d["findings"]]
        check(ranks == sorted(ranks, reverse=True), "findings ordered by rank: %r" % ranks)

        d = relay.get_json("/api/v1/insights", app="shop", type="cpu", labels="env=prod", **{"from": frm}, to=to)
        check(any(x["rule"] == "regex-compile" for x in d["findings"]), "type= and labels= keep the finding")
        d = relay.get_json("/api/v1/insights", app="shop", labels="env=dev", **{"from": frm}, to=to)
        check(not any(x["rule"] == "regex-compile" for x in d["findings"]), "a label filter with no data: none")

        # errors, as /profile
        for params, code, what in (({"app": "nope"}, 404, "unknown app"), ({"app": "shop", "type": "wall"}, 404,
                                   "unknown type"), ({"app": "shop", "from": "yesterday"}, 400, "bad 'from'"),
                                   ({}, 400, "missing parameter 'app'")):
            st, body = relay.get("/api/v1/insights", **params)
            check(st == code and what in body.decode(), "%r -> %d %s: %d %r" % (params, code, what, st, body))
        # the other tenant's app reads like an unknown one; no token is a 401
        st, _, body = http_get(relay.url("/api/v1/insights", app="shop", **{"from": frm}, to=to),
                               token=tok[("beta", "read")])
        check(st == 404 and b"unknown app 'shop'" in body, "beta cannot see acme's app: %d %r" % (st, body))
        st, _, _ = http_get(relay.url("/api/v1/insights", app="shop"))
        check(st == 401, "no token: 401, got %d" % st)
        a.close()
        b.close()


if __name__ == "__main__":
    main(run)
