/* verdict_file.c - read and remove the agent's verdict file through
 * /proc/PID/root. See verdict_file.h; format in jvmti/verdict.h.
 * Thread: the caller's (no globals). */
#include "verdict_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

#define VERDICT_MAX_BYTES (256 * 1024)

int cp_verdict_file_name(pid_t nspid, char *out, size_t outlen)
{
    unsigned char r[8];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        return CP_EIO;
    snprintf(out, outlen, "/tmp/" CP_VERDICT_PREFIX "%d-%02x%02x%02x%02x%02x%02x%02x%02x", (int)nspid,
             r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
    return 0;
}

/* The file's name inside /tmp, or NULL when path is not one of ours. */
static const char *name_in_tmp(const char *path)
{
    static const char tmp[] = "/tmp/";
    const char *name = path + sizeof tmp - 1;
    if (strncmp(path, tmp, sizeof tmp - 1) || strchr(name, '/') ||
        strncmp(name, CP_VERDICT_PREFIX, strlen(CP_VERDICT_PREFIX)))
        return NULL;
    return name;
}

/* The JVM's /tmp, not following a symlink at any step we control. */
static int open_tmp(pid_t pid)
{
    char root[64];
    snprintf(root, sizeof root, "/proc/%d/root", (int)pid);
    int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0)
        return -1;
    int tfd = openat(rfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    int e = errno;
    close(rfd);
    errno = e;
    return tfd;
}

int cp_verdict_file_take(pid_t pid, uid_t uid, const char *path, cp_verdict_t *v,
                         char *why, size_t whylen)
{
    cp_verdict_init(v);
    const char *name = name_in_tmp(path);
    if (!name) {
        snprintf(why, whylen, "'%s' is not a verdict file name", path);
        return CP_EINVAL;
    }
    int tfd = open_tmp(pid);
    if (tfd < 0) {
        snprintf(why, whylen, "cannot open the JVM's /tmp: %s", strerror(errno));
        return errno == ENOENT ? CP_ENOTFOUND : CP_EPERM;
    }
    int rc = 0;
    char *buf = NULL;
    int fd = openat(tfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        rc = errno == ENOENT ? CP_ENOTFOUND : CP_EPERM;
        snprintf(why, whylen, "%s", errno == ENOENT ? "the agent wrote no verdict file" : strerror(errno));
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_uid != uid ||
        (st.st_mode & 077) || st.st_size > VERDICT_MAX_BYTES) {
        /* not what the agent creates: someone else's file, left alone */
        snprintf(why, whylen, "%s is not the agent's (owner %lu, mode %03o, %lu link(s)): ignored", path,
                 (unsigned long)st.st_uid, (unsigned)(st.st_mode & 0777), (unsigned long)st.st_nlink);
        rc = CP_EPERM;
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        rc = CP_ENOMEM;
        snprintf(why, whylen, "out of memory");
        goto out;
    }
    size_t n = 0;
    while (n < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    unlinkat(tfd, name, 0);
    rc = cp_verdict_parse(buf, n, v);
    if (rc == CP_ETRUNC)
        snprintf(why, whylen, "the agent's verdict is incomplete (no end line)");
    else if (rc)
        snprintf(why, whylen, "%s is not a verdict: %s", path, cp_strerror(rc));
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    close(tfd);
    return rc;
}

void cp_verdict_file_discard(pid_t pid, const char *path)
{
    const char *name = name_in_tmp(path);
    int tfd = name ? open_tmp(pid) : -1;
    if (tfd < 0)
        return;
    unlinkat(tfd, name, 0);
    close(tfd);
}
