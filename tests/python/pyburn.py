"""A plain Python program with a known CPU split, for python=children
(tests/integration/test_python_children.py): spends `seconds` of its
thread's CPU, 3/4 in hot_loop and 1/4 in cool_loop, in ~10 ms calls, then
prints the split it measured (thread_time around each call).

`pyburn.py SECONDS phased`: the same, but the work is in step with the
sampler's default 10 ms: hot_loop in the first 5 ms of every 10 ms of
CLOCK_MONOTONIC, cool_loop in the second (~1/2 each). A sampler that looks
every 10 ms exactly sees one phase only."""
import sys
import time


def hot_loop(n):
    x = 0
    for i in range(n):
        x += i * i
    return x


def cool_loop(n):
    x = 0
    for i in range(n):
        x ^= i
    return x


def phase():
    return "hot_loop" if time.monotonic_ns() // 5000000 % 2 == 0 else "cool_loop"


def main(seconds, phased=False):
    spent = {"hot_loop": 0.0, "cool_loop": 0.0}
    k = 0
    while sum(spent.values()) < seconds:
        if phased:
            name = phase()
            f = hot_loop if name == "hot_loop" else cool_loop
            t0 = time.thread_time()
            while phase() == name:
                f(300)   # ~15 us: the phase ends within a few calls
        else:
            f = hot_loop if k % 4 else cool_loop
            t0 = time.thread_time()
            f(60000)
        spent[f.__name__] += time.thread_time() - t0
        k += 1
    print("pyburn hot_loop=%.3f cool_loop=%.3f" % (spent["hot_loop"], spent["cool_loop"]), flush=True)


if __name__ == "__main__":
    main(float(sys.argv[1]), len(sys.argv) > 2 and sys.argv[2] == "phased")
