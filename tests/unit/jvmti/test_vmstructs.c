/* test_vmstructs.c - HotSpot VMStructs table parsing and the signal-safe
 * anchor accessor (jvmti/vmstructs.c), on fake tables and a fake
 * JavaThread laid out the way HotSpot exports it. The JNIEnv measurement
 * needs a real JVM: tests/integration/test_agent_agct_anchor.py. */
#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "error.h"
#include "vmstructs.h"

/* HotSpot's VMStructEntry and VMIntConstantEntry, as vmStructs.hpp declares them. */
typedef struct {
    const char *typeName;
    const char *fieldName;
    const char *typeString;
    int32_t isStatic;
    uint64_t offset;
    void *address;
} fake_field_t;

typedef struct {
    const char *name;
    int32_t value;
} fake_int_t;

static fake_field_t fields[] = {
    {"Thread", "_osthread", "OSThread*", 0, 72, NULL},
    {"JavaThread", "_threadObj", "OopHandle", 0, 560, NULL},
    {"JavaThread", "_anchor", "JavaFrameAnchor", 0, 600, NULL},
    {"JavaThread", "_thread_state", "JavaThreadState", 0, 904, NULL},
    {"JavaFrameAnchor", "_last_Java_sp", "intptr_t*", 0, 0, NULL},
    {"JavaFrameAnchor", "_last_Java_pc", "address", 0, 8, NULL},
    {"JavaFrameAnchor", "_last_Java_fp", "intptr_t*", 0, 16, NULL},
    {"JavaThread", "_anchor", "JavaFrameAnchor", 1, 12345, NULL},   /* static: must be ignored */
    {NULL, NULL, NULL, 0, 0, NULL},
};

static fake_int_t ints[] = {
    {"_thread_uninitialized", 0},
    {"_thread_in_native", 4},
    {"_thread_in_vm", 6},
    {"_thread_in_vm_trans", 7},
    {"_thread_in_Java", 8},
    {"_thread_blocked", 10},
    {NULL, 0},
};

static cp_vmstructs_tables_t tables(void)
{
    cp_vmstructs_tables_t t = {
        .fields = (const char *)fields, .f_stride = sizeof(fake_field_t),
        .f_type_name = offsetof(fake_field_t, typeName), .f_field_name = offsetof(fake_field_t, fieldName),
        .f_is_static = offsetof(fake_field_t, isStatic), .f_offset = offsetof(fake_field_t, offset),
        .ints = (const char *)ints, .i_stride = sizeof(fake_int_t),
        .i_name = offsetof(fake_int_t, name), .i_value = offsetof(fake_int_t, value),
    };
    return t;
}

START_TEST(test_vmstructs_parse_finds_fields_and_constants)
{
    cp_vmstructs_tables_t t = tables();
    cp_vmstructs_t vs;
    ck_assert_int_eq(cp_vmstructs_parse(&t, &vs), 0);
    ck_assert_int_eq(vs.thread_anchor, 600);     /* the static duplicate is skipped */
    ck_assert_int_eq(vs.thread_state, 904);
    ck_assert_int_eq(vs.anchor_sp, 0);
    ck_assert_int_eq(vs.anchor_pc, 8);
    ck_assert_int_eq(vs.anchor_fp, 16);
    ck_assert_int_eq(vs.in_native, 4);
    ck_assert_int_eq(vs.in_vm, 6);
    ck_assert_int_eq(vs.in_vm_trans, 7);
    ck_assert_int_eq(vs.in_java, 8);
    ck_assert_int_eq(vs.env_offset, 0);
}
END_TEST

START_TEST(test_vmstructs_parse_missing_field_returns_enotfound)
{
    fake_field_t saved = fields[5];   /* _last_Java_pc */
    fields[5].fieldName = "_renamed_pc";
    cp_vmstructs_tables_t t = tables();
    cp_vmstructs_t vs;
    ck_assert_int_eq(cp_vmstructs_parse(&t, &vs), CP_ENOTFOUND);
    ck_assert_int_eq(vs.anchor_pc, -1);
    ck_assert_int_eq(vs.anchor_sp, 0);
    fields[5] = saved;
}
END_TEST

START_TEST(test_vmstructs_parse_without_fp_still_ok)
{
    fake_field_t saved = fields[6];   /* _last_Java_fp: x86 only, optional */
    fields[6].typeName = "Other";
    cp_vmstructs_tables_t t = tables();
    cp_vmstructs_t vs;
    ck_assert_int_eq(cp_vmstructs_parse(&t, &vs), 0);
    ck_assert_int_eq(vs.anchor_fp, -1);
    fields[6] = saved;
}
END_TEST

START_TEST(test_vmstructs_parse_missing_constant_returns_enotfound)
{
    cp_vmstructs_tables_t t = tables();
    t.ints = NULL;
    cp_vmstructs_t vs;
    ck_assert_int_eq(cp_vmstructs_parse(&t, &vs), CP_ENOTFOUND);
    ck_assert_int_eq(vs.in_vm, -1);
    ck_assert_int_eq(vs.thread_anchor, 600);
}
END_TEST

START_TEST(test_vmstructs_parse_empty_tables_returns_enotfound)
{
    cp_vmstructs_tables_t t = {0};
    cp_vmstructs_t vs;
    ck_assert_int_eq(cp_vmstructs_parse(&t, &vs), CP_ENOTFOUND);
    ck_assert_int_eq(vs.thread_state, -1);
}
END_TEST

/* a fake JavaThread: JNIEnv at +688, anchor at +600, state at +904 */
static _Alignas(16) unsigned char jthread[1024];

static JNIEnv *fake_env(void) { return (JNIEnv *)(jthread + 688); }

START_TEST(test_vmstructs_anchor_before_install_returns_false)
{
    cp_vmstructs_install(NULL);
    cp_vm_anchor_t a;
    ck_assert(!cp_vmstructs_ready());
    ck_assert(!cp_vmstructs_anchor(fake_env(), &a));
    ck_assert_int_eq(cp_vmstructs_in_java(), -1);
}
END_TEST

START_TEST(test_vmstructs_anchor_reads_fake_thread)
{
    cp_vmstructs_tables_t t = tables();
    cp_vmstructs_t vs;
    ck_assert_int_eq(cp_vmstructs_parse(&t, &vs), 0);
    vs.env_offset = 688;
    cp_vmstructs_install(NULL);
    cp_vmstructs_install(&vs);
    ck_assert(cp_vmstructs_ready());
    ck_assert_int_eq(cp_vmstructs_in_java(), 8);

    int32_t state = 6;
    uintptr_t sp = 0x7f0000001000, pc = 0, fp = 0x7f0000001040;
    memcpy(jthread + 904, &state, sizeof state);
    memcpy(jthread + 600 + 0, &sp, sizeof sp);
    memcpy(jthread + 600 + 8, &pc, sizeof pc);
    memcpy(jthread + 600 + 16, &fp, sizeof fp);
    cp_vm_anchor_t a;
    ck_assert(cp_vmstructs_anchor(fake_env(), &a));
    ck_assert_int_eq(a.state, 6);
    ck_assert(a.own);
    ck_assert_uint_eq(a.sp, sp);
    ck_assert_uint_eq(a.pc, 0);
    ck_assert_uint_eq(a.fp, fp);
    ck_assert_ptr_eq(a.sp_slot, (uintptr_t *)(jthread + 600));
    ck_assert_ptr_eq(a.pc_slot, (uintptr_t *)(jthread + 608));
    ck_assert_ptr_eq(a.fp_slot, (uintptr_t *)(jthread + 616));
    /* the slot is the real field: a store through it is what the VM reads */
    *a.pc_slot = 0x1234;
    cp_vm_anchor_t b;
    ck_assert(cp_vmstructs_anchor(fake_env(), &b));
    ck_assert_uint_eq(b.pc, 0x1234);
    ck_assert(!cp_vmstructs_anchor(NULL, &b));
    /* only in_vm, in_vm_trans and in_Java threads are walked by nobody else */
    static const struct { int32_t state; bool own; } states[] = {{4, false}, {6, true}, {7, true},
                                                                 {8, true}, {10, false}, {11, false}};
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
        memcpy(jthread + 904, &states[i].state, sizeof(int32_t));
        ck_assert(cp_vmstructs_anchor(fake_env(), &b));
        ck_assert_msg(b.own == states[i].own, "state %d", states[i].state);
    }
    cp_vmstructs_install(NULL);
    ck_assert(!cp_vmstructs_anchor(fake_env(), &b));
}
END_TEST

START_TEST(test_vmstructs_install_without_env_offset_stays_off)
{
    cp_vmstructs_tables_t t = tables();
    cp_vmstructs_t vs;
    ck_assert_int_eq(cp_vmstructs_parse(&t, &vs), 0);
    cp_vmstructs_install(NULL);
    cp_vmstructs_install(&vs);   /* env_offset 0: not measured */
    ck_assert(!cp_vmstructs_ready());
}
END_TEST

START_TEST(test_vmstructs_load_outside_jvm_returns_enotfound)
{
    cp_vmstructs_tables_t t;
    ck_assert_int_eq(cp_vmstructs_load(&t), CP_ENOTFOUND);
}
END_TEST

/* ---- -XX flags (cp_vmstructs_find_flag): the JVMFlag array as JDK 17 lays it
 * out; its live effect (samples in the JIT's inlined leaves) is checked on
 * every JDK by tests/integration/test_agent_accuracy.py. */
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

static fake_field_t flag_fields[] = {
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

static cp_vmstructs_tables_t flag_tables(void)
{
    cp_vmstructs_tables_t t = {
        .fields = (const char *)flag_fields, .f_stride = sizeof(fake_field_t),
        .f_type_name = offsetof(fake_field_t, typeName), .f_field_name = offsetof(fake_field_t, fieldName),
        .f_is_static = offsetof(fake_field_t, isStatic), .f_offset = offsetof(fake_field_t, offset),
        .f_address = offsetof(fake_field_t, address),
        .types = (const char *)types, .t_stride = sizeof(fake_type_t),
        .t_type_name = offsetof(fake_type_t, typeName), .t_size = offsetof(fake_type_t, size),
    };
    return t;
}

START_TEST(test_vmstructs_flag_finds_each_flag)
{
    cp_vmstructs_tables_t t = flag_tables();
    void *a = NULL;
    ck_assert_int_eq(cp_vmstructs_find_flag(&t, "DebugNonSafepoints", &a), 0);
    ck_assert_ptr_eq(a, &debug_nonsafepoints);
    ck_assert_int_eq(cp_vmstructs_find_flag(&t, "MaxHeapSize", &a), 0);
    ck_assert_ptr_eq(a, &some_int);
    ck_assert_int_eq(cp_vmstructs_find_flag(&t, "NoSuchFlag", &a), CP_ENOTFOUND);
    ck_assert_ptr_null(a);
}
END_TEST

/* numFlags bounds the walk: a flag past it is not seen */
START_TEST(test_vmstructs_flag_walks_num_flags_only)
{
    cp_vmstructs_tables_t t = flag_tables();
    void *a = NULL;
    num_var = 2;
    ck_assert_int_eq(cp_vmstructs_find_flag(&t, "DebugNonSafepoints", &a), CP_ENOTFOUND);
    num_var = 3;
    ck_assert_int_eq(cp_vmstructs_find_flag(&t, "DebugNonSafepoints", &a), 0);
}
END_TEST

/* Any entry missing (an older or newer JVM): CP_ENOTFOUND, the caller
 * falls back to the symbol table. */
START_TEST(test_vmstructs_flag_missing_entries)
{
    void *a = NULL;
    cp_vmstructs_tables_t t = flag_tables();
    fake_type_t saved = types[1];
    types[1].typeName = "JVMFlagX";
    ck_assert_int_eq(cp_vmstructs_find_flag(&t, "DebugNonSafepoints", &a), CP_ENOTFOUND);
    types[1] = saved;
    fake_field_t f = flag_fields[5];
    flag_fields[5].fieldName = "numFlagsX";
    ck_assert_int_eq(cp_vmstructs_find_flag(&t, "DebugNonSafepoints", &a), CP_ENOTFOUND);
    flag_fields[5] = f;
    types[1].size = 4;                      /* smaller than a pointer: refused */
    ck_assert_int_eq(cp_vmstructs_find_flag(&t, "DebugNonSafepoints", &a), CP_ENOTFOUND);
    types[1] = saved;
    cp_vmstructs_tables_t empty = {0};
    ck_assert_int_eq(cp_vmstructs_find_flag(&empty, "DebugNonSafepoints", &a), CP_ENOTFOUND);
    ck_assert_int_eq(cp_vmstructs_find_flag(&t, "DebugNonSafepoints", &a), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vmstructs");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_vmstructs_parse_finds_fields_and_constants);
    tcase_add_test(tc, test_vmstructs_parse_missing_field_returns_enotfound);
    tcase_add_test(tc, test_vmstructs_parse_without_fp_still_ok);
    tcase_add_test(tc, test_vmstructs_parse_missing_constant_returns_enotfound);
    tcase_add_test(tc, test_vmstructs_parse_empty_tables_returns_enotfound);
    tcase_add_test(tc, test_vmstructs_load_outside_jvm_returns_enotfound);
    suite_add_tcase(s, tc);
    tc = tcase_create("anchor");
    tcase_add_test(tc, test_vmstructs_anchor_before_install_returns_false);
    tcase_add_test(tc, test_vmstructs_anchor_reads_fake_thread);
    tcase_add_test(tc, test_vmstructs_install_without_env_offset_stays_off);
    suite_add_tcase(s, tc);
    tc = tcase_create("flags");
    tcase_add_test(tc, test_vmstructs_flag_finds_each_flag);
    tcase_add_test(tc, test_vmstructs_flag_walks_num_flags_only);
    tcase_add_test(tc, test_vmstructs_flag_missing_entries);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
