/* spark.c - `cprof spark-conf`: the spark-submit flags that profile a job.
 *
 *   cprof spark-conf --relay URL --app NAME [--agent PATH]
 *                    [--driver[=client|cluster]] [--python] [--format F] [OPTION...]
 *
 * Spark ships `--files` into every executor's working directory (YARN,
 * standalone, Kubernetes with an upload path), so executors load the agent
 * by the relative path ./libcprof-jvm.so through
 * spark.executor.extraJavaOptions. The agent recognises the executor
 * (jvmti/spark.c) and labels it spark.app.id / spark.executor.id / host,
 * so all executors of the job, including ones added later by dynamic
 * allocation, land under one app. A client-mode driver runs here and gets
 * the absolute path; a cluster-mode driver gets ./ like the executors.
 * PySpark needs nothing else for the JVM side: the JVMs are the same,
 * only the submitted file is a .py (see README "Spark and PySpark").
 *
 * --python also profiles the Python workers (docs/pyspark.md): the agent
 * option python=on, cprof_pyspark.zip (built next to the agent) shipped
 * with --py-files and put on the executors' PYTHONPATH by its relative
 * name (--py-files land in the executor's working directory on YARN and
 * standalone; YARN merges the variable with its own), and
 * spark.python.daemon.module=cprof_pyspark.daemon, which publishes each
 * task's stage, partition and TID for the agent.
 *
 * Formats: args (default: one line of words for `spark-submit $(...)`),
 * lines (one flag per line, backslash-continued, for scripts and docs),
 * conf (spark-defaults.conf lines), pyspark (a PYSPARK_SUBMIT_ARGS=...
 * assignment for Python programs that build their own SparkSession).
 * Thread: main. */
#include <ctype.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attach.h"
#include "cli.h"
#include "hotspot_attach.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: cprof spark-conf --relay URL --app NAME [--agent PATH]\n"
        "                        [--driver[=client|cluster]] [--python] [--format FORMAT]\n"
        "                        [OPTION...]\n"
        "\n"
        "Prints the spark-submit flags that ship the cprof agent with a job and\n"
        "load it in every executor (and the driver with --driver):\n"
        "  spark-submit $(cprof spark-conf --relay ws://relay:7070 --app etl) job.jar\n"
        "  spark-submit $(cprof spark-conf --relay ws://relay:7070 --app etl) job.py\n"
        "\n"
        "  --relay URL       relay the agents send to (ws:// or wss://)\n"
        "  --app NAME        app name every executor reports under\n"
        "  --agent PATH      libcprof-jvm.so to ship [$CPROF_AGENT, else next to cprof]\n"
        "  --driver[=MODE]   profile the driver too: client (default; the driver runs\n"
        "                    here, absolute path) or cluster (shipped copy, ./)\n"
        "  --python          PySpark: also sample the Python workers' stacks (python=on),\n"
        "                    ship cprof_pyspark.zip and set it as the daemon module, so\n"
        "                    Python time shows under each task's JVM thread\n"
        "  --format FORMAT   args (one line, default) | lines | conf (spark-defaults.conf)\n"
        "                    | pyspark (PYSPARK_SUBMIT_ARGS for python-started sessions)\n"
        "  OPTION            more agent options, e.g. cpu=10ms wall=100ms label.team=data\n"
        "\n"
        "Executors get labels spark.app.id, spark.executor.id and host by themselves.\n"
        "If the job already sets spark.executor.extraJavaOptions, merge the two values:\n"
        "Spark keeps only the last one.\n");
}

/* Characters that survive `spark-submit $(cprof spark-conf ...)` word
 * splitting and the agent's comma/equals option syntax. */
#define PY_ZIP    "cprof_pyspark.zip"       /* jvmti/meson.build builds it next to the agent */
#define PY_DAEMON "cprof_pyspark.daemon"

static bool plain_word(const char *s, const char *extra_ok)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || strchr("-_.:/@+%", c) || (extra_ok && strchr(extra_ok, c)))
            continue;
        return false;
    }
    return true;
}

int cp_cmd_spark_conf(int argc, char **argv)
{
    const char *relay = NULL, *app = NULL, *agent = NULL, *format = "args";
    const char *driver = NULL;
    bool python = false;
    char extra[1024] = "";
    size_t el = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--relay") && v) {
            relay = v;
            i++;
        } else if (!strcmp(a, "--app") && v) {
            app = v;
            i++;
        } else if (!strcmp(a, "--agent") && v) {
            agent = v;
            i++;
        } else if (!strcmp(a, "--format") && v) {
            format = v;
            i++;
        } else if (!strcmp(a, "--python")) {
            python = true;
        } else if (!strcmp(a, "--driver")) {
            driver = "client";
        } else if (!strncmp(a, "--driver=", 9)) {
            driver = a + 9;
        } else if (!strncmp(a, "--relay=", 8)) {
            relay = a + 8;
        } else if (!strncmp(a, "--app=", 6)) {
            app = a + 6;
        } else if (!strncmp(a, "--agent=", 8)) {
            agent = a + 8;
        } else if (!strncmp(a, "--format=", 9)) {
            format = a + 9;
        } else if (a[0] == '-') {
            fprintf(stderr, "cprof spark-conf: unknown or incomplete flag '%s'\n", a);
            usage(stderr);
            return 2;
        } else {
            if (!strchr(a, '=') || !plain_word(a, "=,")) {
                fprintf(stderr, "cprof spark-conf: agent option '%s' must be key=value "
                        "without spaces or shell characters\n", a);
                return 2;
            }
            if (!strncmp(a, "relay=", 6) || !strncmp(a, "app=", 4)) {
                fprintf(stderr, "cprof spark-conf: use --relay/--app instead of '%s'\n", a);
                return 2;
            }
            int w = snprintf(extra + el, sizeof extra - el, ",%s", a);
            if (w < 0 || (size_t)w >= sizeof extra - el) {
                fprintf(stderr, "cprof spark-conf: agent options too long\n");
                return 2;
            }
            el += (size_t)w;
        }
    }
    if (python) {
        int w = snprintf(extra + el, sizeof extra - el, ",python=on");
        if (w < 0 || (size_t)w >= sizeof extra - el) {
            fprintf(stderr, "cprof spark-conf: agent options too long\n");
            return 2;
        }
        el += (size_t)w;
    }
    if (el && cp_attach_check_options("spark-conf", extra + 1)) {
        fprintf(stderr, "cprof spark-conf: nothing printed: fix the refused agent option(s)\n");
        return 2;
    }
    if (!relay || !app) {
        fprintf(stderr, "cprof spark-conf: --relay URL and --app NAME are required\n");
        usage(stderr);
        return 2;
    }
    if ((strncmp(relay, "ws://", 5) && strncmp(relay, "wss://", 6)) || !plain_word(relay, NULL)) {
        fprintf(stderr, "cprof spark-conf: --relay must be a ws:// or wss:// URL without "
                "spaces or commas, got '%s'\n", relay);
        return 2;
    }
    if (!*app || !plain_word(app, NULL)) {
        fprintf(stderr, "cprof spark-conf: --app '%s': use letters, digits and -_.:/@+%% "
                "only (no spaces, commas or '=')\n", app);
        return 2;
    }
    if (driver && strcmp(driver, "client") && strcmp(driver, "cluster")) {
        fprintf(stderr, "cprof spark-conf: --driver=%s: expected client or cluster\n", driver);
        return 2;
    }
    bool f_args = !strcmp(format, "args"), f_lines = !strcmp(format, "lines"),
         f_conf = !strcmp(format, "conf"), f_py = !strcmp(format, "pyspark");
    if (!f_args && !f_lines && !f_conf && !f_py) {
        fprintf(stderr, "cprof spark-conf: unknown --format '%s' (args, lines, conf, "
                "pyspark)\n", format);
        return 2;
    }

    char path[PATH_MAX], real[PATH_MAX], err[1024];
    if (!agent) {
        if (cp_hsattach_default_agent(path, sizeof path, err, sizeof err) != 0) {
            fprintf(stderr, "cprof spark-conf: %s\n", err);
            return 1;
        }
        agent = path;
    }
    if (!realpath(agent, real)) {
        fprintf(stderr, "cprof spark-conf: agent library '%s' not found\n", agent);
        return 1;
    }
    if (!plain_word(real, NULL)) {
        fprintf(stderr, "cprof spark-conf: agent path '%s' has spaces or commas; copy it "
                "somewhere plain (e.g. /opt/cprof/libcprof-jvm.so)\n", real);
        return 1;
    }
    const char *base = strrchr(real, '/') + 1;
    char zip[PATH_MAX] = "";
    if (python) {   /* the daemon module, built and installed next to the agent */
        snprintf(zip, sizeof zip, "%.*s%s", (int)(base - real), real, PY_ZIP);
        if (access(zip, R_OK) != 0) {
            fprintf(stderr, "cprof spark-conf: --python: %s not found next to the agent\n", zip);
            return 1;
        }
    }

    char exec_opt[2048], drv_opt[PATH_MAX + 2048];
    snprintf(exec_opt, sizeof exec_opt, "-agentpath:./%s=relay=%s,app=%s%s", base, relay,
             app, extra);
    if (driver)
        snprintf(drv_opt, sizeof drv_opt, "-agentpath:%s%s=relay=%s,app=%s,"
                 "label.spark.role=driver%s", !strcmp(driver, "client") ? "" : "./",
                 !strcmp(driver, "client") ? real : base, relay, app, extra);

    if (f_conf) {
        printf("spark.files %s\n", real);
        printf("spark.executor.extraJavaOptions %s\n", exec_opt);
        if (driver)
            printf("spark.driver.extraJavaOptions %s\n", drv_opt);
        if (python) {
            printf("spark.submit.pyFiles %s\n", zip);
            printf("spark.python.daemon.module %s\n", PY_DAEMON);
            printf("spark.executorEnv.PYTHONPATH %s\n", PY_ZIP);
        }
        return 0;
    }
    const char *sep = f_lines ? " \\\n" : " ";
    if (f_py)
        printf("PYSPARK_SUBMIT_ARGS='");
    printf("--files %s%s--conf spark.executor.extraJavaOptions=%s", real, sep, exec_opt);
    if (driver)
        printf("%s--conf spark.driver.extraJavaOptions=%s", sep, drv_opt);
    if (python)
        printf("%s--py-files %s%s--conf spark.python.daemon.module=%s%s--conf spark.executorEnv.PYTHONPATH=%s",
               sep, zip, sep, PY_DAEMON, sep, PY_ZIP);
    if (f_py)
        printf(" pyspark-shell'");
    printf("\n");
    return 0;
}
