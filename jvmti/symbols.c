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

#include "error.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct sym { uint64_t addr, size; uint32_t name; } sym_t;

typedef struct obj {
    char *path;
    const char *base;          /* file name inside path */
    uint64_t bias, lo, hi;
    bool loaded;               /* symbol table read (or tried) */
    void *map; size_t map_len;
    const char *strtab; size_t strtab_len;
    sym_t *syms; size_t n_syms;
} obj_t;

static obj_t *g_objs;
static size_t g_nobjs, g_capobjs;
static uint64_t g_last_scan_ns;
typedef char *(*demangle_fn)(const char *, char *, size_t *, int *);
static demangle_fn g_demangle;
static bool g_demangle_looked;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void obj_free(obj_t *o)
{
    free(o->path);
    free(o->syms);
    if (o->map)
        munmap(o->map, o->map_len);
    memset(o, 0, sizeof *o);
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

static int sym_cmp(const void *a, const void *b)
{
    const sym_t *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Reads the symbol table of o (in place over a read-only mapping). */
static void obj_load(obj_t *o)
{
    o->loaded = true;
    if (!g_demangle)
        g_demangle_looked = false;   /* a new object may bring the C++ runtime */
    int fd = open(o->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(ElfW(Ehdr))) {
        close(fd);
        return;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return;
    o->map = m;
    o->map_len = (size_t)st.st_size;
    const unsigned char *b = m;
    const ElfW(Ehdr) *eh = m;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_shoff == 0 || eh->e_shentsize != sizeof(ElfW(Shdr)) ||
        eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(ElfW(Shdr)) > o->map_len)
        return;
    const ElfW(Shdr) *sh = (const ElfW(Shdr) *)(b + eh->e_shoff);
    const ElfW(Shdr) *symsec = NULL;
    for (int pass = 0; pass < 2 && !symsec; pass++)
        for (unsigned i = 0; i < eh->e_shnum; i++)
            if (sh[i].sh_type == (pass == 0 ? SHT_SYMTAB : SHT_DYNSYM) && sh[i].sh_size > 0) {
                symsec = &sh[i];
                break;
            }
    if (!symsec || symsec->sh_link >= eh->e_shnum || symsec->sh_entsize != sizeof(ElfW(Sym)))
        return;
    const ElfW(Shdr) *strsec = &sh[symsec->sh_link];
    if (symsec->sh_offset + symsec->sh_size > o->map_len || strsec->sh_offset + strsec->sh_size > o->map_len)
        return;
    const ElfW(Sym) *syms = (const ElfW(Sym) *)(b + symsec->sh_offset);
    size_t n = symsec->sh_size / sizeof(ElfW(Sym));
    o->strtab = (const char *)(b + strsec->sh_offset);
    o->strtab_len = strsec->sh_size;
    size_t cnt = 0;
    for (size_t i = 0; i < n; i++) {
        int t = ELF64_ST_TYPE(syms[i].st_info);
        if ((t == STT_FUNC || t == STT_GNU_IFUNC) && syms[i].st_value && syms[i].st_name < o->strtab_len)
            cnt++;
    }
    o->syms = malloc((cnt ? cnt : 1) * sizeof *o->syms);
    if (!o->syms)
        return;
    for (size_t i = 0; i < n; i++) {
        int t = ELF64_ST_TYPE(syms[i].st_info);
        if ((t == STT_FUNC || t == STT_GNU_IFUNC) && syms[i].st_value && syms[i].st_name < o->strtab_len)
            o->syms[o->n_syms++] = (sym_t){syms[i].st_value, syms[i].st_size, syms[i].st_name};
    }
    qsort(o->syms, o->n_syms, sizeof *o->syms, sym_cmp);
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
    if (l >= cap)
        l = cap - 1;
    memcpy(out, src, l);
    out[l] = '\0';
    free(d);
}

int cp_symbols_lookup(uint64_t pc, const char **object, char *name, size_t cap)
{
    *object = "";
    if (cap)
        name[0] = '\0';
    obj_t *o = find_obj(pc);
    if (!o) {
        uint64_t now = mono_ns();
        if (now - g_last_scan_ns > 100000000ULL) {
            g_last_scan_ns = now;
            dl_iterate_phdr(phdr_cb, NULL);
            o = find_obj(pc);
        }
        if (!o)
            return CP_ENOTFOUND;
    }
    *object = o->base;
    if (!o->loaded)
        obj_load(o);
    if (!o->n_syms || !cap)
        return 0;
    uint64_t rel = pc - o->bias;
    size_t lo = 0, hi = o->n_syms;   /* last symbol with addr <= rel */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (o->syms[mid].addr <= rel)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return 0;
    const sym_t *s = &o->syms[lo - 1];
    /* prefer a sized symbol among equal addresses (aliases) */
    if (s->size && rel >= s->addr + s->size)
        return 0;
    demangle_into(o->strtab + s->name, name, cap);
    return 0;
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
