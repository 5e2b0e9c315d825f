"""test_context_labels - request context end to end (issue 18, docs/context.md).

Real relay, real JVMs (each JDK here: its own app). tests/java/CtxWork.java
"split" alternates two endpoints by thread CPU time, 3 ms of
"GET /orders/{n}" (OrdersWork.burn) to 1 ms of "POST /pay" (PayWork.burn),
each under Cprof.context("endpoint", ...) and a trace id of its own. Checked:
  - /api/v1/labels lists the endpoint key with both values; their CPU shares
    are 75/25 within 3 points (CPU-time sampling at 1 ms);
  - group_by=endpoint on /top and /timeline gives the same per-value CPU,
    and each group's top function is its own work;
  - labels=endpoint=... filters /profile, /timeline, /top and /diff to that
    endpoint's CPU and frames;
  - /profile?trace_id= returns only that trace's stacks, across both apps
    (JVMs), rooted by app, then thread; an unknown trace is empty; a bad id
    is a 400."""
import json
import urllib.parse

from cplib import *

ORD, PAY = "GET /orders/{n}", "POST /pay"
TRACE_ORDERS = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACE_PAY = "00f067aa0ba902b700f067aa0ba902b7"


def api(relay, path, params):
    """GET path with params as given (cplib's Relay.get turns '_' into '.')."""
    st, _, body = http_get(relay.http + path + "?" + urllib.parse.urlencode(params), token=relay.token)
    return st, body


def api_json(relay, path, **params):
    st, body = api(relay, path, params)
    check(st == 200, "%s %s: %d %r" % (path, params, st, body[:300]))
    return json.loads(body)


def esc(v):
    """A label value in a labels= filter (',' '=' '\\' escaped)."""
    return v.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def check_app(relay, app, frm):
    q = {"from": frm, "to": "now"}
    labels = relay.get_json("/api/v1/labels", app=app, **q)
    keys = {k["key"]: k for k in labels["keys"]}
    check("endpoint" in keys, "labels lists the endpoint key: %s" % labels)
    vals = {v["value"]: v["total"] for v in keys["endpoint"]["values"]}
    check(set(vals) == {ORD, PAY}, "endpoint values are the two set: %s" % vals)
    share = vals[ORD] / (vals[ORD] + vals[PAY])
    log("%s: orders %.1f%% of labelled CPU (want 75 +- 3), %d + %d ns" % (app, 100 * share, vals[ORD], vals[PAY]))
    check(abs(share - 0.75) <= 0.03, "per-label CPU share %.3f not within 0.75 +- 0.03" % share)

    top = api_json(relay, "/api/v1/top", app=app, group_by="endpoint", limit=5, **q)
    groups = {g["value"]: g for g in top["groups"]}
    for v, work in ((ORD, "CtxWork$OrdersWork.burn"), (PAY, "CtxWork$PayWork.burn")):
        check(groups[v]["total"] == vals[v], "top group_by %s total %d = labels' %d" % (v, groups[v]["total"], vals[v]))
        fn = {f["name"]: f for f in groups[v]["top"]["functions"]}
        check(work in fn and fn[work]["total"] >= 0.9 * groups[v]["total"],
              "group %s is %s's work: %s" % (v, work, groups[v]["top"]["functions"][:3]))
    tl = api_json(relay, "/api/v1/timeline", app=app, group_by="endpoint", step="10s", **q)
    tg = {g["value"]: sum(p[1] for p in g["points"]) for g in tl["groups"]}
    for v in (ORD, PAY):
        check(tg[v] == vals[v], "timeline group_by %s sums to %d, labels say %d" % (v, tg[v], vals[v]))

    # labels= filters every view to that endpoint
    f = "endpoint=" + esc(ORD)
    prof = relay.collapsed(app, frm=frm, to="now", labels=f)
    check(sum(prof.values()) == vals[ORD], "profile labels=%s total %d = %d" % (f, sum(prof.values()), vals[ORD]))
    check(share_of(prof, "CtxWork$OrdersWork.burn") > 0.9 and share_of(prof, "CtxWork$PayWork.burn") == 0,
          "filtered profile holds orders work only")
    tl = relay.get_json("/api/v1/timeline", app=app, labels=f, step="10s", **q)
    check(sum(p[1] for p in tl["points"]) == vals[ORD], "timeline labels= total")
    top = relay.get_json("/api/v1/top", app=app, labels=f, **q)
    check(top["total"] == vals[ORD], "top labels= total %d = %d" % (top["total"], vals[ORD]))
    diff = relay.get_json("/api/v1/diff", app=app, **{"base.from": frm, "base.to": "now", "cmp.from": frm,
                          "cmp.to": "now", "base.labels": f, "cmp.labels": "endpoint=" + esc(PAY), "stats": "off"})
    check(diff["base"]["total"] == vals[ORD] and diff["cmp"]["total"] == vals[PAY],
          "diff base/cmp labels: %s / %s" % (diff["base"], diff["cmp"]))
    return vals


def share_of(prof, needle):
    total = sum(prof.values()) or 1
    return sum(v for s, v in prof.items() if needle in s.split(";")) / total


def trace(relay, tid, frm, **kw):
    return api(relay, "/api/v1/profile", dict(trace_id=tid, format="collapsed", to="now", **{"from": frm}, **kw))


def run():
    java = JavaProgram("CtxWork", classpath=[SHIM_JAR])
    with Relay(name="context_labels") as relay:
        frm = str(int(time.time()) - 60)
        apps, ords = [], 0
        for jdk in JDKS:
            app = "ctx-" + jdk_name(jdk)
            out = java.run(jdk, agent="app=%s,cpu=1ms,flush=1s" % app, relay=relay, args=["split", "1500"])
            log(out.strip().splitlines()[-1])
            wait_settled(relay, app)
            ords += check_app(relay, app, frm)[ORD]
            apps.append(app)

        st, body = trace(relay, TRACE_ORDERS, frm)
        check(st == 200, "trace query: %d %r" % (st, body[:200]))
        prof = {}
        for line in body.decode().splitlines():
            stack, _, v = line.rpartition(" ")
            prof[stack] = int(v)
        roots = {s.split(";")[0] for s in prof}
        check(roots == {"[app] " + a for a in apps}, "trace rooted by app, every JVM: %s" % roots)
        check(all(s.split(";")[1].startswith("[thread] ") for s in prof), "then by thread")
        check(share_of(prof, "CtxWork$PayWork.burn") == 0, "the orders trace holds no pay work")
        check(share_of(prof, "CtxWork$OrdersWork.burn") > 0.9, "the orders trace is orders work")
        tot = sum(prof.values())
        check(abs(tot - ords) <= 0.02 * ords, "trace total %d ~ orders CPU %d" % (tot, ords))
        st, body = trace(relay, TRACE_PAY, frm)
        check(st == 200 and b"PayWork.burn" in body and b"OrdersWork" not in body, "the pay trace: pay only")
        st, body = trace(relay, "1" * 32, frm)
        check(st == 200 and body.strip() == b"", "an unknown trace is empty: %r" % body[:100])
        st, body = trace(relay, "xyz", frm)
        check(st == 400, "a bad trace id is a 400: %d" % st)


main(run)
