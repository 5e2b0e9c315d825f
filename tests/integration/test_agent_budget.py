"""test_agent_budget - the agent keeps its overhead budget (overhead=1%) in
the four storms of issue 19, with profiles that stay right.

Short form of the issue's proof (scripts/bench budget runs the minute-long
form, with fixed-interval comparisons and the JVM's CPU with and without
the agent, alternated). One JVM per storm, ~7 s each, overhead=1%, flush=1s,
tests/java/BudgetStorm.java:
  threads  2,000 runnable threads (cpu=10ms, the default)
  wall     wall=1ms on 500 threads sleeping 7 ms / 3 ms in turn
  alloc    alloc=1k allocation storm (bytes 7:3)
  deep     500-frame recursion at cpu=1ms
Asserted for each (the agent's overhead budget is per kind: the costliest
kind is stretched first):
  - converged: the last step up of the intervals comes within the first 8
    windows (alloc: 10, its run is 3 s longer: the JIT speeds its loop
    up); from the 3rd window on and the one after that step (flush=1s;
    for threads, the one after the last thread started), the agent's CPU
    (cpu.handler_ns + cpu.callback_ns + cpu.agent_threads_ns of its windows)
    is at most 1% of the JVM's (cpu.process_ns), summed over those windows;
    the storms that need it had their intervals stretched;
  - the first minute: the run's windows from the agent's start (the
    start-up, the first steps) continued to 60 s at the steady cost stay
    within 1% (wall, alloc, deep; threads is logged: its fixed costs);
  - reported: /api/v1/instances shows the agent's state: the 1% budget and
    the intervals in force, never shorter than asked; in the wall and alloc
    storms the storm's kind is stretched, and no step that stretched it
    stretched cpu (cpu pays only for its own cost);
  - weights right across the changes: the profile's A/B split is the
    program's 70/30 within 5 points, or 3 standard deviations for few
    samples (windows before and after the changes merged), and for deep the CPU profile's total is the process CPU of its
    windows within -25%/+15% (CPU samples weigh the thread's CPU, not a
    stale interval).
Runs alone in CI: it measures overhead."""
import re

from cplib import *

SCENARIOS = [
    # name, agent options, profile type, A needle, B needle, needs stretching
    ("threads", "cpu=10ms", "cpu", "BudgetStorm.burnA", "BudgetStorm.burnB", False),
    ("wall", "cpu=10ms,wall=1ms", "wall", "BudgetStorm.sleepA", "BudgetStorm.sleepB", True),
    ("alloc", "cpu=10ms,alloc=1k", "alloc_bytes", "BudgetStorm.allocA", "BudgetStorm.allocB", True),
    ("deep", "cpu=1ms", "cpu", "BudgetStorm.burnA", "BudgetStorm.burnB", True),
]
SECONDS = 6


def windows(out):
    """[{counter: value}] of the agent's windows (loglevel=debug), in order,
    and the number of windows closed before each step up of the intervals."""
    res, changes = [], []
    for line in out.splitlines():
        if "window seq=" in line:
            res.append({k: int(v) for k, v in re.findall(r" ([a-z_.A-Z]+)=(\d+)", line)})
        elif "overhead: agent at" in line and "(step up" in line:   # fewer samples
            changes.append(len(res))
    return res, changes


def sampling_ns(x):
    """What grows with the sampling rate: the handlers plus cpu.sampling_ns."""
    return x.get("cpu.handler_ns", 0) + x.get("cpu.sampling_ns", 0)


def agent_ns(w):
    return w.get("cpu.handler_ns", 0) + w.get("cpu.callback_ns", 0) + w.get("cpu.agent_threads_ns", 0)


def run(relay, jdk, name, opts, ptype, a, b, stretch):
    app = "budget-%s-%s" % (name, jdk_name(jdk))
    java = JavaProgram("BudgetStorm")
    # 2,000 threads take seconds to start; an allocation storm needs two or
    # three steps (judged on 125 ms ticks at start) before its steady windows;
    # in the wall storm cpu may take a step of its own (3 s of evidence) when
    # its sampling with the kernel's signal cost is half the budget
    # an allocation storm's loop allocates 40x faster once the JIT has
    # compiled it (~5 s in): the steps that follow (1 s of evidence each,
    # overhead_ctl.h) may end as late as window 10;
    # the wall storm's 500 threads each use ~3.5 ms of CPU a second, in step,
    # so their first 10 ms CPU samples come together 3-6 s in (a perf
    # event's first sample needs a whole interval): the cpu step that burst
    # may cause can come as late as window 8, so its run leaves two windows
    # after that (CI at 0eb33fa: step after window 7 of 9, none left)
    secs = SECONDS + {"threads": 3, "wall": 4, "alloc": 6}.get(name, 0)
    latest = 10 if name == "alloc" else 8
    with OtherWork() as other:
        out = java.run(jdk, agent="app=%s,%s,overhead=1%%,flush=1s,loglevel=debug" % (app, opts), relay=relay,
                       args=[name, secs], timeout=120)
    w, changed_at = windows(out)
    check(len(w) >= 5, "%s: only %d windows:\n%s" % (app, len(w), out[-2000:]))
    # converged: from the 4th window, or the second after the last thread
    # started (2,000 thread starts are the JVM's cost and the agent's fixed
    # one, ThreadStart, which no interval can lower)
    most = max(x.get("threads", 0) for x in w)
    started = next(i for i, x in enumerate(w) if x.get("threads", 0) >= most * 0.98)
    check(started + 4 <= len(w), "%s: threads still starting at window %d of %d" % (app, started + 1, len(w)))
    # ... and from the window after the last step up (steps down, when
    # the load falls, may come later), which must come within the first 8
    # windows (10 for the allocation storm, above)
    last = max(changed_at) if changed_at else 0
    steady = w[max(2, started + 1, last + 1):-1]   # not the exit's window (2,000 ThreadEnds)
    if last > latest or not steady:
        log("%s: windows %s, changes after windows %s:\n%s" % (app, len(w), changed_at, "\n".join(
            l for l in out.splitlines() if "window seq=" in l or "overhead: agent at" in l)))
    check(last <= latest, "%s: the intervals still changed after window %d: %s" % (app, last, changed_at))
    check(len(steady) >= 1, "%s: only %d windows after converging" % (app, len(steady)))
    used = sum(agent_ns(x) for x in steady) / max(1, sum(x.get("cpu.process_ns", 0) for x in steady))
    changes = [l.split("info: ")[-1] for l in out.splitlines() if "overhead: agent at" in l]
    first = sum(agent_ns(x) for x in w[:3]) / max(1, sum(x.get("cpu.process_ns", 0) for x in w[:3]))
    log("%s: agent %.2f%% of the JVM's CPU in windows 1-3, %.3f%% in windows %d-%d; changes:\n  %s"
        % (app, first * 100, used * 100, w.index(steady[0]) + 1, w.index(steady[-1]) + 1, "\n  ".join(changes) or "none"))
    for i, x in enumerate(w):
        p = max(1, x.get("cpu.process_ns", 0))
        log("  window %2d%s: process %4.0f ms, agent %5.2f%% (handlers %.2f%%, callbacks %.2f%%, threads %.2f%%;"
            " sampling %.2f%%), %d threads, samples cpu %d wall %d alloc %d"
            % (i + 1, " *" if x in steady else "  ", p / 1e6, agent_ns(x) * 100 / p, x.get("cpu.handler_ns", 0) * 100 / p,
               x.get("cpu.callback_ns", 0) * 100 / p, x.get("cpu.agent_threads_ns", 0) * 100 / p,
               sampling_ns(x) * 100 / p, x.get("threads", 0), x.get("samples.cpu", 0),
               x.get("samples.wall", 0), x.get("samples.alloc", 0)))
    sampling = sum(sampling_ns(x) for x in steady) / max(1, sum(x.get("cpu.process_ns", 0) for x in steady))
    # what the controller scales (sampling) must be under the budget; the
    # whole also, but the agent's fixed cost (its threads' wake-ups, the
    # sender, scans of 2,000 threads) grows as the JVM gets less CPU: on a
    # machine where other work took more than half a core during the run it
    # is allowed 2.5x. Not the load average: it counts this test's own JVMs
    # (after the 2,000-thread storm it read ~29 on a quiet machine, so every
    # later storm was judged as loaded) and lags a minute behind
    loaded = other.cores > 0.5
    log("%s: other work on the machine during the run: %.2f cores%s" % (app, other.cores, " (loaded)" if loaded else ""))
    limit = 0.025 if loaded else 0.01
    check(sampling <= 0.01, "%s: sampling cost %.3f%% of the JVM's CPU after converging (budget 1%%)"
          % (app, sampling * 100))
    check(used <= limit, "%s: the agent used %.3f%% of the JVM's CPU after converging (budget 1%%%s)"
          % (app, used * 100, ", machine loaded: allowed 2.5%" if loaded else ""))
    if used > 0.01:
        log("%s: NOTE over the 1%% budget (%.3f%%) on a loaded machine (others %.2f cores): fixed cost %.3f%%"
            % (app, used * 100, other.cores, (used - sampling) * 100))
    if stretch:
        check(changes, "%s: a storm that costs more than the budget, but the intervals never changed" % app)
    # the first minute: what the run cost from the agent's start (all its
    # windows but the exit's; the JVM's start-up CPU before the first window
    # is left out, so this errs high), continued to 60 s at the steady cost
    run_w = w[:-1]
    a_t, p_t = sum(agent_ns(x) for x in run_w), sum(x.get("cpu.process_ns", 0) for x in run_w)
    rest = max(0, 60 - len(run_w))
    a_s = sum(agent_ns(x) for x in steady) / len(steady)
    p_s = sum(x.get("cpu.process_ns", 0) for x in steady) / len(steady)
    minute = (a_t + a_s * rest) / max(1, p_t + p_s * rest)
    log("%s: first minute %.3f%% (%d s measured: %.2f%%, then %d s at the steady %.3f%%)"
        % (app, minute * 100, len(run_w), a_t * 100 / max(1, p_t), rest, a_s * 100 / max(1, p_s)))
    # threads: the 2,000 ThreadStarts (a timer each) and the per-window work
    # over 2,000 threads are fixed costs no interval lowers; on a JVM that
    # gets half a core of a loaded machine they alone are ~2% (logged only)
    if name != "threads":
        check(minute <= limit, "%s: the agent's first minute would cost %.3f%% of the JVM's CPU (budget 1%%%s)"
              % (app, minute * 100, ", machine loaded: allowed 2.5%" if loaded else ""))

    inst = relay.get_json("/api/v1/instances", app=app)["instances"]
    check(len(inst) == 1 and "state" in inst[0], "%s: no agent state in /instances: %s" % (app, inst))
    st = inst[0]["state"]
    log("%s: state %s" % (app, st))
    check(st.get("overhead.budget_ppm") == 10000, "%s: budget %s, not 1%%" % (app, st.get("overhead.budget_ppm")))
    asked = dict(x.split("=") for x in opts.split(","))
    floors = {"cpu": ("interval.cpu_ns", 1e6), "wall": ("interval.wall_ns", 1e6), "alloc": ("interval.alloc_bytes", 1)}
    for k, v in asked.items():
        key, unit = floors[k]
        n = int(v.rstrip("mskb")) * (1024 if v.endswith("k") else 1) * unit
        check(st.get(key, 0) >= n, "%s: %s=%s in force, below the asked %s" % (app, key, st.get(key), v))
    if stretch:
        check(st.get("overhead.scale", 1) > 1 or st.get("overhead.changes", 0) > 0,
              "%s: the state shows no stretching: %s" % (app, st))
    if name in ("wall", "alloc"):
        # the storm's own kind pays for it: a step that stretched wall (or
        # alloc) stretched cpu too only if cpu sampling itself cost half the
        # budget in what that step judged (with the kernel's signal cost,
        # ~50 us a sample on a loaded VM); one factor for all kinds
        # stretched cpu to its 1 s bound with them
        prev, own = {"cpu": 1, "wall": 1, "alloc": 1, "lock": 1}, 0
        for line in out.splitlines():
            m = re.search(r"intervals cpu x(\d+) wall x(\d+) alloc x(\d+) lock x(\d+)", line)
            if not m:
                continue
            cur = dict(zip(("cpu", "wall", "alloc", "lock"), map(int, m.groups())))
            if cur[name] > prev[name]:
                own += 1
                j = re.search(r"judged sampling cpu ([\d.]+)%", line)
                check(cur["cpu"] <= prev["cpu"] or (j and float(j.group(1)) >= 0.5),
                      "%s: a step that stretched %s also stretched cpu, which cost less than half the budget: %s"
                      % (app, name, line.split("info: ")[-1]))
            prev = cur
        check(own >= 1, "%s: the %s interval was never stretched" % (app, name))
        log("%s: %d steps stretched %s, cpu x%s at the end" % (app, own, name, st.get("overhead.scale.cpu")))
        check(st.get("overhead.scale.%s" % name, 0) > st.get("overhead.scale.cpu", 0),
              "%s: cpu x%s, %s x%s" % (app, st.get("overhead.scale.cpu"), name, st.get("overhead.scale.%s" % name)))

    prof = wait_settled(relay, app, ptype)
    sa, sb = share(prof, a), share(prof, b)
    split = sa / (sa + sb) if sa + sb else 0
    log("%s: %s profile: %s %.1f%%, %s %.1f%% -> A/(A+B) = %.3f (program: 0.700)"
        % (app, ptype, a, sa * 100, b, sb * 100, split))
    # sampling noise: 3 standard deviations of a share of n samples (2,000
    # threads on a loaded machine get few: each needs 10 ms of its own CPU)
    kind = {"cpu": "samples.cpu", "wall": "samples.wall", "alloc_bytes": "samples.alloc"}[ptype]
    n = max(1.0, sum(x.get(kind, 0) for x in w) * (sa + sb))
    # samples weigh their interval: once stretched, the profile rests on the
    # few at the last interval (an allocation storm's 4,000 samples are ~40
    # of 128 MiB and many tiny ones); count those
    last = st.get({"cpu": "interval.cpu_ns", "wall": "interval.wall_ns", "alloc_bytes": "interval.alloc_bytes"}[ptype], 0)
    if last > 0:
        n = max(1.0, min(n, sum(prof.values()) * (sa + sb) / last))
    tol = max(0.05, 3 * (0.21 / n) ** 0.5)
    check(abs(split - 0.70) <= tol, "%s: the profile's split %.3f is not the program's 0.70 (+-%.3f for %d samples)"
          % (app, split, tol, n))
    if name == "deep":
        total = sum(prof.values())
        proc = sum(x.get("cpu.process_ns", 0) for x in w)
        log("%s: CPU profile total %.0f ms, process CPU in the windows %.0f ms (%.2f)"
            % (app, total / 1e6, proc / 1e6, total / max(1, proc)))
        check(0.75 <= total / max(1, proc) <= 1.15,
              "%s: the CPU profile holds %.0f ms for %.0f ms of process CPU: weights wrong across the changes"
              % (app, total / 1e6, proc / 1e6))


def test():
    check(JDKS, "no JDK found")
    jdk = JDKS[0]
    with Relay(name="relay-budget") as relay:
        for sc in SCENARIOS:
            run(relay, jdk, *sc)


if __name__ == "__main__":
    main(test)
