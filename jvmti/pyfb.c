/* pyfb.c - rendezvous socket and ring reader of the in-process fallback
 * (pyfb.h).
 *
 * State (cprof-python thread only): the listening socket and up to
 * MAX_PENDING accepted peers whose request has not arrived yet (dropped
 * after PENDING_NS). A ring is mapped shared read-write (the agent writes
 * tail and the interval); the memfd must be sealed against shrinking, so
 * a worker cannot make the agent fault by truncating it. */
#include "pyfb.h"
#include "pyproc.h"
#include "clock.h"

#include "error.h"
#include "log.h"
#include "stats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef F_GET_SEALS
#define F_GET_SEALS 1034
#endif
#ifndef F_SEAL_SHRINK
#define F_SEAL_SHRINK 0x0002
#endif

#define MAX_PENDING 16
#define PENDING_NS  2000000000ULL
#define HDR         64
#define MIN_RING    4096u
#define MAX_RING    (1u << 20)

enum { REC_PAD = 0, REC_FUNC = 1, REC_SAMPLE = 2, REC_SAMPLE_CUT = 3 };

struct cp_pyfb {
    volatile uint8_t *m;
    uint32_t size;                    /* ring bytes */
    uint64_t dropped, cost_ns;        /* the worker's counters at the last drain */
};

typedef struct pending {
    int fd;
    uint64_t deadline;
} pending_t;

static int lfd = -1;
static pending_t pend[MAX_PENDING];
static int n_pend;
static bool warned_listen;


int cp_pyfb_listen(void)
{
    if (lfd >= 0)
        return 0;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int n = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "cprof-py-%d", (int)getpid());
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, len) != 0 || listen(fd, 64) != 0) {
        if (!warned_listen) {
            warned_listen = true;
            CP_LOGW("python: cannot listen on @cprof-py-%d (%s): workers whose memory cannot be read "
                    "will not sample themselves", (int)getpid(), strerror(errno));
        }
        if (fd >= 0)
            close(fd);
        return CP_EIO;
    }
    lfd = fd;
    return 0;
}

void cp_pyfb_unlisten(void)
{
    for (int i = 0; i < n_pend; i++)
        close(pend[i].fd);
    n_pend = 0;
    if (lfd >= 0)
        close(lfd);
    lfd = -1;
}

/* Whether pid descends from this process (its ppid chain reaches us). */
static bool descendant(pid_t pid)
{
    pid_t self = getpid();
    for (int depth = 0; depth < 16 && pid > 1; depth++) {
        pid = cp_pyproc_parent(pid);
        if (pid == self)
            return true;
    }
    return false;
}

static cp_pyfb_t *map_ring(int fd)
{
    struct stat st;
    int seals = fcntl(fd, F_GET_SEALS);
    if (fstat(fd, &st) != 0 || seals < 0 || !(seals & F_SEAL_SHRINK) || st.st_size < HDR + (off_t)MIN_RING ||
        st.st_size > HDR + (off_t)MAX_RING)
        return NULL;
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        return NULL;
    uint32_t ver, size;
    memcpy(&ver, (uint8_t *)m + 4, 4);
    memcpy(&size, (uint8_t *)m + 40, 4);
    cp_pyfb_t *r = calloc(1, sizeof *r);
    if (!r || memcmp(m, "CPFB", 4) || ver != 1 || size < MIN_RING || (size & (size - 1)) ||
        HDR + (off_t)size > st.st_size) {
        munmap(m, (size_t)st.st_size);
        free(r);
        return NULL;
    }
    r->m = m;
    r->size = size;
    return r;
}

void cp_pyfb_close(cp_pyfb_t *r)
{
    if (!r)
        return;
    munmap((void *)r->m, HDR + (size_t)r->size);
    free(r);
}

static void answer(int fd, const char *text)
{
    (void)send(fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Handles the request waiting on fd. Returns false while none has arrived. */
static bool serve(int fd, int64_t interval_ns, cp_pyfb_probe_fn probe, cp_pyfb_ring_fn on_ring)
{
    char msg[64];
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int) * 4)];
    } ctl;
    struct iovec iov = {msg, sizeof msg - 1};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b};
    ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return false;
    int rfd = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int i = 0; i < k; i++) {
                int f;
                memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof f);
                if (rfd < 0)
                    rfd = f;
                else
                    close(f);
            }
        }
    struct ucred cr;
    socklen_t cl = sizeof cr;
    if (n <= 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) != 0 || !descendant(cr.pid))
        goto done;
    msg[n] = '\0';
    char buf[48];
    if (!strcmp(msg, "CPFB1 ask")) {
        int rc = probe(cr.pid);
        if (rc == 0) {
            answer(fd, "read");
        } else {
            snprintf(buf, sizeof buf, "self %lld", (long long)interval_ns);
            answer(fd, buf);
            CP_LOGI("python: process %d samples itself (in-process fallback: %s)", (int)cr.pid,
                    rc == CP_EPERM ? "its memory may not be read" : "its Python cannot be read from outside");
        }
    } else if (!strcmp(msg, "CPFB1 ring") && rfd >= 0) {
        cp_pyfb_t *r = map_ring(rfd);
        if (r && on_ring(cr.pid, r)) {
            snprintf(buf, sizeof buf, "ok %lld", (long long)interval_ns);
            answer(fd, buf);
            cp_stats_add(CP_ST_PY_FALLBACK, 1);
        } else {
            cp_pyfb_close(r);
            answer(fd, "no");
        }
    }
done:
    if (rfd >= 0)
        close(rfd);
    return true;
}

void cp_pyfb_poll(int64_t interval_ns, cp_pyfb_probe_fn probe, cp_pyfb_ring_fn on_ring)
{
    if (lfd < 0)
        return;
    uint64_t now = cp_mono_ns();
    int fd;
    while (n_pend < MAX_PENDING && (fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
        pend[n_pend++] = (pending_t){fd, now + PENDING_NS};
    for (int i = 0; i < n_pend;) {
        if (serve(pend[i].fd, interval_ns, probe, on_ring) || now > pend[i].deadline) {
            close(pend[i].fd);
            pend[i] = pend[--n_pend];
        } else {
            i++;
        }
    }
}

static uint32_t u32_at(const volatile uint8_t *p)
{
    return *(const volatile uint32_t *)p;
}

static uint64_t u64_at(const volatile uint8_t *p)
{
    return *(const volatile uint64_t *)p;
}

int cp_pyfb_drain(cp_pyfb_t *r, int64_t interval_ns, cp_pyfb_func_fn on_func, cp_pyfb_sample_fn on_sample,
                  void *ud)
{
    volatile uint8_t *m = r->m, *ring = m + HDR;
    uint32_t iv_us = (uint32_t)(interval_ns / 1000);
    if (u32_at(m + 44) != iv_us)
        *(volatile uint32_t *)(m + 44) = iv_us;
    uint64_t dropped = u64_at(m + 24), cost = u64_at(m + 32);
    if (dropped > r->dropped)
        cp_stats_add(CP_ST_PY_FB_DROP, dropped - r->dropped);
    if (cost > r->cost_ns)
        cp_stats_add(CP_ST_PY_FB_COST_NS, cost - r->cost_ns);
    r->dropped = dropped;
    r->cost_ns = cost;

    uint64_t head = u64_at(m + 8), tail = u64_at(m + 16);
    /* acquire: the records are read after head (the worker wrote them before it) */
    atomic_thread_fence(memory_order_acquire);
    int n = 0, rc = 0;
    uint32_t idx[CP_PYFB_MAX_DEPTH];
    if (head < tail || head - tail > r->size || (head & 7)) {
        /* not a head the worker could have written: leave tail where it is
         * (moving it back would read records twice, forward would skip the
         * worker's space check) and look again at the next tick */
        cp_stats_add(CP_ST_PY_FB_DROP, 1);
        return CP_EINVAL;
    }
    while (tail < head) {
        uint32_t off = (uint32_t)(tail & (r->size - 1));
        const volatile uint8_t *p = ring + off;
        uint32_t len = u32_at(p), type = *(const volatile uint16_t *)(p + 4), k = *(const volatile uint16_t *)(p + 6);
        if (type == REC_PAD) {
            tail += r->size - off;
            continue;
        }
        if (len < 8 || (len & 7) || len > r->size - off || len > head - tail) {
            rc = CP_EINVAL;
            break;
        }
        if (type == REC_FUNC && len > 14) {
            char b[512];
            uint32_t t = len - 12 < sizeof b ? len - 12 : (uint32_t)sizeof b - 1;
            for (uint32_t i = 0; i < t; i++)
                b[i] = (char)p[12 + i];
            b[t] = '\0';
            const char *mod = b, *text = b + strnlen(b, t);
            text = text < b + t ? text + 1 : text;
            on_func(ud, u32_at(p + 8), mod, text);
        } else if ((type == REC_SAMPLE || type == REC_SAMPLE_CUT) && k <= CP_PYFB_MAX_DEPTH &&
                   72 + 4 * (uint64_t)k <= len) {
            const volatile uint8_t *q = p + 8;   /* tid, 4 bytes of padding, weight, six task fields */
            for (uint32_t i = 0; i < k; i++)
                idx[i] = u32_at(q + 64 + 4 * i);
            cp_pyfb_sample_t s = {
                .tid = (int32_t)u32_at(q), .weight_ns = u64_at(q + 8), .truncated = type == REC_SAMPLE_CUT,
                .task = {.stage = (int64_t)u64_at(q + 16), .partition = (int64_t)u64_at(q + 24),
                         .attempt = (int64_t)u64_at(q + 32), .tid = (int64_t)u64_at(q + 40),
                         .sql_id = (int64_t)u64_at(q + 48), .active = u64_at(q + 56) == 1},
                .n = (uint16_t)k, .idx = idx,
            };
            on_sample(ud, &s);
        } else if (type != REC_FUNC) {
            rc = CP_EINVAL;
            break;
        }
        tail += len;
        n++;
    }
    if (rc)
        tail = head;
    /* release: our reads of the records before the tail that frees them */
    atomic_thread_fence(memory_order_release);
    *(volatile uint64_t *)(m + 16) = tail;
    if (rc)
        cp_stats_add(CP_ST_PY_FB_DROP, 1);
    return rc ? rc : n;
}
