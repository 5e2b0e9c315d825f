/* ring.h - the sample store between producers and the harvester, and the
 * sample-recording API for every producer (CPU/wall handler, alloc, lock).
 *
 * A fixed array of slots reserved at start-up; each slot holds one sample
 * with room for CP_RING_MAX_FRAMES frames (AGCT writes straight into it).
 * Producers: any thread, signal handlers included (lock-free, no
 * allocation). Consumer: the harvester thread only.
 * A full ring drops the new sample and counts it (drop.ring): blocking or
 * allocating would be unsafe in a handler.
 *
 * How other producers record a sample (e.g. alloc.c in SampledObjectAlloc,
 * lock.c in MonitorContendedEntered, on a Java thread with JVMTI at hand):
 *
 *     jvmtiFrameInfo fr[CP_RING_MAX_FRAMES]; jint n;
 *     (*jvmti)->GetStackTrace(jvmti, NULL, 0, CP_RING_MAX_FRAMES, fr, &n);
 *     cp_ring_push_jvmti(cp_agent_ring(), CP_SAMPLE_ALLOC, size, 1,
 *                        fr, n, "java.lang.String", CP_FRAME_ALLOC);
 *
 * cp_agent_ring() (agent.h) returns NULL while the agent is not running;
 * cp_ring_push_* accept a NULL ring (return false).
 *
 * A producer that fills a reserved slot itself (cp_ring_reserve) sets every
 * field, ctx included: cp_context_get(&s->ctx) for the calling thread's
 * request context, or a label set of its own for samples it takes on
 * behalf of something else, e.g. an agent thread reading Python stacks:
 *     s->ctx = (cp_context_t){ .labels = (uint32_t)cp_lsets_intern(kv, n) };
 * (intern once, not per sample; -1 from a full table means: no labels). */
#ifndef CP_RING_H
#define CP_RING_H

#include <jvmti.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "sigsafe.h"

#define CP_RING_MAX_FRAMES 512
#define CP_RING_LEAF_MAX   128
#define CP_RING_MAX_NATIVE 32   /* native pcs per sample (jvmti/unwind.h) */

/* What a sample measures; the harvester maps it to wire sample types:
 *   CPU   value = CPU ns          -> "cpu" (ns)
 *   WALL  value = wall ns         -> "wall" (ns)
 *   ALLOC value = bytes, count = objects -> "alloc_bytes", "alloc_objects"
 *   LOCK  value = ns waited, count = events -> "lock" (ns), "lock_count" */
typedef enum cp_sample_kind {
    CP_SAMPLE_CPU   = 0,
    CP_SAMPLE_WALL  = 1,
    CP_SAMPLE_ALLOC = 2,
    CP_SAMPLE_LOCK  = 3,
    CP_SAMPLE_KIND_MAX = 3
} cp_sample_kind_t;

/* Same layout as HotSpot's ASGCT_CallFrame: lineno is the bci for Java
 * frames, -3 for native methods; method may be NULL (no jmethodID yet). */
typedef struct cp_ring_frame {
    jint      lineno;
    jmethodID method;
} cp_ring_frame_t;

/* num_frames > 0: frames[0] is the leaf (top of stack).
 * num_frames <= 0: an AGCT failure code (HotSpot's ticks_*), or
 * CP_SAMPLE_NOT_JAVA_THREAD for a thread the JVM does not know as Java. */
#define CP_SAMPLE_NOT_JAVA_THREAD (-100)

typedef struct cp_sample {
    uint8_t  kind;          /* cp_sample_kind_t */
    uint8_t  leaf_kind;     /* cp_frame_kind_t of leaf[], 0 if no leaf */
    uint8_t  truncated;     /* AGCT filled every frame: root part missing */
    int32_t  tid;           /* kernel thread id */
    int32_t  num_frames;
    uint64_t value;
    uint64_t count;
    char     thread[16];    /* thread name (comm) when there are no Java frames or
                             * the context has a trace id; else "" */
    char     leaf[CP_RING_LEAF_MAX]; /* synthetic leaf frame text, NUL-terminated */
    cp_context_t ctx;       /* the thread's request context (context.h): labels, trace, span */
    uint8_t  n_native;      /* native[0..n_native): raw pcs, leaf first (unwind.h); */
    uint64_t native[CP_RING_MAX_NATIVE]; /* symbolised by the harvester under the Java leaf */
    cp_ring_frame_t frames[CP_RING_MAX_FRAMES];
} cp_sample_t;

typedef struct cp_ring cp_ring_t;    /* opaque */

/* slots: rounded up to a power of two. Returns NULL on OOM. Caller owns. */
cp_ring_t *cp_ring_create(size_t slots);
void cp_ring_destroy(cp_ring_t *r);   /* NULL is a no-op; only when no producer can run */
size_t cp_ring_capacity(const cp_ring_t *r);
/* Bytes the ring reserved (its slots), for the memory budget. */
size_t cp_ring_memory(const cp_ring_t *r);
/* Maps every page of the ring now, in one call (MADV_POPULATE_WRITE; a
 * kernel before 5.14 refuses it and pages fault in on first use as
 * before). Untouched, each slot's first lap costs page faults (~13 us each
 * on this project's VMs): one in the consumer's peek, one in the producer,
 * which for CPU samples is a signal handler on the sampled thread, counted
 * as sampling cost. Not on the JVM's main thread: the harvester, a second
 * after its start (a JVM that ends sooner never pays it). Safe while
 * producers write. Returns true if the kernel did it. */
bool cp_ring_prefault(cp_ring_t *r);
/* The same in steps, ahead of the producers: maps the slots up to `ahead`
 * past the producers' next position (those mapped already are skipped).
 * A producer's first write to a slot the consumer or it had only read
 * (the seq check maps the shared zero page) is a copy-on-write fault with
 * a TLB flush on every CPU running the JVM: ~30 us inside a signal
 * handler on this project's VMs, ~300 of them in a busy JVM's first
 * second. Called after each drain from the start, it keeps the first lap
 * on mapped pages without a 2 ms block on the JVM's start-up. Consumer
 * only. Returns true once the whole ring is mapped (or the kernel refuses:
 * then nothing more is tried). */
bool cp_ring_prefault_ahead(cp_ring_t *r, size_t ahead);
/* Registers fn to be called from cp_ring_push_jvmti (never from the signal
 * path) every quarter ring of pushes and whenever the ring is full, so the
 * consumer drains early when JVMTI producers (allocation samples) pour in
 * faster than its polling period. fn must not block. Thread: set once at
 * start-up, before producers run. */
void cp_ring_set_nudge(cp_ring_t *r, void (*fn)(void));

/* Calls the registered nudge (if any). Not for signal handlers. */
void cp_ring_nudge(cp_ring_t *r);

/* Async-signal-safe, lock-free. true when the next n reservations would
 * all find a free slot right now (n <= capacity). A hint: producers may
 * race for them. For producers that can pace themselves (the wall-clock
 * thread signals threads in chunks that fit). */
CP_SIGSAFE bool cp_ring_has_room(cp_ring_t *r, size_t n);

/* Async-signal-safe, lock-free, no allocation; any number of producers.
 * Reserves a slot for the caller to fill in place; NULL when full (the
 * drop is counted in drop.ring). Every reserve must be followed by commit
 * on the same thread, promptly (the consumer waits for it in order). */
CP_SIGSAFE cp_sample_t *cp_ring_reserve(cp_ring_t *r, uint64_t *ticket /* OUT */);
CP_SIGSAFE void cp_ring_commit(cp_ring_t *r, uint64_t ticket);

/* Async-signal-safe. Copies *s (only its num_frames frames). */
CP_SIGSAFE bool cp_ring_try_push(cp_ring_t *r, const cp_sample_t *s);

/* For JVMTI producers (Java threads; not for signal handlers since it reads
 * its own tid with a syscall: fine, but keep the rule simple). The sample
 * carries the calling thread's context (cp_context_get). frames come
 * from GetStackTrace (top first); leaf may be NULL. Lines: bci from
 * jvmtiFrameInfo.location (-3 for native methods is set by the harvester
 * when it sees location -1). Returns false if r is NULL or full. */
bool cp_ring_push_jvmti(cp_ring_t *r, cp_sample_kind_t kind, uint64_t value, uint64_t count,
                        const jvmtiFrameInfo *frames, int n_frames,
                        const char *leaf, uint8_t leaf_kind);

/* Consumer (harvester thread only): the oldest committed sample or NULL.
 * The pointer stays valid until cp_ring_release(). */
const cp_sample_t *cp_ring_peek(cp_ring_t *r);
void cp_ring_release(cp_ring_t *r);

#endif
