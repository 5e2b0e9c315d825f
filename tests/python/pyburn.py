"""A plain Python program with a known CPU split, for python=children
(tests/integration/test_python_children.py): spends `seconds` of its
thread's CPU, 3/4 in hot_loop and 1/4 in cool_loop, in ~10 ms calls, then
prints the split it measured (thread_time around each call)."""
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


def main(seconds):
    spent = {"hot_loop": 0.0, "cool_loop": 0.0}
    k = 0
    while sum(spent.values()) < seconds:
        f = hot_loop if k % 4 else cool_loop
        t0 = time.thread_time()
        f(60000)
        spent[f.__name__] += time.thread_time() - t0
        k += 1
    print("pyburn hot_loop=%.3f cool_loop=%.3f" % (spent["hot_loop"], spent["cool_loop"]), flush=True)


if __name__ == "__main__":
    main(float(sys.argv[1]))
