#!/usr/bin/env python3
"""noreadv.py CMD ARGS... - runs CMD where process_vm_readv is refused.

Installs a seccomp filter (as a container runtime's profile does) that
makes process_vm_readv(2) fail with EPERM, then execs CMD; the filter is
inherited by CMD and everything it starts. Used by test_python_spark to
prove the agent's in-process fallback (docs/pyspark.md). x86-64 and
aarch64 only; exits 3 when the kernel refuses the filter."""
import ctypes
import os
import platform
import sys

NR = {"x86_64": 310, "aarch64": 270}
ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
EPERM = 1


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]


def install():
    m = platform.machine()
    ld, jeq, ret = 0x20, 0x15, 0x06          # BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_RET|K
    allow, errno_ = 0x7FFF0000, 0x00050000   # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO
    prog = [
        (ld, 0, 0, 4), (jeq, 1, 0, ARCH[m]), (ret, 0, 0, allow),   # another ABI: allow
        (ld, 0, 0, 0), (jeq, 0, 1, NR[m]), (ret, 0, 0, errno_ | EPERM), (ret, 0, 0, allow),
    ]
    arr = (SockFilter * len(prog))(*[SockFilter(*p) for p in prog])
    fprog = SockFprog(len(prog), arr)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(38, 1, None, 0, 0) != 0:                         # PR_SET_NO_NEW_PRIVS
        return False
    return libc.prctl(22, 2, ctypes.cast(ctypes.pointer(fprog), ctypes.c_void_p), 0, 0) == 0   # PR_SET_SECCOMP, FILTER


if __name__ == "__main__":
    if not install():
        sys.stderr.write("noreadv: seccomp filter refused: %s\n" % os.strerror(ctypes.get_errno()))
        sys.exit(3)
    os.execvp(sys.argv[1], sys.argv[1:])
