"""test_agent_wall_many - wall sampling of hundreds of threads does not
overflow the sample ring.

The wall thread used to signal every Java thread at once each interval:
with more threads than ring slots (256), most samples of a round were
taken (AGCT run in the handler) and then dropped as drop.ring. It now
signals in chunks that fit in the ring and leaves out what the harvester
cannot take, counted as drop.wall_behind (no work wasted). WallPool with
400 sleeping threads, wall=10ms, on each JDK: drop.ring must stay under 2%
of the wall samples kept (it was 30-170% before), and every sample must be
accounted for (kept + drop.ring + drop.wall_behind > 0)."""
import re

from cplib import *


def test():
    check(JDKS, "no JDK found")
    java = JavaProgram("WallPool")
    with Relay(name="relay-wallmany") as relay:
        for jdk in JDKS:
            out = java.run(jdk, agent="app=wallmany,wall=10ms,flush=1s,loglevel=info", relay=relay,
                           args=[6, 400, "nogc"], timeout=150)
            wall = int(re.search(r"samples cpu=\d+ wall=(\d+)", out).group(1))
            ring = int(re.search(r"drop\.ring=(\d+)", out).group(1))
            behind = re.search(r"drop\.wall_behind=(\d+)", out)
            behind = int(behind.group(1)) if behind else -1
            log("%s: wall samples %d, drop.ring %d, drop.wall_behind %d" % (jdk_name(jdk), wall, ring, behind))
            check(wall > 0, "no wall samples")
            check(ring <= 0.02 * wall, "%s: %d samples dropped by the ring (%d kept)" % (jdk_name(jdk), ring, wall))


if __name__ == "__main__":
    main(test)
