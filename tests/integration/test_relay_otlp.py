"""test_relay_otlp - OpenTelemetry profiles out of the relay, with a real JVM.

format=otlp: the answer is an ExportProfilesServiceRequest (opentelemetry-
proto v1.10 profiles) that `protoc --decode` reads against
relay/proto/otlp_profiles.proto, names the app as service.name, and gives
per-function self and total values equal to format=pprof's for the same
range (both decoded here by independent decoders).

--otlp-export: a small OTLP/HTTP receiver (Python, in this process) gets
every stored window as protobuf POSTs to /v1development/profiles; it goes
down for a few seconds while the JVM runs: the relay keeps storing (the
profile grows, the agent drops nothing), retries with backoff, and once the
receiver is back it delivers everything: the windows received add up to
the relay's own profile of the app, function by function. A relay whose
collector never answers, with a 2-window queue, drops the oldest windows
and counts them in /api/v1/metrics while storing everything."""
import os
import subprocess
import time

from cplib import *
from relay_wire import OtlpReceiver as Receiver, function_totals, otlp_decode, pprof_decode

PROTO_DIR = os.path.join(SOURCE, "relay", "proto")
REQ = "opentelemetry.proto.profiles.v1development.ExportProfilesServiceRequest"


def protoc_decode(body):
    out = subprocess.run(["protoc", "--proto_path=" + PROTO_DIR, "--decode=" + REQ, "otlp_profiles.proto"],
                         input=body, capture_output=True, timeout=60)
    check(out.returncode == 0, "protoc --decode: %s" % out.stderr.decode(errors="replace"))
    return out.stdout.decode()


def check_format(relay, jdk, java):
    app = "otlp-fmt"
    java.run(jdk, agent="app=%s,cpu=10ms,flush=1s" % app, relay=relay, args=["4", "7", "3"])
    wait_settled(relay, app)
    frm, to = int(time.time()) - 3600, int(time.time()) + 60
    st, body = relay.get("/api/v1/profile", app=app, **{"from": frm}, to=to, format="otlp")
    check(st == 200, "format=otlp: %d %r" % (st, body[:200]))
    text = protoc_decode(body)
    check('key: "service.name"' in text and 'string_value: "%s"' % app in text,
          "protoc sees service.name = %s" % app)
    check("CpuSplit.burnA" in text and 'string_value: "jvm"' in text, "protoc sees frames and frame types")
    profs = otlp_decode(body)
    check(len(profs) == 1, "one profile: %d" % len(profs))
    p = profs[0]
    check(p["resource"].get("service.name") == app, "resource: %r" % p["resource"])
    check(p["type"] == ("cpu", "nanoseconds"), "sample type: %r" % (p["type"],))
    check(p["time"] == frm * 10**9 and p["duration"] == (to - frm) * 10**9, "time range")
    st, gz = relay.get("/api/v1/profile", app=app, **{"from": frm}, to=to, format="pprof")
    _, pp = pprof_decode(gz)
    fo, fp = function_totals(p["samples"]), function_totals(pp)
    log("otlp: %d samples, %d functions, total %d; pprof total %d" % (
        len(p["samples"]), len(fo), sum(p["samples"].values()), sum(pp.values())))
    check(sum(pp.values()) > 0 and fo == fp, "per-function totals: otlp == pprof (%d vs %d functions; differ: %r)" % (
        len(fo), len(fp), [(k, fo.get(k), fp.get(k)) for k in set(fo) | set(fp) if fo.get(k) != fp.get(k)][:5]))
    check(p["samples"] == pp, "the same stacks with the same values")
    st, body = relay.get("/api/v1/profile", app=app, **{"from": frm}, to=to, format="otlpx")
    check(st == 400 and b"otlp" in body, "a bad format names otlp among the choices")


def metrics(relay):
    return relay.get_json("/api/v1/metrics", format="json")


def check_export(jdk, java):
    app = "otlp-exp"
    rx = Receiver()
    rx.up()
    with Relay(name="relay_otlp", extra_args=["--otlp-export", "http://127.0.0.1:%d/" % rx.port,
                                              "--otlp-backoff-max", "1s"]) as relay:
        p = java.start(jdk, agent="app=%s,label.env=test,cpu=10ms,flush=1s" % app, relay=relay,
                       args=["14", "7", "3"])
        wait_for(lambda: rx.merged(app)[1], 20, "first exported window")
        log("receiver up: %d windows so far" % len(rx.merged(app)[1]))
        rx.down()
        t_down = time.time()
        before = sum(relay.collapsed(app).values())
        time.sleep(4)
        during = sum(relay.collapsed(app).values())
        m = metrics(relay)
        log("receiver down 4 s: relay total %d -> %d, metrics %r" % (
            before, during, {k: v for k, v in m.items() if k.startswith("otlp")}))
        check(during > before, "the relay kept storing while the collector was down")
        check(m["otlp_retries"] > 0, "failed exports are retried: %r" % m)
        rx.up()
        rc = p.wait(60)
        check(rc == 0, "JVM exited %d" % rc)
        prof = wait_settled(relay, app)
        got = wait_for(lambda: rx.merged(app)[0] == prof and rx.merged(app), 30,
                       "every stored window delivered after the outage")
        samples, windows = got
        m = metrics(relay)
        log("delivered %d windows in %d requests (retries %d, %.1f s after the outage began); total %d" % (
            len(windows), rx.requests, m["otlp_retries"], time.time() - t_down, sum(samples.values())))
        check(function_totals(samples) == function_totals(prof), "exported windows == relay profile per function")
        check(m["otlp_exported"] == len(windows) and m["otlp_dropped"] == 0 and m["otlp_rejected"] == 0,
              "every window exported once: %r" % {k: v for k, v in m.items() if k.startswith("otlp")})
        check(not rx.bad, "POST path, content type and decoding: %r" % rx.bad[:3])
        res = [pr["resource"] for pr in rx.profiles if pr["resource"].get("service.name") == app]
        check(all(r.get("env") == "test" and r.get("service.instance.id") for r in res),
              "resource: instance and labels: %r" % res[:1])
        inst = relay.get_json("/api/v1/instances", app=app)["instances"]
        q = inst[0]["quality"]
        check(q["dropped"] == 0 and m["store_queue_pauses"] == 0, "ingest lost nothing and never paused: %r" % q)
    rx.down()


def check_overflow(jdk, java):
    """Nobody listens on the collector port: the 2-window queue drops the
    oldest and counts it; ingest stores everything."""
    app = "otlp-full"
    with Relay(name="relay_otlp", extra_args=["--otlp-export", "http://127.0.0.1:%d" % free_port(),
                                              "--otlp-queue", "2", "--otlp-backoff-max", "5s"]) as relay:
        java.run(jdk, agent="app=%s,cpu=10ms,flush=1s" % app, relay=relay, args=["5", "7", "3"])
        prof = wait_settled(relay, app)
        m = metrics(relay)
        log("queue 2, no collector: %r" % {k: v for k, v in m.items() if k.startswith("otlp")})
        check(sum(prof.values()) > 0, "ingest stored the profile")
        check(m["otlp_dropped"] > 0 and m["otlp_queue_now"] <= 2 and m["otlp_exported"] == 0,
              "full queue drops the oldest and counts it")


def run():
    if not JDKS:
        skip("no JDK")
    java = JavaProgram("CpuSplit")
    with Relay(name="relay_otlp") as relay:
        check_format(relay, JDKS[0], java)
    check_export(JDKS[0], java)
    check_overflow(JDKS[0], java)


main(run)
