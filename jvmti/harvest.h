/* harvest.h - the harvester: drains the sample ring, resolves frames,
 * aggregates identical stacks per window, and hands one batch per `flush`
 * period to the sender. Also the time-series point API for other modules.
 *
 * Pipeline: sampler/alloc/lock -> ring -> [harvester] -> cp_pending_t ->
 * sender (encode per connection) -> relay.
 *
 * The dictionary (cp_stack_dict_t) lives for the agent's lifetime and only
 * grows (ids are dense, so "everything from id k" is a delta). The sender
 * encodes batches against it under cp_harvest_dict_lock(); a new connection
 * simply resends the dictionary from id 0. When it grows past its memory
 * cap (24 MiB) a new one replaces it (generation + 1) holding only the
 * stacks of the window being closed, which is sent as usual; batches of
 * older generations still buffered are dropped and counted (drop.dict),
 * since their ids are gone.
 *
 * Threads: the harvester is a JVMTI agent thread ("cprof-harvester"); it is
 * the only caller of JVMTI name lookups. cp_points_add / cp_harvest_request
 * are callable from any non-signal thread. */
#ifndef CP_HARVEST_H
#define CP_HARVEST_H

#include <jvmti.h>
#include <stdbool.h>
#include <stdint.h>

#include "ring.h"
#include "sender_queue.h"
#include "stack_dict.h"
#include "wire.h"

/* Wire sample types in every batch, indexed by cp_wire_value_t.type. */
enum {
    CP_TYPE_CPU = 0, CP_TYPE_WALL, CP_TYPE_ALLOC_BYTES, CP_TYPE_ALLOC_OBJECTS,
    CP_TYPE_LOCK, CP_TYPE_LOCK_COUNT, CP_TYPE__COUNT
};
extern const cp_sample_type_t cp_harvest_types[CP_TYPE__COUNT];

/* Closed windows travel to the sender as cp_pending_t (sender_queue.h). */

/* Creates the harvester state (dictionary, caches). Thread: agent lifecycle. */
int  cp_harvest_init(jvmtiEnv *jvmti, cp_ring_t *ring);

/* Starts the harvester agent thread (JVMTI RunAgentThread). flush_ns: window
 * length. Idempotent; a second call only updates flush_ns. */
int  cp_harvest_start(JNIEnv *jni, int64_t flush_ns);

/* Work the harvester thread does once, first thing, the next time it starts
 * (NULL: none): the agent's jmethodID preload at VMInit, off the JVM's main
 * thread. Thread: agent lifecycle, before cp_harvest_start. */
typedef void (*cp_harvest_first_fn)(jvmtiEnv *jvmti, JNIEnv *jni);
void cp_harvest_first(cp_harvest_first_fn fn);

/* Asks the harvester to drain and close the current window now and waits
 * until the batch is submitted (bounded by timeout_ms). final: the thread
 * exits afterwards (VM death, detach). Returns 0 or CP_ETIMEOUT. */
int  cp_harvest_flush(bool final, int timeout_ms);

void cp_harvest_set_flush(int64_t flush_ns);
/* The dictionary's memory cap (the memory budget's share, overhead.h):
 * past it a new generation starts, counted in drop.dict. Any thread. */
void cp_harvest_set_dict_max(size_t bytes);
/* fn runs on the harvester thread at every wake-up (every <= 50 ms while
 * it runs, relay or not); it must be cheap and must not block. Set once,
 * before cp_harvest_start. */
typedef void (*cp_harvest_tick_fn)(void);
void cp_harvest_set_tick(cp_harvest_tick_fn fn);
/* Wakes the harvester to drain the ring now. Never blocks (trylock; a busy
 * harvester is awake anyway). Thread: any, but not a signal handler. */
void cp_harvest_nudge(void);

/* Dictionary access for the sender's encoder. Returns the dictionary (held
 * until unlock) and its generation. */
const cp_stack_dict_t *cp_harvest_dict_lock(uint32_t *gen /* OUT */);
void cp_harvest_dict_unlock(void);

/* Time-series points (GC pauses, thread counts, heap): any thread, not from
 * signal handlers or inside GC callbacks that forbid locks. Copies series.
 * Goes into the next batch; beyond 4096 points per window they are dropped
 * and counted. */
void cp_points_add(const char *series, uint64_t t_ms, double value);

/* Next batch sequence number (starts at 1; kept across detach/attach). */
uint64_t cp_harvest_last_seq(void);

uint64_t cp_now_ms(void);

#endif
