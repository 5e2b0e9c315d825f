"""test_relay_otlp - OpenTelemetry profiles out of the relay, with a real JVM.

format=otlp: the answer is an ExportProfilesServiceRequest (opentelemetry-
proto v1.10 profiles) that `protoc --decode` reads against
relay/proto/otlp_profiles.proto, names the app as service.name, and gives
per-function self and total values equal to format=pprof's for the same
range (both decoded here by independent decoders)."""
import os
import subprocess
import time

from cplib import *
from relay_wire import function_totals, otlp_decode, pprof_decode

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


def run():
    if not JDKS:
        skip("no JDK")
    java = JavaProgram("CpuSplit")
    with Relay(name="relay_otlp") as relay:
        check_format(relay, JDKS[0], java)


main(run)
