/* ring.c - bounded lock-free multi-producer ring of samples. See ring.h.
 *
 * Algorithm: D. Vyukov's bounded MPMC queue, used with one consumer. Each
 * slot has a sequence number: seq == pos means free for the producer that
 * claims position pos; seq == pos + 1 means committed and readable by the
 * consumer at pos; the consumer frees it by setting seq = pos + capacity.
 * Producers claim positions with a CAS on `head`, so a producer interrupted
 * by a signal on the same thread never deadlocks: the handler just claims
 * the next position.
 *
 * Producers: any thread incl. signal handlers. Consumer: harvester only.
 * Memory: slots are allocated once in cp_ring_create and never freed while
 * the agent may sample (the .so stays loaded: -z nodelete). */
#include "ring.h"

#include "stats.h"

#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "ring positions must be lock-free");

/* seq is stored relative to the slot's index (seq - index): a slot of a
 * fresh zero-filled mapping then reads as seq == index, "free for the
 * first lap", so creating the ring writes nothing and touches no page (it
 * used to write 512 seqs 8.4 KB apart: 512 page faults on the JVM's main
 * thread at start-up). The harvester maps it all in one call a second
 * later (cp_ring_prefault), off the main thread. */
typedef struct cp__slot {
    _Atomic uint64_t seq;    /* seq - (position & mask) */
    cp_sample_t s;
} cp__slot_t;

struct cp_ring {
    _Alignas(64) _Atomic uint64_t head;   /* next position to claim (producers) */
    _Alignas(64) uint64_t tail;           /* next position to read (consumer only) */
    size_t mask;
    size_t map_len;
    size_t populated;                     /* slots mapped ahead of the producers (consumer only) */
    cp__slot_t *slots;
    void (*nudge)(void);                  /* non-signal producers wake the consumer */
};

cp_ring_t *cp_ring_create(size_t slots)
{
    size_t n = 1;
    while (n < slots)
        n <<= 1;
    cp_ring_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    /* mmap: untouched slot tails (deep-stack room) cost no RSS. */
    r->map_len = n * sizeof(cp__slot_t);
    void *m = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        free(r);
        return NULL;
    }
    r->slots = m;                         /* zero-filled: every slot free (see cp__slot_t) */
    r->mask = n - 1;
    atomic_store_explicit(&r->head, 0, memory_order_release);
    r->tail = 0;
    return r;
}

void cp_ring_destroy(cp_ring_t *r)
{
    if (!r)
        return;
    munmap(r->slots, r->map_len);
    free(r);
}

size_t cp_ring_capacity(const cp_ring_t *r) { return r->mask + 1; }
size_t cp_ring_memory(const cp_ring_t *r) { return r ? r->map_len : 0; }

CP_SIGSAFE cp_sample_t *cp_ring_reserve(cp_ring_t *r, uint64_t *ticket)
{
    if (!r)
        return NULL;
    uint64_t pos = atomic_load_explicit(&r->head, memory_order_relaxed); /* CAS below validates */
    for (;;) {
        cp__slot_t *sl = &r->slots[pos & r->mask];
        /* acquire: see the consumer's release of this slot before reusing it */
        uint64_t seq = atomic_load_explicit(&sl->seq, memory_order_acquire) + (pos & r->mask);
        int64_t dif = (int64_t)(seq - pos);
        if (dif == 0) {
            /* relaxed: the slot's seq handshake carries the data ordering */
            if (atomic_compare_exchange_weak_explicit(&r->head, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed)) {
                *ticket = pos;
                return &sl->s;
            }
        } else if (dif < 0) {
            cp_stats_add(CP_ST_DROP_RING, 1);
            return NULL;
        } else {
            pos = atomic_load_explicit(&r->head, memory_order_relaxed); /* retry with fresh head */
        }
    }
}

CP_SIGSAFE void cp_ring_commit(cp_ring_t *r, uint64_t ticket)
{
    cp__slot_t *sl = &r->slots[ticket & r->mask];
    /* release: the sample's contents become visible before the slot is readable */
    atomic_store_explicit(&sl->seq, ticket + 1 - (ticket & r->mask), memory_order_release);
}

static CP_SIGSAFE void copy_sample(cp_sample_t *d, const cp_sample_t *s)
{
    size_t n = s->num_frames > 0 ? (size_t)s->num_frames : 0;
    if (n > CP_RING_MAX_FRAMES)
        n = CP_RING_MAX_FRAMES;
    memcpy(d, s, offsetof(cp_sample_t, frames));   /* memcpy: async-signal-safe in glibc */
    memcpy(d->frames, s->frames, n * sizeof s->frames[0]);
}

CP_SIGSAFE bool cp_ring_try_push(cp_ring_t *r, const cp_sample_t *s)
{
    uint64_t t;
    cp_sample_t *d = cp_ring_reserve(r, &t);
    if (!d)
        return false;
    copy_sample(d, s);
    cp_ring_commit(r, t);
    if (r->nudge && (t & ((r->mask + 1) / 4 - 1)) == 0)
        r->nudge();
    return true;
}

bool cp_ring_push_jvmti(cp_ring_t *r, cp_sample_kind_t kind, uint64_t value, uint64_t count,
                        const jvmtiFrameInfo *frames, int n_frames,
                        const char *leaf, uint8_t leaf_kind)
{
    uint64_t t;
    cp_sample_t *d = cp_ring_reserve(r, &t);
    if (!d) {
        if (r && r->nudge)      /* full: wake the consumer (NULL r: no ring) */
            r->nudge();
        return false;
    }
    if (n_frames < 0)
        n_frames = 0;
    if (n_frames > CP_RING_MAX_FRAMES)
        n_frames = CP_RING_MAX_FRAMES;
    d->kind = (uint8_t)kind;
    d->truncated = n_frames == CP_RING_MAX_FRAMES;
    d->tid = (int32_t)syscall(SYS_gettid);
    d->num_frames = n_frames;
    d->value = value;
    d->count = count;
    d->thread[0] = '\0';
    cp_context_get(&d->ctx);
    if (d->ctx.trace_hi | d->ctx.trace_lo) {   /* trace samples are rooted by thread */
        prctl(PR_GET_NAME, d->thread, 0, 0, 0);
        d->thread[15] = '\0';
    }
    d->n_native = 0;
    for (int i = 0; i < n_frames; i++) {
        d->frames[i].method = frames[i].method;
        d->frames[i].lineno = frames[i].location < 0 ? -3 : (jint)frames[i].location;
    }
    if (leaf && leaf_kind) {
        size_t l = strlen(leaf);
        if (l >= CP_RING_LEAF_MAX)
            l = CP_RING_LEAF_MAX - 1;
        memcpy(d->leaf, leaf, l);
        d->leaf[l] = '\0';
        d->leaf_kind = leaf_kind;
    } else {
        d->leaf[0] = '\0';
        d->leaf_kind = 0;
    }
    cp_ring_commit(r, t);
    return true;
}

void cp_ring_set_nudge(cp_ring_t *r, void (*fn)(void)) { r->nudge = fn; }

void cp_ring_nudge(cp_ring_t *r)
{
    if (r && r->nudge)
        r->nudge();
}

/* The consumer frees slots in position order, so the n positions from head
 * are free iff the last of them is (its seq == its position). */
CP_SIGSAFE bool cp_ring_has_room(cp_ring_t *r, size_t n)
{
    if (!r || n == 0)
        return true;
    if (n > r->mask + 1)
        return false;
    uint64_t pos = atomic_load_explicit(&r->head, memory_order_relaxed) + n - 1; /* a hint */
    return atomic_load_explicit(&r->slots[pos & r->mask].seq, memory_order_acquire) + (pos & r->mask) ==
           pos; /* pairs with release */
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23   /* Linux 5.14 */
#endif

bool cp_ring_prefault(cp_ring_t *r)
{
    return r && madvise(r->slots, r->map_len, MADV_POPULATE_WRITE) == 0;
}

bool cp_ring_prefault_ahead(cp_ring_t *r, size_t ahead)
{
    if (!r)
        return true;
    size_t cap = r->mask + 1;
    if (r->populated >= cap)
        return true;
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed); /* a hint */
    size_t want = head + ahead < cap ? (size_t)head + ahead : cap;
    if (want <= r->populated)
        return false;
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)&r->slots[r->populated], e = (uintptr_t)&r->slots[want];
    a &= ~((uintptr_t)(pg > 0 ? pg : 4096) - 1);   /* madvise wants a page-aligned start */
    if (madvise((void *)a, e - a, MADV_POPULATE_WRITE) != 0) {
        r->populated = cap;                       /* kernel < 5.14: faults as before */
        return true;
    }
    r->populated = want;
    return want >= cap;
}

const cp_sample_t *cp_ring_peek(cp_ring_t *r)
{
    cp__slot_t *sl = &r->slots[r->tail & r->mask];
    /* acquire: pairs with the producer's release in commit */
    uint64_t seq = atomic_load_explicit(&sl->seq, memory_order_acquire) + (r->tail & r->mask);
    if (seq != r->tail + 1)
        return NULL;
    return &sl->s;
}

void cp_ring_release(cp_ring_t *r)
{
    cp__slot_t *sl = &r->slots[r->tail & r->mask];
    /* release: our reads of the slot finish before a producer reuses it */
    atomic_store_explicit(&sl->seq, r->tail + r->mask + 1 - (r->tail & r->mask), memory_order_release);
    r->tail++;
}
