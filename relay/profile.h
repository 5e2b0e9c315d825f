/* profile.h - merged profiles as call trees, and their output formats.
 *
 * Input: a cp_profile_t from the store (stacks of function indices with
 * values). A tree merges stacks by function name along the path; it is what
 * every format is written from, so json/collapsed/speedscope/pprof agree.
 *
 * Thread: any (query workers); no global state. */
#ifndef CP_RELAY_PROFILE_H
#define CP_RELAY_PROFILE_H

#include <stdint.h>

#include "buf.h"
#include "store.h"

/* Tree node arrays, in depth-first pre-order, siblings by descending total.
 * Node 0 is the root (name = n_names, "<root>"). Two value columns so one
 * tree can hold both sides of a diff (v1 unused for a plain profile). */
typedef struct cp_tree {
    uint32_t  n;
    int32_t  *parent;
    uint32_t *name;       /* index into the profile's names; root: UINT32_MAX */
    uint64_t *self[2], *total[2];
    uint32_t *depth;
} cp_tree_t;

/* Builds the tree of a (or of a and b merged, for diff; b may be NULL).
 * b's names are mapped onto a's (names unique to b are appended to a). */
void cp_tree_build(cp_profile_t *a, cp_profile_t *b, cp_tree_t *t /* OUT */);
void cp_tree_free(cp_tree_t *t);

/* Output writers (append to out). Return 0 or CP_E*. */
int cp_profile_write_json(const cp_profile_t *p, const cp_tree_t *t, const char *app, const char *type,
                          int64_t from_ms, int64_t to_ms, cp_buf_t *out);
int cp_profile_write_collapsed(const cp_profile_t *p, const cp_tree_t *t, cp_buf_t *out);
int cp_profile_write_speedscope(const cp_profile_t *p, const cp_tree_t *t, const char *name, cp_buf_t *out);
int cp_profile_write_pprof(const cp_profile_t *p, const cp_tree_t *t, const char *type,
                           int64_t from_ms, int64_t to_ms, cp_buf_t *out);   /* gzipped */
int cp_profile_write_top(const cp_profile_t *p, const cp_tree_t *t, uint32_t limit, cp_buf_t *out);
int cp_profile_write_diff(const cp_profile_t *a, const cp_profile_t *b, const cp_tree_t *t, cp_buf_t *out);

#endif
