"""test_relay_jvm - the relay with real agents in real JVMs.

Two JVMs of one app run CpuSplit at the same time with opposite hot methods
(run=one: burnA 9 : burnB 1; run=two: 1 : 9), each labelled by run. Checks:
both instances register and merge into one profile; the labels filter
separates them; a diff between the two label sets shows the hot method
change; every format parses (pprof by an independent decoder, speedscope);
cprof query / cprof diff print the same data in a terminal.
On every JDK found, one pair per JDK (sequentially: 2 cores)."""
import json
import subprocess

from cplib import *
from relay_wire import pprof_decode


def frac(prof, needle):
    return share(prof, needle)


def run():
    if not JDKS:
        skip("no JDK")
    java = JavaProgram("CpuSplit")
    with Relay(name="relay_jvm") as relay:
        for jdk in JDKS[:2]:
            app = "jsplit-" + jdk_name(jdk).split("-")[0] + jdk_name(jdk).split("-")[1]
            p1 = java.start(jdk, agent="app=%s,label.run=one,label.jdk=%s,cpu=10ms,flush=1s" % (app, jdk_name(jdk)),
                            relay=relay, args=["5", "9", "1"])
            p2 = java.start(jdk, agent="app=%s,label.run=two,label.jdk=%s,cpu=10ms,flush=1s" % (app, jdk_name(jdk)),
                            relay=relay, args=["5", "1", "9"])
            for p in (p1, p2):
                rc = p.wait(90)
                out = open(p.logpath, "rb").read().decode(errors="replace")
                check(rc == 0 and "hs_err" not in out, "JVM exited %d:\n%s" % (rc, out[-2000:]))

            def both_there():
                inst = relay.get_json("/api/v1/instances", app=app)["instances"]
                return len(inst) == 2 and inst
            inst = wait_for(both_there, 20, "two instances of %s" % app)
            labels = sorted(i["labels"]["run"] for i in inst)
            check(labels == ["one", "two"], "labels from the agents: %r" % inst)
            check(all(i["quality"]["samples"] > 0 for i in inst), "sample counters: %r" % [i["quality"] for i in inst])
            log("%s quality: %s" % (app, [i["quality"] for i in inst]))

            prof = relay.wait_profile(app, "cpu", lambda p: frac(p, "CpuSplit.burnA") > 0 and frac(p, "CpuSplit.burnB") > 0)
            fa, fb = frac(prof, "CpuSplit.burnA"), frac(prof, "CpuSplit.burnB")
            log("merged: burnA %.2f burnB %.2f" % (fa, fb))
            check(fa > 0.25 and fb > 0.25, "merged profile holds both JVMs' hot methods (%.2f, %.2f)" % (fa, fb))

            one = relay.collapsed(app, labels="run=one")
            two = relay.collapsed(app, labels="run=two")
            a1, b1 = frac(one, "CpuSplit.burnA"), frac(one, "CpuSplit.burnB")
            a2, b2 = frac(two, "CpuSplit.burnA"), frac(two, "CpuSplit.burnB")
            log("run=one: A %.2f B %.2f   run=two: A %.2f B %.2f" % (a1, b1, a2, b2))
            check(a1 > 3 * b1 and b2 > 3 * a2, "labels filter separates the runs")
            check(abs(sum(one.values()) + sum(two.values()) - sum(prof.values())) <= sum(prof.values()) * 0.01 + 1,
                  "the two label sets add up to the merged profile")

            d = relay.get_json("/api/v1/diff", app=app, base_labels="run=one", cmp_labels="run=two",
                               base_from="now-1h", cmp_from="now-1h", cmp_to="now", base_to="now")
            fn = {f["name"]: f for f in d["functions"]}
            da = sum(f["delta_pct"] for n, f in fn.items() if n.startswith("CpuSplit.burnA") or n.startswith("CpuSplit.mixA"))
            db = sum(f["delta_pct"] for n, f in fn.items() if n.startswith("CpuSplit.burnB") or n.startswith("CpuSplit.mixB"))
            log("diff: A %+.1f pts, B %+.1f pts; top: %s" % (da, db, [(f["name"], round(f["delta_pct"], 1)) for f in d["functions"][:4]]))
            check(da < -40 and db > 40, "diff shows the hot method moving from A to B")

            st, body = relay.get("/api/v1/profile", app=app, **{"from": "now-1h"}, format="pprof")
            _, pp = pprof_decode(body)
            check(st == 200 and pp == relay.collapsed(app), "pprof == collapsed on real data")
            st, body = relay.get("/api/v1/profile", app=app, **{"from": "now-1h"}, format="speedscope")
            ss = json.loads(body)
            check(ss["profiles"][0]["type"] == "sampled" and len(ss["shared"]["frames"]) > 3, "speedscope parses")

            # the CLI prints the same data
            out = subprocess.run([CPROF, "query", "--relay", relay.http, "--app", app, "--from", "now-1h",
                                  "--labels", "run=two", "--top", "5"], capture_output=True, text=True, timeout=30)
            check(out.returncode == 0 and ("CpuSplit.burnB" in out.stdout or "CpuSplit.mixB" in out.stdout),
                  "cprof query --top:\n%s%s" % (out.stdout, out.stderr))
            log("cprof query --top 5:\n" + out.stdout)
            out = subprocess.run([CPROF, "query", "--relay", relay.http, "--app", app, "--from", "now-1h",
                                  "--collapsed"], capture_output=True, text=True, timeout=30)
            cl = {}
            for line in out.stdout.splitlines():
                s, _, v = line.rpartition(" ")
                cl[s] = int(v)
            check(out.returncode == 0 and cl == relay.collapsed(app), "cprof query --collapsed == API")
            out = subprocess.run([CPROF, "diff", "--relay", relay.http, "--app", app, "--base-labels", "run=one",
                                  "--cmp-labels", "run=two", "--base-from", "now-1h", "--cmp-from", "now-1h"],
                                 capture_output=True, text=True, timeout=30)
            check(out.returncode == 0 and "CpuSplit" in out.stdout, "cprof diff:\n%s%s" % (out.stdout, out.stderr))
            log("cprof diff:\n" + "\n".join(out.stdout.splitlines()[:8]))


main(run)
