/* pytask.c - reader of cprof_pyspark's task buffer (pytask.h). */
#include "pytask.h"

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
    char path[96];      /* for unlink: valid after the process is gone */
};

void cp_pytask_path(pid_t pid, bool via_proc_root, char *out, size_t cap)
{
    if (via_proc_root)
        snprintf(out, cap, "/proc/%d/root/dev/shm/cprof-py-%d", (int)pid, (int)pid);
    else
        snprintf(out, cap, "/dev/shm/cprof-py-%d", (int)pid);
}

cp_pytask_buf_t *cp_pytask_open(pid_t pid)
{
    char path[96];
    cp_pytask_path(pid, true, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
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
    /* /proc/PID/root vanishes with the process: unlink through our own
     * /dev/shm when the worker shares our root (then it is the same file) */
    char root[8] = "";
    ssize_t rl;
    char rp[48];
    snprintf(rp, sizeof rp, "/proc/%d/root", (int)pid);
    rl = readlink(rp, root, sizeof root - 1);
    cp_pytask_path(pid, !(rl == 1 && root[0] == '/'), b->path, sizeof b->path);
    return b;
}

void cp_pytask_close(cp_pytask_buf_t *b, bool unlink_file)
{
    if (!b)
        return;
    munmap((void *)b->m, CP_PYTASK_SIZE);
    if (unlink_file)
        unlink(b->path);
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
