"""test_alloc_accuracy - allocation profiles match a known byte split, both modes.

tests/java/AllocSites.java has two allocation sites: siteRecords (objects,
through `new` and the constructor chain) and siteArrays (int[] arrays). It
measures the true byte split with ThreadMXBean.getThreadAllocatedBytes,
running each site alone, then runs both interleaved under the agent.

For alloc.mode=sample (JVMTI SampledObjectAlloc) and alloc.mode=instrument
(class-file rewriting + java-shim callbacks), on every JDK found, the relay's
merged alloc_bytes profile must give siteRecords' share of the two within
+-5 points of the truth; the two sites must dominate the profile; the leaf
frames name the allocated classes ("[alloc] AllocSites$Rec", "[alloc] int[]");
the estimated bytes must be within 25% of the bytes really allocated (rounds x
bytes per round), and the instrument run under -Xverify:all must not fail
verification. Then the agent is attached (cprof attach) to a running JVM in
each mode: same accuracy (instrument mode retransforms the loaded classes
and starts recording once they all have their hooks)."""
import re
import subprocess

from cplib import *

SECS = 5


def sites(prof):
    a = sum(v for s, v in prof.items() if "AllocSites.siteRecords" in s.split(";"))
    b = sum(v for s, v in prof.items() if "AllocSites.siteArrays" in s.split(";"))
    return a, b


def test():
    check(JDKS, "no JDK found")
    java = JavaProgram("AllocSites")
    with Relay() as relay:
        for jdk in JDKS:
            name = jdk_name(jdk)
            for mode in ("sample", "instrument"):
                app = "alloc-%s-%s" % (mode, name)
                out = java.run(jdk, agent="app=%s,cpu=off,alloc=256k,alloc.mode=%s,flush=1s,loglevel=info"
                               % (app, mode), relay=relay, args=[SECS],
                               jvm_args=["-Xverify:all"] if mode == "instrument" else [], timeout=90)
                check("VerifyError" not in out, "%s/%s: VerifyError:\n%s" % (name, mode, out[-3000:]))
                check("alloc: %s mode" % mode in out, "%s: agent did not run %s mode:\n%s"
                      % (name, mode, out[-2000:]))
                m = re.search(r"truth records_bytes=(\d+) arrays_bytes=(\d+) records_share=([0-9.]+)", out)
                r = re.search(r"done rounds=(\d+)", out)
                check(m and r, "no truth line:\n" + out[-2000:])
                truth = float(m.group(3)) / 100
                per_round = (int(m.group(1)) + int(m.group(2))) / 20
                relay.wait_profile(app, "alloc_bytes", lambda p: sum(sites(p)) > 0, timeout=20)
                prof = wait_settled(relay, app, "alloc_bytes")   # the exit flush may still be in flight
                a, b = sites(prof)
                total = sum(prof.values())
                got = a / (a + b)
                # "alloc" is the API's short name for alloc_bytes
                check(sum(sites(relay.collapsed(app, "alloc"))) >= a + b, "type=alloc is not alloc_bytes")
                # bytes estimated for the timed phase vs what it allocated (rounds x per round);
                # warm-up + measuring phase allocated another 320 rounds' worth
                expect = (int(r.group(1)) + 320) * per_round
                log("%s %s: true records share %.3f, profile %.3f; sites %.1f%% of %.0f MB "
                    "(estimated %.0f MB vs %.0f MB allocated)" %
                    (name, mode, truth, got, 100 * (a + b) / total, total / 1e6, (a + b) / 1e6, expect / 1e6))
                check(abs(got - truth) <= 0.05, "%s %s: records share %.3f vs true %.3f"
                      % (name, mode, got, truth))
                check((a + b) / total >= 0.9, "%s %s: sites hold only %.1f%%" % (name, mode, 100 * (a + b) / total))
                check(0.75 * expect <= a + b <= 1.25 * expect, "%s %s: estimated %.0f MB, allocated %.0f MB"
                      % (name, mode, (a + b) / 1e6, expect / 1e6))
                leaves = set(s.split(";")[-1] for s in prof)
                check("[alloc] AllocSites$Rec" in leaves and "[alloc] int[]" in leaves,
                      "%s %s: leaves %s" % (name, mode, sorted(leaves)[:10]))
                objs = relay.wait_profile(app, "alloc_objects", timeout=10)
                check(sum(objs.values()) > 0, "no alloc_objects")
        # attach to a running JVM (classes already loaded are retransformed)
        jdk = JDKS[0]
        for mode in ("sample", "instrument"):
            app = "alloc-attach-" + mode
            p = java.start(jdk, args=[8], jvm_args=["-XX:+EnableDynamicAgentLoading"])
            time.sleep(2)
            r = subprocess.run([CPROF, "attach", "--agent", AGENT, str(p.pid),
                                "relay=%s,app=%s,cpu=off,alloc=256k,alloc.mode=%s,flush=1s,loglevel=info"
                                % (relay.ws, app, mode)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            check(r.returncode == 0, "cprof attach failed: %s" % r.stdout.decode(errors="replace"))
            check(p.wait(60) == 0, "attached JVM failed: log %s" % p.logpath)
            out = open(p.logpath).read()
            m = re.search(r"records_share=([0-9.]+)", out)
            check(m, "no truth line:\n" + out[-2000:])
            truth = float(m.group(1)) / 100
            prof = relay.wait_profile(app, "alloc_bytes", lambda q: sum(sites(q)) > 0, timeout=20)
            a, b = sites(prof)
            log("attach %s: true records share %.3f, profile %.3f" % (mode, truth, a / (a + b)))
            check(abs(a / (a + b) - truth) <= 0.05, "attach %s: records share %.3f vs true %.3f"
                  % (mode, a / (a + b), truth))


main(test)
