/* test_procfile.c - Check tests for cli/procfile.c: whole files of any size
 * up to the cap, the cut at the cap, errors as -errno, and that a short
 * file costs a short buffer (watch looks at every new JVM's cmdline and
 * environ; a 4 MB buffer per look was its largest cost). */
#include <check.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procfile.h"

/* A temporary file holding n bytes of a known pattern; path in out. */
static void make_file(char *out, size_t outlen, size_t n)
{
    snprintf(out, outlen, "/tmp/cprof-procfile-XXXXXX");
    int fd = mkstemp(out);
    ck_assert_int_ge(fd, 0);
    char chunk[4096];
    size_t done = 0;
    while (done < n) {
        size_t k = n - done < sizeof chunk ? n - done : sizeof chunk;
        for (size_t i = 0; i < k; i++)
            chunk[i] = (char)('a' + (done + i) % 26);
        ck_assert_int_eq(write(fd, chunk, k), (ssize_t)k);
        done += k;
    }
    close(fd);
}

static void check_pattern(const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] != (char)('a' + i % 26))
            ck_abort_msg("byte %zu is '%c'", i, b[i]);
    ck_assert_int_eq(b[n], '\0');
}

START_TEST(test_procfile_read_all_sizes)
{
    static const size_t sizes[] = {0, 1, 4094, 4095, 4096, 4097, 100000, 1u << 20};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        char path[64];
        make_file(path, sizeof path, sizes[k]);
        char *b = (char *)1;
        ssize_t n = cp_procfile_read_all(path, &b, 4u << 20);
        ck_assert_int_eq(n, (ssize_t)sizes[k]);
        ck_assert_ptr_nonnull(b);
        check_pattern(b, sizes[k]);
        free(b);
        unlink(path);
    }
}
END_TEST

START_TEST(test_procfile_read_all_cuts_at_max)
{
    char path[64];
    make_file(path, sizeof path, 10000);
    char *b;
    ck_assert_int_eq(cp_procfile_read_all(path, &b, 5000), 4999);
    check_pattern(b, 4999);
    free(b);
    ck_assert_int_eq(cp_procfile_read_all(path, &b, 2), 1);
    check_pattern(b, 1);
    free(b);
    ck_assert_int_eq(cp_procfile_read_all(path, &b, 1), -EINVAL);
    ck_assert_ptr_null(b);
    unlink(path);
}
END_TEST

START_TEST(test_procfile_errors_are_negative_errno)
{
    char *b = (char *)1;
    ck_assert_int_eq(cp_procfile_read_all("/nonexistent/cprof", &b, 4096), -ENOENT);
    ck_assert_ptr_null(b);
    char buf[16] = "junk";
    ck_assert_int_eq(cp_procfile_read("/nonexistent/cprof", buf, sizeof buf), -ENOENT);
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(cp_procfile_read("/proc/self", buf, sizeof buf), -EISDIR);
    ck_assert_int_eq(cp_procfile_read_all("/proc/self", &b, 4096), -EISDIR);
    ck_assert_ptr_null(b);
}
END_TEST

/* The defect: hotspot_attach.c read each JVM's cmdline into malloc(4 MB)
 * and its environ into malloc(128 KB), on every look. */
START_TEST(test_procfile_short_proc_file_costs_a_short_buffer)
{
    char *b;
    ssize_t n = cp_procfile_read_all("/proc/self/cmdline", &b, 4u << 20);
    ck_assert_int_gt(n, 0);
    ck_assert_uint_lt(malloc_usable_size(b), 64 * 1024);
    ck_assert_uint_ge(malloc_usable_size(b), (size_t)n + 1);
    free(b);
    n = cp_procfile_read_all("/proc/self/environ", &b, 1u << 17);
    ck_assert_int_ge(n, 0);
    ck_assert_uint_lt(malloc_usable_size(b), (size_t)n * 2 + 4096 + 64);
    free(b);
    char small[8];
    n = cp_procfile_read("/proc/self/stat", small, sizeof small);
    ck_assert_int_eq(n, 7);                      /* cut, NUL-terminated */
    ck_assert_uint_eq(strlen(small), 7);
}
END_TEST

static Suite *procfile_suite(void)
{
    Suite *s = suite_create("procfile");
    TCase *tc = tcase_create("read");
    tcase_add_test(tc, test_procfile_read_all_sizes);
    tcase_add_test(tc, test_procfile_read_all_cuts_at_max);
    tcase_add_test(tc, test_procfile_errors_are_negative_errno);
    tcase_add_test(tc, test_procfile_short_proc_file_costs_a_short_buffer);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(procfile_suite());
    srunner_run_all(sr, CK_ENV);  /* CK_VERBOSITY from the environment */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
