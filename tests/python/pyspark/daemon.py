"""pyspark.daemon stand-in: what a Spark executor JVM starts for a Python job.

Faithful to Spark 3.x where the JVM and a daemon module can see it
(shared/FACTS.md): the executor runs `python -m pyspark.daemon` (or the
module named by spark.python.daemon.module) with the secret in
PYTHON_WORKER_FACTORY_SECRET; manager() binds 127.0.0.1:0, writes the port
as a big-endian int on stdout and forks one worker per connection. The
forked child writes its pid, then worker() authenticates the JVM
(length-prefixed UTF-8 secret, answers "ok") and calls
`worker_main(infile, outfile)` - the name a daemon module replaces to wrap
every task, as in the real pyspark.daemon, which imports
`from pyspark.worker import main as worker_main`. Without
SPARK_REUSE_WORKER the child ends after one task with os._exit (atexit
handlers never run). The daemon exits when its stdin closes (the JVM is
gone); it also reads pids to kill from stdin, as the real one."""
import os
import select
import signal
import socket
import struct
import sys

from pyspark.worker import main as worker_main
from pyspark.worker import read_exact, read_utf, write_int


def write_with_length(b, f):
    write_int(len(b), f)
    f.write(b)


def worker(sock, authenticated):
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    infile = os.fdopen(os.dup(sock.fileno()), "rb", 65536)
    outfile = os.fdopen(os.dup(sock.fileno()), "wb", 65536)
    if not authenticated:
        if read_utf(infile) == os.environ["PYTHON_WORKER_FACTORY_SECRET"]:
            write_with_length(b"ok", outfile)
            outfile.flush()
        else:
            write_with_length(b"err", outfile)
            outfile.flush()
            sock.close()
            return 1
    exit_code = 0
    try:
        worker_main(infile, outfile)
    except SystemExit as exc:
        exit_code = exc.code if isinstance(exc.code, int) else 1
    finally:
        try:
            outfile.flush()
        except Exception:
            pass
    return exit_code


def manager():
    listen_sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listen_sock.bind(("127.0.0.1", 0))
    listen_sock.listen(128)
    stdin_bin = os.fdopen(sys.stdin.fileno(), "rb", 4)
    stdout_bin = os.fdopen(sys.stdout.fileno(), "wb", 4)
    write_int(listen_sock.getsockname()[1], stdout_bin)
    stdout_bin.flush()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)      # workers are reaped by the kernel
    reuse = os.environ.get("SPARK_REUSE_WORKER")
    while True:
        ready, _, _ = select.select([0, listen_sock], [], [], 1)
        if 0 in ready:
            try:
                pid = struct.unpack("!i", read_exact(stdin_bin, 4))[0]
            except EOFError:
                os._exit(0)                            # the JVM closed our stdin: it is gone
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if listen_sock in ready:
            sock, _ = listen_sock.accept()
            pid = os.fork()
            if pid == 0:
                listen_sock.close()
                outfile = sock.makefile(mode="wb")
                write_int(os.getpid(), outfile)
                outfile.flush()
                outfile.close()
                authenticated = False
                code = 0
                while True:
                    code = worker(sock, authenticated)
                    if code == 0:
                        authenticated = True
                    if not reuse or code:
                        try:                           # wait for the JVM to close
                            while sock.recv(1024):
                                pass
                        except Exception:
                            pass
                        break
                os._exit(code & 0xff)
            sock.close()


if __name__ == "__main__":
    manager()
