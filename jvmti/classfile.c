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

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"

#define CF_MAX_MAJOR 69          /* Java 25 */
#define CF_MAX_CODE  65535u

/* ---- bounds-checked big-endian reader ---------------------------------- */
typedef struct rd {
    const uint8_t *p;
    size_t len, pos;
    bool bad;
} rd_t;

static uint32_t rd_n(rd_t *r, int n)
{
    uint32_t v = 0;
    if (r->bad || r->len - r->pos < (size_t)n || r->pos > r->len) {
        r->bad = true;
        return 0;
    }
    for (int i = 0; i < n; i++)
        v = (v << 8) | r->p[r->pos++];
    return v;
}
static uint8_t  rd_u1(rd_t *r) { return (uint8_t)rd_n(r, 1); }
static uint16_t rd_u2(rd_t *r) { return (uint16_t)rd_n(r, 2); }
static uint32_t rd_u4(rd_t *r) { return rd_n(r, 4); }
static void rd_skip(rd_t *r, size_t n)
{
    if (r->bad || r->len - r->pos < n) { r->bad = true; return; }
    r->pos += n;
}

static uint16_t be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static int32_t  be32(const uint8_t *p)
{
    return (int32_t)(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3]);
}

/* ---- writer helpers on cp_buf (errors latched in *ok) ------------------- */
typedef struct wr {
    cp_buf_t b;
    bool ok;
} wr_t;

static void w_bytes(wr_t *w, const void *p, size_t n)
{
    if (w->ok && cp_buf_append(&w->b, p, n) != 0)
        w->ok = false;
}
static void w_u1(wr_t *w, uint32_t v) { uint8_t c = (uint8_t)v; w_bytes(w, &c, 1); }
static void w_u2(wr_t *w, uint32_t v) { uint8_t c[2] = {(uint8_t)(v >> 8), (uint8_t)v}; w_bytes(w, c, 2); }
static void w_u4(wr_t *w, uint32_t v)
{
    uint8_t c[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    w_bytes(w, c, 4);
}
static void w_put_u4_at(wr_t *w, size_t at, uint32_t v)
{
    if (!w->ok || at + 4 > w->b.len) return;
    w->b.data[at] = (uint8_t)(v >> 24); w->b.data[at + 1] = (uint8_t)(v >> 16);
    w->b.data[at + 2] = (uint8_t)(v >> 8); w->b.data[at + 3] = (uint8_t)v;
}

/* ---- constant pool ------------------------------------------------------ */
enum {
    CT_UTF8 = 1, CT_INT = 3, CT_FLOAT = 4, CT_LONG = 5, CT_DOUBLE = 6, CT_CLASS = 7,
    CT_STRING = 8, CT_FIELD = 9, CT_METHOD = 10, CT_IMETHOD = 11, CT_NAT = 12,
    CT_MHANDLE = 15, CT_MTYPE = 16, CT_DYNAMIC = 17, CT_INDY = 18, CT_MODULE = 19,
    CT_PACKAGE = 20
};

typedef struct cf {
    const uint8_t *in;
    size_t len;
    uint16_t cp_count;
    uint32_t *cp_off;       /* offset of each entry's tag byte; 0 = unusable slot */
    size_t cp_end;          /* offset just past the pool */
    uint16_t this_class;
    char name[512];         /* this class, internal form */
    /* additions */
    wr_t cp_add;
    uint16_t cp_next;       /* next free index */
} cf_t;

static bool cp_utf8(const cf_t *c, uint16_t idx, const uint8_t **s, uint16_t *n)
{
    if (idx == 0 || idx >= c->cp_count || c->cp_off[idx] == 0) return false;
    const uint8_t *p = c->in + c->cp_off[idx];
    if (p[0] != CT_UTF8) return false;
    *n = be16(p + 1);
    *s = p + 3;
    return true;
}

static bool cp_utf8_eq(const cf_t *c, uint16_t idx, const char *str)
{
    const uint8_t *s; uint16_t n;
    if (!cp_utf8(c, idx, &s, &n)) return false;
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
static uint16_t cp_add_utf8(cf_t *c, const char *s)
{
    if (c->cp_next == 0xffff) return 0;
    size_t n = strlen(s);
    w_u1(&c->cp_add, CT_UTF8); w_u2(&c->cp_add, (uint32_t)n); w_bytes(&c->cp_add, s, n);
    return c->cp_next++;
}
static uint16_t cp_add_ref2(cf_t *c, uint8_t tag, uint16_t a, uint16_t b)
{
    if (c->cp_next == 0xffff || a == 0 || b == 0) return 0;
    w_u1(&c->cp_add, tag); w_u2(&c->cp_add, a); w_u2(&c->cp_add, b);
    return c->cp_next++;
}
static uint16_t cp_add_class(cf_t *c, uint16_t name)
{
    if (c->cp_next == 0xffff || name == 0) return 0;
    w_u1(&c->cp_add, CT_CLASS); w_u2(&c->cp_add, name);
    return c->cp_next++;
}
/* Adds Methodref cls.name:desc (cls_idx: a CONSTANT_Class already added). */
static uint16_t cp_add_mref(cf_t *c, uint16_t cls_idx, const char *name, const char *desc)
{
    uint16_t n = cp_add_utf8(c, name);
    uint16_t d = cp_add_utf8(c, desc);
    uint16_t nat = cp_add_ref2(c, CT_NAT, n, d);
    return cp_add_ref2(c, CT_METHOD, cls_idx, nat);
}

/* ---- instruction decoding ---------------------------------------------- */
/* Length of each opcode; 0 = invalid, 0xff = variable (switches, wide). */
static const uint8_t op_len[256] = {
    /* 0x00 */ 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    /* 0x10 */ 2,3,2,3,3,2,2,2,2,2,1,1,1,1,1,1,
    /* 0x20 */ 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    /* 0x30 */ 1,1,1,1,1,1,2,2,2,2,2,1,1,1,1,1,
    /* 0x40 */ 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    /* 0x50 */ 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    /* 0x60 */ 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    /* 0x70 */ 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    /* 0x80 */ 1,1,1,1,3,1,1,1,1,1,1,1,1,1,1,1,
    /* 0x90 */ 1,1,1,1,1,1,1,1,1,3,3,3,3,3,3,3,
    /* 0xa0 */ 3,3,3,3,3,3,3,3,3,2,0xff,0xff,1,1,1,1,
    /* 0xb0 */ 1,1,3,3,3,3,3,3,3,5,5,3,2,3,1,1,
    /* 0xc0 */ 3,3,1,1,0xff,4,3,3,5,5,0,0,0,0,0,0,
    /* 0xd0.. 0xff: invalid (breakpoint, impdep, unassigned) */
};

#define OP_NEWARRAY   0xbc
#define OP_ANEWARRAY  0xbd
#define OP_MULTIANEW  0xc5
#define OP_GOTO       0xa7
#define OP_JSR        0xa8
#define OP_TABLESW    0xaa
#define OP_LOOKUPSW   0xab
#define OP_WIDE       0xc4
#define OP_GOTO_W     0xc8
#define OP_JSR_W      0xc9
#define OP_DUP        0x59
#define OP_ALOAD_0    0x2a
#define OP_INVOKESTATIC 0xb8

static bool is_branch16(uint8_t op) { return (op >= 0x99 && op <= 0xa8) || op == 0xc6 || op == 0xc7; }
static bool is_cond16(uint8_t op)   { return (op >= 0x99 && op <= 0xa6) || op == 0xc6 || op == 0xc7; }
static bool is_return(uint8_t op)   { return op >= 0xac && op <= 0xb1; }
static uint32_t pad4(uint32_t pc)   { return (4 - ((pc + 1) & 3)) & 3; }

typedef struct insn {
    uint32_t old_off, old_len;
    uint32_t new_off;           /* start of the instruction's prefix */
    uint32_t body_len;          /* new length of the instruction itself */
    uint8_t  op;
    uint8_t  pre, suf;          /* template ids: 0 none */
    bool     widened;
} insn_t;

/* Per-method insertion plan: templates are byte strings (at most 8). */
typedef struct tmpl {
    uint8_t b[8];
    uint8_t n;
} tmpl_t;

typedef struct plan {
    tmpl_t t[5];                /* t[0] unused (id 0 = none) */
    uint8_t prologue;           /* template id or 0 */
    uint8_t ret_pre;            /* before each return, or 0 */
    uint8_t arr_suf;            /* after newarray/anewarray, or 0 */
    uint8_t multi_suf;          /* after multianewarray, or 0 */
    uint16_t stack_extra;
} plan_t;

/* Decodes the code into insns. Returns 0 or a skip reason. */
static int decode(const uint8_t *code, uint32_t n, insn_t **out, uint32_t *count)
{
    insn_t *v = malloc(sizeof *v * (n + 1));
    uint32_t k = 0, pc = 0;
    if (!v) return CP_CF_SKIP_OOM;
    while (pc < n) {
        uint8_t op = code[pc];
        uint32_t len = op_len[op];
        if (len == 0) { free(v); return CP_CF_SKIP_OPCODE; }
        if (len == 0xff) {
            if (op == OP_WIDE) {
                if (pc + 1 >= n) { free(v); return CP_CF_SKIP_MALFORMED; }
                uint8_t op2 = code[pc + 1];
                if (op2 == 0x84) len = 6;
                else if ((op2 >= 0x15 && op2 <= 0x19) || (op2 >= 0x36 && op2 <= 0x3a) || op2 == 0xa9) len = 4;
                else { free(v); return CP_CF_SKIP_OPCODE; }
            } else {
                uint32_t p = pc + 1 + pad4(pc);
                /* tableswitch: default, low, high (12 bytes); lookupswitch:
                 * default, npairs (8 bytes; npairs may be 0) */
                if ((uint64_t)p + (op == OP_TABLESW ? 12 : 8) > n) { free(v); return CP_CF_SKIP_MALFORMED; }
                if (op == OP_TABLESW) {
                    int32_t lo = be32(code + p + 4), hi = be32(code + p + 8);
                    if (hi < lo || (int64_t)hi - lo + 1 > 65536) { free(v); return CP_CF_SKIP_MALFORMED; }
                    len = (p - pc) + 12 + 4 * (uint32_t)((int64_t)hi - lo + 1);
                } else {
                    int32_t np = be32(code + p + 4);
                    if (np < 0 || np > 65536) { free(v); return CP_CF_SKIP_MALFORMED; }
                    len = (p - pc) + 8 + 8 * (uint32_t)np;
                }
            }
        }
        if ((uint64_t)pc + len > n) { free(v); return CP_CF_SKIP_MALFORMED; }
        v[k] = (insn_t){ .old_off = pc, .old_len = len, .op = op };
        k++;
        pc += len;
    }
    *out = v;
    *count = k;
    return 0;
}

/* ---- method code rewriting ---------------------------------------------- */
typedef struct mctx {
    const uint8_t *code;
    uint32_t code_len;
    insn_t *ins;
    uint32_t n;
    int32_t *idx;               /* old offset -> insn index, -1 if not a start; idx[code_len] = n */
    uint32_t new_len;
    uint32_t prologue_len;
    const plan_t *plan;
} mctx_t;

/* New offset of an old instruction start (or code_len); false if invalid. */
static bool map_off(const mctx_t *m, int64_t old, uint32_t *out)
{
    if (old < 0 || old > m->code_len) return false;
    int32_t i = m->idx[old];
    if (i < 0) return false;
    *out = (uint32_t)i == m->n ? m->new_len : m->ins[i].new_off;
    return true;
}

static uint32_t body_off(const mctx_t *m, uint32_t i)
{
    return m->ins[i].new_off + m->plan->t[m->ins[i].pre].n;
}

static int layout(mctx_t *m)
{
    const plan_t *pl = m->plan;
    for (int round = 0; round < 64; round++) {
        uint32_t off = m->prologue_len;
        for (uint32_t i = 0; i < m->n; i++) {
            insn_t *in = &m->ins[i];
            in->new_off = off;
            uint32_t b = off + pl->t[in->pre].n;
            if (in->op == OP_TABLESW || in->op == OP_LOOKUPSW)
                in->body_len = in->old_len - pad4(in->old_off) + pad4(b);
            else if (in->widened)
                in->body_len = 5;
            else
                in->body_len = in->old_len;
            uint64_t next = (uint64_t)b + in->body_len + pl->t[in->suf].n;
            if (next > CF_MAX_CODE) return CP_CF_SKIP_TOO_BIG;
            off = (uint32_t)next;
        }
        m->new_len = off;
        bool changed = false;
        for (uint32_t i = 0; i < m->n; i++) {
            insn_t *in = &m->ins[i];
            if (!is_branch16(in->op) || in->widened) continue;
            int64_t tgt = (int64_t)in->old_off + (int16_t)be16(m->code + in->old_off + 1);
            uint32_t nt;
            if (!map_off(m, tgt, &nt) || tgt == m->code_len) return CP_CF_SKIP_OPCODE;
            int64_t d = (int64_t)nt - body_off(m, i);
            if (d >= -32768 && d <= 32767) continue;
            if (is_cond16(in->op)) return CP_CF_SKIP_WIDE_BRANCH;
            in->widened = true;             /* goto -> goto_w, jsr -> jsr_w */
            changed = true;
        }
        if (!changed) return 0;
    }
    return CP_CF_SKIP_TOO_BIG;                /* cannot happen: widening is monotone */
}

/* Writes a branch delta from the instruction at new body offset `from`. */
static bool rebase(const mctx_t *m, uint32_t old_from, int32_t old_delta, uint32_t from, int32_t *nd)
{
    uint32_t nt;
    int64_t tgt = (int64_t)old_from + old_delta;
    if (tgt == m->code_len || !map_off(m, tgt, &nt)) return false;
    *nd = (int32_t)((int64_t)nt - from);
    return true;
}

static int emit_code(const mctx_t *m, wr_t *w)
{
    const plan_t *pl = m->plan;
    if (pl->prologue) w_bytes(w, pl->t[pl->prologue].b, pl->t[pl->prologue].n);
    for (uint32_t i = 0; i < m->n; i++) {
        const insn_t *in = &m->ins[i];
        const uint8_t *src = m->code + in->old_off;
        uint32_t b = body_off(m, i);
        int32_t nd;
        if (in->pre) w_bytes(w, pl->t[in->pre].b, pl->t[in->pre].n);
        if (is_branch16(in->op)) {
            if (!rebase(m, in->old_off, (int16_t)be16(src + 1), b, &nd)) return CP_CF_SKIP_OPCODE;
            if (in->widened) {
                w_u1(w, in->op == OP_GOTO ? OP_GOTO_W : OP_JSR_W);
                w_u4(w, (uint32_t)nd);
            } else {
                w_u1(w, in->op);
                w_u2(w, (uint32_t)(uint16_t)(int16_t)nd);
            }
        } else if (in->op == OP_GOTO_W || in->op == OP_JSR_W) {
            if (!rebase(m, in->old_off, be32(src + 1), b, &nd)) return CP_CF_SKIP_OPCODE;
            w_u1(w, in->op);
            w_u4(w, (uint32_t)nd);
        } else if (in->op == OP_TABLESW || in->op == OP_LOOKUPSW) {
            uint32_t p = 1 + pad4(in->old_off);         /* relative to src */
            w_u1(w, in->op);
            for (uint32_t k = 0; k < pad4(b); k++) w_u1(w, 0);
            if (!rebase(m, in->old_off, be32(src + p), b, &nd)) return CP_CF_SKIP_OPCODE;
            w_u4(w, (uint32_t)nd);                      /* default */
            if (in->op == OP_TABLESW) {
                int32_t lo = be32(src + p + 4), hi = be32(src + p + 8);
                w_u4(w, (uint32_t)lo); w_u4(w, (uint32_t)hi);
                for (int64_t k = 0; k < (int64_t)hi - lo + 1; k++) {
                    if (!rebase(m, in->old_off, be32(src + p + 12 + 4 * k), b, &nd)) return CP_CF_SKIP_OPCODE;
                    w_u4(w, (uint32_t)nd);
                }
            } else {
                int32_t np = be32(src + p + 4);
                w_u4(w, (uint32_t)np);
                for (int32_t k = 0; k < np; k++) {
                    w_bytes(w, src + p + 8 + 8 * k, 4);  /* match */
                    if (!rebase(m, in->old_off, be32(src + p + 12 + 8 * k), b, &nd)) return CP_CF_SKIP_OPCODE;
                    w_u4(w, (uint32_t)nd);
                }
            }
        } else {
            w_bytes(w, src, in->old_len);
        }
        if (in->suf) w_bytes(w, pl->t[in->suf].b, pl->t[in->suf].n);
    }
    return w->ok ? 0 : CP_CF_SKIP_OOM;
}

/* Verification type list: copies n entries, remapping Uninitialized(pc). */
static int smt_types(const mctx_t *m, rd_t *r, wr_t *w, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint8_t tag = rd_u1(r);
        if (r->bad || tag > 8) return CP_CF_SKIP_STACKMAP;
        w_u1(w, tag);
        if (tag == 7) {
            w_u2(w, rd_u2(r));
        } else if (tag == 8) {
            uint32_t no;
            uint16_t pc = rd_u2(r);
            if (r->bad || !map_off(m, pc, &no) || pc == m->code_len || no > 0xffff) return CP_CF_SKIP_STACKMAP;
            w_u2(w, no);
        }
    }
    return r->bad ? CP_CF_SKIP_STACKMAP : 0;
}

static int rewrite_stackmap(const mctx_t *m, rd_t *r, wr_t *w)
{
    uint16_t n = rd_u2(r);
    int64_t old_pc = -1;
    int64_t new_prev = -1;
    int rc;
    w_u2(w, n);
    for (uint32_t i = 0; i < n; i++) {
        uint8_t ft = rd_u1(r);
        uint32_t delta;
        if (r->bad) return CP_CF_SKIP_STACKMAP;
        if (ft <= 63) delta = ft;
        else if (ft <= 127) delta = ft - 64u;
        else if (ft < 247) return CP_CF_SKIP_STACKMAP;
        else delta = rd_u2(r);
        old_pc += (int64_t)delta + 1;          /* first frame: -1 + delta + 1 = delta */
        uint32_t npc;
        if (r->bad || old_pc >= m->code_len || !map_off(m, old_pc, &npc)) return CP_CF_SKIP_STACKMAP;
        uint32_t nd = (uint32_t)(npc - new_prev - 1);
        new_prev = npc;
        if (ft <= 63 || ft == 251) {                          /* same_frame(_extended) */
            if (nd <= 63) w_u1(w, nd);
            else { w_u1(w, 251); w_u2(w, nd); }
        } else if (ft <= 127 || ft == 247) {                  /* same_locals_1_stack_item */
            if (nd <= 63) w_u1(w, 64 + nd);
            else { w_u1(w, 247); w_u2(w, nd); }
            if ((rc = smt_types(m, r, w, 1)) != 0) return rc;
        } else if (ft <= 250) {                               /* chop */
            w_u1(w, ft); w_u2(w, nd);
        } else if (ft <= 254) {                               /* append */
            w_u1(w, ft); w_u2(w, nd);
            if ((rc = smt_types(m, r, w, ft - 251u)) != 0) return rc;
        } else {                                              /* full_frame */
            w_u1(w, ft); w_u2(w, nd);
            uint16_t nl = rd_u2(r);
            w_u2(w, nl);
            if ((rc = smt_types(m, r, w, nl)) != 0) return rc;
            uint16_t ns = rd_u2(r);
            w_u2(w, ns);
            if ((rc = smt_types(m, r, w, ns)) != 0) return rc;
        }
    }
    return r->bad ? CP_CF_SKIP_STACKMAP : 0;
}

/* Copies a start_pc(+length) table (LineNumberTable: has_len false, entry 4
 * bytes; LocalVariable(Type)Table: has_len true, entry 10 bytes). */
static int rewrite_pc_table(const mctx_t *m, rd_t *r, wr_t *w, bool has_len)
{
    uint16_t n = rd_u2(r);
    w_u2(w, n);
    for (uint32_t i = 0; i < n; i++) {
        uint16_t start = rd_u2(r);
        uint32_t ns, ne;
        if (r->bad) return CP_CF_SKIP_MALFORMED;
        if (!has_len) {
            uint16_t line = rd_u2(r);
            /* line numbers may point anywhere; an invalid one is malformed */
            if (start >= m->code_len || !map_off(m, start, &ns)) return CP_CF_SKIP_MALFORMED;
            w_u2(w, ns); w_u2(w, line);
            continue;
        }
        uint16_t len = rd_u2(r);
        if (!map_off(m, start, &ns) || !map_off(m, (int64_t)start + len, &ne)) return CP_CF_SKIP_MALFORMED;
        w_u2(w, ns); w_u2(w, ne - ns);
        w_u2(w, rd_u2(r)); w_u2(w, rd_u2(r)); w_u2(w, rd_u2(r));
    }
    return r->bad ? CP_CF_SKIP_MALFORMED : 0;
}

/* Rewrites one Code attribute body (after name index and length) into w,
 * writing name index + length + body. *sites gets the number of inserts.
 * Returns 0, or a skip reason; returns -1 when there is nothing to do. */
static int rewrite_code(const cf_t *c, uint16_t attr_name, const uint8_t *body, uint32_t blen,
                        const plan_t *pl, wr_t *w, uint32_t *sites)
{
    rd_t r = { body, blen, 0, false };
    uint16_t max_stack = rd_u2(&r), max_locals = rd_u2(&r);
    uint32_t code_len = rd_u4(&r);
    mctx_t m = { 0 };
    int rc;

    if (r.bad || code_len == 0 || code_len > CF_MAX_CODE || blen - r.pos < code_len)
        return CP_CF_SKIP_MALFORMED;
    m.code = body + r.pos;
    m.code_len = code_len;
    m.plan = pl;
    rd_skip(&r, code_len);
    if ((rc = decode(m.code, code_len, &m.ins, &m.n)) != 0) return rc;

    /* attach inserts */
    uint32_t nsites = 0;
    m.prologue_len = pl->prologue ? pl->t[pl->prologue].n : 0;
    if (pl->prologue) nsites++;
    for (uint32_t i = 0; i < m.n; i++) {
        insn_t *in = &m.ins[i];
        if (pl->ret_pre && is_return(in->op)) { in->pre = pl->ret_pre; nsites++; }
        if (pl->arr_suf && (in->op == OP_NEWARRAY || in->op == OP_ANEWARRAY)) { in->suf = pl->arr_suf; nsites++; }
        if (pl->multi_suf && in->op == OP_MULTIANEW) { in->suf = pl->multi_suf; nsites++; }
    }
    if (nsites == 0) { rc = -1; goto out; }
    if ((uint32_t)max_stack + pl->stack_extra > 0xffff) { rc = CP_CF_SKIP_TOO_BIG; goto out; }

    m.idx = malloc(sizeof *m.idx * ((size_t)code_len + 1));
    if (!m.idx) { rc = CP_CF_SKIP_OOM; goto out; }
    for (uint32_t i = 0; i <= code_len; i++) m.idx[i] = -1;
    for (uint32_t i = 0; i < m.n; i++) m.idx[m.ins[i].old_off] = (int32_t)i;
    m.idx[code_len] = (int32_t)m.n;
    if ((rc = layout(&m)) != 0) goto out;

    /* Code attribute header; length patched at the end */
    w_u2(w, attr_name);
    size_t len_at = w->b.len;
    w_u4(w, 0);
    size_t body_at = w->b.len;
    w_u2(w, max_stack + pl->stack_extra);
    w_u2(w, max_locals);
    w_u4(w, m.new_len);
    size_t code_at = w->b.len;
    if ((rc = emit_code(&m, w)) != 0) goto out;
    if (w->ok && w->b.len - code_at != m.new_len) { rc = CP_CF_SKIP_MALFORMED; goto out; }

    /* exception table */
    uint16_t nexc = rd_u2(&r);
    w_u2(w, nexc);
    for (uint32_t i = 0; i < nexc; i++) {
        uint16_t s = rd_u2(&r), e = rd_u2(&r), h = rd_u2(&r), t = rd_u2(&r);
        uint32_t ns, ne, nh;
        if (r.bad || !map_off(&m, s, &ns) || !map_off(&m, e, &ne) || !map_off(&m, h, &nh) ||
            s >= e || h >= code_len) { rc = CP_CF_SKIP_MALFORMED; goto out; }
        w_u2(w, ns); w_u2(w, ne); w_u2(w, nh); w_u2(w, t);
    }

    /* Code's own attributes */
    uint16_t na = rd_u2(&r);
    size_t na_at = w->b.len;
    uint16_t kept = 0;
    w_u2(w, na);
    for (uint32_t i = 0; i < na && !r.bad; i++) {
        uint16_t an = rd_u2(&r);
        uint32_t al = rd_u4(&r);
        if (r.bad || r.len - r.pos < al) { rc = CP_CF_SKIP_MALFORMED; goto out; }
        rd_t ar = { body + r.pos, al, 0, false };
        rd_skip(&r, al);
        enum { A_LNT, A_LVT, A_SMT, A_VISTA, A_DROP } kind;
        if (cp_utf8_eq(c, an, "LineNumberTable")) kind = A_LNT;
        else if (cp_utf8_eq(c, an, "LocalVariableTable") || cp_utf8_eq(c, an, "LocalVariableTypeTable")) kind = A_LVT;
        else if (cp_utf8_eq(c, an, "StackMapTable")) kind = A_SMT;
        else if (cp_utf8_eq(c, an, "RuntimeVisibleTypeAnnotations")) kind = A_VISTA;
        else kind = A_DROP;   /* invisible type annotations, CharacterRangeTable, vendor data:
                                 the JVM ignores them, but they may hold offsets we cannot move */
        if (kind == A_VISTA) { rc = CP_CF_SKIP_CODE_ATTR; goto out; }
        if (kind == A_DROP) continue;
        w_u2(w, an);
        size_t alen_at = w->b.len;
        w_u4(w, 0);
        size_t a_at = w->b.len;
        if (kind == A_SMT) rc = rewrite_stackmap(&m, &ar, w);
        else rc = rewrite_pc_table(&m, &ar, w, kind == A_LVT);
        if (rc != 0) goto out;
        if (ar.pos != ar.len) { rc = kind == A_SMT ? CP_CF_SKIP_STACKMAP : CP_CF_SKIP_MALFORMED; goto out; }
        w_put_u4_at(w, alen_at, (uint32_t)(w->b.len - a_at));
        kept++;
    }
    if (r.bad || r.pos != r.len) { rc = CP_CF_SKIP_MALFORMED; goto out; }
    if (w->ok) { w->b.data[na_at] = (uint8_t)(kept >> 8); w->b.data[na_at + 1] = (uint8_t)kept; }
    w_put_u4_at(w, len_at, (uint32_t)(w->b.len - body_at));
    *sites = nsites;
    rc = w->ok ? 0 : CP_CF_SKIP_OOM;
out:
    free(m.ins);
    free(m.idx);
    return rc;
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
static int parse_head(cf_t *c, rd_t *r)
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
    if (p[0] != CT_CLASS || !cp_utf8(c, be16(p + 1), &s, &n) || n >= sizeof c->name)
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
    rc = parse_head(&c, &r);
    free(c.cp_off);
    if (rc) return CP_EINVAL;
    if (strlen(c.name) >= bufsz) return CP_ETOOBIG;
    strcpy(buf, c.name);
    return 0;
}

/* Skips fields/methods' attribute lists. */
static void skip_members(rd_t *r)
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
    if (decode(code, n, &v, &k) != 0) return true;   /* let the rewrite report why */
    for (uint32_t i = 0; i < k && !found; i++)
        found = v[i].op == OP_NEWARRAY || v[i].op == OP_ANEWARRAY || v[i].op == OP_MULTIANEW;
    free(v);
    return found;
}

typedef struct mrefs {
    uint16_t array, multi, object, park_enter_obj, park_enter, park_exit;
} mrefs_t;

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
        cp_utf8_eq(c, name, "<init>") && cp_utf8_eq(c, desc, "()V")) {
        if (mr) { tmpl_call(&pl->t[1], OP_ALOAD_0, mr->object); pl->prologue = 1; pl->stack_extra = 1; }
        any = true;
    }
    if ((hooks & CP_CF_HOOK_PARK) && strcmp(c->name, "java/util/concurrent/locks/LockSupport") == 0 &&
        (acc & 0x0008)) {
        const uint8_t *s, *d; uint16_t n, dn;
        if (cp_utf8(c, name, &s, &n) && cp_utf8(c, desc, &d, &dn) && n >= 4 && memcmp(s, "park", 4) == 0 &&
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

    if ((rc = parse_head(&c, &r)) != 0) goto skip;
    if (strncmp(c.name, "dev/cprof/", 10) == 0) goto nothing;
    rd_u2(&r);                                          /* super */
    rd_skip(&r, 2u * rd_u2(&r));                        /* interfaces */
    skip_members(&r);                                   /* fields */
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
            if (cp_utf8_eq(&c, an, "Code") && al >= 8) {
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
    uint16_t ac = cp_add_class(&c, cp_add_utf8(&c, CP_CF_ALLOC_CLASS));
    uint16_t lc = cp_add_class(&c, cp_add_utf8(&c, CP_CF_LOCK_CLASS));
    mr.array  = cp_add_mref(&c, ac, "array", "(Ljava/lang/Object;)V");
    mr.multi  = cp_add_mref(&c, ac, "multi", "(Ljava/lang/Object;)V");
    mr.object = cp_add_mref(&c, ac, "object", "(Ljava/lang/Object;)V");
    mr.park_enter_obj = cp_add_mref(&c, lc, "parkEnter", "(Ljava/lang/Object;)V");
    mr.park_enter = cp_add_mref(&c, lc, "parkEnter", "()V");
    mr.park_exit = cp_add_mref(&c, lc, "parkExit", "()V");
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
            if (cp_utf8_eq(&c, an, "Code") && al >= 8) {
                uint32_t cl = (uint32_t)be32(body + 4);
                if (cl <= al - 8 && plan_method(&c, hooks, acc, name, desc, body + 8, cl, &mr, &pl)) {
                    size_t mark = w.b.len;
                    rc = rewrite_code(&c, an, body, al, &pl, &w, &sites);
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

    uint8_t *o = alloc ? alloc(alloc_ctx, w.b.len) : malloc(w.b.len);
    if (!o) { rc = CP_CF_SKIP_OOM; goto skip; }
    memcpy(o, w.b.data, w.b.len);
    *out = o;
    *out_len = w.b.len;
    goto done;
skip:
    memset(res, 0, sizeof *res);
    res->skip = (cp_cf_skip_t)rc;
    goto done;
nothing:
    memset(res, 0, sizeof *res);
done:
    free(c.cp_off);
    cp_buf_fini(&c.cp_add.b);
    cp_buf_fini(&w.b);
    return 0;
}
