/* symbols.c - ELF symbol tables of loaded objects. See symbols.h.
 *
 * Objects: an array of {path, load bias, [lo, hi) of its PT_LOAD segments}
 * rebuilt by dl_iterate_phdr when a pc is in none of them (rate-limited to
 * once per 100 ms, so garbage pcs cannot make it spin). Symbols of an
 * object are loaded on first lookup: the file is mmapped, the section
 * headers give SHT_SYMTAB (or SHT_DYNSYM) and its linked string table;
 * STT_FUNC / STT_GNU_IFUNC entries with an address are sorted by address.
 * A pc maps to the last symbol starting at or below it if it is within
 * that symbol's size (or the size is 0). Objects are never unloaded in
 * practice by the JVM; a reset drops everything. */
#include "symbols.h"
#include "clock.h"

#include "error.h"

#include <dlfcn.h>
#include <stdatomic.h>
#include <elf.h>
#include <stdio.h>
#include <fcntl.h>
#include <link.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* An object's function symbols, grouped by the 4 KiB page of the object's
 * executable range they start in (a counting sort: two passes over the ELF
 * table, no sort, no second array): one 64-bit key each, the address
 * (relative to the object) above SYM_IDX_BITS bits of the symbol's index
 * in the ELF table, whose entry (in the file's mapping) gives size and
 * name. Within a page, table order. A lookup scans the pc's page (~10
 * keys in libjvm) and, if none starts at or below the pc there, the last
 * non-empty page before it. Built at every JVM's start for libjvm
 * (~49,000 symbols): fresh pages and passes over the ~1.4 MB ELF table are
 * most of the cost on this project's VMs, so the fewer the better. */
typedef uint64_t sym_t;
#define SYM_IDX_BITS 24
#define SYM_ADDR(k) ((k) >> SYM_IDX_BITS)
#define SYM_IDX(k) ((size_t)((k) & ((1u << SYM_IDX_BITS) - 1)))

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22   /* Linux 5.14; older kernels refuse it (EINVAL): faults as before */
#endif

static _Atomic uint64_t g_load_ns;   /* CPU spent loading symbol tables, in total */

typedef struct obj {
    char *path;
    const char *base;          /* file name inside path */
    uint64_t bias, lo, hi;
    bool loaded;               /* symbol table read (or tried) */
    void *map; size_t map_len;
    const char *strtab; size_t strtab_len;
    const ElfW(Sym) *elf_syms;              /* the table the keys index, in map */
    sym_t *syms; size_t n_syms, syms_cap;   /* syms: table_alloc'd, syms_cap entries */
    uint32_t *page; size_t n_pages;         /* syms of page p: [page[p], page[p + 1]) */
    uint64_t page0;                         /* relative address of page 0 */
} obj_t;

static obj_t *g_objs;
static size_t g_nobjs, g_capobjs;
static uint64_t g_last_scan_ns;
typedef char *(*demangle_fn)(const char *, char *, size_t *, int *);
static demangle_fn g_demangle;
static bool g_demangle_looked;


/* The symbol arrays (~1 MB for libjvm.so) are mapped with their pages
 * populated in one call: touched one page fault at a time they cost ~4 ms
 * of a ~10 ms load on this project's VMs (a fault ~13 us), on the exit
 * path of a short JVM. */
static void *table_alloc(size_t n)
{
    void *m = mmap(NULL, n ? n * sizeof(sym_t) : sizeof(sym_t), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    return m == MAP_FAILED ? NULL : m;
}

static void table_free(void *m, size_t n)
{
    if (m)
        munmap(m, n ? n * sizeof(sym_t) : sizeof(sym_t));
}

static void obj_free(obj_t *o)
{
    free(o->path);
    table_free(o->syms, o->syms_cap);
    free(o->page);
    if (o->map)
        munmap(o->map, o->map_len);
    memset(o, 0, sizeof *o);
}

uint64_t cp_symbols_load_ns(void)
{
    return atomic_load_explicit(&g_load_ns, memory_order_relaxed);   /* statistic */
}

void cp_symbols_reset(void)
{
    for (size_t i = 0; i < g_nobjs; i++)
        obj_free(&g_objs[i]);
    g_nobjs = 0;
}

static obj_t *find_obj(uint64_t pc)
{
    for (size_t i = 0; i < g_nobjs; i++)
        if (pc >= g_objs[i].lo && pc < g_objs[i].hi)
            return &g_objs[i];
    return NULL;
}

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size; (void)arg;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uint64_t a = info->dlpi_addr + ph->p_vaddr;
        if (a < lo) lo = a;
        if (a + ph->p_memsz > hi) hi = a + ph->p_memsz;
    }
    if (hi == 0 || find_obj(lo))
        return 0;
    const char *name = info->dlpi_name;
    char exe[4096];
    if (!name || !name[0]) {   /* the main program */
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0)
            return 0;
        exe[n] = '\0';
        name = exe;
    }
    if (g_nobjs == g_capobjs) {
        size_t nc = g_capobjs ? g_capobjs * 2 : 64;
        obj_t *no = realloc(g_objs, nc * sizeof *no);
        if (!no)
            return 1;
        g_objs = no;
        g_capobjs = nc;
    }
    obj_t *o = &g_objs[g_nobjs];
    memset(o, 0, sizeof *o);
    o->path = strdup(name);
    if (!o->path)
        return 1;
    const char *slash = strrchr(o->path, '/');
    o->base = slash ? slash + 1 : o->path;
    o->bias = info->dlpi_addr;
    o->lo = lo;
    o->hi = hi;
    g_nobjs++;
    return 0;
}

/* Maps path read-only; returns the mapping (and *len) or NULL. */
static const unsigned char *map_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(ElfW(Ehdr))) {
        close(fd);
        return NULL;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return NULL;
    *len = (size_t)st.st_size;
    return m;
}

/* Section headers of an ELF64 image, or NULL if it is not one. */
static const ElfW(Shdr) *sections(const unsigned char *b, size_t len, unsigned *n)
{
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)b;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_shoff == 0 || eh->e_shentsize != sizeof(ElfW(Shdr)) ||
        eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(ElfW(Shdr)) > len)
        return NULL;
    *n = eh->e_shnum;
    return (const ElfW(Shdr) *)(b + eh->e_shoff);
}

/* A function with an address that fits a key, and a name in the table. */
static bool named_function(const ElfW(Sym) *s, size_t strtab_len)
{
    int t = ELF64_ST_TYPE(s->st_info);
    return (t == STT_FUNC || t == STT_GNU_IFUNC) && s->st_value && s->st_name < strtab_len &&
           s->st_value < (1ull << (64 - SYM_IDX_BITS));
}

#define PAGE_SHIFT 12

/* The page of relative address a: below the executable range, page 0;
 * past it, the last page (lookups still see them, as before the index). */
static size_t page_of(const obj_t *o, uint64_t a)
{
    uint64_t p = a > o->page0 ? (a - o->page0) >> PAGE_SHIFT : 0;
    return p < o->n_pages ? (size_t)p : o->n_pages - 1;
}

/* Reads the function symbols of the image at b (type SHT_SYMTAB or
 * SHT_DYNSYM) into o, which takes over the mapping. Returns false (and
 * leaves o and the mapping alone) if the image has no such table. */
static bool take_symbols(obj_t *o, const unsigned char *b, size_t len, unsigned type)
{
    unsigned nsec;
    const ElfW(Shdr) *sh = sections(b, len, &nsec);
    const ElfW(Shdr) *symsec = NULL;
    for (unsigned i = 0; sh && i < nsec; i++)
        if (sh[i].sh_type == type && sh[i].sh_size > 0) {
            symsec = &sh[i];
            break;
        }
    if (!symsec || symsec->sh_link >= nsec || symsec->sh_entsize != sizeof(ElfW(Sym)))
        return false;
    const ElfW(Shdr) *strsec = &sh[symsec->sh_link];
    if (symsec->sh_offset + symsec->sh_size > len || strsec->sh_offset + strsec->sh_size > len)
        return false;
    const ElfW(Sym) *syms = (const ElfW(Sym) *)(b + symsec->sh_offset);
    size_t n = symsec->sh_size / sizeof(ElfW(Sym));
    /* the table's pages in one call, not a fault each (see table_alloc) */
    uintptr_t page = (uintptr_t)syms & ~(uintptr_t)4095;
    (void)madvise((void *)page, (uintptr_t)syms + symsec->sh_size - page, MADV_POPULATE_READ);
    const char *strtab = (const char *)(b + strsec->sh_offset);
    size_t strtab_len = strsec->sh_size;
    if (n > (1u << SYM_IDX_BITS))
        n = 1u << SYM_IDX_BITS;   /* 16 M symbols: the rest unnamed */
    obj_t t = *o;                 /* the pages of the executable range */
    t.page0 = (o->lo - o->bias) & ~(uint64_t)((1u << PAGE_SHIFT) - 1);
    t.n_pages = (size_t)(((o->hi - o->bias - t.page0) >> PAGE_SHIFT) + 1);
    if (o->hi <= o->lo || t.n_pages > (1u << 24))
        t.n_pages = 1;            /* no usable range: one page, a linear scan */
    uint32_t *pg = calloc(t.n_pages + 1, sizeof *pg);
    if (!pg)
        return false;
    size_t cnt = 0;               /* pass 1: how many start in each page */
    for (size_t i = 0; i < n; i++) {
        if (named_function(&syms[i], strtab_len)) {
            pg[page_of(&t, syms[i].st_value) + 1]++;
            cnt++;
        }
    }
    for (size_t p = 1; p <= t.n_pages; p++)   /* pg[p + 1]: end of page p */
        pg[p] += pg[p - 1];
    sym_t *out = table_alloc(cnt);
    if (!out) {
        free(pg);
        return false;
    }
    /* pass 2, backwards so that each page keeps table order: pg[p + 1]
     * counts down from the end of page p to its start, so pg ends as the
     * pages' starts (pg[p], page p - 1's end) */
    for (size_t i = n; i-- > 0;) {
        if (named_function(&syms[i], strtab_len))
            out[--pg[page_of(&t, syms[i].st_value) + 1]] = (uint64_t)syms[i].st_value << SYM_IDX_BITS | i;
    }
    memmove(pg, pg + 1, t.n_pages * sizeof *pg);   /* pg[p]: start of page p */
    pg[t.n_pages] = (uint32_t)cnt;
    o->map = (void *)b;
    o->map_len = len;
    o->strtab = strtab;
    o->strtab_len = strtab_len;
    o->elf_syms = syms;
    o->syms = out;
    o->n_syms = cnt;
    o->syms_cap = cnt;
    o->page = pg;
    o->n_pages = t.n_pages;
    o->page0 = t.page0;
    return true;
}

/* /usr/lib/debug/.build-id/xx/yyyy.debug for the image's GNU build id
 * (Debian's -dbg / -dbgsym packages install separate symbols there). */
static bool debug_file(const unsigned char *b, size_t len, char *out, size_t cap)
{
    unsigned nsec;
    const ElfW(Shdr) *sh = sections(b, len, &nsec);
    for (unsigned i = 0; sh && i < nsec; i++) {
        if (sh[i].sh_type != SHT_NOTE || sh[i].sh_offset + sh[i].sh_size > len)
            continue;
        const unsigned char *p = b + sh[i].sh_offset, *end = p + sh[i].sh_size;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            const unsigned char *name = p + sizeof *nh;
            const unsigned char *desc = name + ((nh->n_namesz + 3) & ~3u);
            if (desc + nh->n_descsz > end)
                break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && !memcmp(name, "GNU", 4) &&
                nh->n_descsz >= 2 && nh->n_descsz <= 64) {
                int o = snprintf(out, cap, "/usr/lib/debug/.build-id/%02x/", desc[0]);
                for (unsigned k = 1; k < nh->n_descsz && o + 3 < (int)cap; k++)
                    o += snprintf(out + o, cap - (size_t)o, "%02x", desc[k]);
                snprintf(out + o, cap - (size_t)o, ".debug");
                return true;
            }
            p = desc + ((nh->n_descsz + 3) & ~3u);
        }
    }
    return false;
}

/* Reads the symbol table of o: the file's .symtab; else the .symtab of its
 * separate debug file (by build id); else the file's .dynsym (exported
 * functions only). In place over read-only mappings. */
static void obj_load(obj_t *o)
{
    o->loaded = true;
    if (!g_demangle)
        g_demangle_looked = false;   /* a new object may bring the C++ runtime */
    size_t len = 0;
    const unsigned char *b = map_file(o->path, &len);
    if (!b)
        return;
    if (take_symbols(o, b, len, SHT_SYMTAB))
        return;
    char dbg[256];
    if (debug_file(b, len, dbg, sizeof dbg)) {
        size_t dlen = 0;
        const unsigned char *d = map_file(dbg, &dlen);
        if (d) {
            if (take_symbols(o, d, dlen, SHT_SYMTAB)) {
                munmap((void *)b, len);
                return;
            }
            munmap((void *)d, dlen);
        }
    }
    if (!take_symbols(o, b, len, SHT_DYNSYM))
        munmap((void *)b, len);
}

static void demangle_into(const char *mangled, char *out, size_t cap)
{
    if (!g_demangle_looked) {
        g_demangle = (demangle_fn)dlsym(RTLD_DEFAULT, "__cxa_demangle");
        if (!g_demangle) {
            /* Temurin's libjvm links the C++ runtime statically and the
             * launcher does not load libstdc++: load the system's, locally */
            void *h = dlopen("libstdc++.so.6", RTLD_NOW | RTLD_LOCAL);
            if (h)
                g_demangle = (demangle_fn)dlsym(h, "__cxa_demangle");
        }
        g_demangle_looked = true;
    }
    char *d = NULL;
    int status = -1;
    if (g_demangle && mangled[0] == '_' && mangled[1] == 'Z')
        d = g_demangle(mangled, NULL, NULL, &status);
    const char *src = d && status == 0 ? d : mangled;
    size_t l = strlen(src);
    /* a versioned definition in a .symtab: "pthread_cond_signal@@GLIBC_2.3.2"
     * names the function pthread_cond_signal (no demangled name has an '@') */
    const char *at = strchr(src, '@');
    if (at && at > src)
        l = (size_t)(at - src);
    if (l >= cap)
        l = cap - 1;
    memcpy(out, src, l);
    out[l] = '\0';
    free(d);
}

/* The object holding pc (loaded if it was not), and the symbol covering
 * pc or NULL. NULL object: pc is in none. */
static obj_t *find_sym(uint64_t pc, const ElfW(Sym) **sym, uint64_t *start)
{
    *sym = NULL;
    obj_t *o = find_obj(pc);
    if (!o) {
        uint64_t now = cp_mono_ns();
        if (now - g_last_scan_ns > 100000000ULL) {
            g_last_scan_ns = now;
            dl_iterate_phdr(phdr_cb, NULL);
            o = find_obj(pc);
        }
        if (!o)
            return NULL;
    }
    if (!o->loaded) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
        obj_load(o);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
        int64_t d = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
        if (d > 0)
            atomic_fetch_add_explicit(&g_load_ns, (uint64_t)d, memory_order_relaxed);   /* statistic */
    }
    if (!o->n_syms)
        return o;
    uint64_t rel = pc - o->bias;
    /* the last key (table order among equals) with the greatest address
     * <= rel: in rel's page, else the last non-empty page before it */
    size_t best = SIZE_MAX;
    for (size_t p = page_of(o, rel) + 1; p-- > 0 && best == SIZE_MAX;) {
        for (size_t i = o->page[p]; i < o->page[p + 1]; i++) {
            uint64_t a = SYM_ADDR(o->syms[i]);
            if (a <= rel && (best == SIZE_MAX || a >= SYM_ADDR(o->syms[best])))
                best = i;
        }
    }
    if (best == SIZE_MAX)
        return o;
    uint64_t addr = SYM_ADDR(o->syms[best]);
    const ElfW(Sym) *s = &o->elf_syms[SYM_IDX(o->syms[best])];
    /* prefer a sized symbol among equal addresses (aliases) */
    if (s->st_size && rel >= addr + s->st_size)
        return o;
    *sym = s;
    *start = o->bias + addr;
    return o;
}

int cp_symbols_lookup(uint64_t pc, const char **object, char *name, size_t cap)
{
    *object = "";
    if (cap)
        name[0] = '\0';
    const ElfW(Sym) *s;
    uint64_t start;
    obj_t *o = find_sym(pc, &s, &start);
    if (!o)
        return CP_ENOTFOUND;
    *object = o->base;
    if (s && cap)
        demangle_into(o->strtab + s->st_name, name, cap);
    return 0;
}

uint64_t cp_symbols_function(uint64_t pc)
{
    const ElfW(Sym) *s;
    uint64_t start = 0;
    return find_sym(pc, &s, &start) && s ? start : 0;
}

void cp_symbols_preload(uint64_t pc)
{
    const char *object;
    (void)cp_symbols_lookup(pc, &object, NULL, 0);
}

void cp_symbols_stats(uint32_t *objects, uint64_t *symbols)
{
    uint32_t no = 0;
    uint64_t ns = 0;
    for (size_t i = 0; i < g_nobjs; i++)
        if (g_objs[i].n_syms) {
            no++;
            ns += g_objs[i].n_syms;
        }
    *objects = no;
    *symbols = ns;
}

/* ---- data symbols by name (any thread: no shared state) ------------------ */

struct find_obj_arg { const char *base; char path[512]; uint64_t bias; bool found; };

static int find_obj_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct find_obj_arg *a = arg;
    const char *p = info->dlpi_name;
    if (!p || !*p)
        return 0;
    const char *slash = strrchr(p, '/');
    if (strcmp(slash ? slash + 1 : p, a->base))
        return 0;
    snprintf(a->path, sizeof a->path, "%s", p);
    a->bias = info->dlpi_addr;
    a->found = true;
    return 1;
}

static bool find_in_table(const unsigned char *b, size_t len, unsigned type, const char *name, uint64_t size,
                          uint64_t *value)
{
    unsigned nsec;
    const ElfW(Shdr) *sh = sections(b, len, &nsec);
    for (unsigned i = 0; sh && i < nsec; i++) {
        if (sh[i].sh_type != type || sh[i].sh_entsize != sizeof(ElfW(Sym)) || sh[i].sh_link >= nsec)
            continue;
        const ElfW(Shdr) *str = &sh[sh[i].sh_link];
        if (sh[i].sh_offset + sh[i].sh_size > len || str->sh_offset + str->sh_size > len)
            return false;
        const ElfW(Sym) *sy = (const ElfW(Sym) *)(b + sh[i].sh_offset);
        const char *strtab = (const char *)(b + str->sh_offset);
        size_t n = sh[i].sh_size / sizeof(ElfW(Sym)), nl = strlen(name);
        for (size_t k = 0; k < n; k++) {
            /* the size first: the string table (megabytes for libjvm) is
             * then read for a few symbols only, not for all ~100,000 */
            if ((size && sy[k].st_size != size) || ELF64_ST_TYPE(sy[k].st_info) != STT_OBJECT ||
                !sy[k].st_value || sy[k].st_name + nl + 1 > str->sh_size)
                continue;
            if (!memcmp(strtab + sy[k].st_name, name, nl + 1)) {
                *value = sy[k].st_value;
                return true;
            }
        }
    }
    return false;
}

int cp_symbols_find_data(const char *object, const char *name, uint64_t size, uint64_t *addr)
{
    struct find_obj_arg a;
    memset(&a, 0, sizeof a);
    a.base = object;
    *addr = 0;
    dl_iterate_phdr(find_obj_cb, &a);
    if (!a.found)
        return CP_ENOTFOUND;
    size_t len = 0;
    const unsigned char *b = map_file(a.path, &len);
    if (!b)
        return CP_ENOTFOUND;
    uint64_t v = 0;
    bool ok = find_in_table(b, len, SHT_SYMTAB, name, size, &v) ||
              find_in_table(b, len, SHT_DYNSYM, name, size, &v);
    munmap((void *)b, len);
    if (!ok)
        return CP_ENOTFOUND;
    *addr = a.bias + v;
    return 0;
}
