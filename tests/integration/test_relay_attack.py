"""test_relay_attack - the short form of scripts/attack: hostile clients
(idle TCP, slowloris, bogus 64 KiB hellos, zlib bombs, batch before hello,
overflowing ranges, 100 concurrent slow queries, a flood of new app names)
against a relay ingesting from two real JVMs; the agents lose nothing, a
normal /profile keeps answering fast, the relay's RSS comes back within
10%."""
import attack_suite
from cplib import *


def run():
    r = attack_suite.run_suite(long_form=False)
    check(r["lost"] == 0, "real agents lost %d samples: %r" % (r["lost"], r["agents"]))
    # the strict bound (every probe < 1 s) is scripts/attack's; CI machines run
    # other jobs on 2 cores, so here: the median under 0.2 s, none over 2 s
    p = sorted(r["probe_all"])
    check(p and p[len(p) // 2] < 0.2 and p[-1] < 2.0 and not r["probe_bad"],
          "normal /profile median %.3f s, worst %.2f s, errors %r" % (p[len(p) // 2], p[-1], r["probe_bad"]))
    check(r["rss2"] <= r["rss0"] * 1.10, "RSS %.1f MB -> %.1f MB" % (r["rss0"], r["rss2"]))
    m = r["metrics"]
    check(m["hello_rejected"] > 0 and m["query_bad_range"] > 0 and m["limit_apps"] > 0,
          "refusals counted: %r" % m)


if __name__ == "__main__":
    main(run)
