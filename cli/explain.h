/* explain.h - the CLI's reads from a relay, with every empty or refused
 * answer explained in a sentence and a distinct exit code (cli.h).
 *
 *   404 on a profile     -> asks /api/v1/apps: the app is unknown
 *                           (CP_EXIT_UNKNOWN_APP, with the apps there are),
 *                           has no data yet (CP_EXIT_NO_DATA, with when its
 *                           first instance connected), or has other types
 *                           only (CP_EXIT_NO_DATA, with the option that turns
 *                           this type on)
 *   an empty answer      -> asks /api/v1/instances: no instance has the
 *                           labels (CP_EXIT_NO_INSTANCE, with the label sets
 *                           there are), else the range is empty
 *                           (CP_EXIT_EMPTY, with when the app was seen)
 * Those follow-up requests happen only on the unhappy path. Messages go to
 * stderr, prefixed "cprof CMD: ". Thread: main. */
#ifndef CP_CLI_EXPLAIN_H
#define CP_CLI_EXPLAIN_H

#include <stdint.h>

#include "buf.h"
#include "http.h"

typedef struct cp_explain_ctx {
    const char      *cmd;      /* "query" or "diff", for messages */
    cp_http_relay_t  relay;
    cp_http_opts_t   http;
    const char      *app;
    const char      *type;
} cp_explain_ctx_t;

/* GETs path (URL-encoded, NUL-terminated). CP_EXIT_OK with the body in
 * body on 200; otherwise prints why and returns the exit code. */
int cp_explain_get(const cp_explain_ctx_t *c, const char *path, cp_buf_t *body);

/* labels non-empty and no instance of the app has them: prints that (side
 * names the diff side, e.g. "base", or NULL) and returns
 * CP_EXIT_NO_INSTANCE; otherwise CP_EXIT_OK (also when it cannot tell). */
int cp_explain_labels(const cp_explain_ctx_t *c, const char *side, const char *labels);

/* A profile with no samples in [from_ms, to_ms): prints why (the labels
 * match no instance, or the range is empty) and returns that exit code.
 * side: "base", "cmp" or NULL. */
int cp_explain_empty(const cp_explain_ctx_t *c, const char *side, const char *labels,
                     int64_t from_ms, int64_t to_ms);

#endif
