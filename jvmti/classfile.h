/* classfile.h - a small class-file rewriter that inserts calls to the java-shim.
 *
 * Used by the agent's ClassFileLoadHook (alloc.mode=instrument and j.u.c
 * parking) to add static calls to dev.cprof.* callbacks at allocation sites:
 *
 *   hook                  where                                inserted code
 *   CP_CF_HOOK_ARRAYS     after newarray / anewarray           dup; invokestatic Alloc.array(Object)V
 *                         after multianewarray                 dup; invokestatic Alloc.multi(Object)V
 *   CP_CF_HOOK_OBJECT     entry of java.lang.Object.<init>     aload_0; invokestatic Alloc.object(Object)V
 *   CP_CF_HOOK_PARK       entry of LockSupport.park*           [aload_0;] invokestatic Lock.parkEnter(...)V
 *                         before each return of those          invokestatic Lock.parkExit()V
 *   CP_CF_HOOK_EXEC       entry of ThreadPoolExecutor.execute, aload_1; invokestatic Exec.wrap[Fj](task); astore_1
 *                         ScheduledThreadPoolExecutor.execute/schedule*, ForkJoinPool.execute/submit
 *                         (first argument a Runnable or Callable: the task is replaced by a wrapper of
 *                         the same type, so the method's frames stay true)
 *
 * cp_classfile_wrap (classfile_wrap.c) is the other tool: it wraps a whole
 * method in enter/exit calls (try/finally) by renaming it and adding a new
 * method, which is only possible when a class is first loaded.
 *
 * Every inserted sequence leaves the operand stack and the locals exactly as
 * they were, and contains no branch target, so no StackMapTable frame has to
 * be invented: existing frames, branch offsets, switch padding, exception
 * tables, LineNumberTable and LocalVariable(Type)Table are moved by the
 * offset map. goto/jsr whose offset no longer fits 16 bits become
 * goto_w/jsr_w (iterated to a fixed point, since widening moves code).
 *
 * Anything not fully understood (unknown constant-pool tag or opcode, a
 * conditional branch that would need widening, an unknown attribute inside
 * Code that holds bytecode offsets, a method growing past 64 KiB, a constant
 * pool past 65535 entries, a malformed file) makes the rewriter return the
 * class unchanged with a reason; the caller counts it. The rewriter must never
 * produce a class that fails verification.
 *
 * Thread: any (no global state). Not signal-safe (allocates with malloc
 * for scratch; the output buffer comes from the caller's allocator, so a
 * ClassFileLoadHook can use jvmtiEnv::Allocate). */
#ifndef CP_CLASSFILE_H
#define CP_CLASSFILE_H

#include <stddef.h>
#include <stdint.h>

enum {
    CP_CF_HOOK_ARRAYS = 1u << 0,
    CP_CF_HOOK_OBJECT = 1u << 1,
    CP_CF_HOOK_PARK   = 1u << 2,
    CP_CF_HOOK_EXEC   = 1u << 3,
};

/* The shim methods the inserted code calls (internal names). */
#define CP_CF_ALLOC_CLASS   "dev/cprof/Alloc"
#define CP_CF_LOCK_CLASS    "dev/cprof/Lock"
#define CP_CF_EXEC_CLASS    "dev/cprof/Exec"

/* Why a class was left unchanged (cp_classfile_result_t.skip). */
typedef enum cp_cf_skip {
    CP_CF_OK = 0,           /* rewritten, or nothing to do (sites == 0) */
    CP_CF_SKIP_MALFORMED,   /* truncated or inconsistent class file */
    CP_CF_SKIP_VERSION,     /* class-file version newer than we know */
    CP_CF_SKIP_CPOOL,       /* unknown constant-pool tag or pool full */
    CP_CF_SKIP_OPCODE,      /* unknown/reserved opcode or bad branch target */
    CP_CF_SKIP_WIDE_BRANCH, /* a conditional branch would need widening */
    CP_CF_SKIP_CODE_ATTR,   /* Code holds an attribute we cannot move (type annotations) */
    CP_CF_SKIP_STACKMAP,    /* StackMapTable we cannot parse */
    CP_CF_SKIP_TOO_BIG,     /* method code would exceed 65535 bytes */
    CP_CF_SKIP_OOM,
    CP_CF_SKIP_MAX
} cp_cf_skip_t;

typedef struct cp_classfile_result {
    cp_cf_skip_t skip;      /* CP_CF_OK or why nothing was changed */
    uint32_t     sites;     /* call sites inserted (0 when skipped or nothing to do) */
    uint32_t     methods;   /* methods rewritten */
} cp_classfile_result_t;

/* Allocator for the output class (e.g. a wrapper on jvmtiEnv::Allocate).
 * Returns NULL on failure. */
typedef void *(*cp_classfile_alloc_fn)(void *ctx, size_t n);

/* Rewrites one class file. hooks: CP_CF_HOOK_* bits (the OBJECT and PARK
 * hooks only apply to java/lang/Object and java/util/concurrent/locks/
 * LockSupport). Classes in package dev/cprof/ are never touched.
 * Returns 0 and sets *out and *out_len to a new buffer from alloc (NULL alloc =
 * malloc; the caller owns it) when the class was changed; returns 0 with
 * *out = NULL when it was left unchanged (res->skip says why, or sites == 0:
 * nothing to do). Never returns a partly rewritten class. res may be NULL.
 * Returns CP_EINVAL on NULL arguments. */
int cp_classfile_rewrite(const uint8_t *in, size_t len, unsigned hooks,
                         cp_classfile_alloc_fn alloc, void *alloc_ctx,
                         uint8_t **out /* OUT */, size_t *out_len /* OUT */,
                         cp_classfile_result_t *res /* OUT, may be NULL */);

/* What cp_classfile_wrap wraps: the instance method `method` with
 * descriptor `desc` (must return void), declared in the class itself. The
 * new method calls enter_class.enter(first argument or null) ->
 * Object, then the original (renamed cprof$<method>, private), then
 * enter_class.exit(that Object) on return and on throw (the throwable is
 * rethrown unchanged). */
typedef struct cp_cf_wrap {
    const char *method;
    const char *desc;
    const char *enter_class;    /* internal name, e.g. "dev/cprof/Http" */
    const char *enter;          /* static (Ljava/lang/Object;)Ljava/lang/Object; */
    const char *exit;           /* static (Ljava/lang/Object;)V */
} cp_cf_wrap_t;

/* Wraps spec->method of the class in `in` (see cp_cf_wrap_t). Same contract
 * as cp_classfile_rewrite: 0 with *out set (res->sites = 1) when the class
 * was changed, 0 with *out = NULL when not (no such concrete method, an
 * interface, already wrapped, or res->skip says why), CP_EINVAL on bad
 * arguments (also a desc that is not "(...)V"). Only valid when the class
 * is first loaded: it adds a method. */
int cp_classfile_wrap(const uint8_t *in, size_t len, const cp_cf_wrap_t *spec,
                      cp_classfile_alloc_fn alloc, void *alloc_ctx,
                      uint8_t **out /* OUT */, size_t *out_len /* OUT */,
                      cp_classfile_result_t *res /* OUT, may be NULL */);

/* Reads the class name (internal form "java/lang/String") into buf.
 * Returns 0, CP_EINVAL on a malformed file, CP_ETOOBIG if buf is too small. */
int cp_classfile_name(const uint8_t *in, size_t len, char *buf, size_t bufsz);

/* Short text for a skip reason ("conditional branch needs widening"...). */
const char *cp_classfile_skip_name(cp_cf_skip_t s);

#endif
