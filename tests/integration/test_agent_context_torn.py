"""test_agent_context_torn - the signal handler never sees half a context.

tests/java/CtxWork.java "flip": one thread switches between two contexts as
fast as it can (label flip=a + trace A around FlipA.spin, flip=b + trace B
around FlipB.spin, tens of microseconds each, so a context write is in flight
most of the time) while the agent samples it every millisecond of CPU.
Every sample must carry one whole context that was actually set: only the
values a and b, no FlipB frame under flip=a or trace A, no FlipA frame
under flip=b or trace B (a torn record - labels of one context, trace of the
other - would put one work's frames under the other's trace). Both JDKs."""
import re
import json
import urllib.parse

from cplib import *

TRACE_A = "aaaaaaaaaaaaaaaa1111111111111111"
TRACE_B = "bbbbbbbbbbbbbbbb2222222222222222"


def collapsed(relay, params):
    st, _, body = http_get(relay.http + "/api/v1/profile?" + urllib.parse.urlencode(params), token=relay.token)
    check(st == 200, "profile %s: %d %r" % (params, st, body[:200]))
    out = {}
    for line in body.decode().splitlines():
        stack, _, v = line.rpartition(" ")
        out[stack] = out.get(stack, 0) + int(v)
    return out


def has(prof, frame):
    return sum(v for s, v in prof.items() if frame in s.split(";"))


def run():
    java = JavaProgram("CtxWork", classpath=[SHIM_JAR])
    with Relay(name="agent_context_torn") as relay:
        frm = str(int(time.time()) - 60)
        for jdk in JDKS:
            app = "torn-" + jdk_name(jdk)
            out = java.run(jdk, agent="app=%s,cpu=1ms,flush=1s,loglevel=info" % app, relay=relay,
                           args=["flip", "2000"])
            log([l for l in out.splitlines() if l.startswith("flip:")][-1:])
            # the flipping thread writes its slot itself (a direct buffer, no JNI per scope):
            # this test checks that path under 1 ms sampling
            m = re.search(r"exit: counters:.* context\.fast_threads=(\d+)", out)
            check(m and int(m.group(1)) >= 1, "%s: the shim's fast path wrote the slot (context.fast_threads %s)"
                  % (app, m.group(1) if m else "absent"))
            wait_settled(relay, app)
            q = {"app": app, "type": "cpu", "from": frm, "to": "now", "format": "collapsed"}
            st, _, body = http_get(relay.url("/api/v1/labels", app=app, **{"from": frm}, to="now"))
            keys = {k["key"]: {v["value"] for v in k["values"]} for k in json.loads(body)["keys"]}
            check(keys.get("flip") == {"a", "b"}, "%s: label values are exactly those set: %s" % (app, keys))
            views = {
                "flip=a": collapsed(relay, dict(q, labels="flip=a")),
                "flip=b": collapsed(relay, dict(q, labels="flip=b")),
                "trace A": collapsed(relay, {"trace_id": TRACE_A, "from": frm, "to": "now", "format": "collapsed"}),
                "trace B": collapsed(relay, {"trace_id": TRACE_B, "from": frm, "to": "now", "format": "collapsed"}),
            }
            for name, prof in views.items():
                if name.startswith("trace"):   # every JDK's app is in a trace: keep this one's
                    prof = {s: v for s, v in prof.items() if s.startswith("[app] %s;" % app)}
                mine, other = ("CtxWork$FlipA.spin", "CtxWork$FlipB.spin") if name.endswith(("a", "A")) \
                    else ("CtxWork$FlipB.spin", "CtxWork$FlipA.spin")
                log("%s %s: %d ms of %s, %d ms of the other work" % (app, name, has(prof, mine) // 1000000, mine,
                                                                    has(prof, other) // 1000000))
                check(has(prof, mine) >= 20 * 1000000, "%s %s: enough samples of its own work" % (app, name))
                check(has(prof, other) == 0, "%s %s: a sample of the other context's work (torn or stale)"
                      % (app, name))


main(run)
