/* test_codemap.c - jvmti/codemap.c: compiled/inlined/interpreted frame kinds. */
#include <check.h>
#include <jvmti.h>
#include <jvmticmlr.h>
#include <string.h>

#include "codemap.h"
#include "stack_dict.h"

#define M(x) ((jmethodID)(uintptr_t)(x))

/* One nmethod for root R=0x100 with pcs: [A@5 <- B@7 <- R@9] and [R@20]. */
static void add_nmethod(void)
{
    static jmethodID ms1[] = {M(0xA0), M(0xB0), M(0x100)};
    static jint bcis1[] = {5, 7, 9};
    static jmethodID ms2[] = {M(0x100)};
    static jint bcis2[] = {20};
    static PCStackInfo pcs[2];
    pcs[0] = (PCStackInfo){(void *)0x1, 3, ms1, bcis1};
    pcs[1] = (PCStackInfo){(void *)0x2, 1, ms2, bcis2};
    static jvmtiCompiledMethodLoadInlineRecord rec;
    memset(&rec, 0, sizeof rec);
    rec.header.kind = JVMTI_CMLR_INLINE_INFO;
    rec.header.next = NULL;
    rec.numpcs = 2;
    rec.pcinfo = pcs;
    static jvmtiCompiledMethodLoadDummyRecord dummy;
    memset(&dummy, 0, sizeof dummy);
    dummy.header.kind = JVMTI_CMLR_DUMMY;
    dummy.header.next = &rec.header;
    cp_codemap_add(&dummy);
}

/* Inactive (jit.kinds=off, the default): the agent enables no
 * CompiledMethodLoad, so kinds are only Java and native, whatever the map
 * holds. */
START_TEST(test_codemap_inactive_says_java_and_native_only)
{
    add_nmethod();
    cp_codemap_set_active(false);
    cp_ring_frame_t f[3] = {{5, M(0xA0)}, {-3, M(0xB0)}, {9, M(0x100)}};
    uint8_t k[3];
    cp_codemap_classify(f, 3, k);
    ck_assert_int_eq(k[0], CP_FRAME_JAVA);
    ck_assert_int_eq(k[1], CP_FRAME_NATIVE);
    ck_assert_int_eq(k[2], CP_FRAME_JAVA);
    cp_codemap_set_active(true);
}
END_TEST

START_TEST(test_codemap_inlined_chain_marks_inlined_and_compiled)
{
    add_nmethod();
    /* leaf first: A@5, B@7, R@9, then an interpreted caller Main@3 */
    cp_ring_frame_t f[4] = {{5, M(0xA0)}, {7, M(0xB0)}, {9, M(0x100)}, {3, M(0x200)}};
    uint8_t k[4];
    cp_codemap_classify(f, 4, k);
    ck_assert_int_eq(k[0], CP_FRAME_INLINED);
    ck_assert_int_eq(k[1], CP_FRAME_INLINED);
    ck_assert_int_eq(k[2], CP_FRAME_COMPILED);
    ck_assert_int_eq(k[3], CP_FRAME_INTERPRETED);
}
END_TEST

START_TEST(test_codemap_single_scope_pc_is_compiled_other_bci_interpreted)
{
    add_nmethod();
    cp_ring_frame_t f[2] = {{20, M(0x100)}, {21, M(0x100)}};
    uint8_t k[2];
    cp_codemap_classify(f, 2, k);
    ck_assert_int_eq(k[0], CP_FRAME_COMPILED);
    ck_assert_int_eq(k[1], CP_FRAME_INTERPRETED);
}
END_TEST

START_TEST(test_codemap_native_frames_stay_native_and_break_chains)
{
    add_nmethod();
    cp_ring_frame_t f[3] = {{-3, M(0x300)}, {5, M(0xA0)}, {-3, M(0xB0)}};
    uint8_t k[3];
    cp_codemap_classify(f, 3, k);
    ck_assert_int_eq(k[0], CP_FRAME_NATIVE);
    ck_assert_int_eq(k[1], CP_FRAME_INTERPRETED);   /* A@5 alone is no full chain */
    ck_assert_int_eq(k[2], CP_FRAME_NATIVE);
}
END_TEST

START_TEST(test_codemap_counts_chains_and_ignores_null_info)
{
    cp_codemap_add(NULL);
    add_nmethod();
    add_nmethod();   /* same chains: not counted twice */
    uint64_t chains, drops;
    cp_codemap_stats(&chains, &drops);
    ck_assert_uint_eq(chains, 2);
    ck_assert_uint_eq(drops, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("codemap");
    TCase *tc = tcase_create("classify");
    tcase_add_test(tc, test_codemap_inlined_chain_marks_inlined_and_compiled);
    tcase_add_test(tc, test_codemap_single_scope_pc_is_compiled_other_bci_interpreted);
    tcase_add_test(tc, test_codemap_native_frames_stay_native_and_break_chains);
    tcase_add_test(tc, test_codemap_counts_chains_and_ignores_null_info);
    suite_add_tcase(s, tc);
    tcase_add_test(tc, test_codemap_inactive_says_java_and_native_only);
    cp_codemap_set_active(true);   /* jit.kinds=on: the other tests classify */
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);  /* CK_VERBOSITY from the environment */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
