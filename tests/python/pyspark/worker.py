"""pyspark.worker stand-in (tests only): main(infile, outfile) reads a task
the way Spark 3.x's worker does (split index, Python version, barrier
flag, bound port, secret, then the TaskContext fields: stage id, partition
id, attempt number, task attempt id, cpus, resources, local properties;
then the files dir, includes, broadcasts, eval type and the pickled
function), runs it over length-prefixed records up to END_OF_DATA_SECTION,
answers with pickled batches, TIMING_DATA, the spill counters, the
accumulator section and END_OF_STREAM.

The "function" is a tuple: ("sumsq", N) computes sum(i*i for i in
range(N)) + record; ("module", NAME, ARG) imports NAME (from the task's
files dir or PYTHONPATH) and calls NAME.run(record, ARG), so a test ships
its own Python code as a real job ships its UDFs."""
import importlib
import os
import pickle
import struct
import sys
import time

from pyspark.taskcontext import TaskContext

END_OF_DATA_SECTION = -1
TIMING_DATA = -3
END_OF_STREAM = -4


def read_exact(f, n):
    b = f.read(n)
    if len(b) != n:
        raise EOFError("short read")
    return b


def read_int(f):
    return struct.unpack("!i", read_exact(f, 4))[0]


def read_long(f):
    return struct.unpack("!q", read_exact(f, 8))[0]


def read_bool(f):
    return struct.unpack("!?", read_exact(f, 1))[0]


def write_int(v, f):
    f.write(struct.pack("!i", v))


def write_long(v, f):
    f.write(struct.pack("!q", v))


def read_utf(f):
    return read_exact(f, read_int(f)).decode("utf-8")


def apply(func, rec):
    if func[0] == "sumsq":
        return sum(i * i for i in range(func[1])) + rec
    if func[0] == "module":
        return importlib.import_module(func[1]).run(rec, func[2])
    raise ValueError("unknown op %r" % (func[0],))


def main(infile, outfile):
    boot = int(time.time() * 1000)
    split_index = read_int(infile)
    version = read_utf(infile)
    if version != "%d.%d" % sys.version_info[:2]:
        raise RuntimeError("Python in worker has different version %s than that in driver %s"
                           % ("%d.%d" % sys.version_info[:2], version))
    read_bool(infile)                                  # isBarrier
    read_int(infile)                                   # boundPort
    read_utf(infile)                                   # secret
    taskContext = TaskContext._getOrCreate()
    taskContext._stageId = read_int(infile)
    taskContext._partitionId = read_int(infile)
    taskContext._attemptNumber = read_int(infile)
    taskContext._taskAttemptId = read_long(infile)
    taskContext._cpus = read_int(infile)
    taskContext._resources = {}
    for _ in range(read_int(infile)):
        raise RuntimeError("resources are not simulated")
    taskContext._localProperties = dict()
    for _ in range(read_int(infile)):
        k = read_utf(infile)
        v = read_utf(infile)
        taskContext._localProperties[k] = v
    files_dir = read_utf(infile)
    if files_dir and files_dir not in sys.path:
        sys.path.insert(1, files_dir)
    for _ in range(read_int(infile)):
        read_utf(infile)                               # python includes
    read_bool(infile)                                  # needs_broadcast_decryption_server
    for _ in range(read_int(infile)):
        raise RuntimeError("broadcasts are not simulated")
    read_int(infile)                                   # eval type (0: NON_UDF)
    func = pickle.loads(read_exact(infile, read_int(infile)))
    init = int(time.time() * 1000)
    batch = []

    def flush_batch():
        data = pickle.dumps(batch)
        write_int(len(data), outfile)
        outfile.write(data)
        outfile.flush()
        batch.clear()
    while True:
        n = read_int(infile)
        if n == END_OF_DATA_SECTION:
            break
        batch.append(apply(func, int(read_exact(infile, n))))
        if len(batch) >= 20:
            flush_batch()
    if batch:
        flush_batch()
    write_int(TIMING_DATA, outfile)
    for v in (boot, init, int(time.time() * 1000)):
        write_long(v, outfile)
    write_long(0, outfile)                             # memory bytes spilled
    write_long(0, outfile)                             # disk bytes spilled
    write_int(END_OF_DATA_SECTION, outfile)
    write_int(0, outfile)                              # accumulator updates
    if read_int(infile) == END_OF_STREAM:
        write_int(END_OF_STREAM, outfile)
    else:
        write_int(END_OF_DATA_SECTION, outfile)
        outfile.flush()
        sys.exit(-1)
    outfile.flush()
