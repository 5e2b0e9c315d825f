/* store_ctx.h - what every store engine does with the request context of
 * an agent's batch (wire keys 15-16, docs/context.md) before its own SQL.
 *
 * Model: a sample's labels join its instance's labels (hello key 10) into
 * one label set (a key in both: the sample's value wins), and a window row
 * is stored per (instance, window, type, label set). So everything that
 * reads label sets - labels= filters, rollups per label set, live filters -
 * sees request labels like instance labels, and engines keep their one
 * `lsets` table. Per batch: key 16's labelled parts become one accumulator
 * per (label set, type); what is left of each key 9/14 value (the total
 * minus its labelled parts, clamped at 0) stays with the instance's own
 * label set.
 *
 * Per connection: the label sets the agent defined (key 15: dense ids,
 * CP_EGAP unless they continue, emptied by CP_BATCH_DICT_RESET, at most
 * max_dict), and for each the engine's label-set id once it resolved it.
 *
 * Thread: the store worker; one cp_store_ctx_t per connection. */
#ifndef CP_RELAY_STORE_CTX_H
#define CP_RELAY_STORE_CTX_H

#include <stdint.h>

#include "buf.h"
#include "rutil.h"
#include "store_blob.h"
#include "store_delta.h"
#include "wire.h"

typedef struct cp_store_ctx_set {
    cp_kv_t *kv;          /* owned copies */
    uint32_t n;
    int64_t  app_lset;    /* the engine's label-set id of instance + these labels; -1 = not
                             resolved; -2 = refused (tenant limit): its parts stay unlabelled */
} cp_store_ctx_set_t;

typedef struct cp_store_ctx_part {
    uint32_t set;                     /* connection label-set id */
    uint32_t type;                    /* index into the batch's types */
    cp_store_blob_pairs_t pairs;      /* (app stack id, value) */
} cp_store_ctx_part_t;

typedef struct cp_store_ctx {
    cp_kv_t            *inst;  uint32_t n_inst;          /* instance labels (owned) */
    cp_store_ctx_set_t *sets;  uint32_t n_sets, cap_sets;
    /* the last split's parts (valid until the next split) */
    cp_store_ctx_part_t *parts; uint32_t n_parts, cap_parts;
    cp__hmap_t pidx, lidx;             /* scratch indexes */
    cp__vu64_t lsum;
} cp_store_ctx_t;

/* Zero-initialised c; copies the instance labels. */
void cp_store_ctx_init(cp_store_ctx_t *c, const cp_kv_t *inst, uint32_t n_inst);
void cp_store_ctx_fini(cp_store_ctx_t *c);

/* Applies b's label-set delta (key 15). CP_EGAP, CP_ELIMIT (max_dict; 0 =
 * unlimited). Honours CP_BATCH_DICT_RESET (call it for every batch, after
 * cp_store_delta_apply succeeded). */
int cp_store_ctx_apply(cp_store_ctx_t *c, const cp_batch_t *b, uint32_t max_dict);

/* Splits key 16 into c->parts (over app stack ids, through m) and takes
 * the labelled parts out of per_type[0..b->n_types) (cp_store_delta_split's
 * accumulators: what stays is the unlabelled rest; pairs left at 0 are
 * removed). CP_EDANGLING for an unknown stack, type or label set. */
int cp_store_ctx_split(cp_store_ctx_t *c, const cp_store_idmap_t *m, const cp_batch_t *b,
                       cp_store_blob_pairs_t *per_type);

/* The canonical form (store_labels.h) and JSON of the instance labels
 * joined with connection label set `set` (the set's value wins). */
void cp_store_ctx_canon(const cp_store_ctx_t *c, uint32_t set, cp_buf_t *canon, cp_buf_t *json);

/* What an engine does for cp_store_ctx_put: the id of label set canon in
 * its lsets table (created if new; CP_ELIMIT past the tenant's limit, the
 * engine clearing its refusal: it is not the batch's), and the window row
 * of one part with label set lset. */
typedef struct cp_store_ctx_ops {
    int (*lset)(void *ud, const char *canon, int64_t *id /* OUT */);
    int (*put)(void *ud, const cp_store_ctx_part_t *p, int64_t lset, const char *canon);
} cp_store_ctx_ops_t;

/* Stores the last split's parts: each label set resolved once per
 * connection (ops->lset), then a row per part (ops->put). A label set the
 * tenant's limit refuses does not refuse the batch: its parts go back into
 * per_type (to be written with the instance's rows, after this),
 * unlabelled, and the connection stops asking. Returns the first failure. */
int cp_store_ctx_put(cp_store_ctx_t *c, cp_store_blob_pairs_t *per_type, const cp_store_ctx_ops_t *ops, void *ud);

#endif
