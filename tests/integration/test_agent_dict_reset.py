"""test_agent_dict_reset - a dictionary reset loses nothing and does not
repeat forever.

The agent starts a new dictionary when its own one passes a memory limit
(24 MiB; here CPROF_TEST_DICT_MAX=64k so that every window crosses it).
Two defects made that lossy: the window that crossed the limit was handed
to the sender with the old generation and then dropped (drop.dict), and a
cleared dictionary still counted the capacity it kept, so it stayed over
the limit and every later window was dropped too. CpuSplit at cpu=1ms,
flush=1s on each JDK (side by side): the profile must hold 95-105% of the
burn CPU the program measured, the exit line must show drop.dict=0, and
the agent must have started several generations."""
import re

from cplib import *


def burn_ms(prof):
    return sum(v for s, v in prof.items()
               if "CpuSplit.burnA" in s.split(";") or "CpuSplit.burnB" in s.split(";")) / 1e6


def test():
    check(JDKS, "no JDK found")
    java = JavaProgram("CpuSplit")
    with Relay(name="relay-dict") as relay:
        runs = []
        for jdk in JDKS:
            app = "dict-" + jdk_name(jdk)
            p = java.start(jdk, agent="app=%s,flush=1s,cpu=1ms,loglevel=info" % app, relay=relay,
                           args=[6], env={"CPROF_TEST_DICT_MAX": "65536"})
            runs.append((jdk, app, p))
        for jdk, app, p in runs:
            try:
                rc = p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
                raise TestFailure("JVM did not finish (log %s)" % p.logpath)
            out = open(p.logpath, "rb").read().decode(errors="replace")
            check(rc == 0 and "hs_err" not in out, "JVM failed (%d):\n%s" % (rc, out[-3000:]))
            gens = len(re.findall(r"new generation \d+", out))
            drops = re.search(r"exit: drops:(.*)", out)
            log("%s: %d dictionary generations; drops:%s" % (jdk_name(jdk), gens, drops.group(1) if drops else "?"))
            check(gens >= 3, "%s: the dictionary was not reset (test knob ignored?)" % jdk_name(jdk))
            check(drops and "drop.dict=0" in drops.group(1), "%s: batches lost to dictionary resets" % jdk_name(jdk))
            cpu_ms = int(re.search(r"CPU_MS=(\d+)", out).group(1))
            try:
                prof = relay.wait_profile(app, "cpu", lambda pr: burn_ms(pr) >= 0.95 * cpu_ms, timeout=15)
                got = burn_ms(prof)
            except (TestFailure, HTTPError):
                got = 0
            log("%s: profile holds %d ms of burn CPU, program measured %d ms" % (jdk_name(jdk), got, cpu_ms))
            check(0.95 * cpu_ms <= got <= 1.05 * cpu_ms, "%s: %d ms of %d ms stored" % (jdk_name(jdk), got, cpu_ms))


if __name__ == "__main__":
    main(test)
