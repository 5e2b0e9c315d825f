/* test_verdict_file.c - the agent's verdict file end to end without a JVM:
 * written as the agent writes it (jvmti/verdict.c), read and removed as
 * `cprof attach` does (cli/verdict_file.c, through /proc/self/root/tmp),
 * and every file that is not the agent's left alone. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "verdict_file.h"

static char path[128];

static void setup(void)
{
    ck_assert_int_eq(cp_verdict_file_name(getpid(), path, sizeof path), 0);
}

static void teardown(void)
{
    unlink(path);
}

static void agent_verdict(cp_verdict_t *v)
{
    cp_options_t o;
    cp_options_defaults(&o);
    cp_verdict_init(v);
    cp_options_sink_t sink = {NULL, NULL, cp_verdict_judge, v};
    char opts[256];
    snprintf(opts, sizeof opts, "app=shop,cpu=bogus,nonsense,token=s3cret,verdict=%s", path);
    cp_options_parse_to(&o, opts, &sink);
    snprintf(v->path, sizeof v->path, "%s", o.verdict);
    cp_verdict_refuse(v, "app", "a reason only the agent knows");
    cp_verdict_state(v, "running: relay=ws://127.0.0.1:7070 app=shop");
}

START_TEST(test_verdict_file_written_by_agent_is_read_and_removed)
{
    cp_verdict_t v, got;
    agent_verdict(&v);
    ck_assert_str_eq(v.path, path);
    ck_assert_int_eq(v.n, 4);   /* verdict= itself is not an entry */
    ck_assert_int_eq(cp_verdict_write(&v), 0);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    char why[256] = "";
    ck_assert_int_eq(cp_verdict_file_take(getpid(), geteuid(), path, &got, why, sizeof why), 0);
    ck_assert_int_ne(access(path, F_OK), 0);   /* removed */
    ck_assert_int_eq(got.n, 4);
    ck_assert_str_eq(got.e[0].option, "app=shop");
    ck_assert_str_eq(got.e[0].reason, "a reason only the agent knows");
    ck_assert_str_eq(got.e[1].option, "cpu=bogus");
    ck_assert_str_eq(got.e[1].reason, "not a duration (10ms, 1ms, 500us) or off");
    ck_assert_str_eq(got.e[2].option, "nonsense");
    ck_assert_str_eq(got.e[2].reason, "expected key=value");
    ck_assert_str_eq(got.e[3].option, "token=(hidden)");
    ck_assert_str_eq(got.e[3].reason, "");
    ck_assert_int_eq(cp_verdict_refused(&got), 3);
    ck_assert_str_eq(got.state, "running: relay=ws://127.0.0.1:7070 app=shop");
}
END_TEST

START_TEST(test_verdict_file_agent_never_opens_an_existing_file_or_another_name)
{
    cp_verdict_t v;
    agent_verdict(&v);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);   /* planted first */
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "x", 1), 1);
    close(fd);
    ck_assert_int_eq(cp_verdict_write(&v), CP_EIO);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, 1);   /* untouched */
    unlink(path);
    ck_assert_int_eq(symlink("/tmp/cprof-verdict-target-never", path), 0);
    ck_assert_int_eq(cp_verdict_write(&v), CP_EIO);
    ck_assert_int_ne(access("/tmp/cprof-verdict-target-never", F_OK), 0);
    unlink(path);
    snprintf(v.path, sizeof v.path, "/tmp/not-a-verdict");
    ck_assert_int_eq(cp_verdict_write(&v), CP_EINVAL);
    snprintf(v.path, sizeof v.path, "relative/.cprof-verdict-1");
    ck_assert_int_eq(cp_verdict_write(&v), CP_EINVAL);
}
END_TEST

START_TEST(test_verdict_file_reader_leaves_files_that_are_not_the_agents)
{
    cp_verdict_t v;
    char why[256];
    ck_assert_int_eq(cp_verdict_file_take(getpid(), geteuid(), path, &v, why, sizeof why), CP_ENOTFOUND);
    /* readable by others: not what the agent creates */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    ck_assert_int_ge(fd, 0);
    fchmod(fd, 0644);
    ck_assert_int_eq(write(fd, "cprof-verdict 1\nend\n", 20), 20);
    close(fd);
    ck_assert_int_eq(cp_verdict_file_take(getpid(), geteuid(), path, &v, why, sizeof why), CP_EPERM);
    ck_assert_int_eq(access(path, F_OK), 0);
    /* another owner */
    chmod(path, 0600);
    ck_assert_int_eq(cp_verdict_file_take(getpid(), geteuid() + 1, path, &v, why, sizeof why), CP_EPERM);
    ck_assert_ptr_nonnull(strstr(why, "is not the agent's"));
    unlink(path);
    /* a symlink to a real verdict */
    char real[160];
    snprintf(real, sizeof real, "%s-real", path);
    fd = open(real, O_WRONLY | O_CREAT | O_EXCL, 0600);
    ck_assert_int_eq(write(fd, "cprof-verdict 1\nend\n", 20), 20);
    close(fd);
    ck_assert_int_eq(symlink(real, path), 0);
    ck_assert_int_eq(cp_verdict_file_take(getpid(), geteuid(), path, &v, why, sizeof why), CP_EPERM);
    ck_assert_int_eq(access(real, F_OK), 0);
    unlink(real);
    /* not a verdict file name at all */
    ck_assert_int_eq(cp_verdict_file_take(getpid(), geteuid(), "/etc/passwd", &v, why, sizeof why), CP_EINVAL);
}
END_TEST

START_TEST(test_verdict_parse_truncated_and_newer_files)
{
    cp_verdict_t v;
    const char *cut = "cprof-verdict 1\napplied\tapp=x\nrefused\tcpu=1\tbelow 100us\n";
    ck_assert_int_eq(cp_verdict_parse(cut, strlen(cut), &v), CP_ETRUNC);
    ck_assert_int_eq(v.n, 2);
    ck_assert_str_eq(v.e[1].key, "cpu");
    const char *newer = "cprof-verdict 2\nshiny\tsomething new\nnote\talready-detached\tnothing to do\nend\n";
    ck_assert_int_eq(cp_verdict_parse(newer, strlen(newer), &v), 0);
    ck_assert_str_eq(v.note_kind, "already-detached");
    ck_assert_int_eq(v.n, 0);
    ck_assert_int_eq(cp_verdict_parse("hello\n", 6, &v), CP_EMAGIC);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("verdict_file");
    TCase *tc = tcase_create("file");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_verdict_file_written_by_agent_is_read_and_removed);
    tcase_add_test(tc, test_verdict_file_agent_never_opens_an_existing_file_or_another_name);
    tcase_add_test(tc, test_verdict_file_reader_leaves_files_that_are_not_the_agents);
    suite_add_tcase(s, tc);
    tc = tcase_create("format");
    tcase_add_test(tc, test_verdict_parse_truncated_and_newer_files);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_ENV);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
