/* classfile.c - class-file rewriter: inserts shim calls at allocation sites.
 *
 * Where it sits: called from the agent's ClassFileLoadHook (JVMTI, any Java
 * thread that loads or retransforms a class) with the class bytes; returns new
 * bytes or nothing. See classfile.h for the hooks and the inserted code.
 *
 * How a method is rewritten (rewrite_code):
 *   1. decode every instruction (lengths from a table; wide, tableswitch and
 *      lookupswitch decoded by hand; reserved opcodes make us give up);
 *   2. attach inserted bytes to instructions: a prefix (runs before the
 *      instruction, is part of it for branch targets, so a jump to a `return`
 *      runs the prefix), a suffix (runs after it on fall-through only), and a
 *      method prologue (before instruction 0, not a branch target);
 *   3. lay out: new offset of every instruction, switch padding recomputed at
 *      the new position, goto/jsr whose delta leaves int16 widened to
 *      goto_w/jsr_w; repeat until nothing more widens (widening only grows,
 *      so this terminates). A conditional branch that would need widening
 *      would need a new StackMapTable frame: we give up instead;
 *   4. emit code with rebased branch offsets, then move every offset-bearing
 *      table: exception table, LineNumberTable, LocalVariable(Type)Table,
 *      StackMapTable (deltas recomputed, compact frame forms switched to
 *      their _extended forms when the delta no longer fits, Uninitialized(pc)
 *      entries remapped).
 *
 * Invariants: inserted code is stack-neutral, leaves locals alone and has no
 * branch targets inside, so existing frames stay true. The output is built
 * completely before it is handed out; any failure returns the class
 * unchanged with a reason (never a half-rewritten class). All reads are
 * bounds-checked: input is untrusted (any class a program loads). */
#include "classfile.h"
#include "classfile_int.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"


bool cp__cf_utf8(const cf_t *c, uint16_t idx, const uint8_t **s, uint16_t *n)
{
    if (idx == 0 || idx >= c->cp_count || c->cp_off[idx] == 0) return false;
    const uint8_t *p = c->in + c->cp_off[idx];
    if (p[0] != CT_UTF8) return false;
    *n = be16(p + 1);
    *s = p + 3;
    return true;
}

bool cp__cf_utf8_eq(const cf_t *c, uint16_t idx, const char *str)
{
    const uint8_t *s; uint16_t n;
    if (!cp__cf_utf8(c, idx, &s, &n)) return false;
    return strlen(str) == n && memcmp(s, str, n) == 0;
}

static int parse_cpool(cf_t *c, rd_t *r)
{
    c->cp_count = rd_u2(r);
    if (r->bad || c->cp_count == 0) return CP_CF_SKIP_MALFORMED;
    c->cp_off = calloc(c->cp_count, sizeof *c->cp_off);
    if (!c->cp_off) return CP_CF_SKIP_OOM;
    for (uint32_t i = 1; i < c->cp_count; i++) {
        c->cp_off[i] = (uint32_t)r->pos;
        uint8_t tag = rd_u1(r);
        switch (tag) {
        case CT_UTF8:   { uint16_t n = rd_u2(r); rd_skip(r, n); break; }
        case CT_INT: case CT_FLOAT: case CT_FIELD: case CT_METHOD: case CT_IMETHOD:
        case CT_NAT: case CT_DYNAMIC: case CT_INDY:
            rd_skip(r, 4); break;
        case CT_LONG: case CT_DOUBLE:
            rd_skip(r, 8);
            i++;                        /* takes two slots; the second is unusable */
            if (i < c->cp_count) c->cp_off[i] = 0;
            break;
        case CT_CLASS: case CT_STRING: case CT_MTYPE: case CT_MODULE: case CT_PACKAGE:
            rd_skip(r, 2); break;
        case CT_MHANDLE:
            rd_skip(r, 3); break;
        default:
            return r->bad ? CP_CF_SKIP_MALFORMED : CP_CF_SKIP_CPOOL;
        }
        if (r->bad) return CP_CF_SKIP_MALFORMED;
    }
    c->cp_end = r->pos;
    return 0;
}

/* Appends a constant; returns its index or 0 when the pool is full. */
uint16_t cp__cf_add_utf8(cf_t *c, const char *s)
{
    if (c->cp_next == 0xffff) return 0;
    size_t n = strlen(s);
    w_u1(&c->cp_add, CT_UTF8); w_u2(&c->cp_add, (uint32_t)n); w_bytes(&c->cp_add, s, n);
    return c->cp_next++;
}
uint16_t cp__cf_add_ref2(cf_t *c, uint8_t tag, uint16_t a, uint16_t b)
{
    if (c->cp_next == 0xffff || a == 0 || b == 0) return 0;
    w_u1(&c->cp_add, tag); w_u2(&c->cp_add, a); w_u2(&c->cp_add, b);
    return c->cp_next++;
}
uint16_t cp__cf_add_class(cf_t *c, uint16_t name)
{
    if (c->cp_next == 0xffff || name == 0) return 0;
    w_u1(&c->cp_add, CT_CLASS); w_u2(&c->cp_add, name);
    return c->cp_next++;
}
/* Adds Methodref cls.name:desc (cls_idx: a CONSTANT_Class already added). */
uint16_t cp__cf_add_mref(cf_t *c, uint16_t cls_idx, const char *name, const char *desc)
{
    uint16_t n = cp__cf_add_utf8(c, name);
    uint16_t d = cp__cf_add_utf8(c, desc);
    uint16_t nat = cp__cf_add_ref2(c, CT_NAT, n, d);
    return cp__cf_add_ref2(c, CT_METHOD, cls_idx, nat);
}

/* ---- class level -------------------------------------------------------- */
static const char *const skip_names[CP_CF_SKIP_MAX] = {
    [CP_CF_OK] = "ok",
    [CP_CF_SKIP_MALFORMED] = "malformed class file",
    [CP_CF_SKIP_VERSION] = "class-file version too new",
    [CP_CF_SKIP_CPOOL] = "unknown constant-pool tag or pool full",
    [CP_CF_SKIP_OPCODE] = "unknown opcode or bad branch target",
    [CP_CF_SKIP_WIDE_BRANCH] = "conditional branch needs widening",
    [CP_CF_SKIP_CODE_ATTR] = "type annotations in code",
    [CP_CF_SKIP_STACKMAP] = "unparsable StackMapTable",
    [CP_CF_SKIP_TOO_BIG] = "method too big after rewriting",
    [CP_CF_SKIP_OOM] = "out of memory",
};

const char *cp_classfile_skip_name(cp_cf_skip_t s)
{
    return (unsigned)s < CP_CF_SKIP_MAX ? skip_names[s] : "?";
}

/* Parses header + pool + this_class name. */
int cp__cf_parse_head(cf_t *c, rd_t *r)
{
    if (rd_u4(r) != 0xCAFEBABEu) return CP_CF_SKIP_MALFORMED;
    rd_u2(r);                                   /* minor */
    uint16_t major = rd_u2(r);
    if (r->bad || major < 45) return CP_CF_SKIP_MALFORMED;
    if (major > CF_MAX_MAJOR) return CP_CF_SKIP_VERSION;
    int rc = parse_cpool(c, r);
    if (rc) return rc;
    rd_u2(r);                                   /* access */
    c->this_class = rd_u2(r);
    if (r->bad || c->this_class == 0 || c->this_class >= c->cp_count || c->cp_off[c->this_class] == 0)
        return CP_CF_SKIP_MALFORMED;
    const uint8_t *p = c->in + c->cp_off[c->this_class];
    const uint8_t *s; uint16_t n;
    if (p[0] != CT_CLASS || !cp__cf_utf8(c, be16(p + 1), &s, &n) || n >= sizeof c->name)
        return CP_CF_SKIP_MALFORMED;
    memcpy(c->name, s, n);
    c->name[n] = 0;
    return 0;
}

int cp_classfile_name(const uint8_t *in, size_t len, char *buf, size_t bufsz)
{
    cf_t c = { .in = in, .len = len };
    rd_t r = { in, len, 0, false };
    int rc;
    if (!in || !buf) return CP_EINVAL;
    rc = cp__cf_parse_head(&c, &r);
    free(c.cp_off);
    if (rc) return CP_EINVAL;
    if (strlen(c.name) >= bufsz) return CP_ETOOBIG;
    strcpy(buf, c.name);
    return 0;
}

/* Skips fields/methods' attribute lists. */
void cp__cf_skip_members(rd_t *r)
{
    uint16_t n = rd_u2(r);
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        rd_skip(r, 6);
        uint16_t na = rd_u2(r);
        for (uint32_t k = 0; k < na && !r->bad; k++) {
            rd_skip(r, 2);
            rd_skip(r, rd_u4(r));
        }
    }
}

static bool has_alloc_ops(const uint8_t *code, uint32_t n)
{
    insn_t *v; uint32_t k;
    bool found = false;
    if (cp__cf_decode(code, n, &v, &k) != 0) return true;   /* let the rewrite report why */
    for (uint32_t i = 0; i < k && !found; i++)
        found = v[i].op == OP_NEWARRAY || v[i].op == OP_ANEWARRAY || v[i].op == OP_MULTIANEW;
    free(v);
    return found;
}

typedef struct mrefs {
    uint16_t array, multi, object, park_enter_obj, park_enter, park_exit;
    uint16_t exec_run, exec_call, fj_run, fj_call;     /* CP_CF_HOOK_EXEC only */
} mrefs_t;

/* CP_CF_HOOK_EXEC: executor methods whose first argument (local 1) is the
 * task; `fj` picks the ForkJoinPool flavour of the wrapper (it leaves
 * ForkJoinTasks alone: the pool runs those itself). */
static const struct exec_site {
    const char *cls, *name;
    bool fj;
} exec_sites[] = {
    { "java/util/concurrent/ThreadPoolExecutor", "execute", false },
    { "java/util/concurrent/ScheduledThreadPoolExecutor", "execute", false },
    { "java/util/concurrent/ScheduledThreadPoolExecutor", "schedule", false },
    { "java/util/concurrent/ScheduledThreadPoolExecutor", "scheduleAtFixedRate", false },
    { "java/util/concurrent/ScheduledThreadPoolExecutor", "scheduleWithFixedDelay", false },
    { "java/util/concurrent/ForkJoinPool", "execute", true },
    { "java/util/concurrent/ForkJoinPool", "submit", true },
};

/* The wrapper call for an executor method, or 0 (not one). */
static uint16_t exec_mref(const cf_t *c, uint16_t acc, uint16_t name, uint16_t desc, const mrefs_t *mr, bool *any)
{
    const uint8_t *d; uint16_t dn;
    if ((acc & 0x0408) || !cp__cf_utf8(c, desc, &d, &dn))     /* static or abstract */
        return 0;
    bool run = dn > 20 && memcmp(d, "(Ljava/lang/Runnable;", 21) == 0;
    bool call = dn > 31 && memcmp(d, "(Ljava/util/concurrent/Callable;", 32) == 0;
    if (!run && !call) return 0;
    for (size_t i = 0; i < sizeof exec_sites / sizeof *exec_sites; i++) {
        const struct exec_site *e = &exec_sites[i];
        if (strcmp(c->name, e->cls) != 0 || !cp__cf_utf8_eq(c, name, e->name)) continue;
        *any = true;
        if (!mr) return 0;
        return e->fj ? (run ? mr->fj_run : mr->fj_call) : (run ? mr->exec_run : mr->exec_call);
    }
    return 0;
}

static void tmpl_call(tmpl_t *t, uint8_t first, uint16_t mref)
{
    uint8_t k = 0;
    if (first) t->b[k++] = first;
    t->b[k++] = OP_INVOKESTATIC;
    t->b[k++] = (uint8_t)(mref >> 8);
    t->b[k++] = (uint8_t)mref;
    t->n = k;
}

/* Which inserts a method gets (plan), given the class and the method. */
static bool plan_method(const cf_t *c, unsigned hooks, uint16_t acc, uint16_t name, uint16_t desc,
                        const uint8_t *code, uint32_t code_len, const mrefs_t *mr, plan_t *pl)
{
    memset(pl, 0, sizeof *pl);
    bool any = false;
    if ((hooks & CP_CF_HOOK_OBJECT) && strcmp(c->name, "java/lang/Object") == 0 &&
        cp__cf_utf8_eq(c, name, "<init>") && cp__cf_utf8_eq(c, desc, "()V")) {
        if (mr) { tmpl_call(&pl->t[1], OP_ALOAD_0, mr->object); pl->prologue = 1; pl->stack_extra = 1; }
        any = true;
    }
    if ((hooks & CP_CF_HOOK_PARK) && strcmp(c->name, "java/util/concurrent/locks/LockSupport") == 0 &&
        (acc & 0x0008)) {
        const uint8_t *s, *d; uint16_t n, dn;
        if (cp__cf_utf8(c, name, &s, &n) && cp__cf_utf8(c, desc, &d, &dn) && n >= 4 && memcmp(s, "park", 4) == 0 &&
            dn >= 2 && d[dn - 2] == ')' && d[dn - 1] == 'V') {
            bool blocker = dn > 19 && memcmp(d, "(Ljava/lang/Object;", 19) == 0;
            if (mr) {
                tmpl_call(&pl->t[1], blocker ? OP_ALOAD_0 : 0, blocker ? mr->park_enter_obj : mr->park_enter);
                tmpl_call(&pl->t[2], 0, mr->park_exit);
                pl->prologue = 1; pl->ret_pre = 2;
                pl->stack_extra = blocker ? 1 : 0;
            }
            any = true;
        }
    }
    if (hooks & CP_CF_HOOK_EXEC) {
        uint16_t m = exec_mref(c, acc, name, desc, mr, &any);
        if (m) {                    /* aload_1; invokestatic wrap; astore_1 */
            tmpl_call(&pl->t[1], OP_ALOAD_0 + 1, m);
            pl->t[1].b[pl->t[1].n++] = OP_ASTORE_1;
            pl->prologue = 1;
            if (pl->stack_extra < 1) pl->stack_extra = 1;
        }
    }
    if ((hooks & CP_CF_HOOK_ARRAYS) && has_alloc_ops(code, code_len)) {
        if (mr) {
            tmpl_call(&pl->t[3], OP_DUP, mr->array); pl->arr_suf = 3;
            /* multianewarray has its own callback: it also counts the inner arrays */
            tmpl_call(&pl->t[4], OP_DUP, mr->multi); pl->multi_suf = 4;
            if (pl->stack_extra < 1) pl->stack_extra = 1;
        }
        any = true;
    }
    return any;
}

int cp_classfile_rewrite(const uint8_t *in, size_t len, unsigned hooks,
                         cp_classfile_alloc_fn alloc, void *alloc_ctx,
                         uint8_t **out, size_t *out_len, cp_classfile_result_t *res)
{
    cf_t c = { .in = in, .len = len };
    rd_t r = { in, len, 0, false };
    cp_classfile_result_t dummy;
    wr_t w = { CP_BUF_INIT, true };
    int rc;

    if (!res) res = &dummy;
    memset(res, 0, sizeof *res);
    if (!in || !out || !out_len) return CP_EINVAL;
    *out = NULL;
    *out_len = 0;
    c.cp_add.ok = true;

    if ((rc = cp__cf_parse_head(&c, &r)) != 0) goto skip;
    if (strncmp(c.name, "dev/cprof/", 10) == 0) goto nothing;
    rd_u2(&r);                                          /* super */
    rd_skip(&r, 2u * rd_u2(&r));                        /* interfaces */
    cp__cf_skip_members(&r);                                   /* fields */
    if (r.bad) { rc = CP_CF_SKIP_MALFORMED; goto skip; }
    size_t methods_at = r.pos;

    /* pass 1: does any method need inserts? */
    bool need = false;
    uint16_t nm = rd_u2(&r);
    for (uint32_t i = 0; i < nm && !r.bad; i++) {
        uint16_t acc = rd_u2(&r), name = rd_u2(&r), desc = rd_u2(&r), na = rd_u2(&r);
        for (uint32_t k = 0; k < na && !r.bad; k++) {
            uint16_t an = rd_u2(&r);
            uint32_t al = rd_u4(&r);
            if (r.bad || len - r.pos < al) { r.bad = true; break; }
            if (cp__cf_utf8_eq(&c, an, "Code") && al >= 8) {
                uint32_t cl = be32(in + r.pos + 4) < 0 ? 0 : (uint32_t)be32(in + r.pos + 4);
                plan_t pl;
                if (cl <= al - 8 && plan_method(&c, hooks, acc, name, desc, in + r.pos + 8, cl, NULL, &pl))
                    need = true;
            }
            rd_skip(&r, al);
        }
    }
    {                                                   /* class attributes: must end the file */
        uint16_t na = rd_u2(&r);
        for (uint32_t k = 0; k < na && !r.bad; k++) {
            rd_skip(&r, 2);
            rd_skip(&r, rd_u4(&r));
        }
        if (r.pos != len) r.bad = true;
    }
    if (r.bad) { rc = CP_CF_SKIP_MALFORMED; goto skip; }
    if (!need) goto nothing;

    /* constant-pool additions */
    mrefs_t mr = { 0 };
    c.cp_next = c.cp_count;
    uint16_t ac = cp__cf_add_class(&c, cp__cf_add_utf8(&c, CP_CF_ALLOC_CLASS));
    uint16_t lc = cp__cf_add_class(&c, cp__cf_add_utf8(&c, CP_CF_LOCK_CLASS));
    mr.array  = cp__cf_add_mref(&c, ac, "array", "(Ljava/lang/Object;)V");
    mr.multi  = cp__cf_add_mref(&c, ac, "multi", "(Ljava/lang/Object;)V");
    mr.object = cp__cf_add_mref(&c, ac, "object", "(Ljava/lang/Object;)V");
    mr.park_enter_obj = cp__cf_add_mref(&c, lc, "parkEnter", "(Ljava/lang/Object;)V");
    mr.park_enter = cp__cf_add_mref(&c, lc, "parkEnter", "()V");
    mr.park_exit = cp__cf_add_mref(&c, lc, "parkExit", "()V");
    if (hooks & CP_CF_HOOK_EXEC) {
        uint16_t xc = cp__cf_add_class(&c, cp__cf_add_utf8(&c, CP_CF_EXEC_CLASS));
        mr.exec_run = cp__cf_add_mref(&c, xc, "wrap", "(Ljava/lang/Runnable;)Ljava/lang/Runnable;");
        mr.exec_call = cp__cf_add_mref(&c, xc, "wrap", "(Ljava/util/concurrent/Callable;)Ljava/util/concurrent/Callable;");
        mr.fj_run = cp__cf_add_mref(&c, xc, "wrapFj", "(Ljava/lang/Runnable;)Ljava/lang/Runnable;");
        mr.fj_call = cp__cf_add_mref(&c, xc, "wrapFj", "(Ljava/util/concurrent/Callable;)Ljava/util/concurrent/Callable;");
        if (!mr.fj_call) mr.park_exit = 0;
    }
    if (!mr.park_exit || !c.cp_add.ok) { rc = c.cp_add.ok ? CP_CF_SKIP_CPOOL : CP_CF_SKIP_OOM; goto skip; }

    /* pass 2: emit */
    w_bytes(&w, in, 8);
    w_u2(&w, c.cp_next);
    w_bytes(&w, in + 10, c.cp_end - 10);
    w_bytes(&w, c.cp_add.b.data, c.cp_add.b.len);
    w_bytes(&w, in + c.cp_end, methods_at - c.cp_end);
    r.pos = methods_at;
    nm = rd_u2(&r);
    w_u2(&w, nm);
    for (uint32_t i = 0; i < nm; i++) {
        uint16_t acc = rd_u2(&r), name = rd_u2(&r), desc = rd_u2(&r), na = rd_u2(&r);
        w_u2(&w, acc); w_u2(&w, name); w_u2(&w, desc); w_u2(&w, na);
        for (uint32_t k = 0; k < na; k++) {
            size_t at = r.pos;
            uint16_t an = rd_u2(&r);
            uint32_t al = rd_u4(&r);
            const uint8_t *body = in + r.pos;
            rd_skip(&r, al);
            plan_t pl;
            uint32_t sites = 0;
            if (cp__cf_utf8_eq(&c, an, "Code") && al >= 8) {
                uint32_t cl = (uint32_t)be32(body + 4);
                if (cl <= al - 8 && plan_method(&c, hooks, acc, name, desc, body + 8, cl, &mr, &pl)) {
                    size_t mark = w.b.len;
                    rc = cp__cf_rewrite_code(&c, an, body, al, &pl, &w, &sites);
                    if (rc == 0) { res->sites += sites; res->methods++; continue; }
                    if (rc > 0) goto skip;
                    w.b.len = mark;                     /* nothing to do: copy */
                }
            }
            w_bytes(&w, in + at, 6 + (size_t)al);
        }
    }
    w_bytes(&w, in + r.pos, len - r.pos);               /* class attributes */
    if (r.bad) { rc = CP_CF_SKIP_MALFORMED; goto skip; }
    if (!w.ok) { rc = CP_CF_SKIP_OOM; goto skip; }
    if (res->sites == 0) goto nothing;

    return cp__cf_finish(&c, &w, 0, alloc, alloc_ctx, out, out_len, res);
skip:
    return cp__cf_finish(&c, &w, rc, alloc, alloc_ctx, out, out_len, res);
nothing:
    return cp__cf_finish(&c, &w, CP__CF_NOTHING, alloc, alloc_ctx, out, out_len, res);
}

int cp__cf_finish(cf_t *c, wr_t *w, int rc, cp_classfile_alloc_fn alloc, void *alloc_ctx,
                  uint8_t **out, size_t *out_len, cp_classfile_result_t *res)
{
    if (rc == 0) {
        uint8_t *o = alloc ? alloc(alloc_ctx, w->b.len) : malloc(w->b.len);
        if (o) {
            memcpy(o, w->b.data, w->b.len);
            *out = o;
            *out_len = w->b.len;
        } else {
            rc = CP_CF_SKIP_OOM;
        }
    }
    if (rc != 0) {
        memset(res, 0, sizeof *res);
        if (rc != CP__CF_NOTHING)
            res->skip = (cp_cf_skip_t)rc;
    }
    free(c->cp_off);
    cp_buf_fini(&c->cp_add.b);
    cp_buf_fini(&w->b);
    return 0;
}
