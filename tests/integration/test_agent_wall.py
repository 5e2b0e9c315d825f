"""test_agent_wall - wall-clock mode shows threads that are off-CPU.

tests/java/WallDemo.java: "blocked" waits to enter a monitor in
blockedOnMonitor(), "sleeper" sleeps in sleepingMethod(), "holder" sleeps
while holding the monitor. With cpu=off,wall=20ms the relay's wall profile
must show each of them in its method for about the run's length. An
unknown option (frobnicate=1) must produce exactly one warning line naming
it while the JVM runs on. A "phased" thread is busy in phasedWork() for the first 10 ms of every
20 ms of CLOCK_MONOTONIC and parked in phasedRest() for the second: its
wall time must split about half and half (a sampler that looked exactly
every 20 ms saw one phase only: 0% or 100%). Runs on every JDK found."""
from cplib import *


def java_frames(frames):
    """Drops native frames (e.g. "libc.so.6.[unknown]", "libjvm.so.X") that
    the agent may add under the Java stack, and synthetic "[...]" frames."""
    return [f for f in frames if ".so" not in f and not f.startswith("[")]


def secs_in(prof, needle, leaf=None, under=None):
    """Seconds of stacks holding needle; leaf: the last Java frame must be it;
    under: that frame must appear below (after) needle (JDK 21+ sleeps in
    Thread.sleep -> sleepNanos -> sleepNanos0)."""
    ns = 0
    for s, v in prof.items():
        fr = java_frames(s.split(";"))
        if needle not in fr:
            continue
        if leaf is not None and fr[-1] != leaf:
            continue
        if under is not None and under not in fr[fr.index(needle):]:
            continue
        ns += v
    return ns / 1e9


def test():
    check(JDKS, "no JDK found")
    run_s = 4
    with Relay() as relay:
        for jdk in JDKS:
            name = jdk_name(jdk)
            app = "wall-" + name
            # frobnicate: an unknown option must give one warning naming it, nothing else
            out = JavaProgram("WallDemo").run(jdk, agent="app=%s,cpu=off,wall=20ms,flush=1s,frobnicate=1" % app,
                                              relay=relay, args=[run_s, "phased"], timeout=60)
            warns = [l for l in out.splitlines() if "frobnicate" in l]
            check(len(warns) == 1 and "unknown option 'frobnicate'" in warns[0],
                  "%s: expected one warning naming 'frobnicate', got %r" % (name, warns))
            prof = relay.wait_profile(app, "wall", lambda p: secs_in(p, "WallDemo.sleepingMethod") > 0,
                                      timeout=20)
            blocked = secs_in(prof, "WallDemo.blockedOnMonitor", leaf="WallDemo.blockedOnMonitor")
            sleeping = secs_in(prof, "WallDemo.sleepingMethod", under="java.lang.Thread.sleep")
            holding = secs_in(prof, "WallDemo.holdLock", under="java.lang.Thread.sleep")
            log("%s: blocked on monitor %.2fs, sleeping %.2fs, holder sleeping %.2fs (run %ds)"
                % (name, blocked, sleeping, holding, run_s))
            for what, v in (("blockedOnMonitor", blocked), ("sleepingMethod", sleeping),
                            ("holdLock", holding)):
                check(0.6 * run_s <= v <= 1.3 * run_s,
                      "%s: %s has %.2fs of wall time, expected about %ds" % (name, what, v, run_s))
            work = secs_in(prof, "WallDemo.phasedWork")
            rest = secs_in(prof, "WallDemo.phasedRest")
            log("%s: phased thread: work %.2fs, rest %.2fs" % (name, work, rest))
            check(work + rest > 0.6 * run_s and 0.3 <= work / (work + rest) <= 0.7,
                  "%s: the phased thread's wall time split %.2fs work / %.2fs rest, expected about "
                  "half and half" % (name, work, rest))
            # the blocked thread's leaf is the method waiting on the monitor itself
            check(not any("blockedOnMonitor" in s and "sleep" in s for s in prof),
                  "%s: blockedOnMonitor attributed to a sleep" % name)


main(test)
