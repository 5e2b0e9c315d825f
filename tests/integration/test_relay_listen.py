"""test_relay_listen - the relay binds exactly the address it was asked for,
or refuses to start.

Reads the kernel's listening sockets (/proc/net/tcp, /proc/net/tcp6) for the
relay's port: 127.0.0.1 -> only 127.0.0.1; [::1] -> only ::1; 0.0.0.0 -> the
IPv4 wildcard only; [::] -> the IPv6 wildcard (dual stack). A taken port and
a data directory held by another relay exit 1 with a clear message before
anything is written; a non-loopback address without auth is refused unless
--insecure-open is given."""
import os
import resource
import socket
import subprocess
import tempfile
import time
import urllib.parse

from cplib import *


def listeners(port):
    """[(family, address)] of LISTEN sockets on port, from /proc/net."""
    out = []
    for fam, path in (("4", "/proc/net/tcp"), ("6", "/proc/net/tcp6")):
        with open(path) as f:
            next(f)
            for line in f:
                parts = line.split()
                local, state = parts[1], parts[3]
                addr, p = local.split(":")
                if state != "0A" or int(p, 16) != port:
                    continue
                raw = bytes.fromhex(addr)
                if fam == "4":
                    a = socket.inet_ntop(socket.AF_INET, raw[::-1])
                else:   # four little-endian 32-bit words
                    a = socket.inet_ntop(socket.AF_INET6, b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))
                out.append((fam, a))
    return sorted(out)


def syn_recv(port):
    n = 0
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in open(f).readlines()[1:]:
            x = line.split()
            n += x[3] == "03" and int(x[1].rsplit(":", 1)[1], 16) == port
    return n


def start(listen, data, extra=(), wait=True):
    logp = os.path.join(out_dir("relay_listen"), "relay-%s.log" % listen.replace(":", "_").replace("/", "_"))
    lf = open(logp, "wb")
    p = subprocess.Popen([CPROF, "relay", "--listen", listen, "--data", data] + list(extra),
                         stdout=lf, stderr=subprocess.STDOUT, preexec_fn=None)
    p.logpath = logp
    return p


def run_to_exit(listen, data, extra=(), timeout=15):
    r = subprocess.run([CPROF, "relay", "--listen", listen, "--data", data] + list(extra),
                       capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout + r.stderr


def stop(p):
    p.terminate()
    p.wait(10)


def http_ok(url):
    try:
        st, _, _ = http_get(url, timeout=2)
        return st == 200
    except OSError:
        return False


def run():
    tmp = tempfile.mkdtemp(prefix="cprof-listen-")

    cases = [
        ("127.0.0.1:%d", [("4", "127.0.0.1")], "http://127.0.0.1:%d/api/v1/apps", []),
        ("[::1]:%d", [("6", "::1")], "http://[::1]:%d/api/v1/apps", []),
        ("0.0.0.0:%d", [("4", "0.0.0.0")], "http://127.0.0.1:%d/api/v1/apps", ["--insecure-open"]),
        ("[::]:%d", [("6", "::")], "http://127.0.0.1:%d/api/v1/apps", ["--insecure-open"]),
    ]
    for i, (fmt, want, url, extra) in enumerate(cases):
        port = free_port()
        data = os.path.join(tmp, "d%d" % i)
        p = start(fmt % port, data, extra)
        try:
            wait_for(lambda: http_ok(url % port) or (p.poll() is not None and "exited"), 15,
                     "relay on %s" % (fmt % port))
            check(p.poll() is None, "relay on %s exited:\n%s" % (fmt % port, open(p.logpath).read()))
            got = listeners(port)
            log("--listen %s -> %s" % (fmt % port, got))
            check(got == want, "--listen %s listens on %r, want exactly %r" % (fmt % port, got, want))
            # TCP_DEFER_ACCEPT: a connection that sends nothing stays with the
            # kernel (SYN_RECV), not in the relay; one that speaks is served
            host = urllib.parse.urlsplit(url % port).hostname
            idle = socket.create_connection((host, port), timeout=5)
            time.sleep(0.5)
            check(syn_recv(port) >= 1, "--listen %s: an idle connection was accepted at once "
                  "(no TCP_DEFER_ACCEPT)" % (fmt % port))
            check(http_ok(url % port), "a request beside an idle connection")
            idle.close()
            check("TCP_DEFER_ACCEPT not set" not in open(p.logpath).read(), "relay log warns about defer accept")
            if want == [("4", "127.0.0.1")]:
                # the default --max-connections (20,000) above a lower hard
                # fd limit is capped without a warning nobody asked for
                check("fd limit" not in open(p.logpath).read(), "a default start warns about the fd limit:\n%s"
                      % open(p.logpath).read())
                # nothing answers on the machine's other addresses
                other = [a for a in socket.gethostbyname_ex(socket.gethostname())[2] if not a.startswith("127.")]
                for a in other[:1]:
                    s = socket.socket()
                    s.settimeout(2)
                    check(s.connect_ex((a, port)) != 0, "relay answers on %s:%d" % (a, port))
                    s.close()
                # a second relay on the same port: exit 1 before touching its data dir
                d2 = os.path.join(tmp, "taken")
                rc, out = run_to_exit(fmt % port, d2)
                log("taken port: rc=%d %s" % (rc, out.strip()))
                check(rc == 1 and "Address already in use" in out and "127.0.0.1:%d" % port in out,
                      "a taken port exits 1 with a clear message: rc=%d %s" % (rc, out))
                check(not os.path.exists(os.path.join(d2, "cprof.db")), "store opened despite the taken port")
                # the same data dir, another port: exit 1, names the holder
                rc, out = run_to_exit("127.0.0.1:%d" % free_port(), data)
                log("held data dir: rc=%d %s" % (rc, out.strip()))
                check(rc == 1 and "in use by another relay" in out and "pid %d" % p.pid in out,
                      "a held data directory exits 1 naming the other relay: rc=%d %s" % (rc, out))
                check(p.poll() is None and http_ok(url % port), "the first relay is unharmed")
        finally:
            stop(p)

    # the lock dies with its holder (kill -9 too): a new relay may take the dir
    port = free_port()
    data = os.path.join(tmp, "k9")
    p = start("127.0.0.1:%d" % port, data)
    wait_for(lambda: http_ok("http://127.0.0.1:%d/api/v1/apps" % port), 15, "relay")
    p.kill()
    p.wait()
    p = start("127.0.0.1:%d" % port, data)
    wait_for(lambda: http_ok("http://127.0.0.1:%d/api/v1/apps" % port), 15, "relay after kill -9 of the holder")
    stop(p)

    # non-loopback without auth: refused, says why; --insecure-open allows it
    rc, out = run_to_exit("0.0.0.0:%d" % free_port(), os.path.join(tmp, "open"))
    log("0.0.0.0 without auth: rc=%d %s" % (rc, out.strip()))
    check(rc == 1 and "without authentication" in out and "--insecure-open" in out,
          "non-loopback without auth is refused with a reason: rc=%d %s" % (rc, out))
    check(not os.path.exists(os.path.join(tmp, "open")), "refused relay created its data dir")

    # bad addresses are usage errors
    for bad in ("::1:7070", "127.0.0.1:99999", "[::1]7070", "no-such-host.invalid:1"):
        rc, out = run_to_exit(bad, os.path.join(tmp, "bad"))
        check(rc == 2 or (rc == 1 and "resolve" in out), "--listen %s: rc=%d %s" % (bad, rc, out))
        check(not os.path.exists(os.path.join(tmp, "bad")), "--listen %s created the data dir" % bad)
    # an address this machine does not have
    rc, out = run_to_exit("192.0.2.1:%d" % free_port(), os.path.join(tmp, "noaddr"), ["--insecure-open"])
    log("foreign address: rc=%d %s" % (rc, out.strip()))
    check(rc == 1 and "Cannot assign requested address" in out, "unbindable address: rc=%d %s" % (rc, out))

    # --max-connections asked beyond the hard fd limit: said, and capped
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 1 << 24:
        port = free_port()
        p = start("127.0.0.1:%d" % port, os.path.join(tmp, "fds"), ["--max-connections", str(hard * 2)])
        try:
            wait_for(lambda: http_ok("http://127.0.0.1:%d/api/v1/apps" % port), 15, "relay with --max-connections")
            txt = open(p.logpath).read()
            check("warning: fd limit %d is below --max-connections" % hard in txt, "no fd limit warning:\n" + txt)
        finally:
            stop(p)


main(run)
