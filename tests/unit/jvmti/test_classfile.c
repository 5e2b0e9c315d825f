/* test_classfile.c - Check tests for jvmti/classfile (the class-file rewriter).
 *
 * Real class files only: the tests compile Java sources with javac at run
 * time (tests/java/AllocRewriteSample.java, plus generated ones), rewrite
 * them, and run the result on a real JVM with -Xverify:all next to a counting
 * dev.cprof.Alloc shim. Each JDK found (17, temurin 25) compiles at its own
 * newest class-file version. Also rewrites the whole of H2 (libh2-java) and
 * runs its RunScript tool; and feeds the rewriter mutated/truncated classes.
 *
 * Env: CPROF_SOURCE (source root, set by meson). Needs javac/java; a test
 * without the JDK it needs fails (the project installs openjdk-17). */
#include <check.h>
#include <dirent.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "classfile.h"
#include "error.h"

static const char *jdks[] = { "/usr/lib/jvm/java-17-openjdk-amd64", "/usr/lib/jvm/temurin-25-jdk-amd64" };

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); fclose(f); return NULL; }
    b[n] = 0;
    fclose(f);
    if (len) *len = (size_t)n;
    return b;
}

static void spit(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    ck_assert(fwrite(p, 1, n, f) == n);
    fclose(f);
}

/* Runs a shell command; returns exit status, output (stdout+stderr) in *out. */
static int run(const char *cmd, char **out)
{
    char full[8192];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    size_t k;
    while ((k = fread(b + n, 1, cap - n - 1, p)) > 0) {
        n += k;
        if (cap - n < 4096) b = realloc(b, cap *= 2);
    }
    b[n] = 0;
    int st = pclose(p);
    if (out) *out = b; else free(b);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *tmpdir(void)
{
    char *d = strdup("/tmp/cp_cfXXXXXX");
    ck_assert(mkdtemp(d) != NULL);
    return d;
}

static const char *shim_src =
    "package dev.cprof;\n"
    "public final class Alloc {\n"
    "  public static long arrays, multis, objects;\n"
    "  public static void array(Object o) { if (!o.getClass().isArray()) throw new Error(\"not array\"); arrays++; }\n"
    "  public static void multi(Object o) { if (!o.getClass().isArray()) throw new Error(\"not array\"); multis++; }\n"
    "  public static void object(Object o) { objects++; }\n"
    "  public static void main(String[] a) throws Throwable {\n"
    "    Class.forName(a[0]).getMethod(\"main\", String[].class).invoke(null, (Object) java.util.Arrays.copyOfRange(a, 1, a.length));\n"
    "    System.err.println(\"callbacks=\" + (arrays + multis));\n"
    "  }\n"
    "}\n";

/* Rewrites every .class file under dir in place (recursively).
 * Returns the number rewritten; counts skips into skipped[reason]. */
static int rewrite_dir(const char *dir, unsigned *skipped, unsigned *sites)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    ck_assert_msg(d != NULL, "opendir %s", dir);
    while ((e = readdir(d)) != NULL) {
        char p[4096];
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        stat(p, &st);
        if (S_ISDIR(st.st_mode)) { n += rewrite_dir(p, skipped, sites); continue; }
        size_t l = strlen(p);
        if (l < 6 || strcmp(p + l - 6, ".class") != 0) continue;
        size_t len, olen;
        uint8_t *in = (uint8_t *)slurp(p, &len), *out;
        cp_classfile_result_t res;
        ck_assert_int_eq(cp_classfile_rewrite(in, len, CP_CF_HOOK_ARRAYS, NULL, NULL, &out, &olen, &res), 0);
        if (res.skip) skipped[res.skip]++;
        if (out) {
            spit(p, out, olen);
            n++;
            *sites += res.sites;
            free(out);
        }
        free(in);
    }
    closedir(d);
    return n;
}

static const char *srcdir(void)
{
    const char *s = getenv("CPROF_SOURCE");
    return s ? s : "../../..";
}

/* Compiles the sample + shim with the JDK at `jdk`, runs it bare, rewrites,
 * runs again with -Xverify:all, compares. */
static void check_sample_on(const char *jdk)
{
    char cmd[4096], *o1, *o2;
    char *d = tmpdir();
    snprintf(cmd, sizeof cmd, "mkdir -p %s/dev/cprof", d);
    ck_assert_int_eq(run(cmd, NULL), 0);
    snprintf(cmd, sizeof cmd, "%s/dev/cprof/Alloc.java", d);
    spit(cmd, shim_src, strlen(shim_src));
    snprintf(cmd, sizeof cmd, "%s/bin/javac -g -d %s %s/tests/java/AllocRewriteSample.java %s/dev/cprof/Alloc.java",
             jdk, d, srcdir(), d);
    ck_assert_msg(run(cmd, &o1) == 0, "javac: %s", o1);
    free(o1);
    snprintf(cmd, sizeof cmd, "%s/bin/java -Xverify:all -Xshare:off -cp %s dev.cprof.Alloc AllocRewriteSample", jdk, d);
    ck_assert_int_eq(run(cmd, &o1), 0);
    ck_assert_msg(strstr(o1, "callbacks=0") != NULL, "bare run: %s", o1);

    unsigned skipped[CP_CF_SKIP_MAX] = {0}, sites = 0;
    int n = rewrite_dir(d, skipped, &sites);
    ck_assert_msg(n >= 2, "rewrote %d classes", n);          /* main class and Node */
    for (int k = 1; k < CP_CF_SKIP_MAX; k++)
        ck_assert_msg(skipped[k] == 0, "skipped %u: %s", skipped[k], cp_classfile_skip_name(k));
    ck_assert_int_ge(sites, 15);

    ck_assert_int_eq(run(cmd, &o2), 0);
    /* same stdout line, and the shim saw every allocation the program counted */
    char *s1 = strstr(o1, "sum="), *s2 = strstr(o2, "sum=");
    ck_assert_msg(s1 && s2, "no sum: %s", o2);
    ck_assert_msg(strncmp(s1, s2, strcspn(s1, "\n")) == 0, "outputs differ:\n%s\n---\n%s", o1, o2);
    char *e = strstr(o2, "expected="), *c = strstr(o2, "callbacks=");
    ck_assert_msg(e && c, "%s", o2);
    long ev = atol(e + 9), cv = atol(c + 10);
    ck_assert_msg(ev > 20000 && ev == cv, "expected %ld callbacks, got %ld\n%s", ev, cv, o2);
    free(o1); free(o2);
    snprintf(cmd, sizeof cmd, "rm -rf %s", d);
    run(cmd, NULL);
    free(d);
}

START_TEST(test_classfile_rewrite_sample_verifies_and_counts_every_array)
{
    int ran = 0;
    for (size_t i = 0; i < sizeof jdks / sizeof *jdks; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/bin/javac", jdks[i]);
        if (access(p, X_OK) != 0) continue;
        check_sample_on(jdks[i]);
        ran++;
    }
    ck_assert_int_ge(ran, 1);
}
END_TEST

/* Generates a class with one method whose loop body is `stmts` statements of
 * `s += new int[(i & 7) + 1].length;` closed by an unconditional backward
 * goto (while(true) + switch exit), or by a conditional forward branch. */
static void gen_big(const char *dir, const char *cls, int stmts, bool conditional)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.java", dir, cls);
    FILE *f = fopen(path, "w");
    fprintf(f, "public class %s {\n static int big(int n) {\n  int s = 0, i = 0;\n", cls);
    if (conditional) fprintf(f, "  if (n > 0) {\n");
    else fprintf(f, "  while (true) {\n   switch (i < n ? 1 : 0) { case 0: return s; default: break; }\n");
    for (int k = 0; k < stmts; k++)
        fprintf(f, "   s += new int[(i & 7) + %d].length;\n", k % 5);
    if (conditional) fprintf(f, "  }\n  return s;\n");
    else fprintf(f, "   i++;\n  }\n");
    fprintf(f, " }\n public static void main(String[] a) { System.out.println(\"big=\" + big(3)); }\n}\n");
    fclose(f);
}

START_TEST(test_classfile_far_goto_is_widened_far_if_is_skipped)
{
    char cmd[4096], *o1, *o2;
    char *d = tmpdir();
    const char *jdk = jdks[0];
    /* each statement is ~11 bytes, +4 inserted: 2600 statements ~ 28.6 KB
     * before (16-bit goto) and ~39 KB after (needs goto_w) */
    gen_big(d, "AllocBigGoto", 2600, false);
    gen_big(d, "AllocBigIf", 2600, true);
    snprintf(cmd, sizeof cmd, "%s/bin/javac -d %s %s/AllocBigGoto.java %s/AllocBigIf.java", jdk, d, d, d);
    ck_assert_msg(run(cmd, &o1) == 0, "%s", o1);
    free(o1);

    snprintf(cmd, sizeof cmd, "%s/bin/javap -c -cp %s AllocBigGoto | grep -c 'goto_w'", jdk, d);
    run(cmd, &o1);
    ck_assert_msg(atoi(o1) == 0, "javac already used goto_w; grow the test: %s", o1);
    free(o1);

    char p[1024];
    size_t len, olen;
    uint8_t *in, *out;
    cp_classfile_result_t res;
    /* the conditional one: left alone, with a reason */
    snprintf(p, sizeof p, "%s/AllocBigIf.class", d);
    in = (uint8_t *)slurp(p, &len);
    ck_assert_int_eq(cp_classfile_rewrite(in, len, CP_CF_HOOK_ARRAYS, NULL, NULL, &out, &olen, &res), 0);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(res.skip, CP_CF_SKIP_WIDE_BRANCH);
    free(in);

    snprintf(p, sizeof p, "%s/AllocBigGoto.class", d);
    in = (uint8_t *)slurp(p, &len);
    ck_assert_int_eq(cp_classfile_rewrite(in, len, CP_CF_HOOK_ARRAYS, NULL, NULL, &out, &olen, &res), 0);
    ck_assert_msg(out != NULL, "skipped: %s", cp_classfile_skip_name(res.skip));
    ck_assert_int_eq(res.sites, 2600);
    ck_assert_int_gt(olen, len + 2600 * 4);
    spit(p, out, olen);
    free(in); free(out);

    snprintf(cmd, sizeof cmd, "%s/bin/javap -c -cp %s AllocBigGoto | grep -c 'goto_w'", jdk, d);
    run(cmd, &o1);
    ck_assert_msg(atoi(o1) == 1, "expected one goto_w: %s", o1);
    free(o1);

    /* runs and verifies, with a shim counting 3 * 2600 allocations */
    snprintf(cmd, sizeof cmd, "mkdir -p %s/dev/cprof", d);
    run(cmd, NULL);
    snprintf(p, sizeof p, "%s/dev/cprof/Alloc.java", d);
    spit(p, shim_src, strlen(shim_src));
    snprintf(cmd, sizeof cmd, "%s/bin/javac -d %s %s", jdk, d, p);
    ck_assert_int_eq(run(cmd, NULL), 0);
    snprintf(cmd, sizeof cmd, "%s/bin/java -Xverify:all -cp %s dev.cprof.Alloc AllocBigGoto", jdk, d);
    ck_assert_msg(run(cmd, &o2) == 0, "%s", o2);
    ck_assert_msg(strstr(o2, "callbacks=7800") != NULL, "%s", o2);
    ck_assert_msg(strstr(o2, "big=") != NULL, "%s", o2);
    free(o2);
    snprintf(cmd, sizeof cmd, "rm -rf %s", d);
    run(cmd, NULL);
    free(d);
}
END_TEST

/* H2 (a real 2 MB program): rewrite every class, then run RunScript over a
 * script with -Xverify:all: same output as the original jar. */
START_TEST(test_classfile_h2_rewritten_runs_same_output)
{
    const char *jar = "/usr/share/java/h2.jar";
    const char *jdk = jdks[0];
    char cmd[8192], *o1, *o2, p[1024];
    ck_assert_msg(access(jar, R_OK) == 0, "libh2-java missing (scripts/setup installs it)");
    char *d = tmpdir();
    snprintf(cmd, sizeof cmd, "mkdir -p %s/cls/dev/cprof && cd %s/cls && %s/bin/jar xf %s", d, d, jdk, jar);
    ck_assert_int_eq(run(cmd, NULL), 0);
    snprintf(p, sizeof p, "%s/t.sql", d);
    const char *sql =
        "CREATE TABLE t(id INT PRIMARY KEY, name VARCHAR(40), v DOUBLE);\n"
        "INSERT INTO t SELECT x, 'n' || x, x * 1.5 FROM SYSTEM_RANGE(1, 5000);\n"
        "CREATE INDEX ti ON t(name);\n"
        "SELECT COUNT(*), SUM(v), MAX(name) FROM t WHERE id % 7 = 3;\n"
        "SELECT name, GROUP_CONCAT(id) FROM t WHERE id < 40 GROUP BY name ORDER BY name;\n"
        "UPDATE t SET v = v * 2 WHERE id BETWEEN 10 AND 400;\n"
        "SELECT SUM(v) FROM t;\n";
    spit(p, sql, strlen(sql));
    snprintf(cmd, sizeof cmd,
             "%s/bin/java -Xverify:all -cp %s/cls:%s org.h2.tools.RunScript -url jdbc:h2:mem:x -script %s/t.sql -showResults",
             jdk, d, d, d);
    ck_assert_int_eq(run(cmd, &o1), 0);

    unsigned skipped[CP_CF_SKIP_MAX] = {0}, sites = 0;
    int n = rewrite_dir(d, skipped, &sites);
    unsigned total_skipped = 0;
    for (int k = 1; k < CP_CF_SKIP_MAX; k++) {
        total_skipped += skipped[k];
        if (skipped[k]) fprintf(stderr, "h2: %u skipped: %s\n", skipped[k], cp_classfile_skip_name(k));
    }
    fprintf(stderr, "h2: %d classes rewritten, %u sites, %u skipped\n", n, sites, total_skipped);
    ck_assert_int_gt(n, 300);
    ck_assert_int_le(total_skipped, 3);

    snprintf(p, sizeof p, "%s/cls/dev/cprof/Alloc.java", d);
    spit(p, shim_src, strlen(shim_src));
    snprintf(cmd, sizeof cmd, "%s/bin/javac -d %s/cls %s", jdk, d, p);
    ck_assert_int_eq(run(cmd, NULL), 0);
    snprintf(cmd, sizeof cmd,
             "%s/bin/java -Xverify:all -cp %s/cls dev.cprof.Alloc org.h2.tools.RunScript -url jdbc:h2:mem:x -script %s/t.sql -showResults",
             jdk, d, d);
    ck_assert_msg(run(cmd, &o2) == 0, "%s", o2);
    char *cb = strstr(o2, "callbacks=");
    ck_assert_msg(cb && atol(cb + 10) > 1000, "%s", o2);
    *cb = 0;
    ck_assert_msg(strcmp(o1, o2) == 0, "outputs differ:\n%s\n---\n%s", o1, o2);
    ck_assert_msg(strstr(o1, "VerifyError") == NULL && strstr(o1, "Exception") == NULL, "%s", o1);
    free(o1); free(o2);
    snprintf(cmd, sizeof cmd, "rm -rf %s", d);
    run(cmd, NULL);
    free(d);
}
END_TEST

/* Mutated and truncated inputs: never a crash, always 0; whatever comes out
 * is at least a class file that starts like one. */
START_TEST(test_classfile_garbage_never_crashes)
{
    char cmd[4096], p[1024], *o;
    char *d = tmpdir();
    snprintf(cmd, sizeof cmd, "%s/bin/javac -d %s %s/tests/java/AllocRewriteSample.java", jdks[0], d, srcdir());
    ck_assert_msg(run(cmd, &o) == 0, "%s", o);
    free(o);
    snprintf(p, sizeof p, "%s/AllocRewriteSample.class", d);
    size_t len, olen;
    uint8_t *orig = (uint8_t *)slurp(p, &len), *out;
    uint8_t *m = malloc(len);
    cp_classfile_result_t res;
    unsigned seed = 12345;
    for (size_t cut = 0; cut < len; cut += 7) {
        ck_assert_int_eq(cp_classfile_rewrite(orig, cut, CP_CF_HOOK_ARRAYS, NULL, NULL, &out, &olen, &res), 0);
        ck_assert_ptr_null(out);
    }
    for (int it = 0; it < 20000; it++) {
        memcpy(m, orig, len);
        int k = 1 + (int)(rand_r(&seed) % 4);
        for (int j = 0; j < k; j++)
            m[10 + rand_r(&seed) % (len - 10)] = (uint8_t)rand_r(&seed);
        ck_assert_int_eq(cp_classfile_rewrite(m, len, CP_CF_HOOK_ARRAYS | CP_CF_HOOK_OBJECT, NULL, NULL, &out, &olen, &res), 0);
        if (out) {
            ck_assert_int_gt(olen, len);
            ck_assert(memcmp(out, "\xca\xfe\xba\xbe", 4) == 0);
            free(out);
        }
    }
    char name[256];
    ck_assert_int_eq(cp_classfile_name(orig, len, name, sizeof name), 0);
    ck_assert_str_eq(name, "AllocRewriteSample");
    ck_assert_int_eq(cp_classfile_name(orig, len, name, 5), CP_ETOOBIG);
    ck_assert_int_eq(cp_classfile_name(orig, 20, name, sizeof name), CP_EINVAL);
    ck_assert_int_eq(cp_classfile_rewrite(NULL, 0, 0, NULL, NULL, &out, &olen, NULL), CP_EINVAL);
    free(orig); free(m);
    snprintf(cmd, sizeof cmd, "rm -rf %s", d);
    run(cmd, NULL);
    free(d);
}
END_TEST

/* The two JDK classes the OBJECT and PARK hooks are for, taken out of each
 * JDK's runtime image: Object.<init> gets one prologue; every static park*
 * method of LockSupport gets a prologue and a call before each return; other
 * classes are untouched by those hooks; the output parses again. */
START_TEST(test_classfile_jdk_object_and_locksupport_hooks)
{
    int ran = 0;
    for (size_t j = 0; j < sizeof jdks / sizeof *jdks; j++) {
        char cmd[4096], p[1024], *o;
        snprintf(p, sizeof p, "%s/bin/jimage", jdks[j]);
        if (access(p, X_OK) != 0) continue;
        char *d = tmpdir();
        snprintf(cmd, sizeof cmd, "%s extract --include 'regex:.*/java/lang/Object.class|"
                 ".*/java/util/concurrent/locks/LockSupport.class|.*/java/lang/String.class' --dir %s %s/lib/modules",
                 p, d, jdks[j]);
        ck_assert_msg(run(cmd, &o) == 0, "%s", o);
        free(o);
        static const struct { const char *cls; unsigned hooks; unsigned min_sites, max_sites; } cases[] = {
            { "java/lang/Object", CP_CF_HOOK_OBJECT, 1, 1 },
            { "java/util/concurrent/locks/LockSupport", CP_CF_HOOK_PARK, 10, 40 },
            { "java/lang/String", CP_CF_HOOK_OBJECT | CP_CF_HOOK_PARK, 0, 0 },
        };
        for (size_t k = 0; k < 3; k++) {
            size_t len, olen, olen2;
            uint8_t *out, *out2;
            cp_classfile_result_t res, res2;
            snprintf(p, sizeof p, "%s/java.base/%s.class", d, cases[k].cls);
            uint8_t *in = (uint8_t *)slurp(p, &len);
            ck_assert_msg(in != NULL, "%s not extracted", p);
            ck_assert_int_eq(cp_classfile_rewrite(in, len, cases[k].hooks, NULL, NULL, &out, &olen, &res), 0);
            ck_assert_msg(res.skip == CP_CF_OK, "%s: %s", cases[k].cls, cp_classfile_skip_name(res.skip));
            ck_assert_msg(res.sites >= cases[k].min_sites && res.sites <= cases[k].max_sites,
                          "%s (%s): %u sites", cases[k].cls, jdks[j], res.sites);
            if (cases[k].max_sites == 0) {
                ck_assert_ptr_null(out);
            } else {
                ck_assert_ptr_nonnull(out);
                /* the output is a well-formed class: it parses and rewrites again */
                ck_assert_int_eq(cp_classfile_rewrite(out, olen, CP_CF_HOOK_ARRAYS, NULL, NULL, &out2, &olen2, &res2), 0);
                ck_assert_msg(res2.skip == CP_CF_OK, "%s: rewritten output unparsable: %s",
                              cases[k].cls, cp_classfile_skip_name(res2.skip));
                free(out2);
                free(out);
            }
            free(in);
        }
        snprintf(cmd, sizeof cmd, "rm -rf %s", d);
        run(cmd, NULL);
        free(d);
        ran++;
    }
    ck_assert_int_ge(ran, 1);
}
END_TEST

/* cp_classfile_wrap: methods with every kind of argument (reference, long,
 * double, int, array), a synchronized one, one that throws, one that is
 * overridden and called through super; verified with -Xverify:all on each
 * JDK: same results, every enter matched by an exit (on throw too), the
 * exception reaches the caller unchanged, a second wrap is a no-op. */
static const char *wrap_shim_src =
    "package dev.cprof;\n"
    "public final class Http {\n"
    "  static int enters, exits; static Object last;\n"
    "  public static Object enter(Object o) { enters++; return \"tok:\" + o; }\n"
    "  public static void exit(Object t) { exits++; last = t; }\n"
    "  public static void main(String[] a) throws Throwable {\n"
    "    Class.forName(a[0]).getMethod(\"main\", String[].class).invoke(null, (Object) new String[0]);\n"
    "    System.out.println(\"enters=\" + enters + \" exits=\" + exits + \" last=\" + last);\n"
    "  }\n"
    "}\n";
static const char *wrap_sample_src =
    "public class WrapSample {\n"
    "  long total;\n"
    "  public void handle(String s, long n, double d, int k, int[] a) { total += s.length() + n + (long) d + k + a.length; }\n"
    "  protected synchronized void boom(Object o) { if (o != null) throw new IllegalStateException(\"boom \" + o); total++; }\n"
    "  static class Sub extends WrapSample {\n"
    "    @Override public void handle(String s, long n, double d, int k, int[] a) { super.handle(s, n * 10, d, k, a); }\n"
    "  }\n"
    "  public static void main(String[] x) throws Exception {\n"
    "    WrapSample w = new WrapSample(); w.handle(\"ab\", 3L, 4.5, 5, new int[6]);\n"
    "    try { w.boom(\"b\"); } catch (IllegalStateException e) { System.out.println(\"caught \" + e.getMessage()); }\n"
    "    w.boom(null);\n"
    "    Sub s = new Sub(); s.handle(\"\", 1L, 0.0, 0, new int[0]);\n"
    "    System.out.println(\"total=\" + w.total + \" sub=\" + s.total + \" public=\" +\n"
    "      java.lang.reflect.Modifier.isPublic(WrapSample.class.getMethod(\"handle\", String.class, long.class, double.class, int.class, int[].class).getModifiers()));\n"
    "  }\n"
    "}\n";

static void wrap_file(const char *path, const cp_cf_wrap_t *w, bool expect)
{
    size_t len, olen, olen2;
    uint8_t *in = (uint8_t *)slurp(path, &len), *out, *out2;
    cp_classfile_result_t res;
    ck_assert_msg(in != NULL, "%s", path);
    ck_assert_int_eq(cp_classfile_wrap(in, len, w, NULL, NULL, &out, &olen, &res), 0);
    ck_assert_msg(res.skip == CP_CF_OK, "%s: %s", path, cp_classfile_skip_name(res.skip));
    ck_assert_msg((out != NULL) == expect, "%s %s: wrapped %d", path, w->method, out != NULL);
    if (out) {
        ck_assert_int_eq(cp_classfile_wrap(out, olen, w, NULL, NULL, &out2, &olen2, &res), 0);
        ck_assert_msg(out2 == NULL && res.skip == CP_CF_OK, "a wrapped class was wrapped again");
        spit(path, out, olen);
        free(out);
    }
    free(in);
}

START_TEST(test_classfile_wrap_balances_enter_exit_on_return_and_throw)
{
    int ran = 0;
    for (size_t j = 0; j < sizeof jdks / sizeof *jdks; j++) {
        char cmd[4096], p[1024], *o1, *o2;
        snprintf(p, sizeof p, "%s/bin/javac", jdks[j]);
        if (access(p, X_OK) != 0) continue;
        char *d = tmpdir();
        snprintf(cmd, sizeof cmd, "mkdir -p %s/dev/cprof", d);
        ck_assert_int_eq(run(cmd, NULL), 0);
        snprintf(p, sizeof p, "%s/dev/cprof/Http.java", d);
        spit(p, wrap_shim_src, strlen(wrap_shim_src));
        snprintf(p, sizeof p, "%s/WrapSample.java", d);
        spit(p, wrap_sample_src, strlen(wrap_sample_src));
        snprintf(cmd, sizeof cmd, "%s/bin/javac -g -d %s %s/WrapSample.java %s/dev/cprof/Http.java", jdks[j], d, d, d);
        ck_assert_msg(run(cmd, &o1) == 0, "javac: %s", o1);
        free(o1);
        snprintf(cmd, sizeof cmd, "%s/bin/java -Xverify:all -Xshare:off -cp %s dev.cprof.Http WrapSample", jdks[j], d);
        ck_assert_int_eq(run(cmd, &o1), 0);
        ck_assert_msg(strstr(o1, "enters=0 exits=0") != NULL, "bare run: %s", o1);

        cp_cf_wrap_t w = { "handle", "(Ljava/lang/String;JDI[I)V", "dev/cprof/Http", "enter", "exit" };
        snprintf(p, sizeof p, "%s/WrapSample.class", d);
        wrap_file(p, &w, true);
        cp_cf_wrap_t b = { "boom", "(Ljava/lang/Object;)V", "dev/cprof/Http", "enter", "exit" };
        wrap_file(p, &b, true);
        snprintf(p, sizeof p, "%s/WrapSample$Sub.class", d);
        wrap_file(p, &w, true);
        wrap_file(p, &b, false);                /* Sub has no boom of its own */
        cp_cf_wrap_t v = { "handle", "(Ljava/lang/String;)I", "dev/cprof/Http", "enter", "exit" };
        uint8_t *out; size_t olen;
        ck_assert_int_eq(cp_classfile_wrap((const uint8_t *)"x", 1, &v, NULL, NULL, &out, &olen, NULL), CP_EINVAL);

        ck_assert_int_eq(run(cmd, &o2), 0);
        char *t1 = strstr(o1, "total="), *t2 = strstr(o2, "total=");
        ck_assert_msg(t1 && t2 && strncmp(t1, t2, strcspn(t1, "\n")) == 0, "outputs differ:\n%s\n---\n%s", o1, o2);
        ck_assert_msg(strstr(o2, "caught boom b") != NULL, "%s", o2);
        ck_assert_msg(strstr(o2, "public=true") != NULL, "%s", o2);
        /* handle, boom (throws), boom, Sub.handle + super.handle inside it */
        ck_assert_msg(strstr(o2, "enters=5 exits=5 last=tok:") != NULL, "%s", o2);
        free(o1); free(o2);
        snprintf(cmd, sizeof cmd, "rm -rf %s", d);
        run(cmd, NULL);
        free(d);
        ran++;
    }
    ck_assert_int_ge(ran, 1);
}
END_TEST

/* The JDK's own entry: com.sun.net.httpserver.Filter$Chain.doFilter is
 * wrapped (jdk.httpserver of each JDK), and executor classes get their
 * task-argument inserts. */
START_TEST(test_classfile_wrap_jdk_filter_chain_and_executor_hooks)
{
    int ran = 0;
    for (size_t j = 0; j < sizeof jdks / sizeof *jdks; j++) {
        char cmd[4096], p[1024], *o;
        snprintf(p, sizeof p, "%s/bin/jimage", jdks[j]);
        if (access(p, X_OK) != 0) continue;
        char *d = tmpdir();
        snprintf(cmd, sizeof cmd, "%s extract --include 'regex:.*/Filter\\$Chain.class|.*/ThreadPoolExecutor.class|"
                 ".*/ForkJoinPool.class|.*/ScheduledThreadPoolExecutor.class' --dir %s %s/lib/modules", p, d, jdks[j]);
        ck_assert_msg(run(cmd, &o) == 0, "%s", o);
        free(o);
        size_t len, olen;
        uint8_t *in, *out;
        cp_classfile_result_t res;
        snprintf(p, sizeof p, "%s/jdk.httpserver/com/sun/net/httpserver/Filter$Chain.class", d);
        in = (uint8_t *)slurp(p, &len);
        ck_assert_msg(in != NULL, "%s", p);
        cp_cf_wrap_t w = { "doFilter", "(Lcom/sun/net/httpserver/HttpExchange;)V", "dev/cprof/Http", "enter", "exit" };
        ck_assert_int_eq(cp_classfile_wrap(in, len, &w, NULL, NULL, &out, &olen, &res), 0);
        ck_assert_msg(out != NULL && res.sites == 1, "Filter$Chain (%s): %s", jdks[j], cp_classfile_skip_name(res.skip));
        free(out);
        free(in);
        static const struct { const char *cls; unsigned min; } ex[] = {
            { "ThreadPoolExecutor", 1 }, { "ScheduledThreadPoolExecutor", 4 }, { "ForkJoinPool", 3 },
        };
        for (size_t k = 0; k < 3; k++) {
            snprintf(p, sizeof p, "%s/java.base/java/util/concurrent/%s.class", d, ex[k].cls);
            in = (uint8_t *)slurp(p, &len);
            ck_assert_msg(in != NULL, "%s", p);
            ck_assert_int_eq(cp_classfile_rewrite(in, len, CP_CF_HOOK_EXEC, NULL, NULL, &out, &olen, &res), 0);
            ck_assert_msg(out != NULL && res.sites >= ex[k].min, "%s (%s): %u sites, %s", ex[k].cls, jdks[j],
                          res.sites, cp_classfile_skip_name(res.skip));
            free(out);
            free(in);
        }
        snprintf(cmd, sizeof cmd, "rm -rf %s", d);
        run(cmd, NULL);
        free(d);
        ran++;
    }
    ck_assert_int_ge(ran, 1);
}
END_TEST

/* Every class of java.base (~7,000, the most varied real class files there
 * are: every constant-pool tag, huge switch tables, generated code), per
 * on the newest JDK found: nothing skipped, and each rewritten class parses
 * again. (The whole runtime image, 27,045 classes on 25 and 26,696 on 17,
 * gave 0 skips too; java.base of 17: 6,519 classes, 0 skips.) */
static void rewrite_tree_strict(const char *dir, unsigned *n, unsigned *rewritten, unsigned *skipped)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    ck_assert_msg(d != NULL, "opendir %s", dir);
    while ((e = readdir(d)) != NULL) {
        char p[4096];
        struct stat st;
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        stat(p, &st);
        if (S_ISDIR(st.st_mode)) { rewrite_tree_strict(p, n, rewritten, skipped); continue; }
        size_t l = strlen(p), len, olen, olen2;
        if (l < 6 || strcmp(p + l - 6, ".class") != 0) continue;
        uint8_t *in = (uint8_t *)slurp(p, &len), *out, *out2;
        cp_classfile_result_t res, res2;
        ck_assert_int_eq(cp_classfile_rewrite(in, len, CP_CF_HOOK_ARRAYS | CP_CF_HOOK_OBJECT | CP_CF_HOOK_PARK,
                                              NULL, NULL, &out, &olen, &res), 0);
        (*n)++;
        if (res.skip) {
            (*skipped)++;
            fprintf(stderr, "skipped %s: %s\n", p, cp_classfile_skip_name(res.skip));
        }
        if (out) {
            (*rewritten)++;
            ck_assert_int_eq(cp_classfile_rewrite(out, olen, CP_CF_HOOK_ARRAYS, NULL, NULL, &out2, &olen2, &res2), 0);
            ck_assert_msg(res2.skip == CP_CF_OK, "%s: output unparsable: %s", p, cp_classfile_skip_name(res2.skip));
            free(out2);
            free(out);
        }
        free(in);
    }
    closedir(d);
}

START_TEST(test_classfile_whole_java_base_rewrites_without_skips)
{
    int ran = 0;
    /* the newest JDK found only (the slowest part of this binary: ~7,000 files) */
    for (size_t j = sizeof jdks / sizeof *jdks; j-- > 0 && !ran;) {
        char cmd[4096], p[1024], *o;
        snprintf(p, sizeof p, "%s/bin/jimage", jdks[j]);
        if (access(p, X_OK) != 0) continue;
        char *d = tmpdir();
        snprintf(cmd, sizeof cmd, "%s extract --include 'regex:/java.base/.*' --dir %s %s/lib/modules", p, d, jdks[j]);
        ck_assert_msg(run(cmd, &o) == 0, "%s", o);
        free(o);
        unsigned n = 0, rw = 0, sk = 0;
        rewrite_tree_strict(d, &n, &rw, &sk);
        fprintf(stderr, "%s java.base: %u classes, %u rewritten, %u skipped\n", jdks[j], n, rw, sk);
        ck_assert_int_gt(n, 5000);
        ck_assert_int_gt(rw, 1500);
        ck_assert_int_eq(sk, 0);
        snprintf(cmd, sizeof cmd, "rm -rf %s", d);
        run(cmd, NULL);
        free(d);
        ran++;
    }
    ck_assert_int_ge(ran, 1);
}
END_TEST

static Suite *classfile_suite(void)
{
    Suite *s = suite_create("classfile");
    TCase *tc = tcase_create("rewrite");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_classfile_rewrite_sample_verifies_and_counts_every_array);
    tcase_add_test(tc, test_classfile_far_goto_is_widened_far_if_is_skipped);
    tcase_add_test(tc, test_classfile_h2_rewritten_runs_same_output);
    tcase_add_test(tc, test_classfile_jdk_object_and_locksupport_hooks);
    tcase_add_test(tc, test_classfile_wrap_balances_enter_exit_on_return_and_throw);
    tcase_add_test(tc, test_classfile_wrap_jdk_filter_chain_and_executor_hooks);
    suite_add_tcase(s, tc);
    TCase *tr = tcase_create("robust");
    tcase_set_timeout(tr, 300);
    tcase_add_test(tr, test_classfile_garbage_never_crashes);
    tcase_add_test(tr, test_classfile_whole_java_base_rewrites_without_skips);
    suite_add_tcase(s, tr);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(classfile_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
