/* pytask.c - reader of cprof_pyspark's task buffer (pytask.h). */
#include "pytask.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct cp_pytask_buf {
    const volatile uint8_t *m;
};

void cp_pytask_path(pid_t pid, char *out, size_t cap)
{
    snprintf(out, cap, "/dev/shm/cprof-py-%d", (int)pid);
}

/* An open descriptor of pid's task file, or -1: the link of one of its
 * /proc/<pid>/fd entries names /dev/shm/cprof-py-<pid> ("(deleted)" after
 * the worker unlinked it). */
static int open_task_fd(pid_t pid)
{
    char dir[48], want[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    cp_pytask_path(pid, want, sizeof want);
    size_t wl = strlen(want);
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int fd = -1;
    struct dirent *de;
    while (fd < 0 && (de = readdir(d))) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        char p[96], link[128];
        snprintf(p, sizeof p, "%s/%.16s", dir, de->d_name);
        ssize_t n = readlink(p, link, sizeof link - 1);
        if (n < (ssize_t)wl)
            continue;
        link[n] = '\0';
        if (!memcmp(link, want, wl) && (link[wl] == '\0' || link[wl] == ' '))
            fd = open(p, O_RDONLY | O_CLOEXEC);
    }
    closedir(d);
    return fd;
}

cp_pytask_buf_t *cp_pytask_open(pid_t pid)
{
    int fd = open_task_fd(pid);
    if (fd < 0)
        return NULL;
    struct stat st;
    void *m = MAP_FAILED;
    if (fstat(fd, &st) == 0 && st.st_size >= CP_PYTASK_SIZE)
        m = mmap(NULL, CP_PYTASK_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return NULL;
    uint32_t ver;
    memcpy(&ver, (const uint8_t *)m + 4, 4);
    cp_pytask_buf_t *b = malloc(sizeof *b);
    if (!b || memcmp(m, CP_PYTASK_MAGIC, 4) || ver != CP_PYTASK_VERSION) {
        munmap(m, CP_PYTASK_SIZE);
        free(b);
        return NULL;
    }
    b->m = m;
    return b;
}

void cp_pytask_close(cp_pytask_buf_t *b)
{
    if (!b)
        return;
    munmap((void *)b->m, CP_PYTASK_SIZE);
    free(b);
}

static int64_t i64_at(const volatile uint8_t *m, size_t off)
{
    return *(const volatile int64_t *)(m + off);
}

bool cp_pytask_read(const cp_pytask_buf_t *b, cp_pytask_t *out)
{
    for (int tries = 0; tries < 3; tries++) {
        uint64_t s1 = *(const volatile uint64_t *)(b->m + 8);
        /* acquire: the fields are read after seq (pairs with the writer's
         * store order) */
        atomic_thread_fence(memory_order_acquire);
        cp_pytask_t t = {
            .stage = i64_at(b->m, 16), .partition = i64_at(b->m, 24), .attempt = i64_at(b->m, 32),
            .tid = i64_at(b->m, 40), .sql_id = i64_at(b->m, 48), .active = i64_at(b->m, 56) == 1,
        };
        /* acquire: seq is read again only after the fields */
        atomic_thread_fence(memory_order_acquire);
        uint64_t s2 = *(const volatile uint64_t *)(b->m + 8);
        if (s1 == s2 && !(s1 & 1)) {
            *out = t;
            return true;
        }
    }
    return false;
}
