/* procfile.c - reading files of /proc (procfile.h). */
#include "procfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

ssize_t cp_procfile_read(const char *path, char *buf, size_t cap)
{
    if (cap == 0)
        return -EINVAL;
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            buf[0] = '\0';
            return -e;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    return (ssize_t)n;
}

ssize_t cp_procfile_read_all(const char *path, char **out, size_t max)
{
    *out = NULL;
    if (max < 2)
        return -EINVAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t cap = max < 4096 ? max : 4096, n = 0;
    char *b = malloc(cap);
    int err = b ? 0 : ENOMEM;
    while (!err) {
        if (n + 1 >= cap) {
            if (cap >= max)
                break;                      /* cut at max-1 bytes */
            size_t ncap = cap * 2 < max ? cap * 2 : max;
            char *nb = realloc(b, ncap);
            if (!nb) {
                err = ENOMEM;
                break;
            }
            b = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, b + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            err = errno;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (err) {
        free(b);
        return -err;
    }
    b[n] = '\0';
    *out = b;
    return (ssize_t)n;
}
