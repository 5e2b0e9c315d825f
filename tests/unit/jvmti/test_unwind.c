/* test_unwind.c - jvmti/unwind.c (native frame walk) and jvmti/symbols.c
 * (pc -> object + function), together: a walk from a real signal context
 * through functions of this binary (built with frame pointers) must name
 * them. */
#include <check.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "symbols.h"
#include "unwind.h"

/* This test binary's file name (the object our own functions live in). */
static const char *exe_name(void)
{
    static char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = '\0';
    const char *slash = strrchr(buf, '/');
    return slash ? slash + 1 : buf;
}

/* ---- the native-code table -------------------------------------------- */

START_TEST(test_unwind_refresh_classifies_code_stack_and_anonymous_exec)
{
    void *anon = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(anon, MAP_FAILED);
    ck_assert_int_gt(cp_unwind_refresh(), 0);
    int local = 0;
    ck_assert(cp_unwind_is_native((uint64_t)(uintptr_t)&cp_unwind_refresh));   /* this binary */
    ck_assert(cp_unwind_is_native((uint64_t)(uintptr_t)dlsym(RTLD_DEFAULT, "getpid")));  /* libc */
    ck_assert(!cp_unwind_is_native((uint64_t)(uintptr_t)&local));              /* stack */
    ck_assert(!cp_unwind_is_code((uint64_t)(uintptr_t)&local));
    /* anonymous executable memory (a JIT code cache): code, not native */
    ck_assert(cp_unwind_is_code((uint64_t)(uintptr_t)anon + 16));
    ck_assert(!cp_unwind_is_native((uint64_t)(uintptr_t)anon + 16));
    ck_assert(!cp_unwind_is_code(0));
    munmap(anon, 4096);
}
END_TEST

/* The harvester scans back off while nothing changes (harvest.c): the
 * table says when its contents changed, and a walk that starts in code the
 * table does not know (mapped since the last refresh) asks for a refresh. */
START_TEST(test_unwind_generation_moves_only_on_change_and_unknown_code_is_counted)
{
    ck_assert_int_gt(cp_unwind_refresh(), 0);
    unsigned long g0 = cp_unwind_generation();
    ck_assert_int_gt(cp_unwind_refresh(), 0);
    ck_assert_uint_eq(cp_unwind_generation(), g0);   /* same maps: same table */

    /* code mapped after the refresh: a walk from it counts one unknown pc */
    void *late = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(late, MAP_FAILED);
    uint64_t pcs[4];   /* walks of the leaf alone: sp 0, fp 1 (misaligned) */
    volatile int n = 0;
    unsigned long u0 = cp_unwind_unknown_pcs();
    ck_assert_int_eq(cp_unwind_walk_regs((uint64_t)(uintptr_t)late + 8, 0, 1, pcs, 4, &n), 0);
    ck_assert_uint_eq(cp_unwind_unknown_pcs(), u0 + 1);
    /* known code does not count: this binary, and the vDSO (no walk there) */
    cp_unwind_walk_regs((uint64_t)(uintptr_t)&cp_unwind_refresh, 0, 1, pcs, 4, &n);
    ck_assert_int_eq(n, 1);
    void *vdso = dlopen("linux-vdso.so.1", RTLD_NOW | RTLD_NOLOAD);
    void *gettime = vdso ? dlsym(vdso, "__vdso_clock_gettime") : NULL;
    if (gettime) {
        cp_unwind_walk_regs((uint64_t)(uintptr_t)gettime, 0, 1, pcs, 4, &n);
        ck_assert_int_eq(n, 0);
    }
    ck_assert_uint_eq(cp_unwind_unknown_pcs(), u0 + 1);

    /* the refresh after it finds the new mapping: a new generation, and
     * the same pc is known code now */
    ck_assert_int_gt(cp_unwind_refresh(), 0);
    ck_assert_uint_gt(cp_unwind_generation(), g0);
    ck_assert(cp_unwind_is_code((uint64_t)(uintptr_t)late + 8));
    cp_unwind_walk_regs((uint64_t)(uintptr_t)late + 8, 0, 1, pcs, 4, &n);
    ck_assert_uint_eq(cp_unwind_unknown_pcs(), u0 + 1);
    munmap(late, 4096);
}
END_TEST

/* ---- walks over synthetic stacks ---------------------------------------- */

/* Real return addresses (each right after a call instruction), as a walk
 * accepts only call sites. */
static uint64_t g_sites[6];

__attribute__((noinline)) static uint64_t site(void)
{
    uint64_t r = (uint64_t)(uintptr_t)__builtin_return_address(0);
    __asm__ volatile("" ::: "memory");
    return r;
}

static uint64_t code_pc(int i)
{
    if (!g_sites[0]) {
        g_sites[0] = site();
        g_sites[1] = site();
        g_sites[2] = site();
        g_sites[3] = site();
        g_sites[4] = site();
        g_sites[5] = site();
    }
    return g_sites[i];
}

START_TEST(test_unwind_walk_rejects_code_addresses_that_follow_no_call)
{
    ck_assert_int_gt(cp_unwind_refresh(), 0);
    uint64_t stack[16] = {0};
    uint64_t base = (uint64_t)(uintptr_t)stack;
    stack[0] = base + 64;
    stack[1] = (uint64_t)(uintptr_t)&cp_unwind_refresh;   /* code, but a function entry: no call before it */
    uint64_t pcs[8];
    volatile int n;
    ck_assert_int_eq(cp_unwind_walk_regs(code_pc(0), base, base, pcs, 8, &n), 1);
    stack[1] = code_pc(1);
    ck_assert_int_eq(cp_unwind_walk_regs(code_pc(0), base, base, pcs, 8, &n), 2);
}
END_TEST

START_TEST(test_unwind_walk_takes_the_leaf_caller_from_sp)
{
    ck_assert_int_gt(cp_unwind_refresh(), 0);
    /* a leaf without a frame: [sp] = return address into its caller,
     * rbp = the caller's frame, whose return address leads further up */
    uint64_t stack[32] = {0};
    uint64_t base = (uint64_t)(uintptr_t)stack;
    stack[0] = code_pc(1);            /* [sp] */
    stack[8] = base + 8 * 16;         /* caller's frame at stack[8] */
    stack[9] = code_pc(2);
    uint64_t pcs[8];
    volatile int n;
    ck_assert_int_eq(cp_unwind_walk_regs(code_pc(0), base, base + 64, pcs, 8, &n), 3);
    ck_assert_uint_eq(pcs[1], code_pc(1));
    ck_assert_uint_eq(pcs[2], code_pc(2));
}
END_TEST

START_TEST(test_unwind_walk_follows_valid_frames_until_non_native_return)
{
    ck_assert_int_gt(cp_unwind_refresh(), 0);
    uint64_t stack[64] = {0};
    uint64_t base = (uint64_t)(uintptr_t)stack;
    /* frame k at stack[8k]: [saved fp, return address] */
    for (int k = 0; k < 3; k++) {
        stack[8 * k] = base + 8 * 8 * (k + 1);
        stack[8 * k + 1] = code_pc(k + 1);
    }
    stack[24] = base + 8 * 32;
    stack[25] = 0x1234;   /* not code: the walk ends (Java frames would start here) */
    uint64_t pcs[16];
    volatile int n;
    ck_assert_int_eq(cp_unwind_walk_regs(code_pc(0), base, base, pcs, 16, &n), 4);
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(pcs[i], code_pc(i));
    ck_assert_int_eq(n, 4);
    /* max bounds the walk */
    ck_assert_int_eq(cp_unwind_walk_regs(code_pc(0), base, base, pcs, 2, &n), 2);
}
END_TEST

START_TEST(test_unwind_walk_rejects_bad_frame_pointers)
{
    ck_assert_int_gt(cp_unwind_refresh(), 0);
    uint64_t stack[32] = {0};
    uint64_t base = (uint64_t)(uintptr_t)stack;
    uint64_t pcs[8];
    volatile int n;
    /* a leaf pc that is not native: no frames at all */
    ck_assert_int_eq(cp_unwind_walk_regs(0x1000, base, base, pcs, 8, &n), 0);
    /* fp below sp */
    ck_assert_int_eq(cp_unwind_walk_regs(code_pc(0), base + 64, base, pcs, 8, &n), 1);
    /* misaligned fp */
    ck_assert_int_eq(cp_unwind_walk_regs(code_pc(0), base, base + 3, pcs, 8, &n), 1);
    /* a frame pointing back down (a loop) ends after that frame */
    stack[0] = base;
    stack[1] = code_pc(1);
    ck_assert_int_eq(cp_unwind_walk_regs(code_pc(0), base, base, pcs, 8, &n), 2);
    /* fp far above sp (beyond the span) */
    ck_assert_int_eq(cp_unwind_walk_regs(code_pc(0), base, base + CP_UNWIND_STACK_SPAN + 64, pcs, 8, &n), 1);
}
END_TEST

/* ---- a real signal context through frame-pointer functions ------------- */

static uint64_t g_pcs[CP_UNWIND_MAX_RANGES];
static volatile int g_n;
static volatile int g_done;

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
    (void)sig; (void)si;
    cp_unwind_walk(uc, g_pcs, 32, &g_n);
    g_done = 1;
}

int cprof_test_level2(volatile int *x);
int cprof_test_level1(volatile int *x);

__attribute__((noinline)) int cprof_test_level2(volatile int *x)
{
    raise(SIGUSR1);   /* the signal context's pc is in raise (libc) or here */
    while (!g_done)
        (*x)++;
    return *x;
}

__attribute__((noinline)) int cprof_test_level1(volatile int *x)
{
    int r = cprof_test_level2(x) + 1;
    __asm__ volatile("" ::: "memory");
    return r;
}

START_TEST(test_unwind_walk_from_signal_names_the_callers)
{
    ck_assert_int_gt(cp_unwind_refresh(), 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    volatile int x = 0;
    cprof_test_level1(&x);
    ck_assert_int_ge(g_n, 2);
    bool l1 = false, l2 = false;
    for (int i = 0; i < g_n; i++) {
        const char *obj;
        char name[256];
        ck_assert_int_eq(cp_symbols_lookup(i ? g_pcs[i] - 1 : g_pcs[i], &obj, name, sizeof name), 0);
        if (!strcmp(name, "cprof_test_level1")) {
            l1 = true;
            ck_assert_str_eq(obj, exe_name());
        }
        if (!strcmp(name, "cprof_test_level2"))
            l2 = true;
    }
    if (!(l1 && l2))
        for (int i = 0; i < g_n; i++) {
            const char *obj;
            char name[256];
            cp_symbols_lookup(g_pcs[i], &obj, name, sizeof name);
            fprintf(stderr, "# frame %d: %s %s\n", i, obj, name);
        }
    /* the leaf (raise, in libc, built without frame pointers) keeps its
     * caller's rbp, so the walk skips level2 and resumes at level1: the
     * documented limit of a frame-pointer walk */
    const char *obj0;
    char n0[256];
    cp_symbols_lookup(g_pcs[0], &obj0, n0, sizeof n0);
    ck_assert_msg(l2 || !strcmp(obj0, "libc.so.6"), "leaf in %s", obj0);
    /* with Debian's libc6-dbg, libc's internal functions have names
     * (separate debug file by build id) */
    if (access("/usr/share/doc/libc6-dbg", F_OK) == 0 && !strcmp(obj0, "libc.so.6"))
        ck_assert_msg(n0[0] != '\0', "libc leaf unnamed although libc6-dbg is installed");
    ck_assert_msg(l1, "walk of %d frames misses level1", g_n);
}
END_TEST

static uint64_t g_direct[16];
static volatile int g_ndirect;

__attribute__((noinline)) static void direct_level2(void)
{
    uint64_t sp = (uint64_t)(uintptr_t)__builtin_frame_address(0) - 64;
    cp_unwind_walk_regs((uint64_t)(uintptr_t)&direct_level2 + 1, sp,
                        (uint64_t)(uintptr_t)__builtin_frame_address(0), g_direct, 16, &g_ndirect);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void direct_level1(void)
{
    direct_level2();
    __asm__ volatile("" ::: "memory");
}

START_TEST(test_unwind_walk_from_frame_pointer_functions_names_each_caller)
{
    ck_assert_int_gt(cp_unwind_refresh(), 0);
    direct_level1();
    ck_assert_int_ge(g_ndirect, 3);
    const char *obj;
    char name[256];
    const char *want[] = {"direct_level2", "direct_level1", "test_unwind_walk_from_frame_pointer_functions_names_each_caller_fn"};
    for (int i = 0; i < 3; i++) {
        cp_symbols_lookup(i ? g_direct[i] - 1 : g_direct[i], &obj, name, sizeof name);
        ck_assert_str_eq(name, want[i]);
    }
}
END_TEST

/* ---- symbols ------------------------------------------------------------ */

START_TEST(test_symbols_lookup_names_functions_and_objects)
{
    const char *obj;
    char name[256];
    ck_assert_int_eq(cp_symbols_lookup((uint64_t)(uintptr_t)&cprof_test_level1 + 1, &obj, name, sizeof name), 0);
    ck_assert_str_eq(name, "cprof_test_level1");
    ck_assert_str_eq(obj, exe_name());
    void *gp = dlsym(RTLD_DEFAULT, "getpid");
    ck_assert_int_eq(cp_symbols_lookup((uint64_t)(uintptr_t)gp, &obj, name, sizeof name), 0);
    ck_assert_str_eq(obj, "libc.so.6");
    ck_assert_msg(strstr(name, "getpid") != NULL, "getpid named %s", name);
    /* truncation */
    ck_assert_int_eq(cp_symbols_lookup((uint64_t)(uintptr_t)&cprof_test_level1, &obj, name, 6), 0);
    ck_assert_str_eq(name, "cprof");
    /* no object */
    ck_assert_int_eq(cp_symbols_lookup(16, &obj, name, sizeof name), CP_ENOTFOUND);
    ck_assert_str_eq(obj, "");
    uint32_t no;
    uint64_t ns;
    cp_symbols_stats(&no, &ns);
    ck_assert_uint_ge(no, 2);
    ck_assert_uint_gt(ns, 10);
}
END_TEST

/* Many functions of one object (libc's table is in no address order): each
 * pc inside a function names a symbol at that function's address, so the
 * table was sorted right (a mis-sorted table sends the binary search to a
 * neighbour). Aliases are fine: the name found must resolve to the same
 * address. */
START_TEST(test_symbols_lookup_names_many_libc_functions_at_their_addresses)
{
    const char *fns[] = {"getpid", "fopen", "fclose", "fread", "opendir", "readdir", "closedir", "qsort",
                         "bsearch", "strtoull", "sscanf", "snprintf", "pthread_create", "pthread_join",
                         "clock_gettime", "nanosleep", "mmap", "munmap", "open", "close", "read", "write",
                         "sigaction", "dl_iterate_phdr", "getrandom", "gethostname", "sysconf", "abort",
                         "pthread_cond_signal", "pthread_cond_wait", "memcpy", "realpath"};
    int checked = 0;
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        void *f = dlsym(RTLD_DEFAULT, fns[i]);
        if (!f)
            continue;
        const char *obj;
        char name[256];
        ck_assert_int_eq(cp_symbols_lookup((uint64_t)(uintptr_t)f + 1, &obj, name, sizeof name), 0);
        if (strcmp(obj, "libc.so.6"))
            continue;   /* interposed elsewhere (e.g. by a sanitizer runtime) */
        ck_assert_msg(name[0], "%s: no name", fns[i]);
        /* a versioned .symtab name ("pthread_cond_signal@@GLIBC_2.3.2") is cut at the '@' */
        ck_assert_msg(!strchr(name, '@'), "%s named %s: symbol version left in", fns[i], name);
        void *g = dlsym(RTLD_DEFAULT, name);
        ck_assert_msg(!strcmp(name, fns[i]) || g == f || strstr(name, fns[i]),
                      "%s at %p named %s (at %p)", fns[i], f, name, g);
        checked++;
    }
    ck_assert_int_ge(checked, 10);
}
END_TEST

/* The page index (symbols.c) against a linear scan of this binary's own
 * .symtab: for each function's first and last byte and the bytes around
 * them, and a pc every 61 bytes over the executable range, the same
 * function (the last in table order among equal addresses at or below the
 * pc, none past its size) or none. */
static uint64_t exe_bias, exe_lo, exe_hi;

static int exe_range(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size; (void)arg;
    if (info->dlpi_name && info->dlpi_name[0])
        return 0;
    exe_bias = info->dlpi_addr;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uint64_t a = info->dlpi_addr + ph->p_vaddr;
        if (!exe_lo || a < exe_lo) exe_lo = a;
        if (a + ph->p_memsz > exe_hi) exe_hi = a + ph->p_memsz;
    }
    return 1;
}

static uint64_t linear(const ElfW(Sym) *sy, size_t n, size_t strsz, uint64_t rel)
{
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        int t = ELF64_ST_TYPE(sy[i].st_info);
        if ((t != STT_FUNC && t != STT_GNU_IFUNC) || !sy[i].st_value || sy[i].st_name >= strsz)
            continue;
        if (sy[i].st_value <= rel && (best == SIZE_MAX || sy[i].st_value >= sy[best].st_value))
            best = i;
    }
    if (best == SIZE_MAX || (sy[best].st_size && rel >= sy[best].st_value + sy[best].st_size))
        return 0;
    return sy[best].st_value;
}

START_TEST(test_symbols_page_index_matches_a_linear_scan)
{
    dl_iterate_phdr(exe_range, NULL);
    ck_assert(exe_hi > exe_lo);
    int fd = open("/proc/self/exe", O_RDONLY);
    struct stat st;
    ck_assert(fd >= 0 && fstat(fd, &st) == 0);
    const unsigned char *b = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    ck_assert(b != MAP_FAILED);
    const ElfW(Ehdr) *eh = (const void *)b;
    const ElfW(Shdr) *sh = (const void *)(b + eh->e_shoff), *sym = NULL;
    for (unsigned i = 0; i < eh->e_shnum; i++)
        if (sh[i].sh_type == SHT_SYMTAB)
            sym = &sh[i];
    ck_assert_msg(sym != NULL, "this test binary has a .symtab");
    const ElfW(Sym) *sy = (const void *)(b + sym->sh_offset);
    size_t n = sym->sh_size / sizeof *sy, strsz = sh[sym->sh_link].sh_size;
    size_t checked = 0, named = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t m = pass == 0 ? n : (size_t)((exe_hi - exe_lo) / 61 + 1);
        for (size_t i = 0; i < m; i++) {
            uint64_t pcs[6];
            int k = 0;
            if (pass == 0) {
                int t = ELF64_ST_TYPE(sy[i].st_info);
                if ((t != STT_FUNC && t != STT_GNU_IFUNC) || !sy[i].st_value)
                    continue;
                uint64_t v = sy[i].st_value, z = sy[i].st_size;
                pcs[k++] = v - 1; pcs[k++] = v; pcs[k++] = v + 1;
                if (z) { pcs[k++] = v + z - 1; pcs[k++] = v + z; }
            } else {
                pcs[k++] = exe_lo - exe_bias + 61 * i;
            }
            for (int j = 0; j < k; j++) {
                uint64_t pc = exe_bias + pcs[j];
                if (pc < exe_lo || pc >= exe_hi)
                    continue;
                uint64_t want = linear(sy, n, strsz, pcs[j]);
                uint64_t got = cp_symbols_function(pc);
                ck_assert_msg(got == (want ? exe_bias + want : 0), "pc +0x%llx: 0x%llx, the scan says 0x%llx",
                              (unsigned long long)pcs[j], (unsigned long long)(got ? got - exe_bias : 0),
                              (unsigned long long)want);
                checked++;
                named += want != 0;
            }
        }
    }
    ck_assert_uint_gt(checked, 2000);
    ck_assert_uint_gt(named, checked / 2);
    munmap((void *)b, (size_t)st.st_size);
}
END_TEST

START_TEST(test_symbols_demangles_cxx_names_when_the_runtime_is_loaded)
{
    void *h = dlopen("libstdc++.so.6", RTLD_NOW | RTLD_GLOBAL);
    if (!h)
        return;   /* no C++ runtime here: names stay mangled, nothing to check */
    void *f = dlsym(h, "_ZNSt9exceptionD1Ev");
    usleep(150000);   /* object rescans are rate-limited to one per 100 ms */
    ck_assert_ptr_nonnull(f);
    const char *obj;
    char name[256];
    ck_assert_int_eq(cp_symbols_lookup((uint64_t)(uintptr_t)f, &obj, name, sizeof name), 0);
    ck_assert_str_eq(obj, "libstdc++.so.6");
    ck_assert_msg(strstr(name, "std::exception::~exception") == name, "got %s", name);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("unwind");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, test_unwind_refresh_classifies_code_stack_and_anonymous_exec);
    tcase_add_test(tc, test_unwind_generation_moves_only_on_change_and_unknown_code_is_counted);
    suite_add_tcase(s, tc);
    tc = tcase_create("walk");
    tcase_add_test(tc, test_unwind_walk_follows_valid_frames_until_non_native_return);
    tcase_add_test(tc, test_unwind_walk_rejects_bad_frame_pointers);
    tcase_add_test(tc, test_unwind_walk_from_signal_names_the_callers);
    tcase_add_test(tc, test_unwind_walk_rejects_code_addresses_that_follow_no_call);
    tcase_add_test(tc, test_unwind_walk_takes_the_leaf_caller_from_sp);
    tcase_add_test(tc, test_unwind_walk_from_frame_pointer_functions_names_each_caller);
    suite_add_tcase(s, tc);
    tc = tcase_create("symbols");
    tcase_add_test(tc, test_symbols_lookup_names_functions_and_objects);
    tcase_add_test(tc, test_symbols_lookup_names_many_libc_functions_at_their_addresses);
    tcase_add_test(tc, test_symbols_demangles_cxx_names_when_the_runtime_is_loaded);
    tcase_add_test(tc, test_symbols_page_index_matches_a_linear_scan);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);  /* CK_VERBOSITY from the environment */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
