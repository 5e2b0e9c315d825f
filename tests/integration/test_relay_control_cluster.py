"""test_relay_control_cluster - fleet control across relays on one
PostgreSQL (issues 19 and 20): a change POSTed to relay A reaches the agents
connected to relay B.

Two real relays on one throwaway PostgreSQL database (`--store
postgres://...`, no NATS, no load balancer), real JVMs (ControlTarget,
allocation profiling off by their own options) connected to relay B only;
every control request goes to relay A, every check reads relay A's API:
  - {"set": {"alloc": "256k"}, "for": FOR_S} on A, which has no agent
    (its answer lists no instance): both JVMs on B acknowledge it as applied
    within a few seconds (B reads the changes in force from the store every
    second), with the change's end;
  - {"default": true, "set": {"lock": "20ms"}} on A: B's JVMs acknowledge
    the new defaults (scope defaults, the request's id);
  - a 3rd JVM started on B while the change is in force takes the app's
    defaults from its welcome and the change with the time left (its
    acknowledged end = the change's end, not FOR_S after it joined);
  - {"revert": id, "instance": JVM 1's} on A: only JVM 1 on B drops the
    change, which stays in force for the others;
  - {"revert": id} on A: every JVM on B acknowledges "reverted" and is back
    to alloc=off, and A's GET lists no change in force.
Each acknowledgement is stored by relay B and read through relay A."""
import json
import time

from cplib import *
from control_api import acks_of, post
import pg

FOR_S = 30            # longer than the test: it must end by the revert
FLUSH_MS = 1000
REACH_S = 6.0         # POST on A -> ack from B's agents: ~1 s here (a read of the store
                      # every second, then the agent's answer); the bound leaves room for a loaded machine


def run():
    if not JDKS:
        skip("no JDK")
    if not pg.available():
        skip("no PostgreSQL server (scripts/setup installs postgresql-15)")
    store = pg.shared().new_db()
    java = JavaProgram("ControlTarget")
    app = "ctlc-%d" % os.getpid()
    args = ["--store", store, "-v"]
    with Relay(name="relay_control_cluster", extra_args=args) as ra, \
            Relay(name="relay_control_cluster", extra_args=args) as rb:
        jvms = []

        def start(n):
            opts = "relay=%s,app=%s,flush=%dms,label.jvm=%d,loglevel=info" % (rb.ws, app, FLUSH_MS, n)
            p = java.start(JDKS[0], agent=opts, args=[60], logname="control-cluster-%s-%d.log" % (app, n))
            jvms.append(p)
            return p

        def connected():
            st, body = ra.get("/api/v1/instances", app=app)
            return [i for i in json.loads(body)["instances"] if i["connected"]] if st == 200 else []

        try:
            for n in (1, 2):
                start(n)
            wait_for(lambda: len(connected()) == 2, 20, "2 JVMs on relay B, seen from relay A")

            # a change through A, which holds no agent
            t_post = time.time() * 1000
            st, ans = post(ra, {"app": app, "set": {"alloc": "256k"}, "for": "%ds" % FOR_S})
            check(st == 200 and ans["instances"] == [] and not ans["skipped"],
                  "relay A takes the change; none of its own agents match: %d %s" % (st, ans))
            cid, until = ans["id"], ans["until"]
            applied = wait_for(lambda: (lambda a: a if len(a) == 2 else None)(acks_of(ra, app, cid, "applied")[0]),
                               10, "both JVMs on B acknowledging A's change (read on A)")
            for inst, k in applied.items():
                check(k["effective"]["alloc"] == "256k" and k["applied"] == {"alloc": "256k"} and not k["refused"],
                      "ack of %s: alloc=256k in force: %s" % (inst, k))
                check(abs(k["until"] - until) <= 1500, "%s ends it with the change: %d vs %d" %
                      (inst, k["until"], until))
            lag = max(k["t"] for k in applied.values()) - t_post
            check(lag <= REACH_S * 1000,
                  "the change reached B's agents %d ms after the POST on A (> %.0f s)" % (lag, REACH_S))
            log("change %s posted on A reached both JVMs on B after %d ms" % (cid, lag))
            check(any("in force (from the store)" in l and cid in l for l in open(rb.logpath, errors="replace")),
                  "relay B logged the change it read from the store")

            # defaults through A: to B's agents now, in B's welcomes later
            st, dans = post(ra, {"app": app, "default": True, "set": {"lock": "20ms"}})
            check(st == 200 and dans["defaults"] == {"lock": "20ms"} and dans["instances"] == [],
                  "relay A stores the defaults: %d %s" % (st, dans))
            dacks = wait_for(lambda: (lambda a: a if len(a) == 2 else None)(
                acks_of(ra, app, dans["id"], "applied")[0]), 15, "both JVMs on B acknowledging the defaults")
            for inst, k in dacks.items():
                check(k["effective"]["lock"] == "20ms" and k["effective"]["alloc"] == "256k",
                      "%s: default lock=20ms under the change's alloc=256k: %s" % (inst, k))
            time.sleep(1.5)   # relay B's next read of the store has the defaults

            # a JVM that joins B during the change: defaults in its welcome, the change with its time left
            p3 = start(3)
            three = wait_for(lambda: [k for i, k in acks_of(ra, app, cid, "applied")[0].items()
                                      if i not in applied], 20, "the 3rd JVM's acknowledgement")[0]
            check(three["effective"]["alloc"] == "256k" and three["effective"]["lock"] == "20ms",
                  "the 3rd JVM took the change over the app's defaults: %s" % three)
            check(abs(three["until"] - until) <= 1500, "the 3rd JVM ends it with the change, not %ds after "
                  "joining: %d vs %d" % (FOR_S, three["until"], until))
            check("app defaults from the relay: 1 option(s) taken" in open(p3.logpath, errors="replace").read(),
                  "the 3rd JVM took the defaults from relay B's welcome")
            log("3rd JVM joined B %.1fs into the change and took it with %.1fs left" %
                ((three["t"] - (until - FOR_S * 1000)) / 1000, (three["until"] - three["t"]) / 1000))

            # a revert through A that names JVM 1: only JVM 1 on B drops the change
            one = [i["id"] for i in connected() if i["labels"]["jvm"] == "1"][0]
            st, nans = post(ra, {"app": app, "revert": cid, "instance": one})
            check(st == 200 and nans["until"] == until, "relay A takes the narrow revert: %d %s" % (st, nans))
            wait_for(lambda: acks_of(ra, app, cid, "reverted")[0], 10, "JVM 1 on B dropping the change")
            time.sleep(1.5)   # a read of the store later: still only JVM 1
            first = acks_of(ra, app, cid, "reverted")[0]
            check(list(first) == [one] and first[one]["effective"]["alloc"] == "off",
                  "only JVM 1 dropped it: %s" % first)
            check([a["id"] for a in ra.get_json("/api/v1/control", app=app)["active"]] == [cid],
                  "the change stays in force for the others")

            # revert through A: ends it on B's agents
            t_rev = time.time() * 1000
            st, rans = post(ra, {"app": app, "revert": cid})
            check(st == 200 and rans["action"] == "revert", "relay A takes the revert: %d %s" % (st, rans))
            reverted, doc = wait_for(lambda: (lambda a: a if len(a[0]) == 3 else None)(
                acks_of(ra, app, cid, "reverted")), 15, "the 3 JVMs on B acknowledging the revert")
            for inst, k in reverted.items():
                check(k["effective"]["alloc"] == "off" and k["effective"]["lock"] == "20ms",
                      "%s back to alloc=off, keeps the default lock=20ms: %s" % (inst, k))
            lag = max(k["t"] for k in reverted.values()) - t_rev
            check(lag <= REACH_S * 1000, "the revert reached B's agents after %d ms" % lag)
            log("revert from A reached the 3 JVMs on B after %d ms" % lag)
            doc = wait_for(lambda: (lambda d: d if not d["active"] else None)(
                ra.get_json("/api/v1/control", app=app)), 5, "no change in force after the revert")
            check(all(v["effective"]["alloc"] == "off" for v in doc["instances"].values()) and
                  len(doc["instances"]) == 3, "every instance's latest settings: alloc off: %s" % doc["instances"])
        finally:
            for p in jvms:
                p.kill()
                p.wait()


main(run)
