/* procscan.c - /proc readers and parsers for `cprof watch` (procscan.h).
 *
 * Cost model: watch calls cp_procscan_list + cp_procscan_stat for every
 * process once per interval (one small read each), and the heavier
 * cp_procscan_read only for processes that look like JVMs, once. */
#include "procscan.h"
#include "javacmd.h"
#include "procfile.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"

static int cmp_pid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

int cp_procscan_list(pid_t **pids, size_t *n)
{
    *pids = NULL;
    *n = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return CP_EIO;
    size_t cap = 256, len = 0;
    pid_t *v = malloc(cap * sizeof *v);
    if (!v) {
        closedir(d);
        return CP_ENOMEM;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        long p = strtol(e->d_name, NULL, 10);
        if (p <= 0)
            continue;
        if (len == cap) {
            pid_t *nv = realloc(v, cap * 2 * sizeof *v);
            if (!nv) {
                free(v);
                closedir(d);
                return CP_ENOMEM;
            }
            v = nv;
            cap *= 2;
        }
        v[len++] = (pid_t)p;
    }
    closedir(d);
    qsort(v, len, sizeof *v, cmp_pid);
    *pids = v;
    *n = len;
    return 0;
}

int cp_procscan_parse_stat(const char *stat, char *comm, size_t commlen,
                           unsigned long long *start)
{
    /* "pid (comm) S ppid ..." - comm may hold spaces and ')', so use the
     * last ')'. starttime is field 22 overall = field 20 after the ')'. */
    const char *l = strchr(stat, '('), *r = strrchr(stat, ')');
    if (!l || !r || r < l)
        return CP_EINVAL;
    size_t cl = (size_t)(r - l - 1);
    if (commlen) {
        if (cl >= commlen)
            cl = commlen - 1;
        memcpy(comm, l + 1, cl);
        comm[cl] = '\0';
    }
    const char *p = r + 1;
    for (int field = 3; field < 22; field++) {
        while (*p == ' ')
            p++;
        while (*p && *p != ' ')
            p++;
        if (!*p)
            return CP_EINVAL;
    }
    while (*p == ' ')
        p++;
    if (!isdigit((unsigned char)*p))
        return CP_EINVAL;
    *start = strtoull(p, NULL, 10);
    return 0;
}

int cp_procscan_stat(pid_t pid, char *comm, size_t commlen, unsigned long long *start)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (cp_procfile_read(path, buf, sizeof buf) <= 0)
        return CP_ENOTFOUND;
    return cp_procscan_parse_stat(buf, comm, commlen, start);
}

double cp_procscan_age(unsigned long long start)
{
    char buf[128];
    if (cp_procfile_read("/proc/uptime", buf, sizeof buf) <= 0)
        return -1;
    double up = strtod(buf, NULL);
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0)
        hz = 100;
    return up - (double)start / (double)hz;
}

static void put(char *out, size_t outlen, const char *s, size_t n)
{
    if (!outlen)
        return;
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

/* Returns true when the name came from -Dcprof.app=. */
static bool java_app(int argc, const char *const *argv, char *out, size_t outlen)
{
    put(out, outlen, "", 0);
    const char *main_name = NULL, *jar = NULL, *prop = NULL;
    for (int i = 1; i < argc && argv[i]; i++) {
        const char *a = argv[i];
        if (!strncmp(a, "-Dcprof.app=", 12)) {
            prop = a + 12;
        } else if (!strcmp(a, "-jar") && i + 1 < argc) {
            jar = argv[++i];
            break;
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--module")) && i + 1 < argc) {
            main_name = argv[++i];
            break;
        } else if (!strncmp(a, "--module=", 9)) {
            main_name = a + 9;
            break;
        } else if (cp_javacmd_takes_value(a)) {
            i++;
        } else if (a[0] == '-' || a[0] == '@') {
            continue;
        } else {
            main_name = a;      /* main class or source file; program args follow */
            break;
        }
    }
    if (prop && *prop) {
        put(out, outlen, prop, strlen(prop));
        return true;
    }
    if (jar) {
        const char *b = strrchr(jar, '/');
        b = b ? b + 1 : jar;
        size_t n = strlen(b);
        if (n > 4 && !strcmp(b + n - 4, ".jar"))
            n -= 4;
        put(out, outlen, b, n);
    } else if (main_name) {
        const char *slash = strchr(main_name, '/');   /* module/class */
        const char *c = slash ? slash + 1 : main_name;
        put(out, outlen, c, strlen(c));
    }
    return false;
}

void cp_procscan_java_app(int argc, const char *const *argv, char *out, size_t outlen)
{
    java_app(argc, argv, out, outlen);
}

bool cp_procscan_container_id(const char *cg, char *out, size_t outlen)
{
    const char *best = NULL;
    for (const char *p = cg; *p; p++) {
        if (!isxdigit((unsigned char)*p) || (p > cg && isxdigit((unsigned char)p[-1])))
            continue;
        size_t n = 0;
        while (isxdigit((unsigned char)p[n]))
            n++;
        if (n == 64)
            best = p;
        p += n - 1;
    }
    if (!best)
        return false;
    put(out, outlen, best, 12);
    return true;
}

#define CMDLINE_MAX (4u << 20)   /* above Linux's usual 2 MB ARG_MAX */

int cp_procscan_read(pid_t pid, cp_proc_info_t *o)
{
    memset(o, 0, sizeof *o);
    o->pid = pid;
    char path[64];
    char *buf;
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    ssize_t n = cp_procfile_read_all(path, &buf, CMDLINE_MAX);
    if (n < 0)
        return n == -ENOMEM ? CP_ENOMEM : CP_ENOTFOUND;
    size_t words = 1;
    for (ssize_t i = 0; i < n; i++)
        words += buf[i] == '\0';
    const char **argv = malloc(words * sizeof *argv);
    o->cmdline = malloc((size_t)n + 1);
    if (!argv || !o->cmdline) {
        free(argv);
        free(buf);
        cp_procscan_info_fini(o);
        return CP_ENOMEM;
    }
    int argc = 0;
    for (ssize_t i = 0; i < n;) {            /* buf[n] is NUL: the last word ends */
        argv[argc++] = buf + i;
        i += (ssize_t)strlen(buf + i) + 1;
    }
    for (ssize_t i = 0; i < n; i++)
        o->cmdline[i] = buf[i] ? buf[i] : ' ';
    while (n > 0 && o->cmdline[n - 1] == ' ')
        n--;
    o->cmdline[n] = '\0';
    /* Only the java launcher's argv has a main class; for javac, jshell,
     * or a custom launcher name the program itself. */
    const char *b0 = argc ? strrchr(argv[0], '/') : NULL;
    b0 = b0 ? b0 + 1 : (argc ? argv[0] : "");
    if (!strcmp(b0, "java"))
        o->cprof_app = java_app(argc, argv, o->app, sizeof o->app);
    else
        put(o->app, sizeof o->app, b0, strlen(b0));
    free(argv);
    free(buf);
    snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
    if (cp_procfile_read_all(path, &buf, 1u << 20) > 0)
        cp_procscan_container_id(buf, o->container, sizeof o->container);
    free(buf);
    return 0;
}

void cp_procscan_info_fini(cp_proc_info_t *o)
{
    free(o->cmdline);
    o->cmdline = NULL;
}
