/* test_pyfb.c - the in-process fallback's agent side (jvmti/pyfb.h): the
 * rendezvous socket, answered to forked peers as cprof_pyspark's processes
 * would ask, and the ring reader over records written as fallback.py
 * writes them (wrap, torn head, garbage). */
#include "pyfb.h"

#include "error.h"

#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RING 4096u
#define HDR 64u

static int probe_rc;
static cp_pyfb_t *got_ring;
static pid_t got_pid;

static int probe(pid_t pid)
{
    (void)pid;
    return probe_rc;
}

static bool on_ring(pid_t pid, cp_pyfb_t *r)
{
    got_pid = pid;
    got_ring = r;
    return true;
}

/* A child that sends msg (and fd) to @cprof-py-<parent> and writes the
 * answer into the pipe; the parent polls until the child is done. */
static void ask(const char *msg, int fd, char *answer, size_t cap)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t c = fork();
    if (c == 0) {
        close(p[0]);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        int n = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "cprof-py-%d", (int)getppid());
        int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
        char buf[64] = "";
        if (connect(s, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) == 0) {
            struct iovec iov = {(void *)msg, strlen(msg)};
            union {
                struct cmsghdr h;
                char b[CMSG_SPACE(sizeof(int))];
            } ctl;
            struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
            if (fd >= 0) {
                mh.msg_control = ctl.b;
                mh.msg_controllen = sizeof ctl.b;
                struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
                h->cmsg_level = SOL_SOCKET;
                h->cmsg_type = SCM_RIGHTS;
                h->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(h), &fd, sizeof fd);
            }
            if (sendmsg(s, &mh, 0) > 0) {
                ssize_t k = recv(s, buf, sizeof buf - 1, 0);
                buf[k > 0 ? k : 0] = '\0';
            }
        }
        (void)!write(p[1], buf, strlen(buf) + 1);
        _exit(0);
    }
    close(p[1]);
    int st;
    for (int i = 0; i < 400 && waitpid(c, &st, WNOHANG) == 0; i++) {
        cp_pyfb_poll(10000000, probe, on_ring);
        usleep(5000);
    }
    ssize_t k = read(p[0], answer, cap - 1);
    answer[k > 0 ? k : 0] = '\0';
    close(p[0]);
}

static uint8_t *new_ring(int *fd, bool seal)
{
    *fd = memfd_create("test-ring", MFD_ALLOW_SEALING);
    ck_assert_int_ge(*fd, 0);
    ck_assert_int_eq(ftruncate(*fd, HDR + RING), 0);
    if (seal)
        ck_assert_int_eq(fcntl(*fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
    uint8_t *m = mmap(NULL, HDR + RING, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
    ck_assert_ptr_ne(m, MAP_FAILED);
    memcpy(m, "CPFB", 4);
    uint32_t v = 1, size = RING;
    memcpy(m + 4, &v, 4);
    memcpy(m + 40, &size, 4);
    return m;
}

static uint64_t head_of(uint8_t *m)
{
    uint64_t h;
    memcpy(&h, m + 8, 8);
    return h;
}

static uint64_t tail_of(uint8_t *m)
{
    uint64_t t;
    memcpy(&t, m + 16, 8);
    return t;
}

/* fallback.py's _put: a PAD to the end when the record does not fit. */
static void put(uint8_t *m, const void *rec, uint32_t n)
{
    uint64_t head = head_of(m);
    uint32_t off = (uint32_t)(head & (RING - 1)), room = RING - off;
    ck_assert_uint_le(n <= room ? n : room + n, RING - (head - tail_of(m)));
    if (n > room) {
        uint32_t pad[2] = {room, 0};
        memcpy(m + HDR + off, pad, 8);
        head += room;
        off = 0;
    }
    memcpy(m + HDR + off, rec, n);
    head += n;
    memcpy(m + 8, &head, 8);
}

static void put_func(uint8_t *m, uint32_t idx, const char *mod, const char *text)
{
    uint8_t r[256] = {0};
    uint32_t n = (uint32_t)(12 + strlen(mod) + 1 + strlen(text) + 1 + 7) & ~7u;
    uint16_t type = 1, k = 0;
    memcpy(r, &n, 4);
    memcpy(r + 4, &type, 2);
    memcpy(r + 6, &k, 2);
    memcpy(r + 8, &idx, 4);
    strcpy((char *)r + 12, mod);
    strcpy((char *)r + 12 + strlen(mod) + 1, text);
    put(m, r, n);
}

static void put_sample(uint8_t *m, uint32_t tid, uint64_t w, int64_t task_tid, bool active, uint16_t k,
                       const uint32_t *idx)
{
    uint8_t r[1024] = {0};
    uint32_t n = (72 + 4u * k + 7) & ~7u;
    uint16_t type = 2;
    int64_t task[6] = {3, 7, 0, task_tid, -1, active};
    memcpy(r, &n, 4);
    memcpy(r + 4, &type, 2);
    memcpy(r + 6, &k, 2);
    memcpy(r + 8, &tid, 4);
    memcpy(r + 16, &w, 8);
    memcpy(r + 24, task, sizeof task);
    memcpy(r + 72, idx, 4u * k);
    put(m, r, n);
}

typedef struct seen {
    int funcs, samples;
    char last_text[128], last_mod[64];
    uint64_t weight;
    cp_pyfb_sample_t last;
    uint32_t last_idx[4];
} seen_t;

static void on_func(void *ud, uint32_t idx, const char *mod, const char *text)
{
    seen_t *s = ud;
    (void)idx;
    s->funcs++;
    snprintf(s->last_mod, sizeof s->last_mod, "%s", mod);
    snprintf(s->last_text, sizeof s->last_text, "%s", text);
}

static void on_sample(void *ud, const cp_pyfb_sample_t *x)
{
    seen_t *s = ud;
    s->samples++;
    s->weight += x->weight_ns;
    s->last = *x;
    memcpy(s->last_idx, x->idx, 4 * (x->n < 4 ? x->n : 4));
}

/* Registers a sealed ring through the socket; returns its mapping. */
static uint8_t *registered(cp_pyfb_t **r)
{
    int fd;
    uint8_t *m = new_ring(&fd, true);
    char a[64];
    got_ring = NULL;
    ask("CPFB1 ring", fd, a, sizeof a);
    ck_assert_str_eq(a, "ok 10000000");
    ck_assert_ptr_nonnull(got_ring);
    *r = got_ring;
    close(fd);
    return m;
}

START_TEST(test_pyfb_ask_answers_self_when_the_probe_fails)
{
    ck_assert_int_eq(cp_pyfb_listen(), 0);
    char a[64];
    probe_rc = CP_EPERM;
    ask("CPFB1 ask", -1, a, sizeof a);
    ck_assert_str_eq(a, "self 10000000");
    probe_rc = 0;
    ask("CPFB1 ask", -1, a, sizeof a);
    ck_assert_str_eq(a, "read");
    cp_pyfb_unlisten();
}
END_TEST

START_TEST(test_pyfb_unsealed_ring_is_refused)
{
    ck_assert_int_eq(cp_pyfb_listen(), 0);
    int fd;
    new_ring(&fd, false);
    got_ring = NULL;
    char a[64];
    ask("CPFB1 ring", fd, a, sizeof a);
    ck_assert_str_eq(a, "no");
    ck_assert_ptr_null(got_ring);
    cp_pyfb_unlisten();
}
END_TEST

START_TEST(test_pyfb_drain_reads_records_in_order_across_the_wrap)
{
    ck_assert_int_eq(cp_pyfb_listen(), 0);
    cp_pyfb_t *r;
    uint8_t *m = registered(&r);
    ck_assert_int_gt(got_pid, 0);
    put_func(m, 0, "cpjob", "c_sum (cpjob.py:30)");
    uint32_t idx[3] = {0, 0, 0};
    seen_t s = {0};
    uint64_t total = 0;
    for (int round = 0; round < 40; round++) {   /* ~3 rings' worth: wraps with PAD records */
        for (int i = 0; i < 5; i++) {
            put_sample(m, 4242, 1000 + (uint64_t)i, 7, true, 3, idx);
            total += 1000 + (uint64_t)i;
        }
        ck_assert_int_ge(cp_pyfb_drain(r, 5000000, on_func, on_sample, &s), 5);
        ck_assert_uint_eq(tail_of(m), head_of(m));
    }
    ck_assert_uint_gt(head_of(m), 2 * RING);
    ck_assert_int_eq(s.funcs, 1);
    ck_assert_str_eq(s.last_mod, "cpjob");
    ck_assert_str_eq(s.last_text, "c_sum (cpjob.py:30)");
    ck_assert_int_eq(s.samples, 200);
    ck_assert_uint_eq(s.weight, total);
    ck_assert_int_eq(s.last.tid, 4242);
    ck_assert_int_eq(s.last.n, 3);
    ck_assert(s.last.task.active);
    ck_assert_int_eq(s.last.task.tid, 7);
    ck_assert_int_eq(s.last.task.stage, 3);
    ck_assert_int_eq(s.last.task.partition, 7);
    ck_assert_int_eq(s.last.task.sql_id, -1);
    uint32_t iv;
    memcpy(&iv, m + 44, 4);
    ck_assert_uint_eq(iv, 5000);   /* the interval, told to the worker in us */
    cp_pyfb_close(r);
    cp_pyfb_unlisten();
}
END_TEST

START_TEST(test_pyfb_torn_head_leaves_tail_and_garbage_is_skipped)
{
    ck_assert_int_eq(cp_pyfb_listen(), 0);
    cp_pyfb_t *r;
    uint8_t *m = registered(&r);
    uint32_t idx[1] = {0};
    put_func(m, 0, "m", "f (m.py:1)");
    put_sample(m, 1, 10, -1, false, 1, idx);
    seen_t s = {0};
    ck_assert_int_eq(cp_pyfb_drain(r, 10000000, on_func, on_sample, &s), 2);
    uint64_t good = head_of(m), torn = good - 8;   /* a head behind tail: never written whole */
    memcpy(m + 8, &torn, 8);
    ck_assert_int_eq(cp_pyfb_drain(r, 10000000, on_func, on_sample, &s), CP_EINVAL);
    ck_assert_uint_eq(tail_of(m), good);          /* not moved back: nothing read twice */
    memcpy(m + 8, &good, 8);
    put_sample(m, 1, 20, -1, false, 1, idx);
    ck_assert_int_eq(cp_pyfb_drain(r, 10000000, on_func, on_sample, &s), 1);
    ck_assert_int_eq(s.samples, 2);
    ck_assert_uint_eq(s.weight, 30);
    ck_assert(!s.last.task.active);
    uint32_t bad[2] = {3, 2};                      /* a length no record has */
    put(m, bad, 8);
    put_sample(m, 1, 40, -1, false, 1, idx);
    ck_assert_int_eq(cp_pyfb_drain(r, 10000000, on_func, on_sample, &s), CP_EINVAL);
    ck_assert_uint_eq(tail_of(m), head_of(m));    /* the rest skipped, the ring usable */
    put_sample(m, 1, 80, -1, false, 1, idx);
    ck_assert_int_eq(cp_pyfb_drain(r, 10000000, on_func, on_sample, &s), 1);
    ck_assert_uint_eq(s.weight, 110);
    cp_pyfb_close(r);
    cp_pyfb_unlisten();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pyfb");
    TCase *sock = tcase_create("socket");
    tcase_add_test(sock, test_pyfb_ask_answers_self_when_the_probe_fails);
    tcase_add_test(sock, test_pyfb_unsealed_ring_is_refused);
    suite_add_tcase(s, sock);
    TCase *ring = tcase_create("ring");
    tcase_add_test(ring, test_pyfb_drain_reads_records_in_order_across_the_wrap);
    tcase_add_test(ring, test_pyfb_torn_head_leaves_tail_and_garbage_is_skipped);
    suite_add_tcase(s, ring);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_ENV);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
