/* spark.c - Spark executor recognition from a command line (spark.h).
 *
 * Walks argv like the java launcher: JVM options first (some take the next
 * word as their value), then the main class; everything after the main
 * class belongs to the program. -Dspark.* properties count only before the
 * main class (after it they are program arguments). Program arguments
 * count only when the main class is a known executor backend, so an
 * unrelated program that happens to take --app-id is not relabelled.
 * Thread: any; no globals. */
#include "spark.h"
#include "javacmd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"

static const char *const executor_mains[] = {
    "org.apache.spark.executor.CoarseGrainedExecutorBackend",
    "org.apache.spark.executor.YarnCoarseGrainedExecutorBackend",
    "org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend",
};

static void set(char *dst, const char *v)
{
    size_t n = strlen(v);
    if (n >= CP_SPARK_VAL_MAX)
        n = CP_SPARK_VAL_MAX - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

/* "--name value" or "--name=value" at argv[*i]; advances *i past a value. */
static const char *arg_value(int argc, const char *const *argv, int *i, const char *name)
{
    size_t nl = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, nl))
        return NULL;
    if (a[nl] == '=')
        return a + nl + 1;
    if (a[nl] == '\0' && *i + 1 < argc && argv[*i + 1]) {
        (*i)++;
        return argv[*i];
    }
    return NULL;
}

int cp_spark_labels(int argc, const char *const *argv, cp_spark_labels_t *out)
{
    if (!out || (argc > 0 && !argv))
        return CP_EINVAL;
    memset(out, 0, sizeof *out);
    cp_spark_labels_t props = {{0}};
    int i = 1;
    const char *main_class = NULL;
    for (; i < argc && argv[i]; i++) {
        const char *a = argv[i];
        if (!strncmp(a, "-Dspark.app.id=", 15))
            set(props.app_id, a + 15);
        else if (!strncmp(a, "-Dspark.executor.id=", 20))
            set(props.executor_id, a + 20);
        else if (!strcmp(a, "-jar") || !strcmp(a, "-m") || !strcmp(a, "--module"))
            break;                        /* not a class-path main: no executor */
        else if (cp_javacmd_takes_value(a))
            i++;
        else if (a[0] != '-' && a[0] != '@') {
            main_class = a;
            break;
        }
    }
    bool executor = false;
    if (main_class)
        for (size_t k = 0; k < sizeof executor_mains / sizeof executor_mains[0]; k++)
            if (!strcmp(main_class, executor_mains[k]))
                executor = true;
    if (executor) {
        for (i++; i < argc && argv[i]; i++) {
            const char *v;
            if ((v = arg_value(argc, argv, &i, "--app-id")))
                set(out->app_id, v);
            else if ((v = arg_value(argc, argv, &i, "--executor-id")))
                set(out->executor_id, v);
            else if ((v = arg_value(argc, argv, &i, "--hostname")))
                set(out->host, v);
        }
    }
    if (!out->app_id[0] && props.app_id[0])
        set(out->app_id, props.app_id);
    if (!out->executor_id[0] && props.executor_id[0])
        set(out->executor_id, props.executor_id);
    if (executor || props.app_id[0] || props.executor_id[0])
        return 1;
    memset(out, 0, sizeof *out);
    return 0;
}

#define MAX_ARGS 512       /* for sun.java.command (program args only) */

int cp_spark_labels_from_cmdline(const char *buf, size_t len, cp_spark_labels_t *out)
{
    if (!out || (!buf && len))
        return CP_EINVAL;
    size_t words = 0;
    for (size_t i = 0; i < len; i++)
        words += buf[i] == '\0';
    const char **argv = malloc((words + 1) * sizeof *argv);
    if (!argv)
        return CP_ENOMEM;
    int argc = 0;
    for (size_t i = 0; i < len;) {
        size_t l = strnlen(buf + i, len - i);
        if (i + l >= len)       /* last word without its NUL (truncated): dropped */
            break;
        argv[argc++] = buf + i;
        i += l + 1;
    }
    int rc = cp_spark_labels(argc, argv, out);
    free(argv);
    return rc;
}

int cp_spark_labels_from_java_command(const char *cmd, cp_spark_labels_t *out)
{
    if (!cmd || !out)
        return CP_EINVAL;
    size_t n = strlen(cmd);
    char *copy = malloc(n + 1);
    if (!copy)
        return CP_ENOMEM;
    memcpy(copy, cmd, n + 1);
    const char *argv[MAX_ARGS];
    int argc = 0;
    argv[argc++] = "java";      /* sun.java.command has no launcher word */
    char *save = NULL;
    for (char *tok = strtok_r(copy, " \t", &save); tok && argc < MAX_ARGS;
         tok = strtok_r(NULL, " \t", &save))
        argv[argc++] = tok;
    int rc = cp_spark_labels(argc, argv, out);
    free(copy);
    return rc;
}

int cp_spark_labels_self(const char *java_command, cp_spark_labels_t *out)
{
    if (!out)
        return CP_EINVAL;
    int rc = 0;
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        /* all of it (grown up to 4 MB): executors' classpaths can be long */
        size_t cap = 1 << 16, len = 0;
        char *buf = malloc(cap);
        while (buf) {
            if (len == cap) {
                char *nb = cap < (4u << 20) ? realloc(buf, cap * 2) : NULL;
                if (!nb)
                    break;
                buf = nb;
                cap *= 2;
            }
            ssize_t r = read(fd, buf + len, cap - len);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            len += (size_t)r;
        }
        close(fd);
        if (buf)
            rc = cp_spark_labels_from_cmdline(buf, len, out);
        free(buf);
    }
    if (rc <= 0 && java_command)
        rc = cp_spark_labels_from_java_command(java_command, out);
    if (rc <= 0) {
        memset(out, 0, sizeof *out);
        return 0;
    }
    if (!out->host[0]) {
        char h[CP_SPARK_VAL_MAX];
        if (gethostname(h, sizeof h) == 0) {
            h[sizeof h - 1] = '\0';
            set(out->host, h);
        }
    }
    return 1;
}
