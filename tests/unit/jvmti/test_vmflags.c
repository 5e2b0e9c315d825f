/* test_vmflags.c - jvmti/vmflags.c on fake VMStructs tables laid out as
 * HotSpot exports them (VMStructEntry, VMTypeEntry) over a fake JVMFlag
 * array. The live flag's effect (samples in the JIT's inlined leaves) is
 * checked on every JDK by tests/integration/test_agent_accuracy.py. */
#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "error.h"
#include "vmflags.h"

typedef struct {
    const char *typeName, *fieldName, *typeString;
    int32_t isStatic;
    uint64_t offset;
    void *address;
} fake_field_t;

typedef struct {
    const char *typeName, *superclassName;
    int32_t isOopType, isIntegerType, isUnsigned;
    uint64_t size;
} fake_type_t;

typedef struct {               /* JDK 17's JVMFlag: _addr, _name, _flags, _type */
    void *addr;
    const char *name;
    int flags, type;
} fake_flag_t;

static bool debug_nonsafepoints, print_flags;
static int64_t some_int;
static fake_flag_t flag_array[] = {
    {&some_int, "MaxHeapSize", 0, 5},
    {&print_flags, "PrintFlagsFinal", 0, 0},
    {&debug_nonsafepoints, "DebugNonSafepoints", 0, 0},
    {NULL, NULL, 0, 0},
};
static fake_flag_t *flags_var = flag_array;
static size_t num_var = 3;

static fake_field_t fields[] = {
    {"JavaThread", "_anchor", "JavaFrameAnchor", 0, 600, NULL},
    {"JVMFlag", "_addr", "void*", 0, offsetof(fake_flag_t, addr), NULL},
    {"JVMFlag", "_name", "const char*", 0, offsetof(fake_flag_t, name), NULL},
    {"JVMFlag", "flags", "JVMFlag*", 0, 0, NULL},            /* not static: ignored */
    {"JVMFlag", "flags", "JVMFlag*", 1, 0, &flags_var},
    {"JVMFlag", "numFlags", "size_t", 1, 0, &num_var},
    {NULL, NULL, NULL, 0, 0, NULL},
};

static fake_type_t types[] = {
    {"JavaThread", "Thread", 0, 0, 0, 1024},
    {"JVMFlag", NULL, 0, 0, 0, sizeof(fake_flag_t)},
    {NULL, NULL, 0, 0, 0, 0},
};

static cp_vmflags_tables_t tables(void)
{
    cp_vmflags_tables_t t = {
        .fields = (const char *)fields, .f_stride = sizeof(fake_field_t),
        .f_type_name = offsetof(fake_field_t, typeName), .f_field_name = offsetof(fake_field_t, fieldName),
        .f_is_static = offsetof(fake_field_t, isStatic), .f_offset = offsetof(fake_field_t, offset),
        .f_address = offsetof(fake_field_t, address),
        .types = (const char *)types, .t_stride = sizeof(fake_type_t),
        .t_type_name = offsetof(fake_type_t, typeName), .t_size = offsetof(fake_type_t, size),
    };
    return t;
}

START_TEST(test_vmflags_finds_each_flag)
{
    cp_vmflags_tables_t t = tables();
    void *a = NULL;
    ck_assert_int_eq(cp_vmflags_find(&t, "DebugNonSafepoints", &a), 0);
    ck_assert_ptr_eq(a, &debug_nonsafepoints);
    ck_assert_int_eq(cp_vmflags_find(&t, "MaxHeapSize", &a), 0);
    ck_assert_ptr_eq(a, &some_int);
    ck_assert_int_eq(cp_vmflags_find(&t, "NoSuchFlag", &a), CP_ENOTFOUND);
    ck_assert_ptr_null(a);
}
END_TEST

/* numFlags bounds the walk: a flag past it is not seen */
START_TEST(test_vmflags_walks_num_flags_only)
{
    cp_vmflags_tables_t t = tables();
    void *a = NULL;
    num_var = 2;
    ck_assert_int_eq(cp_vmflags_find(&t, "DebugNonSafepoints", &a), CP_ENOTFOUND);
    num_var = 3;
    ck_assert_int_eq(cp_vmflags_find(&t, "DebugNonSafepoints", &a), 0);
}
END_TEST

/* Any entry missing (an older or newer JVM): CP_ENOTFOUND, the caller
 * falls back to the symbol table. */
START_TEST(test_vmflags_missing_entries)
{
    void *a = NULL;
    cp_vmflags_tables_t t = tables();
    fake_type_t saved = types[1];
    types[1].typeName = "JVMFlagX";
    ck_assert_int_eq(cp_vmflags_find(&t, "DebugNonSafepoints", &a), CP_ENOTFOUND);
    types[1] = saved;
    fake_field_t f = fields[5];
    fields[5].fieldName = "numFlagsX";
    ck_assert_int_eq(cp_vmflags_find(&t, "DebugNonSafepoints", &a), CP_ENOTFOUND);
    fields[5] = f;
    types[1].size = 4;                      /* smaller than a pointer: refused */
    ck_assert_int_eq(cp_vmflags_find(&t, "DebugNonSafepoints", &a), CP_ENOTFOUND);
    types[1] = saved;
    cp_vmflags_tables_t empty = {0};
    ck_assert_int_eq(cp_vmflags_find(&empty, "DebugNonSafepoints", &a), CP_ENOTFOUND);
    ck_assert_int_eq(cp_vmflags_find(&t, "DebugNonSafepoints", &a), 0);
}
END_TEST

/* Outside a JVM there are no tables. */
START_TEST(test_vmflags_load_outside_a_jvm)
{
    cp_vmflags_tables_t t;
    ck_assert_int_eq(cp_vmflags_load(&t), CP_ENOTFOUND);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vmflags");
    TCase *tc = tcase_create("find");
    tcase_add_test(tc, test_vmflags_finds_each_flag);
    tcase_add_test(tc, test_vmflags_walks_num_flags_only);
    tcase_add_test(tc, test_vmflags_missing_entries);
    tcase_add_test(tc, test_vmflags_load_outside_a_jvm);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
