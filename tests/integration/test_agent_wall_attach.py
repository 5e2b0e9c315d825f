"""test_agent_wall_attach - after an attach, threads that were already
running stay in the wall profile through GC pauses.

WallPool runs 8 sleeping pool threads and calls System.gc() every 100 ms;
the agent is attached later (cprof attach, wall=10ms). None of the pool
threads got a ThreadStart event. The handler used to mark any thread
without that event "not Java" at its first failed sample - GC_active
during a pause - and never signal it again, and the failed sample itself
was stored with weight 0 and no fail.* count: the pool vanished from the
wall profile within ~100 ms. Now the pool threads are registered from
VMStructs at attach, and failures keep their weight and are counted.
Check: over ~6 s after the profile first shows the pool, the pool's wall
time grows by >= 50% of 8 threads x that time, on each JDK."""
import time

from cplib import *
from attach_helpers import check_no_crash, cprof, quiet_jvm_args, stop, wait_ready


def pool_ms(relay, app):
    try:
        prof = relay.collapsed(app, "wall")
    except (HTTPError, TestFailure):
        return 0.0
    return sum(v for s, v in prof.items() if "WallPool.poolWait" in s) / 1e6


def test():
    check(JDKS, "no JDK found")
    java = JavaProgram("WallPool")
    with Relay(name="relay-wallattach") as relay:
        for jdk in JDKS:
            p = java.start(jdk, args=["60"], jvm_args=quiet_jvm_args(jdk))
            try:
                wait_ready(p)
                app = "wallattach-" + jdk_name(jdk)
                cprof("attach", p.pid, "relay=" + relay.ws, "app=" + app, "wall=10ms", "cpu=10ms",
                      "flush=1s", "loglevel=info")
                wait_for(lambda: pool_ms(relay, app) > 0, 30, "pool threads in the wall profile")
                a, t0 = pool_ms(relay, app), time.time()
                time.sleep(6)
                b, t1 = pool_ms(relay, app), time.time()
                expect = 8 * (t1 - t0) * 1000
                log("%s: pool wall time grew %.0f ms in %.1f s (8 threads: %.0f ms possible)"
                    % (jdk_name(jdk), b - a, t1 - t0, expect))
                check(b - a >= 0.5 * expect, "%s: pool threads dropped out of the wall profile" % jdk_name(jdk))
                check(p.poll() is None, "JVM died")
            finally:
                stop(p)
            check_no_crash(p)


if __name__ == "__main__":
    main(test)
