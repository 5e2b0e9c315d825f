/* test_pyvm.c - Check tests for jvmti/pyelf.c and jvmti/pyvm.c against
 * live child Python processes: Debian's /usr/bin/python3.11 (statically
 * linked: _PyRuntime in the binary) and, when present, pyenv's 3.8-3.13
 * (shared: _PyRuntime in libpython). The child prints the address of its
 * own _PyRuntime (ctypes) and its threads' native ids, then spins in
 * known functions; the test reads it from outside and compares. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "pyelf.h"
#include "pytask.h"
#include "pyvm.h"

#define DEBIAN_PY "/usr/bin/python3.11"

static const char CHILD[] =
    "import ctypes, sys, threading\n"
    "def spin_leaf():\n"
    "    x = 0\n"
    "    while True:\n"
    "        x += 1\n"
    "def spin_middle():\n"
    "    spin_leaf()\n"
    "class Worker:\n"
    "    def run(self):\n"
    "        spin_middle()\n"
    "def side():\n"
    "    ev.wait()\n"
    "ev = threading.Event()\n"
    "t = threading.Thread(target=side)\n"
    "t.start()\n"
    "rt = ctypes.addressof(ctypes.c_char.in_dll(ctypes.pythonapi, '_PyRuntime'))\n"
    "print('%d %d %d' % (rt, threading.get_native_id(), t.native_id), flush=True)\n"
    "Worker().run()\n";

typedef struct child {
    pid_t pid;
    unsigned long long runtime;
    int main_tid, side_tid;
} child_t;

static int start_child(const char *python, child_t *c)
{
    int fd[2];
    if (access(python, X_OK) != 0 || pipe(fd) != 0)
        return -1;
    c->pid = fork();
    if (c->pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        execl(python, python, "-c", CHILD, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    FILE *f = fdopen(fd[0], "r");
    int n = fscanf(f, "%llu %d %d", &c->runtime, &c->main_tid, &c->side_tid);
    fclose(f);
    return n == 3 ? 0 : -1;
}

static void stop_child(child_t *c)
{
    kill(c->pid, SIGKILL);
    waitpid(c->pid, NULL, 0);
}

/* The main thread's stack, leaf first, as "module.function" joined by
 * ';'. Retries for up to 2 s until it holds `want` (the child may still
 * be between bytecodes of its start). */
static int stack_of(cp_pyvm_t *vm, int tid, const char *want, char *out, size_t cap)
{
    for (int tries = 0; tries < 200; tries++) {
        cp_pyvm_thread_t th[CP_PYVM_MAX_THREADS];
        int n = cp_pyvm_threads(vm, th, CP_PYVM_MAX_THREADS);
        out[0] = '\0';
        for (int i = 0; i < n; i++) {
            if (tid && th[i].tid != tid)
                continue;
            if (!tid && i != n - 1)   /* 3.8-3.10: main thread is the oldest (last) */
                continue;
            cp_pyvm_frame_t fr[CP_PYVM_MAX_DEPTH];
            int k = cp_pyvm_stack(vm, th[i].frame, fr, CP_PYVM_MAX_DEPTH, NULL);
            size_t at = 0;
            for (int j = 0; j < k && at < cap - 1; j++) {
                cp_pyvm_name_t nm;
                if (cp_pyvm_code_name(vm, fr[j].code, &nm) != 0)
                    snprintf(nm.function, sizeof nm.function, "?");
                at += (size_t)snprintf(out + at, cap - at, "%s%s.%s", j ? ";" : "", nm.module, nm.function);
                if (at >= cap)
                    at = cap - 1;
            }
        }
        if (strstr(out, want))
            return 0;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

START_TEST(test_pyelf_finds_runtime_of_static_python)
{
    child_t c;
    if (start_child(DEBIAN_PY, &c) != 0)
        return;   /* no Debian python: nothing to test here */
    cp_pyelf_t e;
    ck_assert_int_eq(cp_pyelf_find(c.pid, &e), 0);
    ck_assert_uint_eq(e.runtime, c.runtime);
    ck_assert_int_eq(e.major, 3);
    ck_assert_int_eq(e.minor, 11);
    ck_assert_uint_ne(e.py_version, 0);
    ck_assert_str_eq(e.path, DEBIAN_PY);
    stop_child(&c);
}
END_TEST

START_TEST(test_pyelf_dynsym_unknown_symbol_not_found)
{
    uint64_t off = 1;
    if (access(DEBIAN_PY, R_OK) != 0)
        return;
    ck_assert_int_eq(cp_pyelf_dynsym(DEBIAN_PY, "no_such_symbol_cprof", &off), CP_ENOTFOUND);
    ck_assert_uint_eq(off, 0);
    ck_assert_int_eq(cp_pyelf_dynsym("/etc/hostname", "_PyRuntime", &off), CP_EIO);
    ck_assert_int_eq(cp_pyelf_dynsym("/nonexistent/python", "_PyRuntime", &off), CP_EIO);
}
END_TEST

START_TEST(test_pyelf_non_python_process_not_found)
{
    cp_pyelf_t e;
    ck_assert_int_eq(cp_pyelf_find(getpid(), &e), CP_ENOTFOUND);
    ck_assert_int_eq(cp_pyelf_find(999999999, &e), CP_EIO);
}
END_TEST

START_TEST(test_pyvm_reads_both_threads_with_native_ids)
{
    child_t c;
    if (start_child(DEBIAN_PY, &c) != 0)
        return;
    cp_pyelf_t e;
    cp_pyvm_t *vm;
    ck_assert_int_eq(cp_pyelf_find(c.pid, &e), 0);
    ck_assert_int_eq(cp_pyvm_open(c.pid, &e, &vm), 0);
    ck_assert_str_eq(cp_pyvm_version(vm), "3.11");
    char s[2048];
    ck_assert_msg(stack_of(vm, c.main_tid, "spin_leaf", s, sizeof s) == 0, "main stack: %s", s);
    /* leaf first; qualname shows the class; the script is "<string>" */
    ck_assert_msg(strstr(s, "<string>.spin_leaf;<string>.spin_middle;<string>.Worker.run;<string>.<module>"),
                  "main stack: %s", s);
    ck_assert_msg(stack_of(vm, c.side_tid, "threading.Event.wait", s, sizeof s) == 0, "side stack: %s", s);
    ck_assert_msg(strstr(s, "threading.Condition.wait;threading.Event.wait;<string>.side;threading.Thread.run"),
                  "side stack: %s", s);
    cp_pyvm_thread_t th[CP_PYVM_MAX_THREADS];
    ck_assert_int_eq(cp_pyvm_threads(vm, th, CP_PYVM_MAX_THREADS), 2);
    cp_pyvm_close(vm);
    stop_child(&c);
}
END_TEST

START_TEST(test_pyvm_names_code_with_module_file_and_first_line)
{
    child_t c;
    if (start_child(DEBIAN_PY, &c) != 0)
        return;
    cp_pyelf_t e;
    cp_pyvm_t *vm;
    ck_assert_int_eq(cp_pyelf_find(c.pid, &e), 0);
    ck_assert_int_eq(cp_pyvm_open(c.pid, &e, &vm), 0);
    char s[2048];
    ck_assert_int_eq(stack_of(vm, c.side_tid, "threading.Event.wait", s, sizeof s), 0);
    cp_pyvm_thread_t th[CP_PYVM_MAX_THREADS];
    int n = cp_pyvm_threads(vm, th, CP_PYVM_MAX_THREADS);
    bool seen = false;
    for (int i = 0; i < n; i++) {
        if (th[i].tid != c.side_tid)
            continue;
        cp_pyvm_frame_t fr[CP_PYVM_MAX_DEPTH];
        int k = cp_pyvm_stack(vm, th[i].frame, fr, CP_PYVM_MAX_DEPTH, NULL);
        for (int j = 0; j < k; j++) {
            cp_pyvm_name_t nm;
            ck_assert_int_eq(cp_pyvm_code_name(vm, fr[j].code, &nm), 0);
            if (!strcmp(nm.function, "side")) {
                ck_assert_str_eq(nm.file, "<string>");
                ck_assert_int_eq(nm.line, 11);   /* "def side():" in CHILD */
                seen = true;
            }
            if (!strcmp(nm.function, "Event.wait"))
                ck_assert_str_eq(nm.file, "threading.py");
        }
        /* a depth cap truncates and says so */
        bool cut = false;
        ck_assert_int_eq(cp_pyvm_stack(vm, th[i].frame, fr, 2, &cut), 2);
        ck_assert(cut);
    }
    ck_assert(seen);
    cp_pyvm_close(vm);
    stop_child(&c);
}
END_TEST

START_TEST(test_pyvm_refused_read_is_eperm)
{
    child_t c;
    if (geteuid() != 0 || start_child(DEBIAN_PY, &c) != 0)
        return;   /* needs root to become another user */
    cp_pyelf_t e;
    ck_assert_int_eq(cp_pyelf_find(c.pid, &e), 0);
    pid_t p = fork();
    if (p == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(2);
        cp_pyvm_t *vm;
        _exit(cp_pyvm_open(c.pid, &e, &vm) == CP_EPERM ? 0 : 1);
    }
    int st = 0;
    waitpid(p, &st, 0);
    ck_assert_int_eq(WEXITSTATUS(st), 0);
    stop_child(&c);
}
END_TEST

/* Every CPython found under pyenv: same stack, whatever the version. */
START_TEST(test_pyvm_every_installed_version)
{
    static const char *const vers[] = {"3.8", "3.9", "3.10", "3.11", "3.12", "3.13"};
    const char *home = getenv("PYENV_ROOT") ? getenv("PYENV_ROOT") : "/root/.pyenv";
    int tested = 0;
    for (size_t v = 0; v < sizeof vers / sizeof vers[0]; v++) {
        char cmd[512], py[512] = "";
        snprintf(cmd, sizeof cmd, "ls -d %s/versions/%s.*/bin/python%s 2>/dev/null | head -1", home, vers[v], vers[v]);
        FILE *f = popen(cmd, "r");
        if (!f)
            continue;
        if (!fgets(py, sizeof py, f))
            py[0] = '\0';
        pclose(f);
        py[strcspn(py, "\n")] = '\0';
        child_t c;
        if (!py[0] || start_child(py, &c) != 0)
            continue;
        cp_pyelf_t e;
        cp_pyvm_t *vm = NULL;
        ck_assert_msg(cp_pyelf_find(c.pid, &e) == 0, "%s: no _PyRuntime", py);
        ck_assert_msg(e.runtime == c.runtime, "%s: runtime %llx vs %llx", py,
                      (unsigned long long)e.runtime, c.runtime);
        int rc = cp_pyvm_open(c.pid, &e, &vm);
        ck_assert_msg(rc == 0, "%s: open %d", py, rc);
        ck_assert_str_eq(cp_pyvm_version(vm), vers[v]);
        bool old = strcmp(vers[v], "3.11") < 0 && strlen(vers[v]) == 3;   /* 3.8, 3.9: no qualname, no tid */
        bool has_tid = strcmp(vers[v], "3.8") && strcmp(vers[v], "3.9") && strcmp(vers[v], "3.10");
        const char *want = has_tid ? "<string>.spin_leaf;<string>.spin_middle;<string>.Worker.run;<string>.<module>"
                                   : "<string>.spin_leaf;<string>.spin_middle;<string>.run;<string>.<module>";
        (void)old;
        char s[2048];
        ck_assert_msg(stack_of(vm, has_tid ? c.main_tid : 0, want, s, sizeof s) == 0, "%s: stack %s", py, s);
        cp_pyvm_close(vm);
        stop_child(&c);
        tested++;
    }
    fprintf(stderr, "pyvm: %d pyenv versions read\n", tested);
}
END_TEST

START_TEST(test_pyvm_module_of_file_names)
{
    char m[128];
    cp_pyvm_module_of("/usr/lib/python3.11/json/decoder.py", m, sizeof m);
    ck_assert_str_eq(m, "json.decoder");
    cp_pyvm_module_of("/usr/lib/python3.11/re/__init__.py", m, sizeof m);
    ck_assert_str_eq(m, "re");
    cp_pyvm_module_of("/opt/spark/python/lib/pyspark.zip/pyspark/worker.py", m, sizeof m);
    ck_assert_str_eq(m, "pyspark.worker");
    cp_pyvm_module_of("/usr/lib/python3/dist-packages/msgpack/fallback.py", m, sizeof m);
    ck_assert_str_eq(m, "msgpack.fallback");
    cp_pyvm_module_of("/tmp/job/worker.py", m, sizeof m);
    ck_assert_str_eq(m, "worker");
    cp_pyvm_module_of("<frozen importlib._bootstrap>", m, sizeof m);
    ck_assert_str_eq(m, "importlib._bootstrap");
    cp_pyvm_module_of("<string>", m, sizeof m);
    ck_assert_str_eq(m, "<string>");
}
END_TEST

/* cprof_pyspark (python/) in a live child publishes a task; the agent's
 * reader finds the unlinked file through /proc/PID/fd and reads it. */
START_TEST(test_pytask_reads_what_cprof_pyspark_published)
{
    const char *src = getenv("CPROF_SOURCE");
    if (!src || access(DEBIAN_PY, X_OK) != 0)
        return;
    char code[1024];
    snprintf(code, sizeof code,
             "import sys, time; sys.path.insert(0, '%s/python'); import cprof_pyspark as c\n"
             "c.publish(3, 17, 1, 4242, 9)\n"
             "print('ready', flush=True)\n"
             "sys.stdin.readline()\n"
             "c.finish()\n"
             "print('done', flush=True)\n"
             "time.sleep(30)\n", src);
    int in[2], out[2];
    ck_assert_int_eq(pipe(in), 0);
    ck_assert_int_eq(pipe(out), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execl(DEBIAN_PY, DEBIAN_PY, "-c", code, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    FILE *f = fdopen(out[0], "r");
    char line[64] = "";
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_str_eq(line, "ready\n");
    char path[64];
    cp_pytask_path(pid, path, sizeof path);
    ck_assert_msg(access(path, F_OK) != 0, "%s still has a name: the worker unlinks it", path);
    cp_pytask_buf_t *b = cp_pytask_open(pid);
    ck_assert_ptr_nonnull(b);
    cp_pytask_t t;
    ck_assert(cp_pytask_read(b, &t));
    ck_assert(t.active);
    ck_assert_int_eq(t.stage, 3);
    ck_assert_int_eq(t.partition, 17);
    ck_assert_int_eq(t.attempt, 1);
    ck_assert_int_eq(t.tid, 4242);
    ck_assert_int_eq(t.sql_id, 9);
    ck_assert_int_eq(write(in[1], "\n", 1), 1);
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert(cp_pytask_read(b, &t));
    ck_assert(!t.active);   /* the task ended */
    cp_pytask_close(b);
    ck_assert_ptr_null(cp_pytask_open(getpid()));   /* a process without the file */
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fclose(f);
    close(in[1]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pyvm");
    TCase *elf = tcase_create("elf");
    tcase_add_test(elf, test_pyelf_finds_runtime_of_static_python);
    tcase_add_test(elf, test_pyelf_dynsym_unknown_symbol_not_found);
    tcase_add_test(elf, test_pyelf_non_python_process_not_found);
    suite_add_tcase(s, elf);
    TCase *walk = tcase_create("walk");
    tcase_set_timeout(walk, 60);
    tcase_add_test(walk, test_pyvm_reads_both_threads_with_native_ids);
    tcase_add_test(walk, test_pyvm_names_code_with_module_file_and_first_line);
    tcase_add_test(walk, test_pyvm_refused_read_is_eperm);
    tcase_add_test(walk, test_pyvm_every_installed_version);
    tcase_add_test(walk, test_pyvm_module_of_file_names);
    suite_add_tcase(s, walk);
    TCase *task = tcase_create("task");
    tcase_add_test(task, test_pytask_reads_what_cprof_pyspark_published);
    suite_add_tcase(s, task);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_ENV);  /* CK_VERBOSITY from the environment */
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
