/* otlp.h - profiles as OpenTelemetry profiles (OTLP, opentelemetry-proto
 * v1.10 "v1development"): one ExportProfilesServiceRequest built from one
 * or more cp_profile_t, each a ResourceProfiles (service.name = the app)
 * with one ScopeProfiles ("cprof") holding one Profile. The dictionary
 * (strings, functions, locations, stacks, attributes, links, mappings) is
 * shared by every profile of the request. The messages written are those
 * of relay/proto/otlp_profiles.proto (docs/api.md "format=otlp").
 *
 * Samples: one per distinct stack of function names, with one aggregated
 * value (no timestamps), so per-function totals equal format=pprof's and
 * /top's for the same profile. Locations carry `profile.frame.type` (jvm,
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
