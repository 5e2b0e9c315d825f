/* classfile_int.h - what the two halves of the class-file rewriter share:
 * classfile.c (the class level: constant pool, members, which methods get
 * which inserts) and classfile_code.c (one method's code: decode, lay out,
 * emit, move the offset tables). Not for other modules: they use
 * classfile.h. All reads are bounds-checked (input is untrusted). */
#ifndef CP_JVMTI_CLASSFILE_INT_H
#define CP_JVMTI_CLASSFILE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "classfile.h"

#define CF_MAX_MAJOR 69          /* Java 25 */
#define CF_MAX_CODE  65535u

/* ---- bounds-checked big-endian reader ---------------------------------- */
typedef struct rd {
    const uint8_t *p;
    size_t len, pos;
    bool bad;
} rd_t;

static inline uint32_t rd_n(rd_t *r, int n)
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
static inline uint8_t  rd_u1(rd_t *r) { return (uint8_t)rd_n(r, 1); }
static inline uint16_t rd_u2(rd_t *r) { return (uint16_t)rd_n(r, 2); }
static inline uint32_t rd_u4(rd_t *r) { return rd_n(r, 4); }
static inline void rd_skip(rd_t *r, size_t n)
{
    if (r->bad || r->len - r->pos < n) { r->bad = true; return; }
    r->pos += n;
}

static inline uint16_t be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline int32_t  be32(const uint8_t *p)
{
    return (int32_t)(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3]);
}

/* ---- writer helpers on cp_buf (errors latched in *ok) ------------------- */
typedef struct wr {
    cp_buf_t b;
    bool ok;
} wr_t;

static inline void w_bytes(wr_t *w, const void *p, size_t n)
{
    if (w->ok && cp_buf_append(&w->b, p, n) != 0)
        w->ok = false;
}
static inline void w_u1(wr_t *w, uint32_t v) { uint8_t c = (uint8_t)v; w_bytes(w, &c, 1); }
static inline void w_u2(wr_t *w, uint32_t v) { uint8_t c[2] = {(uint8_t)(v >> 8), (uint8_t)v}; w_bytes(w, c, 2); }
static inline void w_u4(wr_t *w, uint32_t v)
{
    uint8_t c[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    w_bytes(w, c, 4);
}
static inline void w_put_u4_at(wr_t *w, size_t at, uint32_t v)
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


/* classfile.c: the constant pool and the class header. */
/* true when constant idx is the UTF-8 string str */
bool cp__cf_utf8_eq(const cf_t *c, uint16_t idx, const char *str);
/* the UTF-8 constant idx (not NUL-terminated): false if idx is not one */
bool cp__cf_utf8(const cf_t *c, uint16_t idx, const uint8_t **s, uint16_t *n);
/* parses magic, version, pool and this_class (c->name); 0 or a skip reason */
int cp__cf_parse_head(cf_t *c, rd_t *r);
/* skips a fields or methods list (count, then members with attributes) */
void cp__cf_skip_members(rd_t *r);
/* The end of both rewriters (classfile.c, classfile_wrap.c). rc 0: w's
 * bytes go out in a buffer from alloc (NULL: malloc), or CP_CF_SKIP_OOM;
 * CP__CF_NOTHING: the class is left alone; else rc is the skip reason put in
 * res. Frees the scratch of c and w. Returns 0 (what the rewriters return). */
#define CP__CF_NOTHING (-1)
int cp__cf_finish(cf_t *c, wr_t *w, int rc, cp_classfile_alloc_fn alloc, void *alloc_ctx,
                  uint8_t **out, size_t *out_len, cp_classfile_result_t *res);
/* Constants appended to c->cp_add from c->cp_next on: each returns the new
 * index, or 0 when the pool is full or an operand is 0 (so a chain of adds
 * fails as a whole). mref: Methodref cls_idx.name:desc. */
uint16_t cp__cf_add_utf8(cf_t *c, const char *s);
uint16_t cp__cf_add_ref2(cf_t *c, uint8_t tag, uint16_t a, uint16_t b);
uint16_t cp__cf_add_class(cf_t *c, uint16_t name);
uint16_t cp__cf_add_mref(cf_t *c, uint16_t cls_idx, const char *name, const char *desc);

/* ---- instructions and insertion plans ---------------------------------- */
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
#define OP_ASTORE_1   0x4c

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


/* classfile_code.c: decodes a method's code into *out (count
 * instructions; free(*out)). Returns 0 or a skip reason. */
int cp__cf_decode(const uint8_t *code, uint32_t n, insn_t **out, uint32_t *count);

/* classfile_code.c: rewrites one Code attribute body (after name index and
 * length) into w, writing name index + length + body. *sites gets the
 * number of inserts. Returns 0, or a skip reason; -1 when there is nothing
 * to do. */
int cp__cf_rewrite_code(const cf_t *c, uint16_t attr_name, const uint8_t *body, uint32_t blen,
                        const plan_t *pl, wr_t *w, uint32_t *sites);

#endif
