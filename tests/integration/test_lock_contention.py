"""test_lock_contention - a known contended monitor and ReentrantLock in `lock`.

tests/java/LockContend.java: a holder thread keeps a monitor (then a
ReentrantLock) for 20 ms at a time; the waiter measures how long it really
blocked on each. With lock=10ms the relay's `lock` profile must put the
monitor waits under LockContend.waiterMonitor with the leaf
"[lock] LockContend$Monitor" and a total within 10% of the measured wait,
and the parked waits (LockSupport.park, instrumented) under
LockContend.waiterParked with a ReentrantLock leaf within 15%; the JVM keeps
CDS for application classes (no "Sharing is only supported for boot loader
classes" warning). Runs on every JDK found."""
import re

from cplib import *


def part(prof, method, leaf):
    return sum(v for s, v in prof.items()
               if method in s.split(";") and s.split(";")[-1].startswith(leaf))


def test():
    check(JDKS, "no JDK found")
    java = JavaProgram("LockContend")
    with Relay() as relay:
        for jdk in JDKS:
            name = jdk_name(jdk)
            app = "lock-" + name
            out = java.run(jdk, agent="app=%s,cpu=off,lock=10ms,flush=1s" % app, relay=relay,
                           args=[3, 20], timeout=60)
            m = re.search(r"monitor_wait_ms=([0-9.]+) monitor_waits=(\d+)", out)
            p = re.search(r"park_wait_ms=([0-9.]+) park_waits=(\d+)", out)
            check(m and p, "no truth lines:\n" + out[-2000:])
            # the park hook's shim is defined in the boot loader, the boot
            # class path unchanged: CDS stays on for the application's classes
            check("Sharing is only supported for boot loader classes" not in out,
                  "%s: the JVM turned CDS off for application classes:\n%s" % (name, out[-2000:]))
            mon_ms, park_ms = float(m.group(1)), float(p.group(1))
            check(mon_ms > 300 and park_ms > 300, "%s: too little contention (%s, %s)" % (name, mon_ms, park_ms))

            def ready(prof):
                return part(prof, "LockContend.waiterMonitor", "[lock] LockContend$Monitor") > 0 and \
                    part(prof, "LockContend.waiterParked", "[lock] java.util.concurrent.locks.ReentrantLock") > 0
            prof = relay.wait_profile(app, "lock", ready, timeout=20)
            got_mon = part(prof, "LockContend.waiterMonitor", "[lock] LockContend$Monitor") / 1e6
            got_park = part(prof, "LockContend.waiterParked", "[lock] java.util.concurrent.locks.ReentrantLock") / 1e6
            log("%s: monitor waited %.0f ms (profile %.0f ms), parked %.0f ms (profile %.0f ms)" %
                (name, mon_ms, got_mon, park_ms, got_park))
            check(abs(got_mon - mon_ms) <= 0.10 * mon_ms, "%s: monitor wait %.0f ms in profile vs %.0f ms real"
                  % (name, got_mon, mon_ms))
            check(abs(got_park - park_ms) <= 0.15 * park_ms, "%s: park wait %.0f ms in profile vs %.0f ms real"
                  % (name, got_park, park_ms))
            cnt = relay.collapsed(app, "lock_count")
            check(sum(cnt.values()) > 0, "no lock_count")


main(test)
