"""test_relay_diskfull - the relay's data directory fills up, then is freed.

Real relay, data dir on a 8 MB tmpfs (needs root to mount; skipped
otherwise), test agents speaking the real wire protocol. While the disk is
full: the relay stays up, acks nothing it did not store, answers the
batches it could not store with CP_ERATE (retry later, resend) instead of
leaving them unanswered, answers a new hello, applies a close (the instance
is not left "connected"), and leaves the other apps' connections alone.
Once space returns, the agents' resent batches make the totals exact."""
import errno
import os
import subprocess
import tempfile
import time

from cplib import *
from relay_wire import FakeAgent

ERATE = -25
T = "java.lang.Thread.run"


def big_batch(a, seq, t0, n=150):
    """A batch with n new stacks (long names, so the WAL has to grow); total n."""
    vals = {(T, "pkg.sub.VeryLongClassNameForTheWal%d.method_%d_%s" % (seq, k, "x" * 120)): 1
            for k in range(n)}
    return a.batch_msg(seq, t0 + seq * 1000, t0 + seq * 1000 + 1000, vals)


def fill(path):
    """Fills the filesystem of path; returns the filler file's path."""
    f = os.path.join(path, "filler")
    fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for size in (65536, 4096, 512):
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError as e:
                    check(e.errno == errno.ENOSPC, "filler stopped by ENOSPC, got %s" % e)
                    break
    finally:
        os.close(fd)
    return f


def instance(relay, app, iid):
    for i in relay.get_json("/api/v1/instances", app=app)["instances"]:
        if i["id"] == iid:
            return i
    return None


def run():
    if os.geteuid() != 0:
        skip("needs root to mount a small tmpfs")
    mnt = tempfile.mkdtemp(prefix="cprof-diskfull-")
    subprocess.check_call(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt])
    relay = Relay(data=os.path.join(mnt, "data"), name="relay_diskfull")
    agents = []
    try:
        relay.start()
        t0 = int(time.time() * 1000) - 600 * 1000
        a = FakeAgent(relay.ws, "dfa", "a-1")
        b = FakeAgent(relay.ws, "dfb", "b-1")
        d = FakeAgent(relay.ws, "dfa", "d-1")
        agents += [a, b, d]
        for x in (a, b, d):
            check(x.connect()[0] == "welcome", "welcome")
        for s in range(1, 4):
            k, v = a.send_raw(big_batch(a, s, t0)) or a.recv()
            check(k == "ack" and v[1] == s, "ack %d before the disk fills: %s %r" % (s, k, v))
        check(b.send_batch(1, t0, t0 + 1000, {(T, "B.m"): 7})[0] == "ack", "b acked")
        check(d.send_batch(1, t0, t0 + 1000, {(T, "D.m"): 5})[0] == "ack", "d acked")

        filler = fill(mnt)
        log("disk full: %s" % subprocess.check_output(["df", "-k", mnt]).decode().splitlines()[-1])
        # a pipelines batches 4..40: some may still fit, then the relay must
        # refuse (CP_ERATE), never ack a batch it did not store, and close
        N = 40
        for s in range(4, N + 1):
            try:
                a.send_raw(big_batch(a, s, t0))
            except Exception:
                break
        acked, err = 3, None
        while True:
            k, v = a.recv(timeout=20)
            if k == "ack":
                check(v[1] == acked + 1, "acks in order: %r after %d" % (v, acked))
                acked = v[1]
                continue
            if k == "error":
                err = v
            break
        if err is None:
            # The relay answered and closed while a's pipelined batches were
            # still arriving: its close with unread input is a TCP reset, and
            # the client's library, failing a write on it, tore the connection
            # down without reading the error already received (1 CI run in
            # 3 on 2026-12-05; 0 of 70 here). The answer is then checked
            # without pipelining: the same instance, the next batch alone.
            log("the pipelined answer was lost with the connection (%s %r after %d acks); "
                "sending the next batch alone" % (k, v, acked))
            check(k == "closed", "after the acks, an error or the close: %s %r" % (k, v))
            a = FakeAgent(relay.ws, "dfa", "a-1")
            agents.append(a)
            k, v = a.connect()
            if k == "welcome":
                k, v = a.send_raw(big_batch(a, acked + 1, t0)) or a.recv()
            if k == "error":
                err = v
        check(err is not None, "a batch the relay could not store is answered with an error (got %s %r after %d acks)" %
              (k, v, acked))
        check(err[1] == ERATE and err.get(4, 0) > 0,
              "the error asks to retry later (CP_ERATE with retry_after_ms): %r" % err)
        check(acked < N, "the disk filled before every batch was stored (acked %d)" % acked)
        check(a.closed(), "the refused connection is closed")
        log("stored before the failure: seq <= %d; refused with %r" % (acked, err))

        # a hello while the disk is full gets an answer (welcome or retry), not silence
        c = FakeAgent(relay.ws, "dfc", "c-1")
        agents.append(c)
        k, v = c.connect()
        check(k in ("welcome", "error"), "a hello during the failure is answered: %s %r" % (k, v))
        # a close during the failure is applied once a commit succeeds
        d.close()
        time.sleep(1)
        check(relay.proc.poll() is None, "relay alive with a full disk")

        os.unlink(filler)
        log("disk freed")
        # b's connection (another app, idle during the failure) goes on
        k, v = b.send_batch(2, t0 + 2000, t0 + 3000, {(T, "B.m"): 7})
        check(k == "ack" and v[1] == 2, "b's connection survived the other app's failure: %s %r" % (k, v))
        # a reconnects and resends everything after its welcome's last_seq
        a2 = FakeAgent(relay.ws, "dfa", "a-1")
        agents.append(a2)
        k, w = a2.connect()
        check(k == "welcome" and w[4] >= acked, "welcome after the failure: %s %r (acked %d)" % (k, w, acked))
        for s in range(w[4] + 1, N + 1):
            k, v = a2.send_raw(big_batch(a2, s, t0)) or a2.recv()
            check(k == "ack" and v[1] == s, "resent %d acked: %s %r" % (s, k, v))
        prof = relay.collapsed("dfa", frm=str(t0 // 1000 - 10), to="now")
        total = sum(prof.values())
        check(total == N * 150 + 5, "dfa total exact after the resend: %d, want %d" % (total, N * 150 + 5))
        check(sum(relay.collapsed("dfb", frm=str(t0 // 1000 - 10), to="now").values()) == 14, "dfb total")
        wait_for(lambda: instance(relay, "dfa", "d-1") and not instance(relay, "dfa", "d-1")["connected"],
                 10, "d-1 (closed during the failure) marked disconnected")
        check(instance(relay, "dfa", "a-1")["connected"], "a-1 connected again")
        with open(relay.logpath, "rb") as f:
            text = f.read().decode(errors="replace")
        check("transaction failed" in text, "the failure is logged and counted")
        check(relay.proc.poll() is None, "relay alive")
    finally:
        for x in agents:
            x.close()
        try:
            relay.stop()
        finally:
            subprocess.call(["umount", mnt])
            os.rmdir(mnt)


main(run)
