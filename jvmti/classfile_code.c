/* classfile_code.c - rewrites one method's code for the class-file
 * rewriter (classfile.c has the whole design): decode every instruction,
 * attach the inserts, lay out with widened jumps, emit, and move every
 * offset-bearing table (exception table, LineNumberTable,
 * LocalVariable(Type)Table, StackMapTable). */
#include "classfile_int.h"

#include <stdlib.h>

#include "classfile.h"
#include "error.h"

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

static bool is_branch16(uint8_t op) { return (op >= 0x99 && op <= 0xa8) || op == 0xc6 || op == 0xc7; }
static bool is_cond16(uint8_t op)   { return (op >= 0x99 && op <= 0xa6) || op == 0xc6 || op == 0xc7; }
static bool is_return(uint8_t op)   { return op >= 0xac && op <= 0xb1; }
static uint32_t pad4(uint32_t pc)   { return (4 - ((pc + 1) & 3)) & 3; }

/* Decodes the code into insns. Returns 0 or a skip reason. */
int cp__cf_decode(const uint8_t *code, uint32_t n, insn_t **out, uint32_t *count)
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
int cp__cf_rewrite_code(const cf_t *c, uint16_t attr_name, const uint8_t *body, uint32_t blen,
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
    if ((rc = cp__cf_decode(m.code, code_len, &m.ins, &m.n)) != 0) return rc;

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
        if (cp__cf_utf8_eq(c, an, "LineNumberTable")) kind = A_LNT;
        else if (cp__cf_utf8_eq(c, an, "LocalVariableTable") || cp__cf_utf8_eq(c, an, "LocalVariableTypeTable")) kind = A_LVT;
        else if (cp__cf_utf8_eq(c, an, "StackMapTable")) kind = A_SMT;
        else if (cp__cf_utf8_eq(c, an, "RuntimeVisibleTypeAnnotations")) kind = A_VISTA;
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
