/* harvest_ctx.h - the request-context part of the harvester's window
 * (docs/context.md): labelled parts of values (wire key 16) and trace
 * entries (wire key 17), next to harvest.c's plain (stack, type) totals.
 *
 * Bounded per window: CP__HCTX_MAX_LVALUES distinct (stack, type, label
 * set) parts and CP__HCTX_MAX_TRACES distinct (trace, span, thread, stack,
 * type) entries; past them a sample's value still counts in the totals but
 * goes unlabelled / untraced (drop.labels, drop.trace).
 *
 * Thread: the harvester only (harvest.c calls these with dict_mu held). */
#ifndef CP_HARVEST_CTX_H
#define CP_HARVEST_CTX_H

#include <stdint.h>

#include "context.h"
#include "sender_queue.h"
#include "stack_dict.h"
#include "u64map.h"

#define CP__HCTX_MAX_LVALUES 65536
#define CP__HCTX_MAX_TRACES  16384

/* Adds v of (stack, type) under ctx: to its label set's part when
 * ctx->labels != 0, to its trace entry when a trace id is set (thread: a
 * string id of the current dictionary, the sampled thread's name). */
void cp__hctx_add(uint32_t stack, uint32_t type, uint64_t v, const cp_context_t *ctx, uint32_t thread);

/* Moves the window's parts and entries into p (wire ids: label set = agent
 * id - 1; times rounded as harvest.c rounds totals) and empties the window. */
void cp__hctx_take(cp_pending_t *p);

/* After a dictionary reset (harvest.c): p's parts and trace entries follow
 * their stacks (remap: old stack id -> new id + 1, 0 = lost) and trace
 * thread names their strings (interned from od into nd); lost ones go. */
void cp__hctx_remap(cp_pending_t *p, const cp_u64map_t *remap, const cp_stack_dict_t *od, cp_stack_dict_t *nd);

#endif
