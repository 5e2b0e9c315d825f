/* classfile_wrap.c - wraps one method of a class in enter/exit calls, at
 * class load, so the exit call runs whether the method returns or throws.
 *
 * Where it sits: the request-context hooks (httpctx.c) call it from their
 * ClassFileLoadHook for HTTP entry points (see classfile.h). The insert
 * rewriter of classfile.c cannot do this: a `finally` needs an exception
 * handler, and a handler in the middle of someone else's method needs a new
 * StackMapTable frame built from a type inference we do not do. So the
 * original method is left byte-for-byte alone and renamed, and a new method
 * with the original name, descriptor and attributes calls it:
 *
 *     void m(A a, B b) {                      // original access, minus synchronized
 *         Object t = Enter.enter(a);          // first argument (null if none or primitive)
 *         try { this.cprof$m(a, b); }         // invokespecial: the original, now private
 *         finally { Enter.exit(t); }
 *     }
 *
 * The new method's only branch target is its handler, whose frame we know
 * completely (this, the arguments, the token; a Throwable on the stack).
 *
 * Rules: instance, concrete, void methods only; a class that already has
 * cprof$m is left alone (it was wrapped before). Adding methods is allowed
 * only when a class is first loaded (or by a retransformation that produces
 * the same shape), so callers use a jvmtiEnv without the retransform
 * capability: its change then becomes the class's "original" bytes for
 * every retransforming environment (alloc.c, lock.c).
 *
 * Thread: any (no global state). Not signal-safe. */
#include "classfile.h"
#include "classfile_int.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define ACC_PRIVATE      0x0001u
#define ACC_PUBLIC_PROT  0x0005u   /* public | protected */
#define ACC_STATIC       0x0008u
#define ACC_SYNCHRONIZED 0x0020u
#define ACC_NATIVE       0x0100u
#define ACC_INTERFACE    0x0200u
#define ACC_ABSTRACT     0x0400u
#define ACC_SYNTHETIC    0x1000u

#define MAX_ARGS 32
#define WRAP_PREFIX "cprof$"

/* verification_type_info tags (JVMS 4.7.4) */
enum { VT_INT = 1, VT_FLOAT = 2, VT_DOUBLE = 3, VT_LONG = 4, VT_OBJECT = 7 };

typedef struct arg {
    char kind;             /* 'I' (int-like), 'J', 'F', 'D' or 'L' (any reference) */
    uint16_t cls;          /* CONSTANT_Class of a reference argument */
    char name[256];        /* internal name ('L' without L;) or array descriptor */
} arg_t;

/* Splits a method descriptor into arguments; false if not (...)V or too long. */
static bool parse_desc(const char *d, arg_t *a, int *n)
{
    *n = 0;
    if (*d++ != '(') return false;
    while (*d && *d != ')') {
        if (*n == MAX_ARGS) return false;
        arg_t *x = &a[(*n)++];
        const char *s = d;
        while (*d == '[') d++;
        if (*d == 'L') {
            const char *e = strchr(d, ';');
            if (!e) return false;
            d = e;
        } else if (!strchr("ZBCSIJFD", *d) || !*d) {
            return false;
        }
        d++;
        size_t len = (size_t)(d - s);
        if (*s == '[' || *s == 'L') {
            x->kind = 'L';
            if (*s == 'L') { s++; len -= 2; }        /* Lx/y; -> x/y */
            if (len >= sizeof x->name) return false;
            memcpy(x->name, s, len);
            x->name[len] = 0;
        } else {
            x->kind = strchr("ZBCSI", *s) ? 'I' : *s;
        }
    }
    return d[0] == ')' && d[1] == 'V' && d[2] == 0;
}

static int slots(const arg_t *a) { return a->kind == 'J' || a->kind == 'D' ? 2 : 1; }

static void w_load(wr_t *w, const arg_t *a, int slot)
{
    static const char kinds[] = "IJFDL";
    static const uint8_t ops[] = { 0x15, 0x16, 0x17, 0x18, 0x19 };  /* iload lload fload dload aload */
    w_u1(w, ops[strchr(kinds, a->kind) - kinds]);
    w_u1(w, (uint32_t)slot);
}

static void w_vtype(wr_t *w, const arg_t *a)
{
    switch (a->kind) {
    case 'I': w_u1(w, VT_INT); break;
    case 'J': w_u1(w, VT_LONG); break;
    case 'F': w_u1(w, VT_FLOAT); break;
    case 'D': w_u1(w, VT_DOUBLE); break;
    default:  w_u1(w, VT_OBJECT); w_u2(w, a->cls); break;
    }
}

typedef struct wrap_refs {
    uint16_t self, enter, exit, code, smt, throwable, object, renamed;
} wrap_refs_t;

/* Writes the wrapper's Code attribute. */
static void emit_wrapper_code(const cf_t *c, bool smt, const arg_t *a, int na, const wrap_refs_t *k, wr_t *w)
{
    int tok = 1;
    for (int i = 0; i < na; i++) tok += slots(&a[i]);
    int exc = tok + 1;
    wr_t code = { CP_BUF_INIT, true };

    if (na > 0 && a[0].kind == 'L') { w_u1(&code, 0x19); w_u1(&code, 1); }     /* aload 1 */
    else w_u1(&code, 0x01);                                                    /* aconst_null */
    w_u1(&code, OP_INVOKESTATIC); w_u2(&code, k->enter);
    w_u1(&code, 0x3a); w_u1(&code, (uint32_t)tok);                             /* astore tok */
    uint32_t start = (uint32_t)code.b.len;
    w_u1(&code, OP_ALOAD_0);
    for (int i = 0, s = 1; i < na; s += slots(&a[i]), i++) w_load(&code, &a[i], s);
    w_u1(&code, 0xb7); w_u2(&code, k->self);                                   /* invokespecial */
    uint32_t end = (uint32_t)code.b.len;
    w_u1(&code, 0x19); w_u1(&code, (uint32_t)tok);                             /* aload tok */
    w_u1(&code, OP_INVOKESTATIC); w_u2(&code, k->exit);
    w_u1(&code, 0xb1);                                                         /* return */
    uint32_t handler = (uint32_t)code.b.len;
    w_u1(&code, 0x3a); w_u1(&code, (uint32_t)exc);                             /* astore exc */
    w_u1(&code, 0x19); w_u1(&code, (uint32_t)tok);
    w_u1(&code, OP_INVOKESTATIC); w_u2(&code, k->exit);
    w_u1(&code, 0x19); w_u1(&code, (uint32_t)exc);
    w_u1(&code, 0xbf);                                                         /* athrow */

    wr_t frame = { CP_BUF_INIT, true };
    if (smt) {                          /* one full_frame at the handler */
        w_u2(&frame, 1);
        w_u1(&frame, 255);
        w_u2(&frame, handler);
        w_u2(&frame, (uint32_t)na + 2);
        w_u1(&frame, VT_OBJECT); w_u2(&frame, c->this_class);
        for (int i = 0; i < na; i++) w_vtype(&frame, &a[i]);
        w_u1(&frame, VT_OBJECT); w_u2(&frame, k->object);
        w_u2(&frame, 1);
        w_u1(&frame, VT_OBJECT); w_u2(&frame, k->throwable);
    }

    w_u2(w, k->code);
    w_u4(w, (uint32_t)(2 + 2 + 4 + code.b.len + 2 + 8 + 2 + (smt ? 6 + frame.b.len : 0)));
    w_u2(w, (uint32_t)tok);                 /* max_stack: this + argument slots */
    w_u2(w, (uint32_t)exc + 1);             /* max_locals */
    w_u4(w, (uint32_t)code.b.len);
    w_bytes(w, code.b.data, code.b.len);
    w_u2(w, 1);                             /* exception table */
    w_u2(w, start); w_u2(w, end); w_u2(w, handler); w_u2(w, 0);
    w_u2(w, smt ? 1 : 0);
    if (smt) {
        w_u2(w, k->smt);
        w_u4(w, (uint32_t)frame.b.len);
        w_bytes(w, frame.b.data, frame.b.len);
    }
    if (!code.ok || !frame.ok) w->ok = false;
    cp_buf_fini(&code.b);
    cp_buf_fini(&frame.b);
}

int cp_classfile_wrap(const uint8_t *in, size_t len, const cp_cf_wrap_t *spec,
                      cp_classfile_alloc_fn alloc, void *alloc_ctx,
                      uint8_t **out, size_t *out_len, cp_classfile_result_t *res)
{
    cf_t c = { .in = in, .len = len };
    rd_t r = { in, len, 0, false };
    cp_classfile_result_t dummy;
    wr_t w = { CP_BUF_INIT, true };
    char renamed[256];
    arg_t args[MAX_ARGS];
    int na = 0, rc;

    if (!res) res = &dummy;
    memset(res, 0, sizeof *res);
    if (!in || !out || !out_len || !spec || !spec->method || !spec->desc) return CP_EINVAL;
    *out = NULL;
    *out_len = 0;
    c.cp_add.ok = true;
    if (snprintf(renamed, sizeof renamed, WRAP_PREFIX "%s", spec->method) >= (int)sizeof renamed ||
        !parse_desc(spec->desc, args, &na))
        return CP_EINVAL;

    if ((rc = cp__cf_parse_head(&c, &r)) != 0) goto skip;
    if (strncmp(c.name, "dev/cprof/", 10) == 0) goto nothing;
    uint16_t cls_acc = be16(in + c.cp_end);
    if (cls_acc & ACC_INTERFACE) goto nothing;
    uint16_t major = be16(in + 6);
    rd_u2(&r);                                          /* super */
    rd_skip(&r, 2u * rd_u2(&r));                        /* interfaces */
    cp__cf_skip_members(&r);                            /* fields */
    if (r.bad) { rc = CP_CF_SKIP_MALFORMED; goto skip; }
    size_t methods_at = r.pos;

    /* pass 1: find the method (and make sure it was not wrapped before) */
    int64_t target = -1;
    uint16_t t_acc = 0, t_name = 0, t_desc = 0;
    uint16_t nm = rd_u2(&r);
    for (uint32_t i = 0; i < nm && !r.bad; i++) {
        uint16_t acc = rd_u2(&r), name = rd_u2(&r), desc = rd_u2(&r), na2 = rd_u2(&r);
        if (cp__cf_utf8_eq(&c, name, renamed)) goto nothing;
        if (cp__cf_utf8_eq(&c, name, spec->method) && cp__cf_utf8_eq(&c, desc, spec->desc) &&
            !(acc & (ACC_STATIC | ACC_ABSTRACT | ACC_NATIVE))) {
            target = i; t_acc = acc; t_name = name; t_desc = desc;
        }
        for (uint32_t k = 0; k < na2 && !r.bad; k++) {
            rd_skip(&r, 2);
            rd_skip(&r, rd_u4(&r));
        }
    }
    {
        uint16_t na2 = rd_u2(&r);
        for (uint32_t k = 0; k < na2 && !r.bad; k++) {
            rd_skip(&r, 2);
            rd_skip(&r, rd_u4(&r));
        }
        if (r.pos != len) r.bad = true;
    }
    if (r.bad) { rc = CP_CF_SKIP_MALFORMED; goto skip; }
    if (target < 0) goto nothing;

    /* constant-pool additions */
    wrap_refs_t k = { 0 };
    c.cp_next = c.cp_count;
    k.renamed = cp__cf_add_utf8(&c, renamed);
    k.self = cp__cf_add_ref2(&c, CT_METHOD, c.this_class, cp__cf_add_ref2(&c, CT_NAT, k.renamed, t_desc));
    uint16_t ec = cp__cf_add_class(&c, cp__cf_add_utf8(&c, spec->enter_class));
    k.enter = cp__cf_add_mref(&c, ec, spec->enter, "(Ljava/lang/Object;)Ljava/lang/Object;");
    k.exit = cp__cf_add_mref(&c, ec, spec->exit, "(Ljava/lang/Object;)V");
    k.code = cp__cf_add_utf8(&c, "Code");
    k.smt = cp__cf_add_utf8(&c, "StackMapTable");
    k.throwable = cp__cf_add_class(&c, cp__cf_add_utf8(&c, "java/lang/Throwable"));
    k.object = cp__cf_add_class(&c, cp__cf_add_utf8(&c, "java/lang/Object"));
    bool ok = k.self && k.enter && k.exit && k.code && k.smt && k.throwable && k.object;
    for (int i = 0; i < na && ok; i++)
        if (args[i].kind == 'L') ok = (args[i].cls = cp__cf_add_class(&c, cp__cf_add_utf8(&c, args[i].name))) != 0;
    if (!ok || !c.cp_add.ok) { rc = c.cp_add.ok ? CP_CF_SKIP_CPOOL : CP_CF_SKIP_OOM; goto skip; }
    int nslots = 1;
    for (int i = 0; i < na; i++) nslots += slots(&args[i]);
    if (nslots + 2 > 255) { rc = CP_CF_SKIP_TOO_BIG; goto skip; }

    /* pass 2: emit; the original keeps its bytes under the new name, the
     * wrapper comes last with the original's non-Code attributes */
    w_bytes(&w, in, 8);
    w_u2(&w, c.cp_next);
    w_bytes(&w, in + 10, c.cp_end - 10);
    w_bytes(&w, c.cp_add.b.data, c.cp_add.b.len);
    w_bytes(&w, in + c.cp_end, methods_at - c.cp_end);
    r.pos = methods_at;
    nm = rd_u2(&r);
    w_u2(&w, (uint32_t)nm + 1);
    size_t t_attrs = 0, t_attrs_end = 0;
    uint16_t t_nattrs = 0;
    for (uint32_t i = 0; i < nm; i++) {
        size_t at = r.pos;
        uint16_t acc = rd_u2(&r);
        rd_u2(&r); rd_u2(&r);
        uint16_t na2 = rd_u2(&r);
        size_t attrs = r.pos;
        for (uint32_t a = 0; a < na2; a++) {
            rd_skip(&r, 2);
            rd_skip(&r, rd_u4(&r));
        }
        if (i != target) { w_bytes(&w, in + at, r.pos - at); continue; }
        w_u2(&w, (uint32_t)((acc & ~ACC_PUBLIC_PROT) | ACC_PRIVATE | ACC_SYNTHETIC));
        w_u2(&w, k.renamed);
        w_bytes(&w, in + at + 4, r.pos - (at + 4));
        t_attrs = attrs; t_attrs_end = r.pos; t_nattrs = na2;
    }
    /* the wrapper */
    uint16_t kept = 0;
    w_u2(&w, t_acc & ~ACC_SYNCHRONIZED);
    w_u2(&w, t_name);
    w_u2(&w, t_desc);
    size_t nattr_at = w.b.len;
    w_u2(&w, 0);
    emit_wrapper_code(&c, major >= 50, args, na, &k, &w);
    kept++;
    rd_t ar = { in, t_attrs_end, t_attrs, false };
    for (uint32_t a = 0; a < t_nattrs; a++) {
        size_t at = ar.pos;
        uint16_t an = rd_u2(&ar);
        rd_skip(&ar, rd_u4(&ar));
        if (ar.bad) break;
        if (cp__cf_utf8_eq(&c, an, "Code")) continue;
        w_bytes(&w, in + at, ar.pos - at);
        kept++;
    }
    if (w.ok) { w.b.data[nattr_at] = (uint8_t)(kept >> 8); w.b.data[nattr_at + 1] = (uint8_t)kept; }
    w_bytes(&w, in + r.pos, len - r.pos);               /* class attributes */
    if (r.bad || ar.bad) { rc = CP_CF_SKIP_MALFORMED; goto skip; }
    if (!w.ok) { rc = CP_CF_SKIP_OOM; goto skip; }

    res->sites = 1;
    res->methods = 1;
    return cp__cf_finish(&c, &w, 0, alloc, alloc_ctx, out, out_len, res);
skip:
    return cp__cf_finish(&c, &w, rc, alloc, alloc_ctx, out, out_len, res);
nothing:
    return cp__cf_finish(&c, &w, CP__CF_NOTHING, alloc, alloc_ctx, out, out_len, res);
}
