"""test_gc_pauses - GC pause series match -Xlog:gc on a GC-heavy run.

tests/java/GcChurn.java allocates garbage fast in a 64 MB heap (hundreds of
young collections) and calls System.gc() 3 times. The JVM logs every pause
with -Xlog:gc; the agent reports gc.count / gc.pause_ns points (JVMTI
GarbageCollectionStart/Finish). Through the relay's timeline, the number of
pauses must match the log's "Pause Young" + "Pause Full" lines within 3%,
and the total pause time within 15%. Heap and thread-state series must be
present. Runs on every JDK found."""
import re

from cplib import *


def test():
    check(JDKS, "no JDK found")
    java = JavaProgram("GcChurn")
    with Relay() as relay:
        for jdk in JDKS:
            name = jdk_name(jdk)
            app = "gc-" + name
            gclog = os.path.join(out_dir("gc"), "gc-%s.log" % name)
            java.run(jdk, agent="app=%s,flush=1s" % app, relay=relay, args=[4, 3],
                     jvm_args=["-Xmx64m", "-Xlog:gc:file=%s" % gclog], timeout=60)
            pauses, pause_ms, other = 0, 0.0, 0
            for line in open(gclog):
                m = re.search(r"Pause (Young|Full).* ([0-9.]+)ms$", line.strip())
                if m:
                    pauses += 1
                    pause_ms += float(m.group(2))
                elif "Pause" in line:
                    other += 1
            check(pauses > 50, "%s: only %d pauses in -Xlog:gc; not GC-heavy" % (name, pauses))

            def series():
                d = relay.get_json("/api/v1/timeline", app=app, type="cpu", **{"from": "now-1h"},
                                   to="now+1m", step="1h")
                s = d.get("series", {})
                n = sum(v for _, v in s.get("gc.count", []))
                return s if n >= pauses * 0.97 else None
            try:
                s = wait_for(series, 20, "gc series")
            except TestFailure:
                s = relay.get_json("/api/v1/timeline", app=app, type="cpu", **{"from": "now-1h"},
                                   to="now+1m", step="1h").get("series", {})
            n = sum(v for _, v in s.get("gc.count", []))
            ns = sum(v for _, v in s.get("gc.pause_ns", []))
            log("%s: -Xlog:gc %d pauses %.0f ms (%d other pauses); agent %d pauses %.0f ms" %
                (name, pauses, pause_ms, other, n, ns / 1e6))
            check(abs(n - pauses) <= 0.03 * pauses, "%s: agent counted %d pauses, -Xlog:gc %d" % (name, n, pauses))
            check(abs(ns / 1e6 - pause_ms) <= 0.15 * pause_ms, "%s: agent pause time %.0f ms vs -Xlog:gc %.0f ms"
                  % (name, ns / 1e6, pause_ms))
            for k in ("heap.used_bytes", "heap.committed_bytes", "threads.runnable", "gc.heap_after_bytes"):
                check(k in s, "%s: no %s series (have %s)" % (name, k, sorted(s)))


main(test)
