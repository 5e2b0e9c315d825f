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
    is a 400;
  - format=otlp carries the context (docs/api.md): `protoc --decode` against
    relay/proto/otlp_profiles.proto shows sample attributes and links; the
    samples' endpoint attributes sum to the per-label CPU; linked samples
    carry the two trace ids the program set, each on its own endpoint and
    work, with a span id; per-function totals equal format=pprof's;
  - --otlp-export (an OTLP/HTTP receiver in this process) delivers the same:
    one Profile per instance window, samples with the endpoint attribute
    summing to the per-label CPU, links to both trace ids, and the relay's
    profile function by function."""
import json
import os
import subprocess
import urllib.parse

from cplib import *
from relay_wire import OtlpReceiver, function_totals, otlp_decode, pprof_decode

OTLP_REQ = "opentelemetry.proto.profiles.v1development.ExportProfilesServiceRequest"

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


def check_otlp(relay, app, frm, vals):
    q = {"from": frm, "to": "now"}
    st, body = relay.get("/api/v1/profile", app=app, format="otlp", **q)
    check(st == 200, "format=otlp: %d %r" % (st, body[:200]))
    out = subprocess.run(["protoc", "--proto_path=" + os.path.join(SOURCE, "relay", "proto"), "--decode=" + OTLP_REQ,
                          "otlp_profiles.proto"], input=body, capture_output=True, timeout=60)
    check(out.returncode == 0, "protoc --decode: %s" % out.stderr.decode(errors="replace")[:300])
    text = out.stdout.decode(errors="replace")
    check("attribute_indices:" in text and "link_index:" in text and text.count("link_table {") > 2,
          "protoc sees sample attributes, link indices and a link table")
    check('string_value: "%s"' % ORD in text and "span_id:" in text, "protoc sees the endpoint value and span ids")
    profs = otlp_decode(body)
    check(len(profs) == 1, "one profile: %d" % len(profs))
    det = profs[0]["detail"]
    per = {}
    for _, attrs, _, v in det:
        per[attrs.get("endpoint")] = per.get(attrs.get("endpoint"), 0) + v
    share = per.get(ORD, 0) / max(1, per.get(ORD, 0) + per.get(PAY, 0))
    want = vals[ORD] / (vals[ORD] + vals[PAY])
    log("%s otlp: %d samples, %d linked; orders %.1f%% of labelled CPU (labels say %.1f%%)" % (
        app, len(det), sum(1 for d in det if d[2]), 100 * share, 100 * want))
    check(abs(share - want) <= 0.03 and abs(share - 0.75) <= 0.03,
          "otlp endpoint share %.3f vs labels %.3f (+- 0.03)" % (share, want))
    check(per.get(ORD) == vals[ORD] and per.get(PAY) == vals[PAY],
          "otlp endpoint totals %r = labels' %r" % ({k: per.get(k) for k in (ORD, PAY)}, vals))
    # per trace: all linked value, the part that is its own endpoint's work,
    # and any of the other endpoint's work (samples inside a scope but outside
    # the burn loops - the try blocks, deopt - are linked too, and rightly)
    own = {TRACE_ORDERS: ("CtxWork$OrdersWork.burn", ORD), TRACE_PAY: ("CtxWork$PayWork.burn", PAY)}
    linked, mine, other = {}, {}, {}
    for stack, attrs, link, v in det:
        if not link:
            continue
        trace, span = link
        check(trace in own, "a link to a trace the program set: %r" % (link,))
        check(len(span) == 16 and int(span, 16) != 0, "a link carries its span id: %r" % (link,))
        linked[trace] = linked.get(trace, 0) + v
        frames = stack.split(";")
        work, ep = own[trace]
        if work in frames and attrs.get("endpoint") == ep:
            mine[trace] = mine.get(trace, 0) + v
        if any(w in frames for t, (w, _) in own.items() if t != trace):
            other[trace] = other.get(trace, 0) + v
    log("%s otlp links: all %r, own work %r, other work %r" % (app, linked, mine, other))
    check(not other, "no link on the other trace's work: %r" % other)
    for t, (_, ep) in own.items():
        check(mine.get(t, 0) >= 0.95 * linked.get(t, 0) and mine.get(t, 0) >= 0.9 * vals[ep],
              "trace %s links its endpoint's work: %d of %d linked, %d of the endpoint" % (
                  t, mine.get(t, 0), linked.get(t, 0), vals[ep]))
    st, gz = relay.get("/api/v1/profile", app=app, format="pprof", **q)
    _, pp = pprof_decode(gz)
    fo, fp = function_totals(profs[0]["samples"]), function_totals(pp)
    check(sum(pp.values()) > 0 and fo == fp, "otlp == pprof per function: %r" % (
        [(k, fo.get(k), fp.get(k)) for k in set(fo) | set(fp) if fo.get(k) != fp.get(k)][:5]))


def check_export(relay, rx, app, vals):
    prof = relay.collapsed(app, frm="now-1h", to="now+1m")
    got = wait_for(lambda: rx.merged(app)[0] == prof and rx.merged(app), 30, "every window of %s exported" % app)
    per, traces, n = {}, {}, 0
    with rx.lock:
        for p in rx.profiles:
            if p["resource"].get("service.name") != app:
                continue
            check(p["resource"].get("service.instance.id"), "an exported profile names its instance")
            n += 1
            for stack, attrs, link, v in p["detail"]:
                per[attrs.get("endpoint")] = per.get(attrs.get("endpoint"), 0) + v
                if link:
                    traces[link[0]] = traces.get(link[0], 0) + v
    log("%s exported: %d profiles (%d windows), endpoints %r, links %r" % (
        app, n, len(got[1]), {k: per.get(k) for k in (ORD, PAY)}, traces))
    check(n == len(got[1]), "one exported profile per instance window: %d vs %d" % (n, len(got[1])))
    check(function_totals(got[0]) == function_totals(prof), "exported windows == relay profile per function")
    check(per.get(ORD) == vals[ORD] and per.get(PAY) == vals[PAY],
          "exported endpoint totals %r = labels' %r" % ({k: per.get(k) for k in (ORD, PAY)}, vals))
    check(set(traces) == {TRACE_ORDERS, TRACE_PAY} and traces[TRACE_ORDERS] >= 0.9 * vals[ORD] and
          traces[TRACE_PAY] >= 0.85 * vals[PAY], "exported links to both traces: %r" % traces)
    check(not rx.bad, "export POSTs decoded: %r" % rx.bad[:3])


def share_of(prof, needle):
    total = sum(prof.values()) or 1
    return sum(v for s, v in prof.items() if needle in s.split(";")) / total


def trace(relay, tid, frm, **kw):
    return api(relay, "/api/v1/profile", dict(trace_id=tid, format="collapsed", to="now", **{"from": frm}, **kw))


def run():
    java = JavaProgram("CtxWork", classpath=[SHIM_JAR])
    rx = OtlpReceiver()
    rx.up()
    with Relay(name="context_labels", extra_args=["--otlp-export", "http://127.0.0.1:%d" % rx.port]) as relay:
        frm = str(int(time.time()) - 60)
        apps, ords = [], 0
        for jdk in JDKS:
            app = "ctx-" + jdk_name(jdk)
            out = java.run(jdk, agent="app=%s,cpu=1ms,flush=1s" % app, relay=relay, args=["split", "1500"])
            log(out.strip().splitlines()[-1])
            wait_settled(relay, app)
            vals = check_app(relay, app, frm)
            check_otlp(relay, app, frm, vals)
            check_export(relay, rx, app, vals)
            ords += vals[ORD]
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
