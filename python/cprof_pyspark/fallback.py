"""cprof_pyspark.fallback - workers that sample themselves, for an agent that
may not read their memory.

The cprof agent reads Python workers' stacks from outside with
process_vm_readv. Where that is refused (seccomp, ptrace scope, another
user, a non-dumpable process) or the interpreter is one it has no offsets
for, it answers the daemon's question at start-up with "self <interval>"
(ask()), and every worker the daemon forks then runs a Sampler thread:

  - every interval it takes sys._current_frames() and, for each other
    thread, the CPU time that thread used since the previous tick
    (time.pthread_getcpuclockid: a per-thread CPU clock, no system call
    beyond clock_gettime);
  - it charges that CPU to the thread's current stack only if the thread
    is on CPU as far as Python can tell: running or runnable (state R in
    /proc/self/task/TID/stat), or waiting in futex (the GIL this thread
    holds now, or a lock); a thread blocked in any other system call (a
    socket read between tasks) ran, then blocked, and its stack now is
    not where that time went (not charged, as the agent does);
  - it writes the stack (a function table entry the first time a code
    object is seen, then indexes) with the task the worker runs into a
    ring in a sealed memfd it handed to the agent (SCM_RIGHTS), which the
    agent drains each tick and stores as it stores the stacks it reads
    itself. Layout and rendezvous: jvmti/pyfb.h of cprof.

The sampler needs the GIL, so it sees a thread only between bytecodes:
a long C call that holds the GIL is charged, through the CPU clock, to
the Python function that made it, when that function resumes. Cost: one
GIL hand-over per tick (~20-60 us) plus the stack walk, in the worker;
its CPU is reported to the agent (py.fallback_cost_ns). It ticks at the
agent's CPU interval, but not more often than every 5 ms (MIN_INTERVAL). Standard library
only; Python 3.8+ on Linux.
"""
import array
import mmap
import os
import socket
import struct
import sys
import threading
import time

__all__ = ["ask", "start", "module_of", "Sampler"]

RING = 1 << 16
HDR = 64
# Never faster than the GIL's switch interval (5 ms): a sampler thread that
# wakes sooner waits that long for the GIL of a busy worker anyway, and
# each wake-up costs ~50-200 us of CPU (measured on a 2-core VM).
MIN_INTERVAL = 0.005
ABANDON_S = 30.0   # well above any stall of a loaded agent thread
MAX_DEPTH = 128
_U32 = struct.Struct("<I")
# head, tail and the counters in native order and size: one aligned load or
# store each (struct's "<Q" goes byte by byte: the agent could read a torn
# head, and this thread a torn tail). x86-64 and aarch64 are little-endian.
_U64 = struct.Struct("Q")
_IV = struct.Struct("I")
_REC = struct.Struct("<IHH")                 # len, type, n
_SAMPLE = struct.Struct("<IHHIIQqqqqqq")     # header, kernel tid, 0, weight_ns, task (6)
_FUTEX = {"x86_64": b"202", "aarch64": b"98"}.get(os.uname().machine, b"202")
_ROOTS = ("/site-packages/", "/dist-packages/", ".zip/", ".egg/", ".whl/")
_F_ADD_SEALS = 1033
_F_SEAL_SHRINK, _F_SEAL_GROW = 0x2, 0x4


def _agents():
    """Abstract socket names of the agents that may be above this process:
    its parent (the JVM, for a daemon started by it) and a few more up the
    chain (a wrapper script between them)."""
    names, pid = [], os.getppid()
    for _ in range(4):
        if pid <= 1:
            break
        names.append("\0cprof-py-%d" % pid)
        try:
            with open("/proc/%d/stat" % pid, "rb") as f:
                pid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return names


def _request(msg, fds=(), timeout=2.0):
    """One request to the first agent that listens; its answer, or None."""
    for name in _agents():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            s.connect(name)
        except OSError:
            s.close()
            continue
        try:
            s.settimeout(timeout)
            if fds:
                s.sendmsg([msg], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
            else:
                s.send(msg)
            return s.recv(64).decode("ascii", "replace")
        except OSError:
            return None
        finally:
            s.close()
    return None


def ask():
    """Whether this process (and what it forks) must sample itself: the
    interval in seconds the agent asks for, or 0 (the agent reads it from
    outside, or there is no agent)."""
    a = _request(b"CPFB1 ask")
    if a and a.startswith("self "):
        try:
            return max(int(a.split()[1]), 1000000) / 1e9
        except ValueError:
            return 0
    return 0


def module_of(fn):
    """The module name the agent gives a file (jvmti/pyvm.c cp_pyvm_module_of)."""
    if fn.startswith("<"):
        if fn.startswith("<frozen "):
            p = fn[8:]
            return p[:-1] if p.endswith(">") else p
        return fn
    rel, best = fn.rsplit("/", 1)[-1], -1
    for r in _ROOTS:
        i = fn.find(r)
        while i >= 0:
            best = max(best, i + len(r))
            i = fn.find(r, i + 1)
    if best < 0:
        i = fn.find("/python3.")
        while i >= 0:
            q = fn.find("/", i + 1)
            if q >= 0:
                best = q + 1
            i = fn.find("/python3.", i + 1)
    if 0 <= best < len(fn):
        rel = fn[best:]
    if rel.endswith(".py"):
        rel = rel[:-3]
    elif rel.endswith(".pyc"):
        rel = rel[:-4]
    if rel.endswith("/__init__"):
        rel = rel[:-9]
    return rel[:95].replace("/", ".")


def _text(code):
    name = getattr(code, "co_qualname", None) or code.co_name
    base = code.co_filename.rsplit("/", 1)[-1][:95]
    return "%s (%s:%d)" % (name[:150], base[:60], code.co_firstlineno)


class _Thread(object):
    __slots__ = ("clock", "native", "fd_stat", "fd_sys", "last", "seen")


class Sampler(object):
    """The sampler thread of one process and its ring."""

    def __init__(self, interval, task, fresh):
        self.interval = interval
        self.task = task              # () -> (the six task fields (pytask.h order), the last switches)
        self.fresh = fresh            # a fork child: every thread's CPU is since we began
        self.head = 0
        self.dropped = 0
        fd = os.memfd_create("cprof-py-fallback", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            os.ftruncate(fd, HDR + RING)
            import fcntl
            fcntl.fcntl(fd, _F_ADD_SEALS, _F_SEAL_SHRINK | _F_SEAL_GROW)
            self.mm = mmap.mmap(fd, HDR + RING, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        self.mm[0:8] = b"CPFB" + _U32.pack(1)
        _U32.pack_into(self.mm, 40, RING)

    def register(self):
        """Hands the ring to the agent; True when it takes it."""
        a = _request(b"CPFB1 ring", [self.fd])
        os.close(self.fd)
        self.fd = -1
        return bool(a) and a.startswith("ok ")

    def _put(self, rec):
        mm, n, head = self.mm, len(rec), self.head
        off = head & (RING - 1)
        room = RING - off
        need = n if n <= room else room + n
        if need > RING - (head - _U64.unpack_from(mm, 16)[0]):
            return False
        if n > room:                  # a PAD record to the end; the record at the start
            _REC.pack_into(mm, HDR + off, room, 0, 0)
            head += room
            off = 0
        mm[HDR + off:HDR + off + n] = rec
        head += n
        _U64.pack_into(mm, 8, head)   # after the record: the agent reads head first
        self.head = head
        return True

    def _func(self, idx, code):
        body = _U32.pack(idx) + module_of(code.co_filename).encode("utf-8", "replace") + b"\0" + \
            _text(code).encode("utf-8", "replace") + b"\0"
        n = (8 + len(body) + 7) & ~7
        return _REC.pack(n, 1, 0) + body + b"\0" * (n - 8 - len(body))

    def _thread(self, ident, baseline):
        t = _Thread()
        t.clock = time.pthread_getcpuclockid(ident)
        th = threading._active.get(ident)
        t.native = getattr(th, "native_id", None) or 0
        t.fd_stat = t.fd_sys = -1
        if t.native:
            try:
                t.fd_stat = os.open("/proc/self/task/%d/stat" % t.native, os.O_RDONLY | os.O_CLOEXEC)
                t.fd_sys = os.open("/proc/self/task/%d/syscall" % t.native, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                pass
        t.last = time.clock_gettime_ns(t.clock) if baseline else 0
        t.seen = time.monotonic_ns()
        return t

    @staticmethod
    def _close(t):
        for fd in (t.fd_stat, t.fd_sys):
            if fd >= 0:
                os.close(fd)

    @staticmethod
    def _on_cpu(t):
        if t.fd_stat < 0:
            return True
        try:
            st = os.pread(t.fd_stat, 512, 0)
            state = st[st.rindex(b")") + 2:st.rindex(b")") + 3]
            if state == b"R":
                return True
            return t.fd_sys >= 0 and os.pread(t.fd_sys, 32, 0).split(b" ", 1)[0] == _FUTEX
        except (OSError, ValueError):
            return True

    def run(self):
        me = threading.get_ident()
        threads, codes = {}, {}
        first = True
        mm = self.mm
        tail, moved = 0, time.monotonic()
        while True:
            # the agent drains every tick while it runs: records left unread
            # for ABANDON_S mean it is gone (detached, stopped); stop too
            t = _U64.unpack_from(mm, 16)[0]
            if t != tail or self.head == t:
                tail, moved = t, time.monotonic()
            elif time.monotonic() - moved > ABANDON_S:
                self.mm.close()
                return
            iv = _IV.unpack_from(mm, 44)[0]
            time.sleep(max(iv / 1e6 if iv else self.interval, MIN_INTERVAL))
            frames = sys._current_frames()
            task, switches = self.task()
            for ident, f in frames.items():
                if ident == me:
                    continue
                t = threads.get(ident)
                if t is None:
                    try:
                        t = threads[ident] = self._thread(ident, first and not self.fresh)
                    except OSError:
                        continue
                try:
                    cpu = time.clock_gettime_ns(t.clock)
                except OSError:
                    continue
                now = time.monotonic_ns()
                d, t.last = cpu - t.last, cpu
                busy, t.seen = 2 * d >= now - t.seen, now
                # a thread that ran at least half the time since its last
                # look is charged without /proc: os.pread releases the GIL,
                # and a busy worker would hold it for another switch
                # interval before this thread got it back
                if d <= 0 or not (busy or self._on_cpu(t)):
                    continue
                idx, recs, new = [], [], []
                while f is not None and len(idx) < MAX_DEPTH:
                    c = f.f_code
                    i = codes.get(c)
                    if i is None:
                        i = len(codes) + len(new)
                        new.append(c)
                        recs.append(self._func(i, c))
                    idx.append(i)
                    f = f.f_back
                k = len(idx)
                # the CPU since the last look, split where this thread
                # switched tasks meanwhile: each part goes to the task that
                # ran it (a sampler delayed by load charged a worker's
                # set-up to its task: 0.707 s for 0.617 s measured)
                parts, at = [], cpu - d
                for sw in switches:   # in the order they happened
                    if sw[0] == ident and at < sw[1] < cpu:
                        parts.append((sw[1] - at, sw[2]))
                        at = sw[1]
                parts.append((cpu - at, task))
                body = array.array("I", idx).tobytes() + (b"\0" * 4 if k & 1 else b"")
                ok = True
                for c, r in zip(new, recs):   # in index order: a code is known once its entry is out
                    ok = ok and self._put(r)
                    if ok:
                        codes[c] = len(codes)
                for w, fields in parts:
                    rec = _SAMPLE.pack(72 + 4 * k + (4 if k & 1 else 0), 3 if f is not None else 2, k,
                                       t.native, 0, w, *fields) + body
                    if not (ok and self._put(rec)):
                        self.dropped += 1
                        _U64.pack_into(mm, 24, self.dropped)
            first = False
            for ident in [i for i in threads if i not in frames]:
                self._close(threads.pop(ident))
            del frames, f
            _U64.pack_into(mm, 32, time.thread_time_ns())


_sampler = None


def start(interval, task, fresh):
    """Starts this process's sampler thread (once): interval in seconds,
    task() the current task's six fields and the last task switches (see
    cprof_pyspark._task), fresh when this process was just forked (all its
    threads' CPU is new). Returns the thread, or None."""
    global _sampler
    if _sampler is not None:
        return _sampler

    def main():
        try:
            s = Sampler(interval, task, fresh)
        except (OSError, ValueError, AttributeError):
            return                    # no memfd (old kernel or Python): no samples
        if s.register():
            s.run()

    _sampler = threading.Thread(target=main, name="cprof-py-sampler", daemon=True)
    _sampler.start()
    return _sampler


def _reset_after_fork():
    global _sampler
    _sampler = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
