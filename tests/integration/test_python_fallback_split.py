#!/usr/bin/env python3
"""A self-sampling Python worker charges each task only its own CPU, even
when its sampler looks rarely (issue 21's in-process fallback,
python/cprof_pyspark/fallback.py).

The sampler charges a thread the CPU it used since the sampler's last look.
When the thread switched tasks in between (cprof_pyspark.publish/finish),
each part belongs to the task that ran it (the last 8 switches are kept).
CI once saw a worker whose sampler ran late under load: 0.707 s in its
task's profile for the 0.617 s the task measured, the worker's set-up
charged to the task.

Here the sampler looks every 300 ms (the interval the agent writes into the
ring's header). One thread burns ~100 ms of CPU as task A and then ~100 ms
as task B, with no pause, and ends the task: three switches through
cprof_pyspark as a worker's, one or more of them between two looks.
Checked: the samples read from the ring charge A and B each what the
thread's own clock measured (within 15 ms); before the split, the look
across the switch charged both to B (A got 0). No JVM, no agent: the ring
is read back here."""
import os
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cplib import check, log, main, skip  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))
import cprof_pyspark  # noqa: E402
from cprof_pyspark import fallback  # noqa: E402

BURN_NS = 100_000_000
TOL_NS = 15_000_000


def burn(ns):
    end = time.thread_time_ns() + ns
    x = 0
    while time.thread_time_ns() < end:
        for i in range(1000):
            x += i * i
    return x


def samples(mm):
    """(kernel tid, weight ns, task tid) of every sample taken in a task."""
    head = struct.unpack_from("<Q", mm, 8)[0]
    off, out = 0, []
    while off < head:
        n, typ, k = fallback._REC.unpack_from(mm, fallback.HDR + off)
        if n <= 0:
            break
        if typ in (2, 3):
            f = fallback._SAMPLE.unpack_from(mm, fallback.HDR + off)
            if f[11] == 1:                # active: a task runs
                out.append((f[3], f[5], f[9]))
        off += n
    return out


def test():
    if not hasattr(os, "memfd_create") or not hasattr(time, "pthread_getcpuclockid"):
        skip("no memfd_create or pthread_getcpuclockid in this Python")
    cprof_pyspark._fallback = 0.3          # as link_agent() sets it where the agent said "self"
    buf = cprof_pyspark._buffer()
    check(buf is not None, "no task buffer (/dev/shm)")
    s = fallback.Sampler(0.3, cprof_pyspark._task, False)
    fallback._IV.pack_into(s.mm, 44, 300000)   # the agent's interval, us: a look every 300 ms
    measured = {}
    go, done = threading.Event(), threading.Event()
    native = []

    def worker():
        native.append(threading.get_native_id())
        go.wait()
        cprof_pyspark.publish(1, 0, 0, 101)           # task A
        t0 = time.thread_time_ns()
        burn(BURN_NS)
        t1 = time.thread_time_ns()
        cprof_pyspark.publish(1, 1, 0, 102)           # task B, without a pause between
        burn(BURN_NS)
        t2 = time.thread_time_ns()
        cprof_pyspark.finish()
        measured[101], measured[102] = t1 - t0, t2 - t1
        done.wait()                       # alive until the sampler looked again, as a worker's thread is

    w = threading.Thread(target=worker, name="task-thread")
    w.start()
    threading.Thread(target=s.run, name="cprof-py-sampler", daemon=True).start()
    time.sleep(0.45)                      # after the sampler's first look (its baseline)
    go.set()
    while not measured:
        time.sleep(0.05)
    time.sleep(0.7)                       # two more looks
    done.set()
    w.join()
    got = {}
    for tid, weight, task in samples(s.mm):
        if tid == native[0]:
            got[task] = got.get(task, 0) + weight
    log("task thread %d: charged %s, measured %s (ms)" % (
        native[0], {k: round(v / 1e6, 1) for k, v in sorted(got.items())},
        {k: round(v / 1e6, 1) for k, v in sorted(measured.items())}))
    for task in (101, 102):
        check(abs(got.get(task, 0) - measured[task]) <= TOL_NS,
              "task %d: %.1f ms charged for %.1f ms measured" % (task, got.get(task, 0) / 1e6, measured[task] / 1e6))


if __name__ == "__main__":
    main(test)
