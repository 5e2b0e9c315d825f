"""cprof query/diff/attach/detach/help as a newcomer meets them: every
mistake gets a sentence that names it (before the usage) and its own exit
code; relay addresses in the agents' form work; empty answers are explained;
numbers and times read like a person says them.

Runs the real `cprof` binary against a real relay fed by relay_wire.FakeAgent
(the real wire protocol), one check per row: the exact mistake, the exact
message and the exit code. TZ is a fixed zone (XYZ = UTC+2) so local times
are known."""
import datetime
import json
import os
import pty
import subprocess
import time

from attach_helpers import agent_maps, quiet_jvm_args, stop, target, wait_ready
from cplib import *
from relay_wire import FakeAgent

TZ = "XYZ-2"   # POSIX: zone named XYZ, two hours east of UTC
ZONE = datetime.timezone(datetime.timedelta(hours=2))


def cli(*args, env=None, stdout=subprocess.PIPE):
    e = dict(os.environ, TZ=TZ)
    e.pop("CPROF_RELAY_URL", None)
    e.pop("CPROF_TOKEN", None)
    if env:
        e.update(env)
    r = subprocess.run([CPROF] + list(args), stdout=stdout, stderr=subprocess.PIPE, env=e, timeout=30)
    out = r.stdout if stdout == subprocess.PIPE else b""
    return r.returncode, out.decode(errors="replace"), r.stderr.decode(errors="replace")


def row(args, code, first_line, stdout_has=None, stdout_empty=None, **kw):
    """One row: the command's exit code and the first line of stderr."""
    rc, out, err = cli(*args, **kw)
    first = err.splitlines()[0] if err else ""
    check(rc == code, "%s: exit %d, want %d\nstderr: %s" % (" ".join(args), rc, code, err[:600]))
    check(first == first_line if isinstance(first_line, str) else first_line(first),
          "%s: stderr starts\n  %r\nwant\n  %r" % (" ".join(args), first, first_line))
    if stdout_has:
        check(stdout_has in out, "%s: stdout lacks %r:\n%s" % (" ".join(args), stdout_has, out[:800]))
    if stdout_empty:
        check(out == "", "%s: stdout not empty: %r" % (" ".join(args), out[:200]))
    log("ok %-70s -> %d %s" % (" ".join(args)[:70], rc, first[:110]))
    return out, err


def usage_errors():
    u = "usage: cprof query"
    for args, msg in [
        (["query", "--app", "shop", "--top", "abc"], "cprof query: --top wants a whole number of at least 1, not 'abc'"),
        (["query", "--app", "shop", "--top", "0"], "cprof query: --top wants a whole number of at least 1, not '0'"),
        (["query", "--top", "5"], "cprof query: --app APP is required (the app name the agents report)"),
        (["query", "--app", "shop", "extra"], "cprof query: unexpected argument 'extra' (every value goes after an option)"),
        (["query", "--app", "shop", "--bogus"], "cprof query: unknown option '--bogus'"),
        (["query", "--app", "shop", "--top"], "cprof query: option '--top' needs a value"),
        (["query", "--app", "shop", "--format", "png"],
         "cprof query: --format 'png' is not a format: json, collapsed, speedscope or pprof"),
        (["query", "--app", "shop", "--relay", "ftp://127.0.0.1:1"],
         "cprof query: --relay: relay address 'ftp://127.0.0.1:1': the scheme must be http://, https://, ws:// or "
         "wss:// (or give HOST:PORT)"),
        (["query", "--app", "shop", "--relay", "127.0.0.1:99999"],
         "cprof query: --relay: relay address '127.0.0.1:99999': the port must be a number from 1 to 65535"),
        (["query", "--app", "shop", "--from", "last tuesday"],
         "cprof query: --from 'last tuesday' is not a time: give now-15m, today, 2026-12-03, '2026-12-03 14:00' "
         "(local time; a zone may follow), RFC 3339 or unix seconds"),
    ]:
        _, err = row(args, 2, msg)
        check(u in err, "%s: the usage follows the reason" % args)
    u = "usage: cprof diff"
    for args, msg in [
        (["diff", "--app", "shop"], "cprof diff: --base-from is required: the start of the range to compare "
                                    "against (e.g. --base-from now-2h --base-to now-1h)"),
        (["diff", "--app", "shop", "--base-from", "now-1h", "--limit", "x"],
         "cprof diff: --limit wants a whole number of at least 1, not 'x'"),
        (["diff", "--app", "shop", "--base-from", "now-1h", "--nope"], "cprof diff: unknown option '--nope'"),
    ]:
        _, err = row(args, 2, msg)
        check(u in err, "%s: the usage follows the reason" % args)
    for args, msg, u in [
        (["detach", "1", "2"], "cprof detach: one PID at a time: '2' follows PID 1", "usage: cprof detach"),
        (["detach"], "cprof detach: which JVM? give its PID", "usage: cprof detach"),
        (["detach", "--now", "1"], "cprof detach: unknown option '--now'", "usage: cprof detach"),
        (["attach", "abc"], "cprof attach: 'abc' is not a process id", "usage: cprof attach"),
        (["attach", "--timeout", "soon", "1"],
         "cprof attach: --timeout 'soon' is not a duration (e.g. 10s, 500ms, 2m)", "usage: cprof attach"),
        (["token"], "cprof token: which action? 'cprof token new ...' is the one there is", "usage: cprof token"),
        (["token", "new", "--tenant", "acme", "--auth", "/nonexistent/x"], "cprof token: --role ROLE is required",
         "usage: cprof token"),
        (["token", "new", "--tenant", "acme", "--role", "read", "--auth", "/nonexistent/x", "extra"],
         "cprof token: unexpected argument 'extra'", "usage: cprof token"),
        (["watch", "--match", ".", "--interval", "abc"],
         "cprof watch: --interval wants a duration (500ms, 2s, 1m), not 'abc'", "usage: cprof watch"),
        (["watch", "--bogus"], "cprof watch: unknown option '--bogus'", "usage: cprof watch"),
        (["watch", "--match"], "cprof watch: option '--match' needs a value", "usage: cprof watch"),
        (["watch", "--once"], "cprof watch: --match REGEX is required ('.' matches every JVM)", "usage: cprof watch"),
        (["frobnicate"], "cprof: unknown command 'frobnicate'", "usage: cprof COMMAND"),
        (["help", "frobnicate"], "cprof help: unknown command 'frobnicate'", "usage: cprof COMMAND"),
    ]:
        _, err = row(args, 2, msg)
        check(u in err, "%s: the usage follows the reason" % args)
    # the relay's own command line: the same shape (what was wrong, then the usage)
    for args, msg in [
        (["relay", "--max-apps", "abc"],
         "cprof relay: --max-apps wants a whole number from 0 (unlimited) to 100000000, not 'abc'"),
        (["relay", "--max-message=0"], "cprof relay: --max-message wants a whole number of at least 1, not '0'"),
        (["relay", "--query-threads", "many"],
         "cprof relay: --query-threads wants a whole number of at least 1 (at most 100000), not 'many'"),
        (["relay", "--idle-timeout", "soon"],
         "cprof relay: --idle-timeout wants a duration from 1ms to 1d (500ms, 30s, 15m, 2h, 14d), not 'soon'"),
        (["relay", "--retention-full", "forever"],
         "cprof relay: --retention-full 'forever' is not a duration (500ms, 30s, 15m, 2h, 14d, 2w, 1y)"),
        (["relay", "--sync", "maybe"], "cprof relay: --sync 'maybe' is neither full nor normal"),
        (["relay", "--bogus"], "cprof relay: unknown option '--bogus'"),
        (["relay", "-x"], "cprof relay: unknown option '-x'"),
        (["relay", "--data"], "cprof relay: option '--data' needs a value"),
        (["relay", "extra"], "cprof relay: unexpected argument 'extra' (every value goes after an option)"),
        (["relay", "--listen", "127.0.0.1:99999"], "cprof relay: bad port in --listen '127.0.0.1:99999' (0-65535)"),
        (["relay", "--tls-cert", "a.pem"], "cprof relay: --tls-cert and --tls-key go together"),
    ]:
        _, err = row(args, 2, msg)
        check("usage: cprof relay" in err, "%s: the usage follows the reason" % args)
    # cprof help CMD prints that command's usage, on stdout, exit 0
    for cmd in ("query", "diff", "attach", "detach", "watch", "token", "spark-conf"):
        rc, out, err = cli("help", cmd)
        check(rc == 0 and out.startswith("usage: cprof " + cmd), "help %s: %d %r" % (cmd, rc, out[:80]))
    rc, out, _ = cli("help")
    check(rc == 0 and "Exit codes:" in out and "5  query/diff: no instance" in out and
          "7  attach: the agent refused an option" in out, "cprof help: exit codes")
    log("cprof help CMD prints each command's usage; cprof help lists the exit codes")


def watch_local_time():
    """cprof watch's log lines carry the local date-time and zone, as the
    agent's do (TZ is XYZ-2 here), not UTC."""
    rc, out, err = cli("watch", "--match", "^no-such-jvm-anywhere$", "--once")
    first = err.splitlines()[0] if err else ""
    check(rc == 0, "watch --once: exit %d %s" % (rc, err))
    stamp = first.split(" watch: ")[0]
    try:
        when = datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f XYZ").replace(tzinfo=ZONE)
    except ValueError:
        raise TestFailure("watch log line without a local date-time and zone: %r" % first)
    check(abs(when.timestamp() - time.time()) < 60, "watch's time is local (XYZ = UTC+2): %r" % first)
    check(" watch: watching for JVMs matching" in first, first)
    log("watch logs local times: %s" % first)


def attach_verdicts(relay):
    """cprof attach checks options with the agent's own parser first: a
    refused option is named with the agent's reason, nothing is loaded."""
    if not JDKS:
        log("no JDK: attach rows skipped")
        return
    jdk = JDKS[-1]
    p = target().start(jdk, jvm_args=quiet_jvm_args(jdk))
    try:
        wait_ready(p)
        bad = ["cpu=bogus", "nonsense", "relay=gopher://127.0.0.1:1", "wall=2us"]
        rc, out, err = cli("attach", str(p.pid), "app=fine", *bad)
        lines = err.splitlines()
        check(rc == 2, "attach with refused options: exit %d\n%s" % (rc, err))
        for opt in bad:
            check(any(l.startswith("cprof attach: refused: option '%s': " % opt) for l in lines),
                  "the refusal of %s is named:\n%s" % (opt, err))
        check(lines[0] == "cprof attach: refused: option 'cpu=bogus': not a duration (10ms, 1ms, 500us) or off",
              lines[0])
        check(lines[-1] == "cprof attach: pid %d left as it was: 4 option(s) refused by the agent's rules "
              "(jvmti/options.h, README \"Agent options\")" % p.pid, lines[-1])
        check(not any("fine" in l for l in lines), "accepted options are not reported as refused")
        check(agent_maps(p.pid) == set(), "nothing was loaded into the JVM: %s" % agent_maps(p.pid))
        log("attach %s -> 2:\n%s" % (" ".join(bad), err))
        rc, out, err = cli("spark-conf", "--relay", relay.ws, "--app", "etl", "cpu=bogus")
        check(rc == 2 and out == "" and err.splitlines()[0] ==
              "cprof spark-conf: refused: option 'cpu=bogus': not a duration (10ms, 1ms, 500us) or off",
              "spark-conf refuses a bad option: %d %s" % (rc, err))
        rc, out, err = cli("watch", "--match", "x", "--once", "cpu=bogus")
        check(rc == 2 and err.splitlines()[0] == "cprof watch: refused: option 'cpu=bogus': not a duration "
              "(10ms, 1ms, 500us) or off",
              "watch refuses a bad option before it starts: %d %s" % (rc, err))
        # the same JVM with options the agent accepts: attached, then detached
        rc, out, err = cli("attach", str(p.pid), "relay=" + relay.ws, "app=cli-attach", "flush=1s")
        check(rc == 0 and "attached to pid %d" % p.pid in out, "a good attach: %d %s %s" % (rc, out, err))
        rc, out, err = cli("detach", str(p.pid))
        check(rc == 0, "detach: %d %s" % (rc, err))
    finally:
        stop(p)


def run():
    with Relay(name="cli_errors") as relay:
        now = int(time.time())
        t0 = (now - 3600) // 60 * 60 * 1000          # a window an hour ago, on a minute
        shop = FakeAgent(relay.ws, "shop", "shop-1", {"env": "prod", "run": "7"})
        check(shop.connect()[0] == "welcome", "shop agent welcomed")
        k, _ = shop.send_batch(1, t0, t0 + 10000, {("app.Main.main", "app.Hot.loop"): 6000000000,
                                                   ("app.Main.main", "app.Cold.wait"): 734457000})
        check(k == "ack", "shop batch acked")
        wait_for(lambda: relay.get_json("/api/v1/top", app="shop", **{"from": "now-2h"})["total"] > 0, 10,
                 "the shop window to be queryable")

        usage_errors()
        watch_local_time()

        # ---- the relay address in every form a person has at hand
        port = relay.port
        base = ["query", "--app", "shop", "--from", "now-2h", "--top", "3"]
        for addr in (relay.http, "ws://127.0.0.1:%d" % port, "ws://127.0.0.1:%d/ingest" % port,
                     "127.0.0.1:%d" % port, "localhost:%d/" % port):
            out, _ = row(base + ["--relay", addr], 0, "", stdout_has="app.Hot.loop")
        log("query accepts http://, ws://, ws://.../ingest, HOST:PORT")
        r = ["--relay", relay.ws]

        # ---- numbers in human units in tables, exact in JSON
        out, _ = row(base + r, 0, "", stdout_has="total 6.73 s")
        check(" 6.00 s " in out and "734 ms" in out, "self values in human units:\n" + out)
        rc, out, _ = cli("query", "--app", "shop", "--from", "now-2h", "--format", "json", *r)
        check(rc == 0 and json.loads(out)["total"] == 6734457000, "JSON keeps the exact total")
        log("table:\n" + cli(*(base + r))[1])

        # ---- times: local date-times with the zone, dates alone
        w0 = datetime.datetime.fromtimestamp(t0 / 1000, ZONE)
        f = (w0 - datetime.timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M")
        t = (w0 + datetime.timedelta(minutes=2)).strftime("%Y-%m-%d %H:%M")
        out, _ = row(["query", "--app", "shop", "--from", f, "--to", t] + r, 0, "",
                     stdout_has="%s:00 to %s:00 XYZ: total 6.73 s" % (f, t[11:]))
        day = w0.strftime("%Y-%m-%d")
        nextday = (w0 + datetime.timedelta(days=1)).strftime("%Y-%m-%d")
        row(["query", "--app", "shop", "--from", day, "--to", nextday] + r, 0, "",
            stdout_has="%s 00:00:00 XYZ to %s 00:00:00 XYZ" % (day, nextday))
        utc = (w0 - datetime.timedelta(minutes=1)).astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
        for zoned in (f + " XYZ", f + " +02:00", utc + " UTC", utc + "Z"):
            row(["query", "--app", "shop", "--from", zoned, "--to", "now"] + r, 0, "", stdout_has="total 6.73 s")
        log("--from '%s' (local), '%s' (a date), with XYZ / +02:00 / UTC zones" % (f, day))

        # ---- empty answers, explained, each with its own exit code
        fresh = FakeAgent(relay.ws, "fresh", "fresh-1", {"env": "dev"})
        check(fresh.connect()[0] == "welcome", "fresh agent welcomed (no batch yet)")
        row(["query", "--app", "nope"] + r, 3,
            "cprof query: unknown app 'nope': the relay at %s has no app of that name (its apps: fresh, shop)"
            % relay.http, stdout_empty=True)
        row(["query", "--app", "fresh"] + r, 4,
            lambda l: l.startswith("cprof query: no data yet for app 'fresh': its first instance connected ")
            and ("expect data in ~" in l or "no window has arrived since" in l), stdout_empty=True)
        row(["query", "--app", "shop", "--type", "wall"] + r, 4,
            "cprof query: app 'shop' has no 'wall' samples (it has: cpu); agents send them when started with "
            "wall=20ms (cprof attach PID OPTION works on running JVMs)", stdout_empty=True)
        row(["query", "--app", "shop", "--from", "now-2h", "--labels", "run=9"] + r, 5,
            "cprof query: no instance of app 'shop' has labels run=9 (its instances have: env=prod,run=7)",
            stdout_empty=True)
        row(["query", "--app", "shop", "--from", "now-2h", "--labels", "run=9", "--format", "collapsed"] + r, 5,
            "cprof query: no instance of app 'shop' has labels run=9 (its instances have: env=prod,run=7)",
            stdout_empty=True)
        row(["query", "--app", "shop", "--from", "now-10m"] + r, 6,
            lambda l: l.startswith("cprof query: no samples in the range ") and "(app 'shop', cpu)" in l
            and "its first instance connected " in l, stdout_empty=True)
        # diff: empty base, labels matching nothing, the happy path
        row(["diff", "--app", "shop", "--base-from", "now-10d", "--base-to", "now-9d", "--cmp-from", "now-2h"] + r, 6,
            lambda l: l.startswith("cprof diff: the base range has no samples: ") and "XYZ (app 'shop', cpu)" in l,
            stdout_empty=True)
        row(["diff", "--app", "shop", "--base-from", "now-2h", "--cmp-from", "now-5m"] + r, 6,
            lambda l: l.startswith("cprof diff: the compared range has no samples: "), stdout_empty=True)
        row(["diff", "--app", "shop", "--base-from", "now-2h", "--base-labels", "run=9", "--cmp-from", "now-2h"] + r,
            5, "cprof diff: no instance of app 'shop' has base labels run=9 (its instances have: env=prod,run=7)",
            stdout_empty=True)
        row(["diff", "--app", "nope", "--base-from", "now-2h"] + r, 3,
            lambda l: l.startswith("cprof diff: unknown app 'nope'"), stdout_empty=True)
        out, _ = row(["diff", "--app", "shop", "--base-from", "now-2h", "--cmp-from", "now-2h"] + r, 0, "",
                     stdout_has="total 6.73 s")
        log("diff:\n" + out)

        # ---- binary formats refuse a terminal unless -o - (or -o FILE)
        q = [CPROF, "query", "--app", "shop", "--from", "now-2h", "--format", "pprof", "--relay", relay.ws]
        for extra, want_rc in (([], 2), (["-o", "-"], 0)):
            m, s = pty.openpty()
            p = subprocess.Popen(q + extra, stdout=s, stderr=subprocess.PIPE, env=dict(os.environ, TZ=TZ))
            os.close(s)
            got = b""
            while True:
                try:
                    d = os.read(m, 65536)
                except OSError:
                    break
                if not d:
                    break
                got += d
            err = p.stderr.read().decode()
            rc = p.wait(30)
            os.close(m)
            check(rc == want_rc, "pprof to a terminal %s: exit %d %s" % (extra, rc, err))
            if want_rc:
                check(err.startswith("cprof query: --format pprof is binary; it is not written to a terminal: "
                                     "give -o FILE, redirect stdout, or -o - to write it here anyway")
                      and got == b"", "refused with a reason, nothing on the terminal: %r %r" % (err, got[:40]))
            else:
                check(b"\x1f\x8b" in got[:4] or got.replace(b"\r\n", b"\n")[:2] == b"\x1f\x8b",
                      "-o - writes the gzip bytes: %r" % got[:8])
        path = os.path.join(out_dir("cli_errors"), "shop.pb.gz")
        rc, _, err = cli(*(q[1:] + ["-o", path]))
        check(rc == 0 and open(path, "rb").read(2) == b"\x1f\x8b", "-o FILE writes pprof: %d %s" % (rc, err))
        log("pprof: refused on a terminal (exit 2), written with -o - and -o FILE")
        shop.close()
        fresh.close()
        attach_verdicts(relay)   # last: its JVM adds an app


main(run)
