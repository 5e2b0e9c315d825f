#!/usr/bin/env python3
"""A relay the agent cannot reach is said at the default log level, with the
address and the reason, and the agent's exit says how many windows the relay
never acknowledged; a `relay=` value that is not a relay address is refused,
kept (no data goes to the default relay instead) and said; a relay that comes
up later gets the data, and the agent says it reached it again."""
import re
import time

from cplib import JDKS, JavaProgram, Relay, check, free_port, jdk_name, log, main, skip


def count(out, s):
    return out.count(s)


def run():
    if not JDKS:
        skip("no JDK")
    java = JavaProgram("CpuSplit")
    for jdk in JDKS:
        name = jdk_name(jdk)
        # 1. nothing listens on the port: one warning (the run is shorter than
        # the 60 s repeat), and the exit says what the relay never got
        port = free_port()
        url = "ws://127.0.0.1:%d" % port
        out = java.run(jdk, agent="relay=%s,app=unreach,cpu=10ms,flush=1s" % url, args=["4", "7", "3"])
        check(count(out, "cannot reach the relay at %s (" % url) == 1,
              "%s: one 'cannot reach' warning with the address at the default level:\n%s" % (name, out[-2000:]))
        check(re.search(r"(?m)^cprof: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \S+ warn: cannot reach", out),
              "%s: log lines carry the local date-time and zone:\n%s" % (name, out[-2000:]))
        check("window(s) of profile data never acknowledged by the relay at %s" % url in out,
              "%s: the exit line says what the relay never got:\n%s" % (name, out[-2000:]))
        # 2. relay=http://... to a real relay: refused, kept, nothing sent anywhere
        with Relay(name="agent-unreachable") as relay:
            bad = "http://127.0.0.1:%d" % relay.port
            out = java.run(jdk, agent="relay=%s,app=badurl,cpu=10ms,flush=1s" % bad, args=["3", "7", "3"])
            check("option 'relay=%s' ignored: must start with ws:// or wss://; nothing will be sent" % bad in out,
                  "%s: the bad relay= is named:\n%s" % (name, out[-2000:]))
            check("cannot reach the relay at %s (not a relay address" % bad in out,
                  "%s: the sender says why nothing is sent:\n%s" % (name, out[-2000:]))
            check("connected to relay" not in out, "%s: connected somewhere:\n%s" % (name, out[-2000:]))
            apps = relay.get_json("/api/v1/apps")
            check("badurl" not in str(apps), "%s: the relay got data from a bad URL: %r" % (name, apps))
        # 3. the relay comes up 4 s after the JVM: data arrives, and it is said
        port = free_port()
        url = "ws://127.0.0.1:%d" % port
        p = java.start(jdk, agent="relay=%s,app=late-%s,cpu=10ms,flush=1s" % (url, name), args=["12", "7", "3"])
        time.sleep(4)
        with Relay(name="agent-unreachable-late", port=port) as relay:
            rc = p.wait(60)
            out = open(p.logpath, "rb").read().decode(errors="replace")
            check(rc == 0, "%s: JVM exited %d:\n%s" % (name, rc, out[-2000:]))
            check("cannot reach the relay at %s" % url in out and "relay at %s reached again after" % url in out,
                  "%s: the outage and its end are said:\n%s" % (name, out[-2000:]))
            check("never acknowledged" not in out, "%s: windows left unacknowledged:\n%s" % (name, out[-2000:]))
            relay.wait_profile("late-" + name)
        log("%s: unreachable relay warned once + exit line; bad relay= refused, nothing sent; late relay got "
            "the data" % name)


if __name__ == "__main__":
    main(run)
