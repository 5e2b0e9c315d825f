/* test_procscan.c - Check tests for cli/procscan.c: /proc/PID/stat parsing
 * (comm with spaces and parentheses), the app name of java command lines,
 * container ids from cgroup files, and the live /proc readers on this
 * process. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "procscan.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

START_TEST(test_procscan_stat_parses_comm_and_start_time)
{
    const char *s = "4242 (java) S 1 4242 4242 0 -1 4194560 1234 0 0 0 50 10 0 0 20 0 "
                    "25 0 987654 4000000000 12345 18446744073709551615";
    char comm[16];
    unsigned long long st = 0;
    ck_assert_int_eq(cp_procscan_parse_stat(s, comm, sizeof comm, &st), 0);
    ck_assert_str_eq(comm, "java");
    ck_assert_uint_eq(st, 987654);
}
END_TEST

START_TEST(test_procscan_stat_handles_hostile_comm)
{
    /* comm may contain ") (" and spaces: the last ')' ends it */
    const char *s = "77 (a) b (c) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 555 9";
    char comm[16];
    unsigned long long st = 0;
    ck_assert_int_eq(cp_procscan_parse_stat(s, comm, sizeof comm, &st), 0);
    ck_assert_str_eq(comm, "a) b (c");
    ck_assert_uint_eq(st, 555);
    ck_assert_int_eq(cp_procscan_parse_stat("1 (x) S 1 2", comm, sizeof comm, &st), CP_EINVAL);
    ck_assert_int_eq(cp_procscan_parse_stat("garbage", comm, sizeof comm, &st), CP_EINVAL);
}
END_TEST

static const char *app_of(int argc, const char *const *argv)
{
    static char out[256];
    cp_procscan_java_app(argc, argv, out, sizeof out);
    return out;
}

START_TEST(test_procscan_app_is_main_class_jar_or_property)
{
    const char *a[] = {"java", "-Xmx1g", "-cp", "lib/*:x.jar", "com.example.Main", "arg"};
    ck_assert_str_eq(app_of(ARGC(a), a), "com.example.Main");
    const char *b[] = {"/usr/bin/java", "-Dfoo=1", "-jar", "/srv/app/checkout-1.4.jar", "-x"};
    ck_assert_str_eq(app_of(ARGC(b), b), "checkout-1.4");
    const char *c[] = {"java", "-Dcprof.app=billing", "-jar", "/srv/app/b.jar"};
    ck_assert_str_eq(app_of(ARGC(c), c), "billing");
    const char *d[] = {"java", "--module-path", "mods", "-m", "com.acme/com.acme.App"};
    ck_assert_str_eq(app_of(ARGC(d), d), "com.acme.App");
    const char *e[] = {"java", "--module=m/p.Q"};
    ck_assert_str_eq(app_of(ARGC(e), e), "p.Q");
    const char *f[] = {"java", "-version"};
    ck_assert_str_eq(app_of(ARGC(f), f), "");
    /* -Dcprof.app= after the main class is the program's own argument */
    const char *g[] = {"java", "Main", "-Dcprof.app=nope"};
    ck_assert_str_eq(app_of(ARGC(g), g), "Main");
    /* --add-opens=... style (no separate value) and @argfiles are skipped */
    const char *h[] = {"java", "--add-opens=java.base/java.lang=ALL-UNNAMED", "@opts.txt",
                       "--add-exports", "java.base/sun.nio.ch=ALL-UNNAMED", "a.B"};
    ck_assert_str_eq(app_of(ARGC(h), h), "a.B");
}
END_TEST

START_TEST(test_procscan_container_id_from_cgroup_paths)
{
    char id[16];
    const char *docker = "0::/system.slice/docker-"
        "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa99887766554433221100.scope\n";
    ck_assert(cp_procscan_container_id(docker, id, sizeof id));
    ck_assert_str_eq(id, "3f4e5d6c7b8a");
    const char *k8s = "12:memory:/kubepods/burstable/pod1234-5678/"
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
        "0::/kubepods/burstable/pod1234-5678/"
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n";
    ck_assert(cp_procscan_container_id(k8s, id, sizeof id));
    ck_assert_str_eq(id, "0123456789ab");
    ck_assert(!cp_procscan_container_id("0::/user.slice/user-0.slice/session-3.scope\n",
                                        id, sizeof id));
    /* 65 hex digits is not an id */
    ck_assert(!cp_procscan_container_id(
        "0::/x/00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff0\n",
        id, sizeof id));
}
END_TEST

START_TEST(test_procscan_live_self_is_listed_and_readable)
{
    pid_t *pids;
    size_t n;
    ck_assert_int_eq(cp_procscan_list(&pids, &n), 0);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        if (i)
            ck_assert_int_lt(pids[i - 1], pids[i]);
        found |= pids[i] == getpid();
    }
    free(pids);
    ck_assert(found);
    char comm[16];
    unsigned long long st;
    ck_assert_int_eq(cp_procscan_stat(getpid(), comm, sizeof comm, &st), 0);
    char want[16];
    snprintf(want, sizeof want, "%s", program_invocation_short_name);   /* comm: 15 chars */
    ck_assert_str_eq(comm, want);
    double age = cp_procscan_age(st);
    ck_assert(age >= 0 && age < 600);
    cp_proc_info_t info;
    ck_assert_int_eq(cp_procscan_read(getpid(), &info), 0);
    ck_assert_ptr_nonnull(strstr(info.cmdline, program_invocation_short_name));
    ck_assert_str_eq(info.app, program_invocation_short_name);   /* not java: argv[0]'s name */
    cp_procscan_info_fini(&info);
    cp_procscan_info_fini(&info);
    ck_assert_int_eq(cp_procscan_stat(0x3ffffff0, comm, sizeof comm, &st), CP_ENOTFOUND);
}
END_TEST

START_TEST(test_procscan_long_cmdline_is_read_whole)
{
    /* a java command line whose classpath alone is 120 KB (one argument may
     * not exceed 128 KB): the main class after it must still be found */
    size_t len = 120 * 1024;
    char *cp = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        cp[i] = (i % 50 == 49) ? ':' : 'a';
    cp[len] = '\0';
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t child = fork();
    if (child == 0) {
        /* exec a shell under argv[0] "java" that waits for our pipe to close */
        close(fds[1]);
        dup2(fds[0], 0);
        execl("/bin/sh", "java", "-c", "read x", "-cp", cp, "com.example.LongMain",
              "--tail-marker", (char *)NULL);
        _exit(127);
    }
    close(fds[0]);
    ck_assert_int_gt(child, 0);
    cp_proc_info_t info = {0};
    int rc = -1;
    for (int i = 0; i < 200; i++) {            /* until the exec has happened */
        rc = cp_procscan_read(child, &info);
        if (rc == 0 && strstr(info.cmdline, "--tail-marker"))
            break;
        cp_procscan_info_fini(&info);
        usleep(10000);
    }
    close(fds[1]);
    waitpid(child, NULL, 0);
    ck_assert_int_eq(rc, 0);
    ck_assert_ptr_nonnull(info.cmdline);
    ck_assert_uint_gt(strlen(info.cmdline), len);
    ck_assert_ptr_nonnull(strstr(info.cmdline, "com.example.LongMain --tail-marker"));
    /* argv[0] is "java", but "-c" is no class: the shell's script word is
     * taken as the main class; what matters is that parsing reached it */
    ck_assert_str_ne(info.app, "");
    cp_procscan_info_fini(&info);
    free(cp);
}
END_TEST

static Suite *procscan_suite(void)
{
    Suite *s = suite_create("procscan");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_procscan_stat_parses_comm_and_start_time);
    tcase_add_test(tc, test_procscan_stat_handles_hostile_comm);
    tcase_add_test(tc, test_procscan_app_is_main_class_jar_or_property);
    tcase_add_test(tc, test_procscan_container_id_from_cgroup_paths);
    suite_add_tcase(s, tc);
    tc = tcase_create("live");
    tcase_add_test(tc, test_procscan_live_self_is_listed_and_readable);
    tcase_add_test(tc, test_procscan_long_cmdline_is_read_whole);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(procscan_suite());
    srunner_run_all(sr, CK_ENV);  /* CK_VERBOSITY from the environment */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
