/* test_spark.c - Check tests for jvmti/spark.c: Spark executor recognition
 * over fake command lines shaped like real executors' (standalone, YARN,
 * Kubernetes), system-property variants, and look-alikes that must not
 * match. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "spark.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

START_TEST(test_spark_standalone_executor_gets_three_labels)
{
    const char *argv[] = {
        "/usr/lib/jvm/java-17-openjdk-amd64/bin/java", "-cp",
        "/opt/spark/conf/:/opt/spark/jars/*", "-Xmx1024M",
        "-Dspark.driver.port=41234", "-XX:+IgnoreUnrecognizedVMOptions",
        "--add-opens=java.base/java.lang=ALL-UNNAMED",
        "org.apache.spark.executor.CoarseGrainedExecutorBackend",
        "--driver-url", "spark://CoarseGrainedScheduler@10.0.0.1:41234",
        "--executor-id", "3", "--hostname", "10.0.0.7", "--cores", "4",
        "--app-id", "app-20261122011500-0007",
        "--worker-url", "spark://Worker@10.0.0.7:35711", "--resourceProfileId", "0"};
    cp_spark_labels_t l;
    ck_assert_int_eq(cp_spark_labels(ARGC(argv), argv, &l), 1);
    ck_assert_str_eq(l.app_id, "app-20261122011500-0007");
    ck_assert_str_eq(l.executor_id, "3");
    ck_assert_str_eq(l.host, "10.0.0.7");
}
END_TEST

START_TEST(test_spark_yarn_and_k8s_backends_are_executors)
{
    const char *yarn[] = {"java", "-server", "-Xmx2g", "-Djava.io.tmpdir=/tmp/x",
        "-Dspark.yarn.app.container.log.dir=/var/log/x",
        "org.apache.spark.executor.YarnCoarseGrainedExecutorBackend",
        "--driver-url", "spark://CoarseGrainedScheduler@nn1:40000", "--executor-id", "12",
        "--hostname", "worker-5.example.com", "--cores", "2",
        "--app-id", "application_1700000000000_0042", "--resourceProfileId", "0"};
    cp_spark_labels_t l;
    ck_assert_int_eq(cp_spark_labels(ARGC(yarn), yarn, &l), 1);
    ck_assert_str_eq(l.app_id, "application_1700000000000_0042");
    ck_assert_str_eq(l.executor_id, "12");
    ck_assert_str_eq(l.host, "worker-5.example.com");

    const char *k8s[] = {"/opt/java/openjdk/bin/java", "-Dspark.driver.port=7078",
        "-Xms1g", "-Xmx1g", "-cp", "/opt/spark/conf::/opt/spark/jars/*:",
        "org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend",
        "--driver-url", "spark://CoarseGrainedScheduler@drv-svc.default.svc:7078",
        "--executor-id", "1", "--cores", "1",
        "--app-id=spark-5b1f0b3e2a8c4d9e", "--hostname=10.244.1.17",
        "--resourceProfileId", "0", "--podName", "pi-exec-1"};
    ck_assert_int_eq(cp_spark_labels(ARGC(k8s), k8s, &l), 1);
    ck_assert_str_eq(l.app_id, "spark-5b1f0b3e2a8c4d9e");
    ck_assert_str_eq(l.executor_id, "1");
    ck_assert_str_eq(l.host, "10.244.1.17");
}
END_TEST

START_TEST(test_spark_system_properties_stand_in_for_arguments)
{
    const char *argv[] = {"java", "-Dspark.app.id=app-1", "-Dspark.executor.id=driver",
                          "-cp", "x.jar", "com.example.MyDriver", "--hostname", "nope"};
    cp_spark_labels_t l;
    ck_assert_int_eq(cp_spark_labels(ARGC(argv), argv, &l), 1);
    ck_assert_str_eq(l.app_id, "app-1");
    ck_assert_str_eq(l.executor_id, "driver");
    ck_assert_str_eq(l.host, "");        /* program args of a non-executor ignored */
}
END_TEST

START_TEST(test_spark_arguments_win_over_properties)
{
    const char *argv[] = {"java", "-Dspark.executor.id=9",
        "org.apache.spark.executor.CoarseGrainedExecutorBackend", "--executor-id", "4"};
    cp_spark_labels_t l;
    ck_assert_int_eq(cp_spark_labels(ARGC(argv), argv, &l), 1);
    ck_assert_str_eq(l.executor_id, "4");
    ck_assert_str_eq(l.app_id, "");
}
END_TEST

START_TEST(test_spark_lookalikes_are_not_executors)
{
    cp_spark_labels_t l;
    /* --app-id on an unrelated program */
    const char *a[] = {"java", "-cp", "app.jar", "com.example.Main", "--app-id", "x"};
    ck_assert_int_eq(cp_spark_labels(ARGC(a), a, &l), 0);
    ck_assert_str_eq(l.app_id, "");
    /* the executor class name as a program argument, not the main class */
    const char *b[] = {"java", "com.example.Launcher",
        "org.apache.spark.executor.CoarseGrainedExecutorBackend", "--app-id", "x"};
    ck_assert_int_eq(cp_spark_labels(ARGC(b), b, &l), 0);
    /* -cp's value looks like the class, the real main class does not */
    const char *c[] = {"java", "-cp", "org.apache.spark.executor.CoarseGrainedExecutorBackend",
                       "Other", "--executor-id", "1"};
    ck_assert_int_eq(cp_spark_labels(ARGC(c), c, &l), 0);
    /* -Dspark.app.id after the main class is a program argument */
    const char *d[] = {"java", "Main", "-Dspark.app.id=x"};
    ck_assert_int_eq(cp_spark_labels(ARGC(d), d, &l), 0);
    /* a jar main */
    const char *e[] = {"java", "-jar", "spark-examples.jar", "--app-id", "x"};
    ck_assert_int_eq(cp_spark_labels(ARGC(e), e, &l), 0);
    /* nothing at all */
    const char *f[] = {"java"};
    ck_assert_int_eq(cp_spark_labels(ARGC(f), f, &l), 0);
    ck_assert_int_eq(cp_spark_labels(0, NULL, &l), 0);
}
END_TEST

START_TEST(test_spark_missing_value_at_end_is_ignored)
{
    const char *argv[] = {"java", "org.apache.spark.executor.CoarseGrainedExecutorBackend",
                          "--app-id", "a-1", "--executor-id"};
    cp_spark_labels_t l;
    ck_assert_int_eq(cp_spark_labels(ARGC(argv), argv, &l), 1);
    ck_assert_str_eq(l.app_id, "a-1");
    ck_assert_str_eq(l.executor_id, "");
}
END_TEST

START_TEST(test_spark_long_values_are_truncated_not_overflowed)
{
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    const char *argv[] = {"java", "org.apache.spark.executor.CoarseGrainedExecutorBackend",
                          "--hostname", big};
    cp_spark_labels_t l;
    ck_assert_int_eq(cp_spark_labels(ARGC(argv), argv, &l), 1);
    ck_assert_uint_eq(strlen(l.host), CP_SPARK_VAL_MAX - 1);
}
END_TEST

START_TEST(test_spark_cmdline_bytes_parse_like_argv)
{
    static const char buf[] = "java\0-Xmx1g\0org.apache.spark.executor.CoarseGrainedExecutorBackend\0"
                              "--executor-id\0007\0--app-id\0app-9\0--hostname\0h1\0";
    cp_spark_labels_t l;
    ck_assert_int_eq(cp_spark_labels_from_cmdline(buf, sizeof buf - 1, &l), 1);
    ck_assert_str_eq(l.executor_id, "7");
    ck_assert_str_eq(l.app_id, "app-9");
    ck_assert_str_eq(l.host, "h1");
    /* truncated tail without NUL: the partial word is dropped, no overread */
    static const char cut[] = "java\0org.apache.spark.executor.CoarseGrainedExecutorBackend\0"
                              "--app-id\0app-9\0--hostname\0h1";
    ck_assert_int_eq(cp_spark_labels_from_cmdline(cut, sizeof cut - 1, &l), 1);
    ck_assert_str_eq(l.app_id, "app-9");
    ck_assert_str_eq(l.host, "");
    ck_assert_int_eq(cp_spark_labels_from_cmdline(NULL, 0, &l), 0);
    ck_assert_int_eq(cp_spark_labels_from_cmdline(NULL, 3, &l), CP_EINVAL);
}
END_TEST

START_TEST(test_spark_many_jvm_options_before_the_main_class)
{
    /* 3000 JVM options (a huge cmdline) before the executor's main class */
    static const char tail[] = "org.apache.spark.executor.CoarseGrainedExecutorBackend\0"
                               "--executor-id\0" "42\0";
    size_t cap = 3000 * 16 + sizeof tail + 16, n = 0;
    char *buf = malloc(cap);
    memcpy(buf, "java", 5);
    n = 5;
    for (int i = 0; i < 3000; i++)
        n += (size_t)sprintf(buf + n, "-Dk%d=v", i) + 1;
    memcpy(buf + n, tail, sizeof tail - 1);
    n += sizeof tail - 1;
    cp_spark_labels_t l;
    ck_assert_int_eq(cp_spark_labels_from_cmdline(buf, n, &l), 1);
    ck_assert_str_eq(l.executor_id, "42");
    free(buf);
}
END_TEST

START_TEST(test_spark_java_command_property_parses)
{
    cp_spark_labels_t l;
    ck_assert_int_eq(cp_spark_labels_from_java_command(
        "org.apache.spark.executor.CoarseGrainedExecutorBackend --driver-url "
        "spark://CoarseGrainedScheduler@d:1 --executor-id 2 --hostname  h2 --app-id app-2", &l), 1);
    ck_assert_str_eq(l.app_id, "app-2");
    ck_assert_str_eq(l.executor_id, "2");
    ck_assert_str_eq(l.host, "h2");
    ck_assert_int_eq(cp_spark_labels_from_java_command("com.example.Main --app-id x", &l), 0);
    ck_assert_int_eq(cp_spark_labels_from_java_command(NULL, &l), CP_EINVAL);
}
END_TEST

START_TEST(test_spark_self_is_not_an_executor_but_java_command_is)
{
    cp_spark_labels_t l;
    /* this test binary is no executor */
    ck_assert_int_eq(cp_spark_labels_self(NULL, &l), 0);
    ck_assert_str_eq(l.app_id, "");
    /* the property rescues it; host falls back to this machine's name */
    ck_assert_int_eq(cp_spark_labels_self(
        "org.apache.spark.executor.CoarseGrainedExecutorBackend --app-id a --executor-id 1", &l), 1);
    ck_assert_str_eq(l.app_id, "a");
    ck_assert_str_eq(l.executor_id, "1");
    ck_assert_uint_gt(strlen(l.host), 0);
}
END_TEST

static Suite *spark_suite(void)
{
    Suite *s = suite_create("spark");
    TCase *tc = tcase_create("executor");
    tcase_add_test(tc, test_spark_standalone_executor_gets_three_labels);
    tcase_add_test(tc, test_spark_yarn_and_k8s_backends_are_executors);
    tcase_add_test(tc, test_spark_system_properties_stand_in_for_arguments);
    tcase_add_test(tc, test_spark_arguments_win_over_properties);
    suite_add_tcase(s, tc);
    tc = tcase_create("robustness");
    tcase_add_test(tc, test_spark_lookalikes_are_not_executors);
    tcase_add_test(tc, test_spark_missing_value_at_end_is_ignored);
    tcase_add_test(tc, test_spark_long_values_are_truncated_not_overflowed);
    suite_add_tcase(s, tc);
    tc = tcase_create("sources");
    tcase_add_test(tc, test_spark_cmdline_bytes_parse_like_argv);
    tcase_add_test(tc, test_spark_many_jvm_options_before_the_main_class);
    tcase_add_test(tc, test_spark_java_command_property_parses);
    tcase_add_test(tc, test_spark_self_is_not_an_executor_but_java_command_is);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(spark_suite());
    srunner_run_all(sr, CK_ENV);  /* CK_VERBOSITY from the environment */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
