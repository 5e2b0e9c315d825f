"""A PySpark "UDF" with a known CPU split, for tests/integration/
test_python_spark.py (shipped to the workers as a job ships its code).

run(record, arg): arg = [budget_s, results_dir, shares]. Spends budget_s
of this thread's CPU in three functions - share_a in py_loop (a pure
Python loop), share_b in c_sum (sum() over a big list: one C call that
holds the GIL for ~0.6 ms; GIL-based samplers cannot see inside it) and
share_c in py_strings (Python string work) - in ~20 ms blocks of ~2 ms
calls, always running the function furthest behind its share. Measures
the truth with time.thread_time() around each block (a system call: a
clock read per call would itself draw preemptions, and so samples of a
loaded machine, to the caller) and writes it with the
task (TaskContext) and pid to results_dir/<pid>-<tid>.json before
returning; the worker then ends with os._exit.

arg may carry a 4th item, work (scripts/bench-python): then run does a
fixed amount of work - that many blocks, chosen by block count from the
shares, the same sequence every time - instead of a CPU budget, and also
records the process's CPU over run() (its other threads included: an
in-process sampler's cost shows there), each block's end (wall clock) and
its thread CPU;
a 5th item names a file whose existence ends the work early (looked for
every 10 blocks)."""
import json
import os
import time

BIG = list(range(300000))


def py_loop(n):
    x = 0
    for i in range(n):
        x += i * i
    return x


def c_sum(k):
    s = 0
    for _ in range(k):
        s += sum(BIG)
    return s


def py_strings(n):
    # small strings only (pymalloc, no system calls): a big list and join
    # would mmap/munmap per call, and system calls draw preemptions
    k = 0
    for i in range(n):
        k += len(str(i) + "x")
    return k


def run(record, arg):
    budget, results, shares = arg[:3]
    work = arg[3] if len(arg) > 3 else 0
    stop = arg[4] if len(arg) > 4 else None   # work mode: also ends once this file exists
    from pyspark.taskcontext import TaskContext
    tc = TaskContext.get()
    funcs = [(py_loop, 60000), (c_sum, 3), (py_strings, 32000)]
    spent = [0.0, 0.0, 0.0]
    t_start = time.time()
    cpu0 = time.thread_time()
    proc0 = time.process_time()
    total = 0.0
    blocks = [0, 0, 0]
    marks, cpus = [], []   # work mode: each block's end (wall clock) and CPU (bench-python's phases)
    while (total < budget) if not work else (sum(blocks) < work):
        if work:   # by block count: the same sequence whatever the timing
            k = max(range(3), key=lambda j: shares[j] * (sum(blocks) + 1) - blocks[j])
        else:      # the function furthest behind its share of what was spent so far
            k = max(range(3), key=lambda j: shares[j] * (total + 1e-3) - spent[j])
        blocks[k] += 1
        f, n = funcs[k]
        t0 = time.thread_time()
        for _ in range(10):   # ~20 ms blocks: a clock read (a system call) per block, not per call
            f(n)
        d = time.thread_time() - t0
        spent[k] += d
        total += d
        if work:
            marks.append(time.time())
            cpus.append(d)
            if stop and len(marks) % 10 == 0 and os.path.exists(stop):
                break
    res = {"pid": os.getpid(), "tid": tc.taskAttemptId(), "stage": tc.stageId(),
           "partition": tc.partitionId(), "start": t_start, "end": time.time(),
           "run_cpu": time.thread_time() - cpu0, "proc_cpu": time.process_time() - proc0,
           "blocks": sum(blocks),
           "py_loop": spent[0], "c_sum": spent[1], "py_strings": spent[2]}
    if work:
        res["marks"] = marks
        res["cpus"] = cpus
    with open(os.path.join(results, "%d-%d.json" % (os.getpid(), tc.taskAttemptId())), "w") as f:
        json.dump(res, f)
    return record
