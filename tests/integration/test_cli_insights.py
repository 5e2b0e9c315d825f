"""cprof insights against a real relay fed by real JVMs: the three formats
and the exit codes a CI gate reads.

tests/java/InsightsUi runs twice at once: app 'regex' compiles its split
pattern on every call (String.split("[,;]"): a WARN finding), app 'calm'
splits with one precompiled Pattern and sleeps half the time (no WARN).
- text: a header with the range and the counts, one block per finding in
  the API's order (severity, rule, title, type; share +- half the 95% CI;
  samples; top caller; saving; fix); exit 1 for regex, 0 for calm;
- json: the relay's answer as it came (same findings as /api/v1/insights);
- md: a table (one row per finding) and a <details> per finding with the
  example stack in a code block;
- exit 2 with a sentence on stderr and nothing on stdout: a wrong command
  line, an unreachable relay, an unknown app, labels no instance has, a
  range without samples, a relay with --auth without a token;
- --type limits the findings to one type; --token reaches a relay with
  --auth."""
import json
import os
import subprocess

from cplib import *


def cli(*args, env=None):
    e = dict(os.environ, TZ="UTC")
    e.pop("CPROF_RELAY_URL", None)
    e.pop("CPROF_TOKEN", None)
    e.update(env or {})
    r = subprocess.run([CPROF, "insights"] + list(args), capture_output=True, text=True, timeout=30, env=e)
    log("cprof insights %s -> %d %s" % (" ".join(args)[:90], r.returncode,
                                        (r.stderr.splitlines() or [""])[0][:120]))
    return r.returncode, r.stdout, r.stderr


def pct(f):
    """The CLI's percentage form (cli/insights.c pct)."""
    p = 100 * f
    if p != 0 and p < 0.1:
        return "<0.1%"
    return ("%.2f%%" if p < 10 else "%.1f%%") % p


def error_row(args, stderr_has, env=None):
    rc, out, err = cli(*args, env=env)
    check(rc == 2, "%s: exit %d, want 2\nstderr: %s" % (args, rc, err[:600]))
    check(stderr_has in err, "%s: stderr lacks %r:\n%s" % (args, stderr_has, err[:600]))
    check(out == "", "%s: stdout not empty: %r" % (args, out[:300]))


def run():
    if not JDKS:
        skip("no JDK")
    java = JavaProgram("InsightsUi")
    with Relay(name="cli_insights") as relay:
        procs = [java.start(JDKS[0], agent="app=%s,label.run=%s,cpu=10ms,flush=1s" % (app, app), relay=relay,
                            args=["10", app], logname="insights-%s.log" % app) for app in ("regex", "calm")]
        for p in procs:
            check(p.wait(90) == 0, "InsightsUi exited %s (log %s)" % (p.returncode, p.logpath))
        for app in ("regex", "calm"):
            wait_settled(relay, app, frm="now-15m")
        base = ["--relay", relay.http, "--from", "now-15m", "--to", "now"]
        api = relay.get_json("/api/v1/insights", app="regex", **{"from": "now-15m"}, to="now")
        warn = [f for f in api["findings"] if f["severity"] == "WARN"]
        check(warn, "the API gives the regex app a WARN finding: %s" % api["findings"])
        log("findings: " + "; ".join("%s %s/%s %s" % (f["severity"], f["rule"], f["type"], pct(f["share"]))
                                     for f in api["findings"]))

        # ---- text: exit 1 with WARN, one block per finding in the API's order
        rc, out, err = cli("--app", "regex", *base)
        check(rc == 1, "text with a WARN finding exits 1, got %d: %s" % (rc, err))
        lines = out.splitlines()
        check(lines[0].startswith("insights for app 'regex', ") and
              lines[0].endswith(": %d WARN, %d INFO" % (len(warn), len(api["findings"]) - len(warn))),
              "the header names the app, the range and the counts: %r" % lines[0])
        check(lines[1].startswith("checked: cpu "), "the header says what was checked: %r" % lines[1])
        heads = [l for l in lines if l.startswith(("WARN  ", "INFO  "))]
        check(heads == ["%-4s  %s  %s  [%s]" % (f["severity"], f["rule"], f["title"], f["type"])
                        for f in api["findings"]], "one block per finding in the API's order:\n%s" % out)
        f = warn[0]
        block = out[out.index("%s  %s  %s" % (f["severity"], f["rule"], f["title"])):]
        check("share    %s +- " % pct(f["share"]) in block and "(95%% CI %s .. %s)" % (pct(f["ci95"][0]), pct(f["ci95"][1]))
              in block, "the block gives the share +- half the CI:\n%s" % block[:600])
        if f["callers"]:
            check("caller   %s (" % f["callers"][0]["name"] in block, "the block names the top caller:\n%s" % block[:600])
        check("fix      %s" % f["fix"] in block, "the block gives the fix:\n%s" % block[:800])
        if f.get("saving", {}).get("text"):
            check("saving   %s" % f["saving"]["text"] in block, "the block gives the saving:\n%s" % block[:800])

        # ---- json: the relay's answer
        rc, out, err = cli("--app", "regex", "--format", "json", *base)
        check(rc == 1, "json with a WARN finding exits 1, got %d: %s" % (rc, err))
        j = json.loads(out)
        check([(x["rule"], x["type"], x["severity"]) for x in j["findings"]] ==
              [(x["rule"], x["type"], x["severity"]) for x in api["findings"]],
              "json gives the relay's findings: %s" % out[:400])

        # ---- md: a table and details, ready for a pull-request comment
        rc, out, err = cli("--app", "regex", "--format", "md", *base)
        check(rc == 1, "md with a WARN finding exits 1, got %d: %s" % (rc, err))
        check(out.startswith("### cprof insights: `regex`: %d WARN" % len(warn)), "md title: %r" % out[:120])
        check("| Severity | Rule | Type | Share (95% CI) | Samples | Top caller | Saving |\n|---|---|---|---|---|---|---|\n"
              in out, "md has the table head:\n%s" % out[:600])
        rows = [l for l in out.splitlines() if l.startswith("| **WARN** |") or l.startswith("| INFO |")]
        check(len(rows) == len(api["findings"]) and "`%s`" % f["rule"] in rows[api["findings"].index(f)],
              "md has one table row per finding:\n%s" % "\n".join(rows))
        check(out.count("<details>") == len(api["findings"]) and out.count("</details>") == len(api["findings"]),
              "md has one details block per finding")
        if f["stack"]:
            check("  ```\n  %s\n" % f["stack"][0] in out, "md gives the example stack in a code block")

        # ---- the calm app: exit 0 in every format
        for fmt in ("text", "json", "md"):
            rc, out, err = cli("--app", "calm", "--format", fmt, *base)
            check(rc == 0, "calm (%s) exits 0 without a WARN finding, got %d:\n%s%s" % (fmt, rc, out[:800], err))
        rc, out, err = cli("--app", "calm", *base)
        check(" 0 WARN" in out.splitlines()[0], "calm's header counts no WARN: %r" % out[:200])

        # ---- --type: only that type's findings (cpu is the only type here)
        rc, out, err = cli("--app", "regex", "--type", "cpu", "--format", "json", *base)
        check(rc == 1 and all(x["type"] == "cpu" for x in json.loads(out)["findings"]), "--type cpu: %d %s" % (rc, err))

        # ---- no verdict: exit 2, a sentence, nothing on stdout
        error_row(["--app", "nope", *base], "cprof insights: unknown app 'nope': the relay at %s has no app" % relay.http)
        error_row(["--app", "regex", "--labels", "run=nine", *base], "cprof insights: no instance of app 'regex' has labels run=nine")
        error_row(["--app", "regex", "--relay", relay.http, "--from", "2020-01-01", "--to", "2020-01-02"],
                  "cprof insights: no samples in the range")
        error_row(["--app", "regex", "--relay", "127.0.0.1:%d" % free_port()], "cprof insights: cannot connect to the relay")
        error_row(["--relay", relay.http], "cprof insights: --app APP is required")
        error_row(["--app", "regex", "--format", "xml"], "cprof insights: --format 'xml' is not a format: text, json or md")
        error_row(["--app", "regex", "--from", "bogus"], "cprof insights: --from 'bogus' is not a time")
        error_row(["--app", "regex", "--bogus"], "cprof insights: unknown option '--bogus'")
        rc, out, err = cli("--help")
        check(rc == 0 and out.startswith("usage: cprof insights") and "Exit codes: 0 no WARN finding, 1" in out,
              "--help prints the usage with the exit codes")

    # ---- a relay with --auth: no token -> 2 with the hint, a read token -> the verdict
    tmp = out_dir("cli_insights")
    auth = os.path.join(tmp, "auth-%d.txt" % os.getpid())
    if os.path.exists(auth):
        os.unlink(auth)
    tok = {}
    for role in ("ingest", "read"):
        r = subprocess.run([CPROF, "token", "new", "--tenant", "acme", "--role", role, "--auth", auth],
                           capture_output=True, text=True, timeout=10)
        check(r.returncode == 0, "cprof token new: %s" % r.stderr)
        tok[role] = r.stdout.strip()
    with Relay(name="cli_insights", extra_args=["--auth", auth], token=tok["read"]) as relay:
        java.run(JDKS[0], agent="app=regex,cpu=10ms,flush=1s,token=%s" % tok["ingest"], relay=relay, args=["6", "regex"])
        wait_settled(relay, "regex", frm="now-15m")
        error_row(["--app", "regex", "--relay", relay.http], "cprof insights: relay answered 401")
        rc, out, err = cli("--app", "regex", "--relay", relay.http, "--token", tok["read"])
        check(rc in (0, 1) and out.startswith("insights for app 'regex'"), "--token reaches a relay with --auth: %d %s" % (rc, err))
        rc2, _, err = cli("--app", "regex", "--relay", relay.http, env={"CPROF_TOKEN": tok["read"]})
        check(rc2 == rc, "CPROF_TOKEN works like --token: %d %s" % (rc2, err))


main(run)
