"""cprof_pyspark - task labels for cprof's Python sampling of PySpark workers.

Set as the executors' daemon module (`cprof spark-conf --python` prints
the whole configuration):

    --conf spark.python.daemon.module=cprof_pyspark.daemon

It runs the real `pyspark.daemon` and, in every forked worker, publishes
the running task (stage, partition, attempt, task attempt id (TID), SQL
execution id) in a 64-byte file /dev/shm/cprof-py-<worker pid>, mapped
shared and guarded by a sequence counter. The cprof agent in the executor
JVM, which reads the worker's Python stacks from outside (python=on),
opens it through /proc/<pid>/fd (the name is unlinked at once, so a
worker ending with os._exit leaves nothing behind) and reads it in the
same pass, so each Python sample carries its
task and is shown under the JVM task thread that waits for it. Layout:
jvmti/pytask.h of cprof.

Cost: one hook per task (~1 us: see bench()); nothing at all between
tasks, and nothing in the worker's hot loops.

Where the agent may not read the workers' memory (seccomp, ptrace scope,
another user), the daemon learns it at start-up (link_agent()) and every
worker it forks samples itself with a thread of its own (fallback.py),
handing its stacks to the agent; nothing changes where the agent can read
them. Without pyspark (tests) the
module imports fine; install() then needs a pyspark-shaped package on
the path. Pure Python, standard library only; Python 3.8+.
"""
import mmap
import os
import struct
import threading
import time

__all__ = ["TaskBuffer", "install", "link_agent", "publish", "finish", "bench"]

LAYOUT = struct.Struct("<qqqqqq")      # stage, partition, attempt, tid, sql id, active
_SEQ = struct.Struct("<Q")
_SEQ_LAYOUT = struct.Struct("<Qqqqqqq")  # seq (odd), then the fields: packed in this order
_MAGIC = b"CPPY" + struct.pack("<I", 1)
SIZE = 64


class TaskBuffer(object):
    """The shared task buffer of one process (created on first use)."""

    def __init__(self, directory="/dev/shm"):
        self.pid = os.getpid()
        self.path = os.path.join(directory, "cprof-py-%d" % self.pid)
        # The name is removed at once and the descriptor kept open: the agent
        # opens the file through /proc/<pid>/fd, and nothing is left in
        # /dev/shm when the worker ends with os._exit.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            os.ftruncate(fd, SIZE)
            self.mm = mmap.mmap(fd, SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            self.mm[0:8] = _MAGIC
        except BaseException:
            os.close(fd)
            raise
        finally:
            os.unlink(self.path)
        self.fd = fd
        self.seq = 0
        self.fields = [-1, -1, -1, -1, -1, 0]

    def write(self):
        """seq odd, the fields, seq even (stores in that order: pack_into
        writes left to right, x86-64 keeps store order); the reader retries
        on an odd or changed seq."""
        seq = self.seq + 2
        self.seq = seq
        _SEQ_LAYOUT.pack_into(self.mm, 8, seq - 1, *self.fields)
        _SEQ.pack_into(self.mm, 8, seq)

    def close(self):
        try:
            self.mm.close()
        finally:
            os.close(self.fd)


_buf = None
_disabled = False
_fallback = 0.0                 # seconds: this process's forks sample themselves (link_agent)
_NO_TASK = (-1, -1, -1, -1, -1, 0)
_switches = ()                  # the last task switches: (thread ident, its CPU clock ns, the fields before)
_SWITCHES = 8


def _task():
    """For the fallback sampler: the running task's six fields (pytask.h
    order), and the last task switches (the thread that switched, its CPU
    clock then, the fields before it): a sample whose CPU spans switches
    charges each part to the task that ran it."""
    b = _buf
    return (tuple(b.fields) if b is not None else _NO_TASK), _switches


def _switched(b, fields):
    """b's task becomes fields, now, on this thread."""
    global _switches
    if _fallback:
        _switches = _switches[1 - _SWITCHES:] + ((threading.get_ident(), time.thread_time_ns(), tuple(b.fields)),)
    b.fields = fields
    b.write()


def _forked():
    """In a forked child (a daemon's worker): the parent's buffer is not
    ours; with the fallback on, the child starts its own sampler."""
    global _buf
    _buf = None
    if _fallback:
        from cprof_pyspark import fallback
        fallback.start(_fallback, _task, True)


def link_agent(sample_self_now=False):
    """Asks the agent in the JVM above whether it reads this process's
    memory (once, at start-up: one local round trip). If it cannot, the
    processes forked from here (workers) sample themselves, and so does
    this one with sample_self_now (a worker the JVM starts directly).
    Returns the sampling interval in seconds, or 0."""
    global _fallback
    try:
        from cprof_pyspark import fallback
        _fallback = fallback.ask()
        if _fallback and sample_self_now:
            fallback.start(_fallback, _task, False)
    except Exception:                                   # never break the worker
        _fallback = 0.0
    return _fallback


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)


def _buffer():
    """This process's buffer, created on first use (the daemon never has one:
    only workers run tasks)."""
    global _buf, _disabled
    if _buf is None and not _disabled:
        try:
            _buf = TaskBuffer(os.environ.get("CPROF_PY_SHM", "/dev/shm"))
        except (OSError, ValueError):
            _disabled = True                            # no /dev/shm: run without labels
    return _buf


def publish(stage, partition, attempt, tid, sql_id=-1):
    """The task that starts now on this worker."""
    b = _buf or _buffer()
    if b is not None:
        _switched(b, [stage, partition, attempt, tid, sql_id, 1])


def publish_sql(sql_id):
    b = _buf
    if b is not None and b.fields[5] == 1:
        b.fields[4] = sql_id
        b.write()


def finish():
    """The task ended: samples from now on carry no task."""
    b = _buf
    if b is not None and b.fields[5] == 1:
        _switched(b, b.fields[:5] + [0])


def _int(v, default=-1):
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


class _Props(dict):
    """TaskContext._localProperties: sees spark.sql.execution.id arrive."""

    def __setitem__(self, k, v):
        dict.__setitem__(self, k, v)
        if k == "spark.sql.execution.id":
            publish_sql(_int(v))


def _context_class(base):
    """A TaskContext subclass whose header fields publish as the worker
    reads them: the TID is the last of stage/partition/attempt/TID, and
    the local properties (SQL execution id) come after it."""

    def field(name):
        def get(self):
            return self.__dict__.get(name)

        def put(self, v):
            self.__dict__[name] = v
        return property(get, put)

    def get_tid(self):
        return self.__dict__.get("_taskAttemptId")

    def put_tid(self, v):
        self.__dict__["_taskAttemptId"] = v
        d = self.__dict__
        publish(_int(d.get("_stageId")), _int(d.get("_partitionId")), _int(d.get("_attemptNumber")), _int(v))

    def get_props(self):
        return self.__dict__.get("_localProperties")

    def put_props(self, v):
        p = _Props()
        if v:
            for k, x in dict(v).items():
                p[k] = x
        self.__dict__["_localProperties"] = p

    return type("CprofTaskContext", (base,), {
        "__slots__": (),
        "_stageId": field("_stageId"),
        "_partitionId": field("_partitionId"),
        "_attemptNumber": field("_attemptNumber"),
        "_taskAttemptId": property(get_tid, put_tid),
        "_localProperties": property(get_props, put_props),
    })


_installed = False


def install():
    """Hooks pyspark's TaskContext (and the daemon's worker_main, when the
    daemon is loaded) in this process. Idempotent. Returns True when the
    hooks are in place."""
    global _installed
    if _installed:
        return True
    from pyspark.taskcontext import TaskContext
    cls = _context_class(TaskContext)
    # the worker calls TaskContext._getOrCreate(), which keeps an existing
    # instance: ours, created here without running __init__ (as Spark does)
    TaskContext._taskContext = object.__new__(cls)
    _installed = True
    return True


def wrap_worker_main(main):
    """worker_main(infile, outfile) that ends the task's labels after it."""
    def worker_main(infile, outfile):
        try:
            return main(infile, outfile)
        finally:
            finish()
    worker_main.__wrapped__ = main
    return worker_main


def bench(n=200000):
    """Microseconds per task of the hook: publish + finish, as a worker does."""
    import time
    publish(1, 1, 0, 1)
    t0 = time.perf_counter()
    for i in range(n):
        publish(3, i, 0, i, -1)
        finish()
    dt = time.perf_counter() - t0
    global _buf
    if _buf is not None:
        _buf.close()
        _buf = None
    return dt / n * 1e6
