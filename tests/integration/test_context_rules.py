"""test_context_rules - the context API's rules, seen from Java (issue 18).

tests/java/CtxRules.java checks, through Cprof.current(), what Cprof's class
comment promises: nesting and exact restore, a null value removes a key, a
trace keeps the labels and a context keeps the trace, 16- and 32-digit trace
ids, upper-case digits, invalid or all-zero ids change nothing, a second
close does nothing, attach on another thread, attach(null), the per-thread
cache (the same pairs twice), an odd number of strings throws. Twice on a
platform thread (the second time every set and trace is cached), and on a
virtual thread where the JDK has them (JDK 21+: the set0 path). Each JDK,
with the real agent and relay; the platform thread must have used the
shim's fast path (the slot written through its buffer).

No HTTP server runs here, so with context.http=on (the default) the context
hook must never be on: an enabled ClassFileLoadHook makes HotSpot read every
CDS class's bytes (ctxhook.h); with context.http=eager it is, from VMInit."""
import re

from cplib import *


def run():
    java = JavaProgram("CtxRules", classpath=[SHIM_JAR])
    with Relay(name="context_rules") as relay:
        for jdk in JDKS:
            out = java.run(jdk, agent="app=rules-%s,cpu=1ms,loglevel=info" % jdk_name(jdk), relay=relay)
            log([l for l in out.splitlines() if l.startswith(("ctxrules", "FAIL"))])
            check("ctxrules agent=on" in out, "%s: the shim reached the agent" % jdk_name(jdk))
            check(not re.search(r"^FAIL", out, re.M), "%s: a rule broken:\n%s" % (
                jdk_name(jdk), "\n".join(l for l in out.splitlines() if l.startswith("FAIL"))))
            check("ctxrules fails=0" in out, "%s: the program ran to its end" % jdk_name(jdk))
            if "temurin-25" in jdk:
                check("ctxrules virtual thread done" in out, "%s: the rules ran on a virtual thread" % jdk_name(jdk))
            m = re.search(r"exit: counters:.* context\.fast_threads=(\d+)", out)
            check(m and int(m.group(1)) >= 1, "%s: the fast path was used (context.fast_threads %s)"
                  % (jdk_name(jdk), m.group(1) if m else "absent"))
            hooks = re.search(r"exit: counters:.*", out)
            check(hooks and "context.class_hooks=" not in hooks.group(0),
                  "%s: no HTTP server, yet the context hook saw classes: %s" % (jdk_name(jdk), hooks and hooks.group(0)))
        eager = java.run(JDKS[0], agent="app=rules-eager,cpu=1ms,loglevel=info,context.http=eager", relay=relay)
        m = re.search(r"exit: counters:.* context\.class_hooks=(\d+)", eager)
        log("context.http=eager: the hook saw %s classes" % (m.group(1) if m else "no"))
        check(m and int(m.group(1)) >= 20, "context.http=eager: the hook saw every class from VMInit on (%s)"
              % (m.group(1) if m else "none"))


main(run)
