/* ctx_api.h - the query answers for request context (docs/context.md,
 * docs/api.md): GET /api/v1/labels, group_by= on /top and /timeline. All
 * read the store window by window (cp_store_profile_windows), each row
 * carrying its label set (instance + request labels), so they work on
 * every engine and tier: label sets survive the minute/hour rollups.
 *
 * Thread: a query worker (it uses that worker's store reader). */
#ifndef CP_RELAY_CTX_API_H
#define CP_RELAY_CTX_API_H

#include <stdint.h>

#include "buf.h"
#include "store.h"

/* The label keys of q's range (q->labels filters first) with their top
 * `limit` values by q->type's total:
 * {"total":T,"keys":[{"key":K,"total":N,"values":[{"value":V,"total":N},...],"more":M},...]}
 * Keys by descending total; a key's total counts rows that carry it (T -
 * it is what carried no such label). Returns 0 or the store's CP_E*
 * (err set). */
int cp_ctx_api_labels(cp_store_reader_t *rd, const cp_store_query_t *q, uint32_t limit, cp_buf_t *out,
                      char *err, size_t errlen);

/* /top?group_by=KEY: per value of label KEY ("" = rows without it), its
 * total and share, and its top `limit` functions (as /top):
 * {"group_by":K,"total":T,"groups":[{"value":V,"total":N,"share":F,"functions":[...]},...]} */
int cp_ctx_api_top(cp_store_reader_t *rd, const cp_store_query_t *q, const char *key, uint32_t limit,
                   cp_buf_t *out, char *err, size_t errlen);

/* /timeline?group_by=KEY: per value, its points per step from q->from_ms
 * (aligned), n steps:
 * {"step":S,"group_by":K,"groups":[{"value":V,"total":N,"points":[[t,v],...]},...]} */
int cp_ctx_api_timeline(cp_store_reader_t *rd, const cp_store_query_t *q, const char *key, int64_t step_ms,
                        uint32_t n, cp_buf_t *out, char *err, size_t errlen);

#endif
