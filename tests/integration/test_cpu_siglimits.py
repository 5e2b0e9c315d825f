"""test_cpu_siglimits - the CPU sampler against the JVM's resource limits.

Each case runs a real JVM with the agent under a limit set for that JVM
only (setrlimit in the child; as a spare uid when run as root, so the
per-user signal count starts at 0 whatever else runs on the machine):

  sigio: perf events deliver through O_ASYNC + F_SETSIG. With SIGPROF taken
    by "another profiler" (sigprof_owner.c) the agent samples on a
    real-time signal; such signals queue, and when the queue passes
    RLIMIT_SIGPENDING the kernel falls back to SIGIO, whose default action
    kills the process. A native thread that blocks every signal while it
    burns CPU (sigblock_spinner.c) under `ulimit -i 32` fills the queue in
    32 samples. The JVM must live (the agent uses POSIX timers on a
    real-time signal: they preallocate their one signal). The same load
    on SIGPROF (it does not queue: one pending at most) must live too.
  fds: one perf fd per thread counts against RLIMIT_NOFILE. With
    `ulimit -n 256` and 300 threads the application must still open files
    (at least 32, the agent keeps a quarter of the limit free), and the
    threads refused a perf fd are counted in cpu.perf_fd_reserve.
  itimer: cpu.engine=timer under `ulimit -i 4`: the first POSIX timers are
    created, the next fail (EAGAIN). The agent must move every thread to
    ITIMER_PROF at once (cpu.itimer_switch) - a thread with its own timer
    and the process timer would be counted twice, threads created after
    the failure would go unsampled - and the busy thread's CPU in the
    profile must match what it measured (+-25%).
Every case on both JDKs; tests/java/SigLimits.java is the load."""
import re
import time
import resource

import cplib
from cplib import *

OWNER = os.path.join(BUILD, "tests", "integration", "libsigprof_owner.so")
SPINNER = os.path.join(BUILD, "tests", "integration", "libsigblock_spinner.so")
SPARE_UID = 4242   # an unused uid: its pending-signal count is this JVM's alone


def run(jdk, relay, app, opts, args, limits, env=None, timeout=120):
    java = JavaProgram("SigLimits")
    cmd = java.cmd(jdk, agent="app=%s,flush=1s,loglevel=info,%s" % (app, opts), relay=relay, args=args)
    path = os.path.join(out_dir("java"), "%s.log" % app)
    e = dict(os.environ)
    e.update(env or {})

    def pre():
        cplib._die_with_parent()
        for res, n in limits:
            resource.setrlimit(res, (n, n))
        if os.getuid() == 0:
            os.setgid(SPARE_UID)
            os.setuid(SPARE_UID)

    with open(path, "wb") as f:
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=f, stderr=subprocess.STDOUT, env=e,
                             preexec_fn=pre)
        # the application's file descriptors are its own: stdin (fd 0) must
        # stay that pipe while the agent opens and closes perf fds and timers
        # (an ITIMER_PROF switch once closed fd 0 through never-used slots)
        fd0 = set()
        closed = 0   # consecutive looks at a closed fd 0 (one look can be the process' exit)
        deadline = time.time() + timeout
        while p.poll() is None and time.time() < deadline:
            try:
                fd0.add(os.readlink("/proc/%d/fd/0" % p.pid).split("[")[0])
                closed = 0
            except OSError:
                closed += 1
                if closed >= 3 and p.poll() is None:
                    fd0.add("(closed)")
            time.sleep(0.05)
        try:
            rc = p.wait(max(1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            raise TestFailure("%s did not finish in %ss (log %s)" % (app, timeout, path))
    p.stdin.close()
    check(fd0 <= {"pipe:"}, "%s: the JVM's fd 0 changed under the agent: %r" % (app, sorted(fd0)))
    out0 = open(path, "rb").read().decode(errors="replace")
    m = re.search(r"FD0=(.*)", out0)
    check(not m or m.group(1).strip().startswith("pipe:"),
          "%s: the JVM's fd 0 is %s at its end, not its stdin pipe" % (app, m and m.group(1).strip()))
    out = open(path, "rb").read().decode(errors="replace")
    check(rc == 0 and "SIGLIMITS_DONE" in out,
          "%s: JVM exited %d%s (log %s):\n%s" % (app, rc, " (killed by %s)" % signal.Signals(-rc).name
                                                 if rc < 0 else "", path, out[-2500:]))
    check("hs_err" not in out, "%s: JVM crash:\n%s" % (app, out[-2500:]))
    return out


def counter(out, name):
    m = re.search(r"exit: counters:.*? %s=(\d+)" % re.escape(name), out)
    return int(m.group(1)) if m else 0


def case_sigio(relay, jdk, name):
    for owner in (False, True):
        app = "sigio-%s-%s" % ("rt" if owner else "prof", name)
        env = {"SPINNER_MS": "3000", "LD_PRELOAD": " ".join(([OWNER] if owner else []) + [SPINNER])}
        out = run(jdk, relay, app, "cpu=1ms", ["busy", 5, 4],
                  [(resource.RLIMIT_SIGPENDING, 32)], env=env)
        check("SPINNER_DONE" in out, "%s: the spinner did not run:\n%s" % (app, out[-1500:]))
        engine = re.search(r"exit: cpu engine (\w+)", out)
        log("%s: JVM lived through a signal-blocking spinner under ulimit -i 32 (%s; engine %s)"
            % (app, "SIGPROF taken, real-time signal" if owner else "SIGPROF",
               engine.group(1) if engine else "?"))
        if owner:
            check(engine and engine.group(1) != "perf",
                  "%s: perf events on a real-time signal (SIGIO on overflow)" % app)


def case_fds(relay, jdk, name):
    app = "fds-" + name
    out = run(jdk, relay, app, "cpu=10ms", ["fds", 300], [(resource.RLIMIT_NOFILE, 256)])
    opened = int(re.search(r"FDS_OPENED=(\d+)", out).group(1))
    err = re.search(r"FDS_ERROR=(.*)", out).group(1)
    reserve, fallback = counter(out, "cpu.perf_fd_reserve"), counter(out, "cpu.perf_fallback")
    log("%s: ulimit -n 256, 300 threads: the application opened %d files (%s); cpu.perf_fd_reserve=%d "
        "cpu.perf_fallback=%d" % (app, opened, err, reserve, fallback))
    check(opened >= 32, "%s: the application could open only %d files (%s)" % (app, opened, err))
    if "perf_event_open cpu-clock per thread" in out:
        check(reserve > 0, "%s: no thread was refused a perf fd" % app)


def case_itimer(relay, jdk, name):
    app = "itimer-" + name
    out = run(jdk, relay, app, "cpu=10ms,cpu.engine=timer", ["busy", 4, 8],
              [(resource.RLIMIT_SIGPENDING, 4)])
    switched = counter(out, "cpu.itimer_switch")
    burn_ms = int(re.search(r"CPU_MS=(\d+)", out).group(1))
    prof = relay.wait_profile(app, "cpu", lambda p: any("SigLimits.burn" in s for s in p), timeout=20)
    burn = sum(v for s, v in prof.items() if "SigLimits.burn" in s) / 1e6
    log("%s: ulimit -i 4, timer engine: cpu.itimer_switch=%d; burn CPU %d ms measured, %.0f ms in the profile"
        % (app, switched, burn_ms, burn))
    check(switched == 1, "%s: cpu.itimer_switch=%d, expected one switch" % (app, switched))
    check(0.75 * burn_ms <= burn <= 1.25 * burn_ms,
          "%s: profile holds %.0f ms of burn CPU, the thread measured %d ms" % (app, burn, burn_ms))


def test():
    check(JDKS, "no JDK found")
    check(os.path.exists(OWNER) and os.path.exists(SPINNER), "missing the LD_PRELOAD helpers")
    only = os.environ.get("SIGLIMITS_ONLY", "sigio,fds,itimer").split(",")
    with Relay() as relay:
        for jdk in JDKS:
            name = jdk_name(jdk)
            if "sigio" in only:
                case_sigio(relay, jdk, name)
            if "fds" in only:
                case_fds(relay, jdk, name)
            if "itimer" in only:
                case_itimer(relay, jdk, name)


main(test)
