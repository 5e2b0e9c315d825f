/* pyvm.c - Python stacks of another process through process_vm_readv
 * (pyvm.h).
 *
 * Offsets (x86-64 and aarch64, LP64; default builds, no Py_DEBUG, no free
 * threading), from each version's headers (Include/internal/pycore_runtime.h,
 * pycore_interp.h, pycore_frame.h, cpython/pystate.h, cpython/code.h,
 * cpython/unicodeobject.h):
 *
 *   ver   rt.interp  is.threads  ts.next ts.tid ts.frame  cframe.cur  fr.prev fr.code fr.owner  co.file co.name co.qual co.line  str.ascii str.compact
 *   3.8   32         8           8       -      24        -           24      32      -         104     112     -       40       48        72
 *   3.9   32         8           8       -      24        -           24      32      -         104     112     -       40       48        72
 *   3.10  32         8           8       -      24        -           24      32      -         104     112     -       40       48        72
 *   3.11  40         16          8       160    56 (cf)   8           48      32      69        112     120     128     72       48        72
 *   3.12  40         72          8       144    56 (cf)   0           8       0       70        112     120     128     68       40        56
 *   3.13  _Py_DebugOffsets at _PyRuntime + 0 (cookie "xdebugpy", version, then
 *         one block of uint64 offsets per struct; layout of 3.13.0)
 *
 * ts.frame is PyThreadState.frame (a PyFrameObject*) on 3.8-3.10 and
 * PyThreadState.cframe (a _PyCFrame*) on 3.11/3.12, whose current_frame
 * is the innermost _PyInterpreterFrame; 3.13 has current_frame directly.
 * Frames owned by the C stack (owner 3, 3.12+) are shims, not Python
 * functions: skipped. 3.8-3.10 record no kernel tid in the thread state
 * (pthread_t only): the caller maps a single-threaded process to its pid.
 *
 * Unicode: state bit field at 32 (kind in bits 2-4, compact bit 5, ascii
 * bit 6, 3.8-3.13 alike); compact ASCII data follows PyASCIIObject, other
 * compact strings follow PyCompactUnicodeObject. Non-compact strings
 * (legacy API) are not read: "?".
 *
 * Cost: per frame one 72-byte read of the frame, and one read of ~140
 * bytes of its code object batched for the whole stack in one system call.
 * Names are read only by cp_pyvm_code_name, which the caller caches. */
#include "pyvm.h"

#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#define NONE 0xffffu

typedef struct offsets {
    uint16_t rt_interp_head;
    uint16_t is_threads_head;
    uint16_t ts_next, ts_tid, ts_frame;   /* ts_tid NONE: not recorded */
    uint16_t cf_current;                  /* NONE: ts_frame is the frame itself */
    uint16_t fr_prev, fr_code, fr_owner;  /* fr_owner NONE: no owner field */
    uint16_t co_file, co_name, co_qual, co_line;   /* co_qual NONE: no qualname */
    uint16_t str_ascii, str_compact;
    bool legacy_frames;                   /* PyFrameObject chain (3.8-3.10) */
} offsets_t;

static const offsets_t OFF_38_310 = {32, 8, 8, NONE, 24, NONE, 24, 32, NONE, 104, 112, NONE, 40, 48, 72, true};
static const offsets_t OFF_311 = {40, 16, 8, 160, 56, 8, 48, 32, 69, 112, 120, 128, 72, 48, 72, false};
static const offsets_t OFF_312 = {40, 72, 8, 144, 56, 0, 8, 0, 70, 112, 120, 128, 68, 40, 56, false};

#define FRAME_OWNED_BY_CSTACK 3

struct cp_pyvm {
    pid_t pid;
    uint64_t runtime;
    offsets_t o;
    uint16_t fr_read;      /* bytes of a frame to read */
    uint16_t co_read;      /* bytes of a code object to read (its name fields) */
    char version[16];
    uint64_t interp;       /* cached interpreters.head (0: read it); see cp_pyvm_threads */
    unsigned calls;
};

/* The interpreter's address is read again every INTERP_REREAD-th call (and
 * after any failed read): it does not move while the process lives (3.11+
 * keep the main interpreter inside _PyRuntime), so the other calls save a
 * system call. */
#define INTERP_REREAD 16

static int read_mem(pid_t pid, uint64_t addr, void *buf, size_t len)
{
    if (!addr)
        return CP_EIO;
    struct iovec l = {buf, len}, r = {(void *)(uintptr_t)addr, len};
    ssize_t n = process_vm_readv(pid, &l, 1, &r, 1, 0);
    if (n == (ssize_t)len)
        return 0;
    if (n < 0 && (errno == EPERM || errno == EACCES))
        return CP_EPERM;
    return CP_EIO;
}

static uint64_t u64_at(const uint8_t *b, size_t off)
{
    uint64_t v;
    memcpy(&v, b + off, sizeof v);
    return v;
}

static uint32_t u32_at(const uint8_t *b, size_t off)
{
    uint32_t v;
    memcpy(&v, b + off, sizeof v);
    return v;
}

/* 3.13: the fields we need out of _Py_DebugOffsets (3.13.0 layout: blocks
 * of uint64 after cookie[8], version, free_threaded). */
enum {
    DO_VERSION = 8, DO_FREE_THREADED = 16,
    DO_RT_INTERP_HEAD = 40,
    DO_IS_THREADS_HEAD = 72,
    DO_TS_NEXT = 168, DO_TS_CURRENT_FRAME = 184, DO_TS_NATIVE_TID = 200,
    DO_FR_PREVIOUS = 232, DO_FR_EXECUTABLE = 240, DO_FR_OWNER = 264,
    DO_CO_FILENAME = 280, DO_CO_NAME = 288, DO_CO_QUALNAME = 296, DO_CO_FIRSTLINENO = 312,
    DO_UNI_ASCII_SIZE = 560,
    DO_SIZE = 568
};

static int offsets_from_debug(cp_pyvm_t *vm, int minor)
{
    uint8_t d[DO_SIZE];
    int rc = read_mem(vm->pid, vm->runtime, d, sizeof d);
    if (rc)
        return rc;
    if (memcmp(d, "xdebugpy", 8))
        return CP_EUNSUPP;
    uint64_t hex = u64_at(d, DO_VERSION);
    if ((int)((hex >> 24) & 0xff) != 3 || (int)((hex >> 16) & 0xff) != minor || minor != 13)
        return CP_EUNSUPP;   /* 3.14 changed the table's layout */
    if (u64_at(d, DO_FREE_THREADED))
        return CP_EUNSUPP;
    uint64_t f[] = {u64_at(d, DO_RT_INTERP_HEAD), u64_at(d, DO_IS_THREADS_HEAD), u64_at(d, DO_TS_NEXT),
                    u64_at(d, DO_TS_NATIVE_TID), u64_at(d, DO_TS_CURRENT_FRAME), u64_at(d, DO_FR_PREVIOUS),
                    u64_at(d, DO_FR_EXECUTABLE), u64_at(d, DO_FR_OWNER), u64_at(d, DO_CO_FILENAME),
                    u64_at(d, DO_CO_NAME), u64_at(d, DO_CO_QUALNAME), u64_at(d, DO_CO_FIRSTLINENO),
                    u64_at(d, DO_UNI_ASCII_SIZE)};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i] >= 65535)
            return CP_EUNSUPP;   /* not a plausible struct offset: a different layout */
    vm->o = (offsets_t){(uint16_t)f[0], (uint16_t)f[1], (uint16_t)f[2], (uint16_t)f[3], (uint16_t)f[4], NONE,
                        (uint16_t)f[5], (uint16_t)f[6], (uint16_t)f[7], (uint16_t)f[8], (uint16_t)f[9],
                        (uint16_t)f[10], (uint16_t)f[11], (uint16_t)f[12], (uint16_t)(f[12] + 16), false};
    return 0;
}

static uint16_t max16(uint16_t a, uint16_t b) { return a > b ? a : b; }

int cp_pyvm_open(pid_t pid, const cp_pyelf_t *elf, cp_pyvm_t **out)
{
    *out = NULL;
    cp_pyvm_t *vm = calloc(1, sizeof *vm);
    if (!vm)
        return CP_ENOMEM;
    vm->pid = pid;
    vm->runtime = elf->runtime;
    int major = elf->major, minor = elf->minor, rc;
    if (elf->py_version) {   /* 3.11+: the running version, whatever the file is called */
        uint32_t hex;
        if ((rc = read_mem(pid, elf->py_version, &hex, sizeof hex)) != 0)
            goto fail;
        major = (int)(hex >> 24);
        minor = (int)((hex >> 16) & 0xff);
    } else if ((rc = read_mem(pid, elf->runtime, &(uint64_t){0}, 8)) != 0) {
        goto fail;   /* says EPERM early, before any version logic */
    }
    rc = CP_EUNSUPP;
    if (major != 3)
        goto fail;
    if (minor >= 8 && minor <= 10)
        vm->o = OFF_38_310;
    else if (minor == 11)
        vm->o = OFF_311;
    else if (minor == 12)
        vm->o = OFF_312;
    else if (minor >= 13 && (rc = offsets_from_debug(vm, minor)) != 0)
        goto fail;
    else if (minor < 8)
        goto fail;
    const offsets_t *o = &vm->o;
    vm->fr_read = (uint16_t)(max16(max16(o->fr_prev, o->fr_code), o->fr_owner == NONE ? 0 : o->fr_owner) + 8);
    vm->co_read = (uint16_t)(max16(max16(o->co_file, o->co_name), max16(o->co_qual == NONE ? 0 : o->co_qual, o->co_line)) + 8);
    rc = CP_EUNSUPP;
    if (vm->co_read > 192 || vm->fr_read > 128)
        goto fail;   /* the read buffers' sizes (a 3.13 table with far larger structs) */
    snprintf(vm->version, sizeof vm->version, "%d.%d", major, minor);
    *out = vm;
    return 0;
fail:
    free(vm);
    return rc;
}

void cp_pyvm_close(cp_pyvm_t *vm) { free(vm); }
pid_t cp_pyvm_pid(const cp_pyvm_t *vm) { return vm->pid; }
const char *cp_pyvm_version(const cp_pyvm_t *vm) { return vm->version; }

static int read_ptr(cp_pyvm_t *vm, uint64_t addr, uint64_t *v)
{
    return read_mem(vm->pid, addr, v, sizeof *v);
}

int cp_pyvm_threads(cp_pyvm_t *vm, cp_pyvm_thread_t *out, int cap)
{
    const offsets_t *o = &vm->o;
    uint64_t ts;
    int rc;
    if (!vm->interp || vm->calls++ % INTERP_REREAD == 0) {
        if ((rc = read_ptr(vm, vm->runtime + o->rt_interp_head, &vm->interp)) != 0) {
            vm->interp = 0;
            return rc;
        }
        if (!vm->interp)
            return 0;   /* not initialised yet, or finalised */
    }
    if ((rc = read_ptr(vm, vm->interp + o->is_threads_head, &ts)) != 0) {
        vm->interp = 0;   /* read it again next time */
        return rc;
    }
    int n = 0;
    uint8_t b[256];
    size_t need = (size_t)max16(max16(o->ts_next, o->ts_frame), o->ts_tid == NONE ? 0 : o->ts_tid) + 8;
    while (ts && n < cap) {
        if (read_mem(vm->pid, ts, b, need) != 0)
            break;
        cp_pyvm_thread_t *t = &out[n++];
        t->tstate = ts;
        t->tid = o->ts_tid == NONE ? 0 : (int)u64_at(b, o->ts_tid);
        uint64_t f = u64_at(b, o->ts_frame);
        if (o->cf_current != NONE && f && read_ptr(vm, f + o->cf_current, &f) != 0)
            f = 0;
        t->frame = f;
        uint64_t next = u64_at(b, o->ts_next);
        if (next == ts)
            break;
        ts = next;
    }
    return n;
}

int cp_pyvm_stack(cp_pyvm_t *vm, uint64_t frame, cp_pyvm_frame_t *out, int cap, bool *truncated)
{
    const offsets_t *o = &vm->o;
    /* A window from the start of the frame's page up to its end, in one
     * system call: 3.11+ push frames upwards on the thread's data stack,
     * so the callers of a frame mostly lie below it in the same page and
     * are decoded from the window (a deep stack costs a few reads, not one
     * per level). A frame outside the window gets a window of its own. */
    uint8_t win[4096 + 256], b[128];
    uint64_t wlo = 0, whi = 0;
    int n = 0, rc = 0;
    bool cut = false;
    if (cap > CP_PYVM_MAX_DEPTH)
        cap = CP_PYVM_MAX_DEPTH;
    for (int steps = 0; frame; steps++) {
        if (n == cap || steps >= 2 * CP_PYVM_MAX_DEPTH) {
            cut = true;
            break;
        }
        const uint8_t *fb;
        if (frame >= wlo && frame + vm->fr_read <= whi) {
            fb = win + (frame - wlo);
        } else {
            uint64_t lo = frame & ~(uint64_t)4095, hi = frame + vm->fr_read;
            if (hi - lo <= sizeof win && read_mem(vm->pid, lo, win, hi - lo) == 0) {
                wlo = lo;
                whi = hi;
                fb = win + (frame - lo);
            } else if ((rc = read_mem(vm->pid, frame, b, vm->fr_read)) == 0) {
                fb = b;
            } else {
                cut = n > 0;
                break;
            }
        }
        uint64_t code = u64_at(fb, o->fr_code), prev = u64_at(fb, o->fr_prev);
        bool shim = o->fr_owner != NONE && fb[o->fr_owner] == FRAME_OWNED_BY_CSTACK;
        if (!shim && code)
            out[n++] = (cp_pyvm_frame_t){code, 0};
        if (prev == frame)
            break;
        frame = prev;
    }
    if (truncated)
        *truncated = cut;
    if (n == 0 && rc)
        return rc;
    /* the code objects' name fields, one system call for the whole stack */
    struct iovec l[CP_PYVM_MAX_DEPTH], r[CP_PYVM_MAX_DEPTH];
    uint8_t cb[CP_PYVM_MAX_DEPTH][192];   /* 24 KiB of this thread's stack, not a malloc per stack */
    for (int i = 0; i < n; i++) {
        l[i] = (struct iovec){cb[i], vm->co_read};
        r[i] = (struct iovec){(void *)(uintptr_t)out[i].code, vm->co_read};
    }
    ssize_t got = n ? process_vm_readv(vm->pid, l, (unsigned long)n, r, (unsigned long)n, 0) : 0;
    for (int i = 0; i < n; i++) {
        bool ok = got >= (ssize_t)((size_t)(i + 1) * vm->co_read);
        uint64_t k = out[i].code;
        if (ok) {   /* identity: address + what names it */
            k ^= u64_at(cb[i], o->co_name) * 0x9E3779B97F4A7C15ull;
            k ^= u64_at(cb[i], o->co_file) * 0xC2B2AE3D27D4EB4Full;
            k ^= (uint64_t)u32_at(cb[i], o->co_line) << 40;
        }
        out[i].code_key = k;
    }
    return n;
}

/* Appends code point c as UTF-8. */
static size_t put_utf8(char *o, size_t cap, size_t at, uint32_t c)
{
    char t[4];
    size_t k;
    if (c < 0x80) { t[0] = (char)c; k = 1; }
    else if (c < 0x800) { t[0] = (char)(0xc0 | c >> 6); t[1] = (char)(0x80 | (c & 0x3f)); k = 2; }
    else if (c < 0x10000) { t[0] = (char)(0xe0 | c >> 12); t[1] = (char)(0x80 | ((c >> 6) & 0x3f));
                            t[2] = (char)(0x80 | (c & 0x3f)); k = 3; }
    else { t[0] = (char)(0xf0 | c >> 18); t[1] = (char)(0x80 | ((c >> 12) & 0x3f));
           t[2] = (char)(0x80 | ((c >> 6) & 0x3f)); t[3] = (char)(0x80 | (c & 0x3f)); k = 4; }
    if (at + k >= cap)
        return at;
    memcpy(o + at, t, k);
    return at + k;
}

/* A str object into UTF-8 (truncated to cap). */
static int read_str(cp_pyvm_t *vm, uint64_t obj, char *out, size_t cap)
{
    const offsets_t *o = &vm->o;
    uint8_t b[72 + 1024];
    out[0] = '\0';
    if (read_mem(vm->pid, obj, b, (size_t)o->str_compact) != 0)
        return CP_EIO;
    uint64_t len = u64_at(b, 16);
    uint32_t state = u32_at(b, 32);
    unsigned kind = (state >> 2) & 7, compact = (state >> 5) & 1, ascii = (state >> 6) & 1;
    if (!compact || (kind != 1 && kind != 2 && kind != 4))
        return CP_EIO;
    size_t data = ascii ? o->str_ascii : o->str_compact;
    size_t chars = len < 256 ? (size_t)len : 256;
    size_t bytes = chars * kind;
    if (read_mem(vm->pid, obj + data, b, bytes) != 0)
        return CP_EIO;
    size_t at = 0;
    for (size_t i = 0; i < chars; i++) {
        uint32_t c = kind == 1 ? b[i] : kind == 2 ? (uint32_t)(b[2 * i] | b[2 * i + 1] << 8) : u32_at(b, 4 * i);
        if (c == 0)
            c = '?';
        at = put_utf8(out, cap, at, c);
    }
    out[at] = '\0';
    return 0;
}

static bool ends_with(const char *s, size_t n, const char *suf)
{
    size_t k = strlen(suf);
    return n >= k && !memcmp(s + n - k, suf, k);
}

void cp_pyvm_module_of(const char *fn, char *out, size_t cap)
{
    if (!cap)
        return;
    if (fn[0] == '<') {   /* "<frozen importlib._bootstrap>", "<string>" */
        const char *p = !strncmp(fn, "<frozen ", 8) ? fn + 8 : fn;
        snprintf(out, cap, "%s", p);
        size_t n = strlen(out);
        if (p != fn && n && out[n - 1] == '>')
            out[n - 1] = '\0';
        return;
    }
    /* the part after the last import root: site-/dist-packages, a zip
     * (pyspark.zip, --py-files), else the standard library's python3.X
     * directory, else the file's own directory */
    const char *rel = strrchr(fn, '/') ? strrchr(fn, '/') + 1 : fn, *best = NULL;
    static const char *const roots[] = {"/site-packages/", "/dist-packages/", ".zip/", ".egg/", ".whl/"};
    for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++)
        for (const char *p = strstr(fn, roots[i]); p; p = strstr(p + 1, roots[i]))
            if (!best || p + strlen(roots[i]) > best)
                best = p + strlen(roots[i]);
    if (!best)
        for (const char *p = strstr(fn, "/python3."); p; p = strstr(p + 1, "/python3.")) {
            const char *q = strchr(p + 1, '/');
            if (q)
                best = q + 1;
        }
    if (best && *best)
        rel = best;
    size_t n = strlen(rel);
    if (ends_with(rel, n, ".py"))
        n -= 3;
    else if (ends_with(rel, n, ".pyc"))
        n -= 4;
    if (n >= 9 && !memcmp(rel + n - 9, "/__init__", 9))
        n -= 9;
    if (n >= cap)
        n = cap - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = rel[i] == '/' ? '.' : rel[i];
    out[n] = '\0';
}

int cp_pyvm_code_name(cp_pyvm_t *vm, uint64_t code, cp_pyvm_name_t *out)
{
    const offsets_t *o = &vm->o;
    uint8_t b[192];
    memset(out, 0, sizeof *out);
    if (read_mem(vm->pid, code, b, vm->co_read) != 0)
        return CP_EIO;
    char path[512];
    if (read_str(vm, u64_at(b, o->co_file), path, sizeof path) != 0)
        snprintf(path, sizeof path, "?");
    uint64_t fn = o->co_qual != NONE ? u64_at(b, o->co_qual) : u64_at(b, o->co_name);
    if (read_str(vm, fn, out->function, sizeof out->function) != 0)
        snprintf(out->function, sizeof out->function, "?");
    out->line = (int)u32_at(b, o->co_line);
    cp_pyvm_module_of(path, out->module, sizeof out->module);
    const char *base = strrchr(path, '/');
    snprintf(out->file, sizeof out->file, "%.95s", base ? base + 1 : path);
    return 0;
}
