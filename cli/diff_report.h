/* diff_report.h - `cprof diff`'s statistical report (the relay's /diff
 * "stats" and "methods", docs/diff.md) as text for a terminal, Markdown
 * for a pull-request comment, or JUnit XML for a CI server.
 *
 * Thread: main only (writes to a FILE). */
#ifndef CP_CLI_DIFF_REPORT_H
#define CP_CLI_DIFF_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "json.h"

typedef enum { CP_DIFF_FMT_TEXT, CP_DIFF_FMT_JSON, CP_DIFF_FMT_MD, CP_DIFF_FMT_JUNIT } cp_diff_fmt_t;

typedef struct cp_diff_report {
    const char *app, *type;
    const char *base_range, *cmp_range;    /* readable ranges with labels */
    const char *gate;                      /* the --fail-on text, or NULL (no gate) */
    long        limit;                     /* rows besides the flagged ones */
    bool        fails;                     /* the gate fails (JUnit's gate test case) */
} cp_diff_report_t;

/* The relay's answer d (with "stats") written in fmt (not JSON). Returns 0,
 * or -1 when d has no statistics (a relay older than this CLI). */
int cp_diff_report_write(const cp_diff_report_t *r, const cp_json_t *d, cp_diff_fmt_t fmt, FILE *out);

/* The run's verdict in d: "PASS", "INCONCLUSIVE", "REGRESSION", or "" if absent. */
const char *cp_diff_report_verdict(const cp_json_t *d);

#endif
