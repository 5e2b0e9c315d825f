/* json.h - a small JSON reader for the relay's answers the CLI prints as
 * tables and checks (/top, /diff, /apps, /instances).
 *
 * Parses a whole NUL-terminated document into a tree of cp_json_t; numbers
 * are doubles (the relay's values fit in 2^53). Depth is capped at 64.
 * Thread: any; no global state. */
#ifndef CP_CLI_JSON_H
#define CP_CLI_JSON_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { CP_JSON_NULL, CP_JSON_BOOL, CP_JSON_NUM, CP_JSON_STR, CP_JSON_ARR, CP_JSON_OBJ } cp_json_type_t;

typedef struct cp_json {
    cp_json_type_t  t;
    double          num;    /* CP_JSON_NUM, CP_JSON_BOOL (0/1) */
    char           *str;    /* CP_JSON_STR */
    char           *key;    /* member name when inside an object, else NULL */
    struct cp_json *kids;   /* CP_JSON_ARR / CP_JSON_OBJ: n elements */
    size_t          n;
} cp_json_t;

/* Parses text into v (caller frees with cp_json_free, also on failure).
 * Returns false when text is not one JSON value. */
bool cp_json_parse(const char *text, cp_json_t *v /* OUT */);
void cp_json_free(cp_json_t *v);

/* Member k of object o; NULL when o is not an object or has no such member.
 * Borrowed: valid until cp_json_free of the root. */
const cp_json_t *cp_json_get(const cp_json_t *o, const char *k);
double      cp_json_num(const cp_json_t *o, const char *k);   /* 0 when missing */
const char *cp_json_str(const cp_json_t *o, const char *k);   /* "" when missing */

#endif
