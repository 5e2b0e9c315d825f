"""test_agent_handler_malloc - the CPU handler allocates nothing, also on
threads the JVM never saw.

JNI GetEnv reads HotSpot's Thread::current, a __thread variable of the
dlopen()ed libjvm.so (dynamic TLS model on OpenJDK 17 and Temurin 25): on
a thread that never touched libjvm's TLS, __tls_get_addr allocates the
block with malloc. A handler calling GetEnv on such a thread calls malloc
inside a signal handler (a deadlock if the thread was in malloc itself).
handler_malloc.c (LD_PRELOAD) counts allocations made inside the agent's
handlers while four native pthreads, which never enter the JVM, burn CPU
next to CpuSplit at cpu=1ms. Must be 0; the profile must still hold the
native threads' CPU (sampled as non-Java threads)."""
import re

from cplib import *

PROBE = os.path.join(BUILD, "tests", "integration", "libhandler_malloc.so")


def test():
    check(JDKS, "no JDK found")
    check(os.path.exists(PROBE), "probe not built: " + PROBE)
    java = JavaProgram("CpuSplit")
    with Relay(name="relay-hmalloc") as relay:
        for jdk in JDKS:
            app = "hmalloc-" + jdk_name(jdk)
            out = java.run(jdk, agent="app=%s,cpu=1ms,flush=1s,loglevel=info" % app, relay=relay,
                           args=[8], env={"LD_PRELOAD": PROBE}, timeout=120)
            m = re.search(r"handler_malloc: (\d+) allocations", out)
            check(m, "probe did not report:\n" + out[-2000:])
            samples = re.search(r"samples cpu=(\d+)", out)
            log("%s: %s allocations inside the agent's handlers (%s CPU samples)"
                % (jdk_name(jdk), m.group(1), samples.group(1) if samples else "?"))
            check(int(m.group(1)) == 0, "%s: the handler allocated memory %s times" % (jdk_name(jdk), m.group(1)))


if __name__ == "__main__":
    main(test)
