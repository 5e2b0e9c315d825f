"""test_relay_labels - label filters cannot be forged, and a query the relay
cannot read whole is refused, never answered unfiltered.

Real relay, two test agents: one labelled env="x,region=prod" (a value
holding the separators), one region=prod. The filter region=prod selects
only the second. More than 32 query arguments, or one over 4 KiB, is a 400
that names the problem (it used to be dropped silently, so an oversized
label filter returned unfiltered data)."""
import time

from cplib import *
from relay_wire import FakeAgent

T = "java.lang.Thread.run"


def run():
    with Relay(name="relay_labels") as relay:
        t0 = int(time.time() * 1000) - 120 * 1000
        a = FakeAgent(relay.ws, "lab", "i-forged", labels={"env": "x,region=prod"})
        b = FakeAgent(relay.ws, "lab", "i-real", labels={"region": "prod"})
        for x, v in ((a, 100), (b, 7)):
            check(x.connect()[0] == "welcome", "welcome")
            check(x.send_batch(1, t0, t0 + 1000, {(T, "M.m"): v})[0] == "ack", "ack")
        frm = str(t0 // 1000 - 10)
        total = lambda **kw: sum(relay.collapsed("lab", frm=frm, to="now", **kw).values())
        check(total() == 107, "both stored")
        got = total(labels="region=prod")
        check(got == 7, "region=prod selects only the real pair, not env=\"x,region=prod\": %d" % got)
        got = total(labels="env=x\\,region\\=prod")
        check(got == 100, "the escaped filter selects the forged-looking value: %d" % got)

        # 33 arguments: a 400 naming the limit, not a silently shortened query
        params = {"app": "lab", "type": "cpu", "from": frm, "to": "now", "format": "collapsed"}
        for i in range(28):
            params["x%d" % i] = "1"
        params["labels"] = "region=prod"
        st, body = relay.get("/api/v1/profile", **params)
        check(st == 400 and b"32" in body, "more than 32 arguments is a 400 naming the limit: %d %r" % (st, body[:200]))
        # one argument over 4 KiB: a 400 naming it
        st, body = relay.get("/api/v1/profile", app="lab", type="cpu", **{"from": frm}, to="now",
                             labels="region=prod,pad=" + "p" * 5000)
        check(st == 400 and b"4" in body and b"KiB" in body,
              "an argument over 4 KiB is a 400 naming the limit: %d %r" % (st, body[:200]))
        a.close()
        b.close()


main(run)
