/* test_store_names.c - stack id -> function name resolution (store_names.h):
 * frames of one function share one name, different functions never do,
 * even when their names' 64-bit hashes collide. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "store_names.h"

static uint64_t same_hash(const void *p, size_t n)
{
    (void)p;
    (void)n;
    return 42;   /* every name collides */
}

static void feed(cp_store_names_t *n)
{
    const char *strs[] = {"p.A", "x", "y", "z"};
    for (int i = 0; i < 4; i++)
        cp_store_names_add_string(n, strs[i], strlen(strs[i]));
    cp_store_names_add_frame(n, 0, 1, CP_FRAME_COMPILED);   /* p.A.x */
    cp_store_names_add_frame(n, 0, 2, CP_FRAME_COMPILED);   /* p.A.y */
    cp_store_names_add_frame(n, 0, 1, CP_FRAME_INLINED);    /* p.A.x again */
    cp_store_names_add_frame(n, 0, 3, CP_FRAME_COMPILED);   /* p.A.z */
    uint8_t s0[] = {0}, s1[] = {1}, s2[] = {2}, s3[] = {3};
    cp_store_names_add_stack(n, s0, 1);
    cp_store_names_add_stack(n, s1, 1);
    cp_store_names_add_stack(n, s2, 1);
    cp_store_names_add_stack(n, s3, 1);
}

static void check_names(cp_store_names_t *n)
{
    uint64_t v[] = {1, 2, 4, 8};
    cp_store_blob_acc_t acc = {v, 4};
    cp_profile_t p;
    memset(&p, 0, sizeof p);
    cp_store_names_profile(n, &acc, &p);
    ck_assert_uint_eq(p.n_names, 3);
    uint64_t x = 0, y = 0, z = 0;
    for (uint32_t i = 0; i < p.n_stacks; i++) {
        const char *leaf = p.names[p.funcs[p.stack_off[i]]];
        if (!strcmp(leaf, "p.A.x"))
            x += p.values[i];
        else if (!strcmp(leaf, "p.A.y"))
            y += p.values[i];
        else if (!strcmp(leaf, "p.A.z"))
            z += p.values[i];
    }
    ck_assert_uint_eq(x, 5);
    ck_assert_uint_eq(y, 2);
    ck_assert_uint_eq(z, 8);
    cp_profile_free(&p);
}

START_TEST(test_store_names_merge_frames_of_one_function)
{
    cp_store_names_t n;
    memset(&n, 0, sizeof n);
    feed(&n);
    check_names(&n);
    cp_store_names_fini(&n);
}
END_TEST

START_TEST(test_store_names_hash_collision_keeps_functions_apart)
{
    cp_store_names_t n;
    memset(&n, 0, sizeof n);
    n.hash = same_hash;
    feed(&n);
    check_names(&n);
    cp_store_names_fini(&n);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store_names");
    TCase *tc = tcase_create("names");
    tcase_add_test(tc, test_store_names_merge_frames_of_one_function);
    tcase_add_test(tc, test_store_names_hash_collision_keeps_functions_apart);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_ENV);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
