/* pyproc.c - reading /proc for the Python sampler. See pyproc.h. */
#include "pyproc.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

ssize_t cp_pyproc_read(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

const char *cp_pyproc_stat_rest(const char *line)
{
    const char *p = strrchr(line, ')');
    return p && p[1] == ' ' ? p + 2 : NULL;
}

bool cp_pyproc_start(pid_t pid, unsigned long long *start)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (cp_pyproc_read(path, buf, sizeof buf) <= 0)
        return false;
    const char *r = cp_pyproc_stat_rest(buf);
    /* starttime is field 22; r starts at field 3 (state) */
    return r && sscanf(r, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                       start) == 1;
}

pid_t cp_pyproc_parent(pid_t pid)
{
    char path[48], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (cp_pyproc_read(path, buf, sizeof buf) <= 0)
        return -1;
    const char *r = cp_pyproc_stat_rest(buf);
    int ppid;
    return r && sscanf(r, "%*c %d", &ppid) == 1 ? (pid_t)ppid : -1;
}

/* Appends the pids of a children file's text to out[n..cap). */
static int parse_pids(char *s, pid_t *out, int n, int cap)
{
    for (char *e; n < cap; s = e) {
        long v = strtol(s, &e, 10);
        if (e == s)
            break;
        out[n++] = (pid_t)v;
    }
    return n;
}

int cp_pyproc_children(pid_t pid, bool all_threads, pid_t *out, int n, int cap)
{
    char path[64], buf[4096];
    if (!all_threads) {
        snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
        return cp_pyproc_read(path, buf, sizeof buf) > 0 ? parse_pids(buf, out, n, cap) : n;
    }
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return n;
    struct dirent *de;
    while ((de = readdir(d)) && n < cap) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        char cp[96];
        snprintf(cp, sizeof cp, "/proc/%d/task/%.20s/children", (int)pid, de->d_name);
        if (cp_pyproc_read(cp, buf, sizeof buf) > 0)
            n = parse_pids(buf, out, n, cap);
    }
    closedir(d);
    return n;
}

bool cp_pyproc_is_pyspark(pid_t pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    ssize_t n = cp_pyproc_read(path, buf, sizeof buf);
    for (ssize_t i = 0; i < n; i++)
        if (!buf[i])
            buf[i] = ' ';
    return n > 0 && strstr(buf, "pyspark") != NULL;
}

void cp_pyproc_comm(pid_t pid, char out[16])
{
    char path[64], buf[32];
    snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
    ssize_t n = cp_pyproc_read(path, buf, sizeof buf);
    if (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    snprintf(out, 16, "%.15s", n > 0 ? buf : "");
}
