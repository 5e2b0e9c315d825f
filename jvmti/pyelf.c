/* pyelf.c - _PyRuntime's address in another process (pyelf.h).
 *
 * The file is mapped read-only and its .dynsym section (SHT_DYNSYM, kept
 * by `strip`) is scanned linearly: python's has ~1,600 entries, and this
 * runs once per interpreter file per process (forked workers inherit the
 * answer through the caller's cache). Every offset read from the file is
 * checked against its size, so a truncated or hostile file cannot make us
 * read outside the mapping.
 *
 * Run-time address = start of the file's mapping at offset 0
 *                  - first PT_LOAD's p_vaddr (page aligned)
 *                  + st_value
 * which covers PIE/shared objects (first p_vaddr 0) and fixed-address
 * executables (mapping start == p_vaddr) alike. */
#include "pyelf.h"

#include "error.h"

#include <elf.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static bool in_file(size_t size, uint64_t off, uint64_t len)
{
    return off <= size && len <= size - off;
}

int cp_pyelf_dynsym(const char *file, const char *name, uint64_t *off)
{
    *off = 0;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return CP_EIO;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
        close(fd);
        return CP_EIO;
    }
    size_t size = (size_t)st.st_size;
    const uint8_t *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return CP_EIO;
    int rc = CP_EINVAL;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)m;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_phentsize != sizeof(Elf64_Phdr) ||
        eh->e_shentsize != sizeof(Elf64_Shdr) ||
        !in_file(size, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)) ||
        !in_file(size, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)))
        goto out;
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(m + eh->e_phoff);
    uint64_t first_load = UINT64_MAX;
    for (int i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD && ph[i].p_vaddr < first_load)
            first_load = ph[i].p_vaddr;
    if (first_load == UINT64_MAX)
        goto out;
    first_load &= ~(uint64_t)0xfff;
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(m + eh->e_shoff);
    rc = CP_ENOTFOUND;
    for (int i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_entsize != sizeof(Elf64_Sym) ||
            sh[i].sh_link >= eh->e_shnum)
            continue;
        const Elf64_Shdr *strs = &sh[sh[i].sh_link];
        if (!in_file(size, sh[i].sh_offset, sh[i].sh_size) ||
            !in_file(size, strs->sh_offset, strs->sh_size))
            continue;
        const Elf64_Sym *sym = (const Elf64_Sym *)(m + sh[i].sh_offset);
        const char *str = (const char *)(m + strs->sh_offset);
        size_t n = sh[i].sh_size / sizeof *sym, nl = strlen(name);
        for (size_t k = 0; k < n; k++) {
            if (sym[k].st_name >= strs->sh_size || sym[k].st_shndx == SHN_UNDEF)
                continue;
            if (strs->sh_size - sym[k].st_name <= nl)
                continue;
            if (!memcmp(str + sym[k].st_name, name, nl + 1)) {
                *off = sym[k].st_value - first_load;
                rc = 0;
                goto out;
            }
        }
    }
out:
    munmap((void *)m, size);
    return rc;
}

/* "python3.11", "libpython3.12.so.1.0", "libpython3.9d.so": the version
 * after the prefix. Returns true for a python or libpython file name. */
static bool python_name(const char *base, int *major, int *minor)
{
    const char *p = NULL;
    if (!strncmp(base, "libpython", 9))
        p = base + 9;
    else if (!strncmp(base, "python", 6))
        p = base + 6;
    if (!p)
        return false;
    *major = *minor = 0;
    int a, b;
    if (sscanf(p, "%d.%d", &a, &b) == 2 && a >= 2) {
        *major = a;
        *minor = b;
    }
    /* "python" alone (a venv copy) counts; "pythonista.so" does not */
    return *major || p[0] == '\0' || p[0] == '3';
}

int cp_pyelf_find(pid_t pid, cp_pyelf_t *out)
{
    memset(out, 0, sizeof *out);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return CP_EIO;
    char line[512];
    int rc = CP_ENOTFOUND;
    /* libpython first if both are mapped: a binary linked against it
     * exports nothing itself */
    char best[256] = "";
    uint64_t best_base = 0;
    int best_score = 0, bmaj = 0, bmin = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi, off;
        char perms[8];
        int pos = 0;
        if (sscanf(line, "%lx-%lx %7s %lx %*s %*s%n", &lo, &hi, perms, &off, &pos) != 4 || off != 0)
            continue;
        char *file = line + pos;
        while (*file == ' ')
            file++;
        file[strcspn(file, "\n")] = '\0';
        if (file[0] != '/')
            continue;
        const char *base = strrchr(file, '/') + 1;
        int maj, min;
        if (!python_name(base, &maj, &min))
            continue;
        int score = !strncmp(base, "lib", 3) ? 2 : 1;
        if (score > best_score && strlen(file) < sizeof best) {
            best_score = score;
            snprintf(best, sizeof best, "%s", file);
            best_base = lo;
            bmaj = maj;
            bmin = min;
        }
    }
    fclose(f);
    if (!best_score)
        return rc;
    char root[320];
    snprintf(root, sizeof root, "/proc/%d/root%s", (int)pid, best);
    uint64_t off;
    rc = cp_pyelf_dynsym(root, "_PyRuntime", &off);
    if (rc == CP_EIO)   /* no access to its root (not ours): the path as we see it */
        rc = cp_pyelf_dynsym(best, "_PyRuntime", &off);
    if (rc != 0)
        return rc == CP_EINVAL ? CP_ENOTFOUND : rc;
    out->runtime = best_base + off;
    if (cp_pyelf_dynsym(root, "Py_Version", &off) == 0 || cp_pyelf_dynsym(best, "Py_Version", &off) == 0)
        out->py_version = best_base + off;
    out->major = bmaj;
    out->minor = bmin;
    snprintf(out->path, sizeof out->path, "%s", best);
    return 0;
}
