"""test_alloc_instrument - alloc.mode=instrument over real programs, -Xverify:all.

Two real programs from Debian run bare and with the agent in instrument mode
(every loaded class rewritten by jvmti/classfile.c, JDK classes loaded before
the agent retransformed), both under -Xverify:all:
  - H2's RunScript (libh2-java) over a SQL script: same stdout;
  - javac (jdk.compiler) compiling tests/java/*.java: byte-identical classes.
No VerifyError/LinkageError, no crash, the rewriter's summary line (classes
rewritten, skipped with reasons) is in the agent log, no "Sharing is only
supported for boot loader classes" (CDS stays on), and the relay holds an
alloc_bytes profile with H2 frames. Runs on every JDK found. Also: a class
loader that cannot see the shim (tests/java/AllocIsolatedLoader.java) gets
its classes left alone (counted as skipped), not broken."""
import filecmp
import glob
import re
import subprocess

from cplib import *

H2 = "/usr/share/java/h2.jar"
CDS_OFF = "Sharing is only supported for boot loader classes"
SQL = """CREATE TABLE t(id INT PRIMARY KEY, name VARCHAR(40), v DOUBLE);
INSERT INTO t SELECT x, 'n' || x, x * 1.5 FROM SYSTEM_RANGE(1, 20000);
CREATE INDEX ti ON t(name);
SELECT COUNT(*), SUM(v), MAX(name) FROM t WHERE id % 7 = 3;
SELECT name, COUNT(*) FROM t WHERE id < 60 GROUP BY name ORDER BY name;
UPDATE t SET v = v * 2 WHERE id BETWEEN 10 AND 4000;
SELECT SUM(v), MIN(name) FROM t;
"""


def run(cmd, timeout=120):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def agent_arg(relay, app):
    return "-agentpath:%s=relay=%s,app=%s,cpu=off,alloc=512k,alloc.mode=instrument,flush=1s,loglevel=info" % (
        AGENT, relay.ws, app)


def check_clean(name, rc, err):
    check(rc == 0, "%s exited %d:\n%s" % (name, rc, err[-3000:]))
    for bad in ("VerifyError", "LinkageError", "IllegalAccessError", "hs_err", "SIGSEGV",
                "NoClassDefFoundError"):
        check(bad not in err, "%s: %s\n%s" % (name, bad, err[-3000:]))
    # the shim is defined in the boot loader, the boot class path unchanged:
    # CDS stays on for the application's classes (issue 14)
    check(CDS_OFF not in err, "%s: the JVM turned CDS off for application classes:\n%s" % (name, err[-2000:]))
    m = re.search(r"alloc: instrument summary: (\d+) classes rewritten, (\d+) call sites, (\d+) skipped([^,]*)", err)
    check(m, "%s: no rewriter summary in the agent log:\n%s" % (name, err[-2000:]))
    log("%s: %s classes rewritten, %s sites, %s skipped%s" % (name, m.group(1), m.group(2), m.group(3), m.group(4)))
    check(int(m.group(1)) > 100, "%s: only %s classes rewritten" % (name, m.group(1)))
    return int(m.group(3))


def test():
    check(JDKS, "no JDK found")
    check(os.path.exists(H2), "libh2-java missing (scripts/setup installs it)")
    tmp = tempfile.mkdtemp(prefix="cprof-instr-")
    script = os.path.join(tmp, "t.sql")
    with open(script, "w") as f:
        f.write(SQL)
    srcs = sorted(glob.glob(os.path.join(JAVA_SRC, "*.java")))
    with Relay() as relay:
        for jdk in JDKS:
            name = jdk_name(jdk)
            java = os.path.join(jdk, "bin", "java")
            # H2 RunScript
            h2 = [java, "-Xverify:all", "-cp", H2, "org.h2.tools.RunScript", "-url", "jdbc:h2:mem:x",
                  "-script", script, "-showResults"]
            rc, bare, err = run(h2)
            check(rc == 0 and "20000" in bare, "bare H2 failed:\n%s%s" % (bare[-1000:], err[-1000:]))
            app = "instr-h2-" + name
            rc, out, err = run(h2[:1] + [agent_arg(relay, app)] + h2[1:])
            check_clean(name + " H2", rc, err)
            check(out == bare, "%s H2: output differs with the agent:\n%s\n---\n%s" % (name, bare[-1500:], out[-1500:]))
            prof = relay.wait_profile(app, "alloc_bytes", lambda p: any("org.h2." in s for s in p), timeout=20)
            log("%s H2: %d stacks in alloc_bytes" % (name, len(prof)))
            # javac over the test sources
            outs = []
            for i, agent in enumerate((None, agent_arg(relay, "instr-javac-" + name))):
                d = os.path.join(tmp, "javac-%s-%d" % (name, i))
                os.makedirs(d)
                cmd = [java, "-Xverify:all"] + ([agent] if agent else []) + [
                    "-m", "jdk.compiler/com.sun.tools.javac.Main", "--release", "11", "-nowarn",
                    "-cp", SHIM_JAR, "-d", d] + srcs   # some sources call the shim's API
                rc, o, err = run(cmd, timeout=180)
                if agent:
                    check_clean(name + " javac", rc, err)
                else:
                    check(rc == 0, "bare javac failed:\n" + err[-2000:])
                outs.append(d)
            classes = sorted(os.path.relpath(p, outs[0]) for p in glob.glob(os.path.join(outs[0], "**", "*.class"),
                                                                              recursive=True))
            check(len(classes) >= len(srcs), "javac produced %d classes" % len(classes))
            match, mismatch, errors = filecmp.cmpfiles(outs[0], outs[1], classes, shallow=False)
            check(not mismatch and not errors, "%s javac: classes differ with the agent: %s %s"
                  % (name, mismatch[:5], errors[:5]))
            log("%s javac: %d identical class files" % (name, len(match)))
        # a loader that cannot see the shim (OSGi-like): its classes are left
        # alone and counted, the program runs unharmed
        iso = JavaProgram("AllocIsolatedLoader")
        out = iso.run(JDKS[0], agent="app=instr-iso,cpu=off,alloc=256k,alloc.mode=instrument,loglevel=info",
                      relay=relay, jvm_args=["-Xverify:all"], timeout=60)
        check("isolated ok" in out and "NoClassDefFoundError" not in out, "isolated loader:\n" + out[-2000:])
        check("class loader cannot see the shim" in out, "no loader skip reported:\n" + out[-2000:])
    shutil.rmtree(tmp, ignore_errors=True)


main(test)
