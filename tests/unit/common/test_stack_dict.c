/* test_stack_dict.c - Check tests for common/stack_dict (interning to dense ids).
 * Through the public header only. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "error.h"
#include "stack_dict.h"

/* Check's ck_assert_* records a mark point (a write) on every pass; in hot
 * loops use REQ, which only calls into Check when it fails. */
#define REQ(expr) do { if (!(expr)) ck_abort_msg("failed: %s", #expr); } while (0)

static cp_stack_dict_t *D;

static void setup(void) { D = cp_stack_dict_create(); ck_assert_ptr_nonnull(D); }
static void teardown(void) { cp_stack_dict_destroy(D); D = NULL; }

static uint32_t str(const char *s)
{
    uint32_t id = 999999;
    REQ(cp_stack_dict_intern_string(D, s, strlen(s), &id) == 0);
    return id;
}

START_TEST(test_stack_dict_strings_get_dense_ids_in_order)
{
    ck_assert_uint_eq(str("a"), 0);
    ck_assert_uint_eq(str("bb"), 1);
    ck_assert_uint_eq(str(""), 2);
    ck_assert_uint_eq(str("a"), 0);
    ck_assert_uint_eq(str("bb"), 1);
    ck_assert_uint_eq(str(""), 2);
    ck_assert_uint_eq(cp_stack_dict_strings(D), 3);
    size_t len = 99;
    const char *s = cp_stack_dict_string(D, 1, &len);
    ck_assert_str_eq(s, "bb");
    ck_assert_uint_eq(len, 2);
    ck_assert_str_eq(cp_stack_dict_string(D, 2, NULL), "");
    ck_assert_ptr_null(cp_stack_dict_string(D, 3, NULL));
}
END_TEST

START_TEST(test_stack_dict_string_with_nul_bytes_is_kept_whole)
{
    uint32_t a, b, c;
    ck_assert_int_eq(cp_stack_dict_intern_string(D, "x\0y", 3, &a), 0);
    ck_assert_int_eq(cp_stack_dict_intern_string(D, "x\0z", 3, &b), 0);
    ck_assert_int_eq(cp_stack_dict_intern_string(D, "x", 1, &c), 0);
    ck_assert_uint_ne(a, b);
    ck_assert_uint_ne(a, c);
    size_t len;
    const char *s = cp_stack_dict_string(D, a, &len);
    ck_assert_uint_eq(len, 3);
    ck_assert_mem_eq(s, "x\0y", 4);   /* stored with a trailing NUL */
}
END_TEST

START_TEST(test_stack_dict_not_nul_terminated_input_is_copied_by_length)
{
    char buf[8] = {'h', 'e', 'l', 'l', 'o', 'X', 'X', 'X'};
    uint32_t id;
    ck_assert_int_eq(cp_stack_dict_intern_string(D, buf, 5, &id), 0);
    ck_assert_str_eq(cp_stack_dict_string(D, id, NULL), "hello");
    ck_assert_uint_eq(str("hello"), id);
}
END_TEST

START_TEST(test_stack_dict_many_strings_keep_ids_and_pointers)
{
    enum { N = 200000 };
    char b[64];
    const char *first = NULL;
    for (uint32_t i = 0; i < N; i++) {
        snprintf(b, sizeof b, "java.lang.Class%u", i);
        REQ(str(b) == i);
        if (i == 0)
            first = cp_stack_dict_string(D, 0, NULL);
    }
    /* Strings live in chunks that never move. */
    ck_assert_ptr_eq(first, cp_stack_dict_string(D, 0, NULL));
    for (uint32_t i = 0; i < N; i += 997) {
        snprintf(b, sizeof b, "java.lang.Class%u", i);
        ck_assert_uint_eq(str(b), i);
        ck_assert_str_eq(cp_stack_dict_string(D, i, NULL), b);
    }
    ck_assert_uint_eq(cp_stack_dict_strings(D), N);
}
END_TEST

START_TEST(test_stack_dict_big_string_round_trips)
{
    size_t n = 300000;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    uint32_t a, b;
    ck_assert_int_eq(cp_stack_dict_intern_string(D, "small", 5, &a), 0);
    ck_assert_int_eq(cp_stack_dict_intern_string(D, big, n, &b), 0);
    size_t len;
    ck_assert_mem_eq(cp_stack_dict_string(D, b, &len), big, n);
    ck_assert_uint_eq(len, n);
    uint32_t b2;
    ck_assert_int_eq(cp_stack_dict_intern_string(D, big, n, &b2), 0);
    ck_assert_uint_eq(b, b2);
    ck_assert_str_eq(cp_stack_dict_string(D, a, NULL), "small");
    ck_assert_uint_eq(str("after"), 2);
    free(big);
}
END_TEST

START_TEST(test_stack_dict_frames_differ_by_every_field)
{
    cp_frame_t f = { .class_id = 1, .method_id = 2, .sig_id = 3, .line = 42, .kind = CP_FRAME_COMPILED };
    uint32_t ids[6];
    ck_assert_int_eq(cp_stack_dict_intern_frame(D, &f, &ids[0]), 0);
    cp_frame_t g = f; g.class_id = 9;
    ck_assert_int_eq(cp_stack_dict_intern_frame(D, &g, &ids[1]), 0);
    g = f; g.method_id = 9;
    ck_assert_int_eq(cp_stack_dict_intern_frame(D, &g, &ids[2]), 0);
    g = f; g.sig_id = 9;
    ck_assert_int_eq(cp_stack_dict_intern_frame(D, &g, &ids[3]), 0);
    g = f; g.line = -1;
    ck_assert_int_eq(cp_stack_dict_intern_frame(D, &g, &ids[4]), 0);
    g = f; g.kind = CP_FRAME_INLINED;
    ck_assert_int_eq(cp_stack_dict_intern_frame(D, &g, &ids[5]), 0);
    for (uint32_t i = 0; i < 6; i++)
        ck_assert_uint_eq(ids[i], i);
    uint32_t again;
    ck_assert_int_eq(cp_stack_dict_intern_frame(D, &f, &again), 0);
    ck_assert_uint_eq(again, 0);
    const cp_frame_t *r = cp_stack_dict_frame(D, 4);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->line, -1);
    ck_assert_uint_eq(r->kind, CP_FRAME_COMPILED);
    ck_assert_ptr_null(cp_stack_dict_frame(D, 6));
    ck_assert_uint_eq(cp_stack_dict_frames(D), 6);
}
END_TEST

START_TEST(test_stack_dict_many_frames_dedupe)
{
    enum { N = 100000 };
    for (int round = 0; round < 2; round++)
        for (uint32_t i = 0; i < N; i++) {
            cp_frame_t f = { .class_id = i % 100, .method_id = i, .sig_id = 0,
                             .line = (int32_t)(i % 7), .kind = (uint8_t)(i % 10) };
            uint32_t id;
            REQ(cp_stack_dict_intern_frame(D, &f, &id) == 0);
            REQ(id == i);
        }
    ck_assert_uint_eq(cp_stack_dict_frames(D), N);
}
END_TEST

START_TEST(test_stack_dict_stacks_dedupe_by_content_and_order)
{
    uint32_t a[] = {0, 1, 2}, b[] = {0, 1}, c[] = {2, 1, 0}, a2[] = {0, 1, 2};
    uint32_t ia, ib, ic, ie, ia2, ie2;
    ck_assert_int_eq(cp_stack_dict_intern_stack(D, a, 3, &ia), 0);
    ck_assert_int_eq(cp_stack_dict_intern_stack(D, b, 2, &ib), 0);
    ck_assert_int_eq(cp_stack_dict_intern_stack(D, c, 3, &ic), 0);
    ck_assert_int_eq(cp_stack_dict_intern_stack(D, NULL, 0, &ie), 0);
    ck_assert_int_eq(cp_stack_dict_intern_stack(D, a2, 3, &ia2), 0);
    ck_assert_int_eq(cp_stack_dict_intern_stack(D, NULL, 0, &ie2), 0);
    ck_assert_uint_eq(ia, 0);
    ck_assert_uint_eq(ib, 1);
    ck_assert_uint_eq(ic, 2);
    ck_assert_uint_eq(ie, 3);
    ck_assert_uint_eq(ia2, 0);
    ck_assert_uint_eq(ie2, 3);
    uint32_t n = 99;
    const uint32_t *fr = cp_stack_dict_stack(D, 2, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(fr[0], 2);
    ck_assert_uint_eq(fr[2], 0);
    /* The empty stack is a known id: non-NULL, n = 0. */
    ck_assert_ptr_nonnull(cp_stack_dict_stack(D, 3, &n));
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(cp_stack_dict_stack(D, 4, &n));
    ck_assert_uint_eq(cp_stack_dict_stacks(D), 4);
}
END_TEST

START_TEST(test_stack_dict_reinterning_a_borrowed_stack_is_safe)
{
    /* The borrowed pointer points into the dict's own pool; interning a
     * prefix of it must work even if the pool grows meanwhile. */
    uint32_t fr[1000];
    for (uint32_t i = 0; i < 1000; i++)
        fr[i] = i;
    uint32_t id, n;
    ck_assert_int_eq(cp_stack_dict_intern_stack(D, fr, 1000, &id), 0);
    const uint32_t *p = cp_stack_dict_stack(D, id, &n);
    uint32_t id2;
    ck_assert_int_eq(cp_stack_dict_intern_stack(D, p, 999, &id2), 0);
    ck_assert_uint_eq(id2, 1);
    p = cp_stack_dict_stack(D, id2, &n);
    ck_assert_uint_eq(n, 999);
    ck_assert_uint_eq(p[998], 998);
}
END_TEST

START_TEST(test_stack_dict_100k_stacks_stay_distinct)
{
    enum { N = 100000 };
    uint32_t fr[32];
    for (int round = 0; round < 2; round++)
        for (uint32_t i = 0; i < N; i++) {
            uint32_t n = 1 + i % 32;
            for (uint32_t k = 0; k < n; k++)
                fr[k] = (i * 31 + k) % 5000;
            fr[0] = i;   /* make each distinct */
            uint32_t id;
            REQ(cp_stack_dict_intern_stack(D, fr, n, &id) == 0);
            REQ(id == i);
        }
    uint32_t n;
    const uint32_t *p = cp_stack_dict_stack(D, 12345, &n);
    ck_assert_uint_eq(n, 1 + 12345 % 32);
    ck_assert_uint_eq(p[0], 12345);
    size_t mem = cp_stack_dict_memory(D);
    /* ~1.65M frame ids (6.6 MB) + entries + index: well under 32 MiB. */
    ck_assert_uint_gt(mem, (size_t)N * 16 * 4);
    ck_assert_uint_lt(mem, (size_t)32 << 20);
}
END_TEST

START_TEST(test_stack_dict_clear_restarts_ids)
{
    ck_assert_uint_eq(str("a"), 0);
    ck_assert_uint_eq(str("b"), 1);
    cp_frame_t f = { .class_id = 0, .method_id = 1 };
    uint32_t id, st;
    ck_assert_int_eq(cp_stack_dict_intern_frame(D, &f, &id), 0);
    ck_assert_int_eq(cp_stack_dict_intern_stack(D, &id, 1, &st), 0);
    size_t before = cp_stack_dict_memory(D);
    cp_stack_dict_clear(D);
    ck_assert_uint_eq(cp_stack_dict_strings(D), 0);
    ck_assert_uint_eq(cp_stack_dict_frames(D), 0);
    ck_assert_uint_eq(cp_stack_dict_stacks(D), 0);
    ck_assert_ptr_null(cp_stack_dict_string(D, 0, NULL));
    ck_assert_ptr_null(cp_stack_dict_frame(D, 0));
    ck_assert_uint_lt(cp_stack_dict_memory(D), before);
    ck_assert_uint_eq(str("b"), 0);
    ck_assert_uint_eq(str("a"), 1);
    f.method_id = 7;
    ck_assert_int_eq(cp_stack_dict_intern_frame(D, &f, &id), 0);
    ck_assert_uint_eq(id, 0);
    ck_assert_int_eq(cp_stack_dict_intern_stack(D, &id, 1, &st), 0);
    ck_assert_uint_eq(st, 0);
}
END_TEST

/* A dictionary cleared for being over its memory limit must come back
 * small: the agent resets when cp_stack_dict_memory() passes its limit, so
 * capacity kept (and counted) after a clear of deep stacks would reset it
 * again at every window. */
START_TEST(test_stack_dict_clear_of_deep_stacks_releases_memory)
{
    cp_stack_dict_t *d = cp_stack_dict_create();
    ck_assert_int_eq(cp_stack_dict_track_prefixes(d), 0);
    size_t empty = cp_stack_dict_memory(d);
    enum { DEPTH = 400, STACKS = 4000 };
    static uint32_t fr[DEPTH];
    for (uint32_t s = 0; s < STACKS; s++) {
        for (uint32_t k = 0; k < DEPTH; k++) {
            char name[32];
            int len = snprintf(name, sizeof name, "m%u_%u", k, (k + s) % 97);
            uint32_t sid;
            REQ(cp_stack_dict_intern_string(d, name, (size_t)len, &sid) == 0);
            cp_frame_t f = {.class_id = sid, .method_id = sid, .kind = CP_FRAME_COMPILED};
            REQ(cp_stack_dict_intern_frame(d, &f, &fr[k]) == 0);
        }
        fr[0] = s % 7;   /* vary the root too */
        uint32_t id;
        REQ(cp_stack_dict_intern_stack(d, fr, DEPTH, &id) == 0);
    }
    size_t full = cp_stack_dict_memory(d);
    ck_assert_uint_gt(full, (size_t)4 << 20);
    cp_stack_dict_clear(d);
    size_t after = cp_stack_dict_memory(d);
    ck_assert_msg(after < empty + 4096, "after clear %zu bytes (full %zu, empty %zu)", after, full, empty);
    /* still works, prefixes still tracked */
    uint32_t a[3] = {0, 0, 0}, id, ref, keep;
    uint32_t s0;
    ck_assert_int_eq(cp_stack_dict_intern_string(d, "x", 1, &s0), 0);
    cp_frame_t f = {.class_id = s0, .method_id = s0};
    ck_assert_int_eq(cp_stack_dict_intern_frame(d, &f, &a[0]), 0);
    ck_assert_int_eq(cp_stack_dict_intern_stack(d, a, 2, &id), 0);
    ck_assert_int_eq(cp_stack_dict_intern_stack(d, a, 3, &id), 0);
    cp_stack_dict_stack_ref(d, id, &ref, &keep);
    ck_assert_uint_eq(keep, 2);
    cp_stack_dict_destroy(d);
}
END_TEST

/* Copying a stack between dictionaries keeps its frames (by content). */
START_TEST(test_stack_dict_copy_stack_between_dictionaries)
{
    cp_stack_dict_t *src = cp_stack_dict_create(), *dst = cp_stack_dict_create();
    uint32_t c, m, sg, f1, f2, st, out, out2;
    ck_assert_int_eq(cp_stack_dict_intern_string(src, "java.util.HashMap", 17, &c), 0);
    ck_assert_int_eq(cp_stack_dict_intern_string(src, "get", 3, &m), 0);
    ck_assert_int_eq(cp_stack_dict_intern_string(src, "", 0, &sg), 0);
    cp_frame_t a = {.class_id = c, .method_id = m, .sig_id = sg, .line = 12, .kind = CP_FRAME_INLINED};
    cp_frame_t b = {.class_id = sg, .method_id = c, .sig_id = sg, .kind = CP_FRAME_THREAD};
    ck_assert_int_eq(cp_stack_dict_intern_frame(src, &b, &f1), 0);
    ck_assert_int_eq(cp_stack_dict_intern_frame(src, &a, &f2), 0);
    uint32_t frames[2] = {f1, f2};
    ck_assert_int_eq(cp_stack_dict_intern_stack(src, frames, 2, &st), 0);
    uint32_t pre;
    ck_assert_int_eq(cp_stack_dict_intern_string(dst, "other", 5, &pre), 0);
    ck_assert_int_eq(cp_stack_dict_copy_stack(dst, src, st, &out), 0);
    ck_assert_int_eq(cp_stack_dict_copy_stack(dst, src, st, &out2), 0);
    ck_assert_uint_eq(out, out2);
    uint32_t n;
    const uint32_t *fs = cp_stack_dict_stack(dst, out, &n);
    ck_assert_uint_eq(n, 2);
    const cp_frame_t *g = cp_stack_dict_frame(dst, fs[1]);
    ck_assert_str_eq(cp_stack_dict_string(dst, g->class_id, NULL), "java.util.HashMap");
    ck_assert_str_eq(cp_stack_dict_string(dst, g->method_id, NULL), "get");
    ck_assert_int_eq(g->line, 12);
    ck_assert_int_eq(g->kind, CP_FRAME_INLINED);
    ck_assert_int_eq(cp_stack_dict_frame(dst, fs[0])->kind, CP_FRAME_THREAD);
    ck_assert_int_eq(cp_stack_dict_copy_stack(dst, src, 99, &out), CP_EINVAL);
    cp_stack_dict_destroy(src);
    cp_stack_dict_destroy(dst);
}
END_TEST

START_TEST(test_stack_dict_bad_arguments_return_einval)
{
    uint32_t id;
    ck_assert_int_eq(cp_stack_dict_intern_string(D, NULL, 3, &id), CP_EINVAL);
    ck_assert_int_eq(cp_stack_dict_intern_stack(D, NULL, 3, &id), CP_EINVAL);
    ck_assert_int_eq(cp_stack_dict_intern_string(D, NULL, 0, &id), 0);
    ck_assert_str_eq(cp_stack_dict_string(D, id, NULL), "");
    uint32_t id2;   /* NULL,0 and "" are the same string (compared, not crashed on) */
    ck_assert_int_eq(cp_stack_dict_intern_string(D, NULL, 0, &id2), 0);
    ck_assert_uint_eq(id2, id);
    ck_assert_int_eq(cp_stack_dict_intern_string(D, "", 0, &id2), 0);
    ck_assert_uint_eq(id2, id);
    cp_stack_dict_destroy(NULL);
}
END_TEST


/* ---- prefix tracking -------------------------------------------------------- */

static uint32_t st(cp_stack_dict_t *d, const uint32_t *f, uint32_t n)
{
    uint32_t id;
    ck_assert_int_eq(cp_stack_dict_intern_stack(d, f, n, &id), 0);
    return id;
}

START_TEST(test_stack_dict_prefix_ref_is_the_longest_shared_prefix)
{
    cp_stack_dict_t *d = cp_stack_dict_create();
    ck_assert_int_eq(cp_stack_dict_track_prefixes(d), 0);
    static const uint32_t a[] = {1, 2, 3, 4}, b[] = {1, 2, 3, 9}, c[] = {1, 2}, e[] = {7, 2, 3},
                          f[] = {1, 2, 3, 9, 5, 6};
    uint32_t ia = st(d, a, 4), ib = st(d, b, 4), ic = st(d, c, 2), ie = st(d, e, 3), ifx = st(d, f, 6);
    uint32_t ref, keep;
    cp_stack_dict_stack_ref(d, ia, &ref, &keep);
    ck_assert_uint_eq(keep, 0);                       /* the first stack shares nothing */
    cp_stack_dict_stack_ref(d, ib, &ref, &keep);
    ck_assert_uint_eq(ref, ia);
    ck_assert_uint_eq(keep, 3);
    cp_stack_dict_stack_ref(d, ic, &ref, &keep);     /* a whole stack may be a prefix */
    ck_assert_uint_eq(ref, ia);
    ck_assert_uint_eq(keep, 2);
    cp_stack_dict_stack_ref(d, ie, &ref, &keep);     /* shares frames, not a prefix */
    ck_assert_uint_eq(keep, 0);
    cp_stack_dict_stack_ref(d, ifx, &ref, &keep);    /* longest: all of b */
    ck_assert_uint_eq(ref, ib);
    ck_assert_uint_eq(keep, 4);
    /* an existing stack interned again keeps its id and ref */
    ck_assert_uint_eq(st(d, b, 4), ib);
    ck_assert_uint_gt(cp_stack_dict_memory(d), 1024 * 16);   /* the prefix index is counted */
    /* survives clear: ids restart, refs too */
    cp_stack_dict_clear(d);
    ck_assert_uint_eq(st(d, b, 4), 0);
    ck_assert_uint_eq(st(d, a, 4), 1);
    cp_stack_dict_stack_ref(d, 1, &ref, &keep);
    ck_assert_uint_eq(ref, 0);
    ck_assert_uint_eq(keep, 3);
    cp_stack_dict_destroy(d);
}
END_TEST

START_TEST(test_stack_dict_prefix_tracking_needs_an_empty_dict)
{
    cp_stack_dict_t *d = cp_stack_dict_create();
    static const uint32_t a[] = {1, 2}, b[] = {1, 3};
    st(d, a, 2);
    ck_assert_int_eq(cp_stack_dict_track_prefixes(d), CP_ESTATE);
    uint32_t ref = 9, keep = 9;
    cp_stack_dict_stack_ref(d, st(d, b, 2), &ref, &keep);   /* untracked: no refs */
    ck_assert_uint_eq(keep, 0);
    cp_stack_dict_stack_ref(d, 77, &ref, &keep);              /* unknown id */
    ck_assert_uint_eq(keep, 0);
    cp_stack_dict_destroy(d);
}
END_TEST

START_TEST(test_stack_dict_prefix_refs_on_many_deep_stacks)
{
    /* 5000 stacks of depth 1..200 over a call tree: every ref is earlier,
     * its first `keep` frames equal, and no earlier stack shares more. */
    cp_stack_dict_t *d = cp_stack_dict_create();
    cp_stack_dict_track_prefixes(d);
    uint32_t fr[200];
    unsigned x = 12345;
    for (uint32_t i = 0; i < 5000; i++) {
        uint32_t n = 1 + (x = x * 1103515245u + 12345u) % 200;
        for (uint32_t k = 0; k < n; k++)
            fr[k] = k < 150 ? (k * 7 + ((x >> 16) % (1 + k / 40))) % 50 : (x >> (k % 16)) % 1000;
        st(d, fr, n);
    }
    uint32_t nk = cp_stack_dict_stacks(d), with_ref = 0;
    for (uint32_t id = 0; id < nk; id++) {
        uint32_t ref, keep, n, rn;
        cp_stack_dict_stack_ref(d, id, &ref, &keep);
        const uint32_t *s = cp_stack_dict_stack(d, id, &n);
        if (!keep)
            continue;
        with_ref++;
        const uint32_t *r = cp_stack_dict_stack(d, ref, &rn);
        if (!(ref < id && keep <= n && keep <= rn && memcmp(s, r, keep * sizeof *s) == 0))
            ck_abort_msg("stack %u: bad ref %u keep %u", id, ref, keep);
    }
    for (uint32_t id = 1; id < nk; id += 7) {           /* maximality, every 7th */
        uint32_t ref, keep, n;
        cp_stack_dict_stack_ref(d, id, &ref, &keep);
        const uint32_t *s = cp_stack_dict_stack(d, id, &n);
        for (uint32_t j = 0; j < id; j++) {
            uint32_t jn, k = 0;
            const uint32_t *t = cp_stack_dict_stack(d, j, &jn);
            while (k < n && k < jn && s[k] == t[k])
                k++;
            if (k > keep)
                ck_abort_msg("stack %u: keep %u but stack %u shares %u", id, keep, j, k);
        }
    }
    ck_assert_uint_gt(with_ref, nk / 2);
    cp_stack_dict_destroy(d);
}
END_TEST

static Suite *stack_dict_suite(void)
{
    Suite *s = suite_create("stack_dict");
    TCase *tc = tcase_create("strings");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);   /* sanitizer builds are ~10x slower */
    tcase_add_test(tc, test_stack_dict_strings_get_dense_ids_in_order);
    tcase_add_test(tc, test_stack_dict_string_with_nul_bytes_is_kept_whole);
    tcase_add_test(tc, test_stack_dict_not_nul_terminated_input_is_copied_by_length);
    tcase_add_test(tc, test_stack_dict_many_strings_keep_ids_and_pointers);
    tcase_add_test(tc, test_stack_dict_big_string_round_trips);
    suite_add_tcase(s, tc);

    tc = tcase_create("frames");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_stack_dict_frames_differ_by_every_field);
    tcase_add_test(tc, test_stack_dict_many_frames_dedupe);
    suite_add_tcase(s, tc);

    tc = tcase_create("stacks");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_stack_dict_stacks_dedupe_by_content_and_order);
    tcase_add_test(tc, test_stack_dict_reinterning_a_borrowed_stack_is_safe);
    tcase_add_test(tc, test_stack_dict_100k_stacks_stay_distinct);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifecycle");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_stack_dict_clear_restarts_ids);
    tcase_add_test(tc, test_stack_dict_clear_of_deep_stacks_releases_memory);
    tcase_add_test(tc, test_stack_dict_copy_stack_between_dictionaries);
    tcase_add_test(tc, test_stack_dict_bad_arguments_return_einval);
    suite_add_tcase(s, tc);

    tc = tcase_create("prefixes");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_stack_dict_prefix_ref_is_the_longest_shared_prefix);
    tcase_add_test(tc, test_stack_dict_prefix_tracking_needs_an_empty_dict);
    tcase_add_test(tc, test_stack_dict_prefix_refs_on_many_deep_stacks);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(stack_dict_suite());
    srunner_run_all(sr, CK_ENV);  /* CK_VERBOSITY from the environment */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
