"""pyspark.daemon stand-in: what a Spark executor JVM starts for a Python job.

Faithful to the real protocol where the JVM can see it (shared/FACTS.md):
the executor runs `python -m pyspark.daemon` with the secret in
PYTHON_WORKER_FACTORY_SECRET; the daemon binds 127.0.0.1:0, writes the port
as a big-endian int on stdout and forks one worker per connection. A worker
authenticates the JVM (length-prefixed UTF-8 secret, answers "ok"), sends its
pid, then reads the partition index, the pickled function and
length-prefixed records up to -1 (END_OF_DATA_SECTION); it answers with
pickled batches, TIMING_DATA (-3) and three longs, -1, and END_OF_STREAM (-4).
The daemon exits when its stdin closes (the JVM is gone), as the real one.

The "function" is ("sumsq", N): per record r, sum(i*i for i in range(N)) + r,
so the Python side burns CPU while the JVM waits for results, as in a real
PySpark job."""
import os
import pickle
import select
import signal
import socket
import struct
import sys
import time

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


def write_int(v, f):
    f.write(struct.pack("!i", v))


def write_long(v, f):
    f.write(struct.pack("!q", v))


def read_utf(f):
    return read_exact(f, read_int(f)).decode("utf-8")


def write_utf(s, f):
    b = s.encode("utf-8")
    write_int(len(b), f)
    f.write(b)


def apply(func, rec):
    op, n = func
    if op != "sumsq":
        raise ValueError("unknown op %r" % op)
    return sum(i * i for i in range(n)) + rec


def worker(sock, secret):
    boot = int(time.time() * 1000)
    infile = sock.makefile("rb", 65536)
    outfile = sock.makefile("wb", 65536)
    if read_utf(infile) != secret:
        write_utf("err", outfile)
        outfile.flush()
        return 1
    write_utf("ok", outfile)
    write_int(os.getpid(), outfile)
    outfile.flush()
    read_int(infile)                                   # partition index
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
    write_int(END_OF_DATA_SECTION, outfile)
    write_int(END_OF_STREAM, outfile)
    outfile.flush()
    return 0


def main():
    secret = os.environ["PYTHON_WORKER_FACTORY_SECRET"]
    listen = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listen.bind(("127.0.0.1", 0))
    listen.listen(128)
    sys.stdout.buffer.write(struct.pack("!i", listen.getsockname()[1]))
    sys.stdout.buffer.flush()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)      # workers are reaped by the kernel
    while True:
        ready, _, _ = select.select([listen, sys.stdin], [], [])
        if sys.stdin in ready and not os.read(sys.stdin.fileno(), 512):
            return 0                                   # the JVM closed our stdin: it is gone
        if listen in ready:
            sock, _ = listen.accept()
            pid = os.fork()
            if pid == 0:
                listen.close()
                code = 1
                try:
                    code = worker(sock, secret)
                finally:
                    os._exit(code)
            sock.close()


if __name__ == "__main__":
    sys.exit(main())
