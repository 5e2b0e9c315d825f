/* otlp.h - profiles as OpenTelemetry profiles (OTLP, opentelemetry-proto
 * v1.10 "v1development"): one ExportProfilesServiceRequest built from one
 * or more cp_profile_t, each a ResourceProfiles (service.name = the app)
 * with one ScopeProfiles ("cprof") holding one Profile. The dictionary
 * (strings, functions, locations, stacks, attributes, links, mappings) is
 * shared by every profile of the request. The messages written are those
 * of relay/proto/otlp_profiles.proto (docs/api.md "format=otlp").
 *
 * Samples: one per distinct (stack of function names, label set, link),
 * with one aggregated value (no timestamps). A sample's attribute_indices
 * are its label set's keys and values (request labels such as endpoint,
 * joined with the instance's labels: store_ctx.h); its link_index points
 * at a (trace id, span id) in the link table. Splitting a stack's value by
 * label set and link never changes the sum, so per-function totals equal
 * format=pprof's and /top's for the same profile. Locations carry `profile.frame.type` (jvm,
 * native, kernel) from the frame kind; synthetic frames (thread roots,
 * alloc/lock classes, failed-sample markers) carry none.
 *
 * Users: the query workers (api.c, format=otlp) and the exporter thread
 * (otlp_export.c). Thread: any; a request under construction belongs to
 * one thread; no global state. */
#ifndef CP_RELAY_OTLP_H
#define CP_RELAY_OTLP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "store.h"

typedef struct cp_otlp cp_otlp_t;   /* opaque: one request under construction */

/* Caller owns; cp_otlp_destroy(). */
cp_otlp_t *cp_otlp_create(void);
void       cp_otlp_destroy(cp_otlp_t *o);   /* NULL is a no-op */

/* What a profile's resource and Profile header say. All borrowed for the
 * call. */
typedef struct cp_otlp_meta {
    const char *app;        /* service.name (shown to the user: unqualified) */
    const char *tenant;     /* service.namespace, or NULL/"" (no tenant) */
    const char *instance;   /* service.instance.id, or NULL */
    const char *labels;     /* canonical label set (store_labels.h) as resource
                               attributes, or NULL/"" */
    const char *type;       /* sample type, e.g. "cpu" */
    int64_t     from_ms, to_ms;   /* time_unix_nano, duration_nano */
} cp_otlp_meta_t;

/* Samples one by one (what cp_otlp_add does for all of p's stacks):
 * begin starts one more ResourceProfiles whose stacks are p's (borrowed
 * until cp_otlp_end; the next begin ends the previous one), sample adds
 * `value` to stack `stack` of p under canonical label set `labels`
 * (store_labels.h; NULL or "" for none), link moves value that samples
 * of the current profile already hold to linked samples, end lets p go. */
void cp_otlp_begin(cp_otlp_t *o, const cp_otlp_meta_t *m, const cp_profile_t *p);
void cp_otlp_sample(cp_otlp_t *o, uint32_t stack, const char *labels, uint64_t value);

/* A trace entry to link (store.h cp_store_trace_entry_t has this shape). */
typedef struct cp_otlp_link {
    uint64_t hi, lo, span;            /* trace id (hi = its first 8 bytes); span 0 = none */
    const char *const *names;         /* function names ... */
    const uint8_t *kinds;             /* ... and their frame kinds */
    const uint32_t *funcs;            /* the stack: n indices into names, root first */
    uint32_t n;
    uint64_t value;
} cp_otlp_link_t;
/* Moves up to l->value from the current profile's unlinked samples of the
 * same stack (same function names and frame kinds) to samples of the same
 * label set linked to (trace, span): the unlinked sample with the most
 * value left first (trace entries carry no label set: when several label
 * sets share a stack, the largest takes the link). Returns the value
 * moved: less than l->value when the samples hold less (a labels= filter,
 * a range whose samples came from aggregates). Sums never change. */
uint64_t cp_otlp_link(cp_otlp_t *o, const cp_otlp_link_t *l);
/* The link table is bounded (a span per request over a long range would
 * grow it without end): past CP_OTLP_MAX_LINKS distinct (trace, span) an
 * entry with a new one links nothing (its value stays in the unlinked
 * samples) and is counted in cp_otlp_links_dropped. */
#define CP_OTLP_MAX_LINKS 262144
uint64_t cp_otlp_links_dropped(const cp_otlp_t *o);
void cp_otlp_end(cp_otlp_t *o);
/* cp_otlp_link for profile `prof` (0 = the first added), open or ended. */
uint64_t cp_otlp_link_to(cp_otlp_t *o, size_t prof, const cp_otlp_link_t *l);

/* Adds p as one more ResourceProfiles. Copies what it needs: p may be freed
 * afterwards. Stacks with a zero value are left out. Returns 0. */
int cp_otlp_add(cp_otlp_t *o, const cp_otlp_meta_t *m, const cp_profile_t *p);

/* Profiles added so far. */
size_t cp_otlp_count(const cp_otlp_t *o);

/* Appends the encoded ExportProfilesServiceRequest (protobuf, not
 * compressed) to out. Returns 0 or CP_ENOMEM. */
int cp_otlp_write(const cp_otlp_t *o, cp_buf_t *out);

/* One profile as one request (GET /api/v1/profile?format=otlp): create,
 * add (app as service.name, no instance or labels), write, destroy. */
int cp_otlp_write_profile(const cp_profile_t *p, const char *app, const char *type,
                          int64_t from_ms, int64_t to_ms, cp_buf_t *out);

#endif
