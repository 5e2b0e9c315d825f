"""bench_programs - the long, steady workloads of the agent benches
(scripts/bench-agent-steady, scripts/bench-agent-attribute) and how a run is
timed.

  h2     org.h2.tools.RunScript on an in-memory database: 40,000-row tables,
         then 600 GROUP BY / join queries (a generated SQL script)
  javac  javac compiling the whole jdk.compiler module from src.zip
         (openjdk-17-source), ~400 files
"""
import os
import re
import subprocess
import time
import zipfile

SRC_ZIP = "/usr/lib/jvm/openjdk-17/lib/src.zip"
H2_JAR = "/usr/share/java/h2.jar"


def h2_script(path):
    with open(path, "w") as f:
        f.write("CREATE TABLE orders(id INT PRIMARY KEY, customer INT, amount DECIMAL(12,2), note VARCHAR(64));\n")
        f.write("INSERT INTO orders SELECT X, MOD(X * 7919, 5000), MOD(X * 31, 100000) / 100.0, "
                "CONCAT('note-', X) FROM SYSTEM_RANGE(1, 40000);\n")
        f.write("CREATE TABLE customers(id INT PRIMARY KEY, region INT, name VARCHAR(32));\n")
        f.write("INSERT INTO customers SELECT X, MOD(X, 17), CONCAT('c', X) FROM SYSTEM_RANGE(0, 4999);\n")
        f.write("CREATE INDEX orders_customer ON orders(customer);\n")
        for i in range(600):
            if i % 3 == 0:
                f.write("SELECT customer, COUNT(*), SUM(amount) FROM orders WHERE MOD(id, %d) = 1 "
                        "GROUP BY customer ORDER BY 3 DESC LIMIT 10;\n" % (i % 97 + 2))
            elif i % 3 == 1:
                f.write("SELECT c.region, COUNT(*), AVG(o.amount) FROM orders o JOIN customers c "
                        "ON o.customer = c.id WHERE MOD(o.id, %d) = 0 GROUP BY c.region;\n" % (i % 89 + 2))
            else:
                f.write("UPDATE orders SET note = CONCAT('n', id, '-', %d) WHERE MOD(id, 400) = %d;\n" % (i, i % 400))


def javac_args(tmp):
    src = os.path.join(tmp, "src")
    with zipfile.ZipFile(SRC_ZIP) as z:
        files = [n for n in z.namelist() if n.startswith("jdk.compiler/") and n.endswith(".java")]
        for n in files:
            z.extract(n, src)
    lst = os.path.join(tmp, "files.txt")
    with open(lst, "w") as f:
        f.write("\n".join(os.path.join(src, n) for n in files) + "\n")
    out = os.path.join(tmp, "classes")
    return ["-m", "jdk.compiler/com.sun.tools.javac.Main", "--patch-module",
            "jdk.compiler=" + os.path.join(src, "jdk.compiler"), "-d", out, "-proc:none", "-nowarn",
            "-Xlint:none", "-XDignore.symbol.file", "-implicit:none", "@" + lst], out


def run(cmd, prefix=()):
    """Runs cmd (behind prefix, e.g. perf record); (wall s, process CPU s, output)."""
    t0 = time.monotonic()
    p = subprocess.Popen(list(prefix) + cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    text = out.decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("bench: %s failed:\n%s" % (" ".join(cmd[:3]), text[-2000:]))
    return wall, ru.ru_utime + ru.ru_stime, text


def jfr_samples(java, path):
    """jdk.ExecutionSample events in async-profiler's JFR output (the JDK's jfr tool)."""
    out = subprocess.run([os.path.join(os.path.dirname(java), "jfr"), "summary", path],
                         capture_output=True, text=True).stdout
    m = re.search(r"jdk\.ExecutionSample\s+(\d+)", out)
    return int(m.group(1)) if m else 0


def jvm_flags():
    """CPROF_BENCH_JVM_FLAGS: JVM flags for every run of every mode, e.g.
    "-XX:+UseSerialGC -Xms2g -Xmx2g" (the bare runs' spread fell from 9.1% to
    3.9% with these: fewer GC threads and no heap resizing to vary)."""
    return os.environ.get("CPROF_BENCH_JVM_FLAGS", "").split()


def agent_opts():
    """CPROF_BENCH_AGENT_OPTS: options appended to cprof's agent string, e.g.
    "overhead=off" (the asked interval whatever it costs)."""
    o = os.environ.get("CPROF_BENCH_AGENT_OPTS", "").strip(",")
    return "," + o if o else ""


def programs(tmp):
    """{name: java arguments}, and the javac output directory (emptied between runs)."""
    sql = os.path.join(tmp, "steady.sql")
    h2_script(sql)
    jargs, jout = javac_args(tmp)
    return {"h2": ["-cp", H2_JAR, "org.h2.tools.RunScript", "-url", "jdbc:h2:mem:steady", "-script", sql],
            "javac": jargs}, jout
