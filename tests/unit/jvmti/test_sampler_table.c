/* test_sampler_table.c - jvmti/sampler_table.c: the sampler's thread table.
 * A process's threads (tids in a run) must fill a few blocks of the table,
 * and walks must visit only those: a walk over all 8,192 slots faulted ~96
 * zero pages in on the JVM's main thread at VMInit (issue 14). The pages
 * of the table that are resident are counted with mincore(2). */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "sampler_int.h"

/* the one sampler_cpu.c function the table calls (on remove): a mock */
void cp__cpu_disarm(cp__reg_entry_t *e)
{
    e->has_timer = false;
}

static int resident_pages(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)cp__reg & ~(uintptr_t)(pg - 1);
    uintptr_t hi = (uintptr_t)(cp__reg + CP__REG_SLOTS);
    size_t n = (hi - lo + (uintptr_t)pg - 1) / (uintptr_t)pg;
    unsigned char *v = calloc(n, 1);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(mincore((void *)lo, hi - lo, v), 0);
    int r = 0;
    for (size_t i = 0; i < n; i++)
        r += v[i] & 1;
    free(v);
    return r;
}

static int walk_count(int *visited)
{
    int live = 0;
    *visited = 0;
    for (int i = cp__reg_walk(0); i < CP__REG_SLOTS; i = cp__reg_walk(i + 1)) {
        (*visited)++;
        if (atomic_load_explicit(&cp__reg[i].tid, memory_order_relaxed) > 0)
            live++;
    }
    return live;
}

START_TEST(test_a_run_of_tids_fills_few_blocks_and_walks_touch_only_them)
{
    int before = resident_pages();
    pthread_mutex_lock(&cp__reg_mu);
    const int base = 4194000, n = 60;   /* a JVM's threads: a run of tids */
    for (int k = 0; k < n; k++) {
        bool created;
        cp__reg_entry_t *e = cp__reg_get(base + k, &created);
        ck_assert_ptr_nonnull(e);
        ck_assert(created);
    }
    int visited = 0, live = walk_count(&visited);
    pthread_mutex_unlock(&cp__reg_mu);
    ck_assert_int_eq(live, n);
    /* 60 consecutive tids span at most 2 blocks of 64 */
    ck_assert_int_le(visited, 2 * CP__REG_BLOCK);
    for (int k = 0; k < n; k++)
        ck_assert_ptr_eq(cp__reg_find(base + k), &cp__reg[(base + k) & (CP__REG_SLOTS - 1)]);
    ck_assert_ptr_null(cp__reg_find(base + n));
    /* 60 entries of 48 bytes and the walk: a few pages, not the table's ~96 */
    int after = resident_pages();
    ck_assert_msg(after - before <= 3, "%d pages of the table resident after the inserts and a walk (%d before)",
                  after, before);
}
END_TEST

START_TEST(test_colliding_tids_tombstones_and_reuse)
{
    pthread_mutex_lock(&cp__reg_mu);
    bool created;
    const int a = 8192 * 300 + 17, b = a + CP__REG_SLOTS, c = b + CP__REG_SLOTS;   /* one home slot */
    cp__reg_entry_t *ea = cp__reg_get(a, &created), *eb = cp__reg_get(b, &created), *ec = cp__reg_get(c, &created);
    ck_assert_ptr_nonnull(ea);
    ck_assert_ptr_nonnull(eb);
    ck_assert_ptr_nonnull(ec);
    ck_assert(ea != eb && eb != ec);
    cp__reg_remove(eb);                     /* a tombstone between a and c */
    ck_assert_ptr_eq(cp__reg_find(c), ec);  /* found across it */
    ck_assert_ptr_null(cp__reg_find(b));
    cp__reg_entry_t *eb2 = cp__reg_get(b, &created);
    ck_assert(created);
    ck_assert_ptr_eq(eb2, eb);              /* the tombstone is reused */
    int visited = 0, live = walk_count(&visited);
    pthread_mutex_unlock(&cp__reg_mu);
    ck_assert_int_ge(live, 3);
    ck_assert_ptr_eq(cp__reg_find(a), ea);
}
END_TEST

/* Sleeps to just after the next whole second of CLOCK_MONOTONIC. */
static void next_second(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    struct timespec d = {0, 1000000000L - t.tv_nsec + 20000000L};
    if (d.tv_nsec >= 1000000000L) {
        d.tv_sec = 1;
        d.tv_nsec -= 1000000000L;
    }
    nanosleep(&d, NULL);
}

/* The handlers' name cache (cp__thread_name): the thread's own name, read
 * once a second at most (prctl is a system call in every sample of a
 * thread without Java frames); a renamed thread shows from the next
 * second; a slot taken by a new thread forgets the old name; no slot:
 * the name itself each time. */
START_TEST(test_thread_name_cache)
{
    char out[16], was[16];
    prctl(PR_GET_NAME, was, 0, 0, 0);
    pthread_mutex_lock(&cp__reg_mu);
    bool created;
    cp__reg_entry_t *e = cp__reg_get(7777001, &created);
    pthread_mutex_unlock(&cp__reg_mu);
    ck_assert_ptr_nonnull(e);
    next_second();                            /* the rest of the test well inside one second */
    prctl(PR_SET_NAME, "first-name", 0, 0, 0);
    cp__thread_name(e, out);
    ck_assert_str_eq(out, "first-name");
    prctl(PR_SET_NAME, "second-name", 0, 0, 0);
    cp__thread_name(e, out);
    ck_assert_str_eq(out, "first-name");      /* cached within the second */
    cp__thread_name(NULL, out);
    ck_assert_str_eq(out, "second-name");     /* no slot: read each time */
    next_second();
    cp__thread_name(e, out);
    ck_assert_str_eq(out, "second-name");     /* the next second reads it again */
    prctl(PR_SET_NAME, "third-name", 0, 0, 0);
    pthread_mutex_lock(&cp__reg_mu);
    cp__reg_remove(e);
    cp__reg_entry_t *e2 = cp__reg_get(7777001 + CP__REG_SLOTS, &created);   /* same home slot */
    pthread_mutex_unlock(&cp__reg_mu);
    ck_assert_ptr_eq(e2, e);
    ck_assert(created);
    cp__thread_name(e2, out);
    ck_assert_str_eq(out, "third-name");      /* a new thread in the slot: not the old name */
    prctl(PR_SET_NAME, "a-name-longer-than-15", 0, 0, 0);
    next_second();
    cp__thread_name(e2, out);
    ck_assert_str_eq(out, "a-name-longer-t"); /* the kernel's 15 characters, terminated */
    prctl(PR_SET_NAME, was, 0, 0, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sampler_table");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, test_a_run_of_tids_fills_few_blocks_and_walks_touch_only_them);
    tcase_add_test(tc, test_colliding_tids_tombstones_and_reuse);
    tcase_add_test(tc, test_thread_name_cache);
    tcase_set_timeout(tc, 20);   /* the name test waits for 3 second boundaries */
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);   /* the resident-page count is this process's */
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
